import { invalid } from '@flotilla/core';
import { parseAllDocuments, stringify } from 'yaml';

/** One policy in Fleet's `apiVersion: v1, kind: policy` spec format. */
export interface PolicySpec {
  name: string;
  query: string;
  description?: string;
  resolution?: string;
  platform?: string;
  critical?: boolean;
  /** Team name; empty or absent for a global policy. */
  team?: string;
  labels_include_any?: string[];
  labels_exclude_any?: string[];
}

const STRING_FIELDS = ['name', 'query', 'description', 'resolution', 'platform', 'team'] as const;
const LIST_FIELDS = ['labels_include_any', 'labels_exclude_any'] as const;

/** Checks one spec object (from YAML or JSON); `where` names it in errors. */
export function readPolicySpec(raw: unknown, where: string): PolicySpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw invalid(`${where}: spec must be a mapping`, [
      { name: where, reason: 'must be a mapping' },
    ]);
  const o = raw as Record<string, unknown>;
  const errors: Array<{ name: string; reason: string }> = [];
  const spec: Record<string, unknown> = {};
  for (const f of STRING_FIELDS) {
    const v = o[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') errors.push({ name: `${where}.${f}`, reason: 'must be a string' });
    else spec[f] = f === 'query' ? v.trim() : v;
  }
  for (const f of LIST_FIELDS) {
    const v = o[f];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      errors.push({ name: `${where}.${f}`, reason: 'must be a list of label names' });
    else spec[f] = v;
  }
  if (o['critical'] !== undefined && o['critical'] !== null) {
    if (typeof o['critical'] !== 'boolean')
      errors.push({ name: `${where}.critical`, reason: 'must be true or false' });
    else spec['critical'] = o['critical'];
  }
  if (!spec['name']) errors.push({ name: `${where}.name`, reason: 'required' });
  if (!spec['query']) errors.push({ name: `${where}.query`, reason: 'required' });
  if (errors.length)
    throw invalid(
      `invalid policy spec: ${errors.map((e) => `${e.name} ${e.reason}`).join('; ')}`,
      errors,
    );
  return spec as unknown as PolicySpec;
}

/** Parses one or more YAML documents (`---` separated) of `kind: policy`. */
export function parsePolicyYaml(text: string): PolicySpec[] {
  const docs = parseAllDocuments(text);
  const out: PolicySpec[] = [];
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const where = `document ${i + 1}`;
    if (doc.errors.length) {
      const e = doc.errors[0]!;
      throw invalid(
        `${where}: YAML does not parse: ${e.message}`,
        [{ name: where, reason: e.message }],
        'POLICY_YAML_INVALID',
      );
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) return; // an empty document (e.g. a trailing ---)
    const o = value as Record<string, unknown>;
    if (o['apiVersion'] !== 'v1' || o['kind'] !== 'policy') {
      throw invalid(
        `${where}: expected apiVersion: v1 and kind: policy`,
        [{ name: where, reason: 'apiVersion must be v1 and kind must be policy' }],
        'POLICY_YAML_INVALID',
      );
    }
    out.push(readPolicySpec(o['spec'], where));
  });
  return out;
}

/** Writes policies as `---`-separated `kind: policy` documents. */
export function policiesToYaml(specs: readonly PolicySpec[]): string {
  return specs
    .map((s) => {
      const spec: Record<string, unknown> = { name: s.name, query: s.query };
      if (s.description) spec['description'] = s.description;
      if (s.resolution) spec['resolution'] = s.resolution;
      spec['platform'] = s.platform ?? '';
      spec['critical'] = s.critical ?? false;
      if (s.team) spec['team'] = s.team;
      if (s.labels_include_any?.length) spec['labels_include_any'] = s.labels_include_any;
      if (s.labels_exclude_any?.length) spec['labels_exclude_any'] = s.labels_exclude_any;
      return `---\n${stringify({ apiVersion: 'v1', kind: 'policy', spec }, { lineWidth: 0 })}`;
    })
    .join('');
}
