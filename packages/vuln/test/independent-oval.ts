// A deliberately plain second implementation of Ubuntu USN OVAL evaluation, used only to
// check the engine. It walks the raw XML (fast-xml-parser in ordered mode, a different shape
// from the engine's) and gets every version verdict from `dpkg --compare-versions` when dpkg
// is installed, else from a caller-supplied comparator.
import { execFileSync, spawnSync } from 'node:child_process';
import { XMLParser } from 'fast-xml-parser';

type El = Record<string, unknown>;

interface Inventory {
  codename: string;
  kernel: string | null;
  packages: { name: string; version: string }[];
}

export const dpkgAvailable = spawnSync('dpkg', ['--version']).status === 0;

/** Answers "a < b" for many pairs with one shell running dpkg. */
function dpkgLessThan(pairs: [string, string][]): boolean[] {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = pairs
    .map(([a, b]) => `dpkg --compare-versions ${q(a)} lt ${q(b)} && echo 1 || echo 0`)
    .join('\n');
  if (pairs.length === 0) return [];
  const out = execFileSync('sh', [], { input: script, encoding: 'utf8', maxBuffer: 1 << 26 })
    .trim()
    .split('\n');
  return out.map((l) => l === '1');
}

const tag = (el: El): string => Object.keys(el).find((k) => k !== ':@') ?? '';
const children = (el: El): El[] => (el[tag(el)] as El[] | undefined) ?? [];
const attrs = (el: El): Record<string, string> =>
  (el[':@'] as Record<string, string> | undefined) ?? {};
const local = (name: string): string => name.replace(/^.*:/, '');
const textOf = (el: El): string =>
  children(el)
    .map((c) =>
      typeof c['#text'] === 'string' || typeof c['#text'] === 'number' ? String(c['#text']) : '',
    )
    .join('');

/** Returns the expected set of `package|CVE` strings for one inventory. */
export function expectedUsnFindings(
  xml: string,
  inv: Inventory,
  fallbackLess: (a: string, b: string) => boolean,
): Set<string> {
  const doc = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseTagValue: false,
  }).parse(xml) as El[];
  const root = doc.find((e) => local(tag(e)) === 'oval_definitions');
  if (!root) throw new Error('no oval_definitions');
  const section = (name: string): El[] =>
    children(children(root).find((e) => local(tag(e)) === name) ?? {});
  const byId = new Map<string, El>();
  for (const s of ['tests', 'objects', 'states', 'variables'])
    for (const e of section(s)) byId.set(attrs(e).id ?? '', e);
  const defs = section('definitions');
  const defById = new Map(defs.map((d) => [attrs(d).id ?? '', d]));
  const installed = new Map(inv.packages.map((p) => [p.name, p.version]));

  // Collect every (installed, fixed) pair first, so dpkg runs once.
  const pairs: [string, string][] = [];
  const pairIndex = new Map<string, number>();
  const need = (a: string, b: string): void => {
    const k = `${a}\n${b}`;
    if (!pairIndex.has(k)) {
      pairIndex.set(k, pairs.length);
      pairs.push([a, b]);
    }
  };
  const kernelEvr = (test: El): { evr: string | null; limit: string } => {
    const obj =
      byId.get(
        attrs(children(test).find((c) => local(tag(c)) === 'object') ?? {}).object_ref ?? '',
      ) ?? {};
    const varRef = textOf(children(obj).find((c) => local(tag(c)) === 'var_ref') ?? {});
    const variable = byId.get(varRef) ?? {};
    const concat = children(variable).find((c) => local(tag(c)) === 'concat') ?? {};
    const literal = textOf(
      children(concat).find((c) => local(tag(c)) === 'literal_component') ?? {},
    );
    const capture =
      attrs(children(concat).find((c) => local(tag(c)) === 'regex_capture') ?? {}).pattern ?? '';
    const state =
      byId.get(
        attrs(children(test).find((c) => local(tag(c)) === 'state') ?? {}).state_ref ?? '',
      ) ?? {};
    const limit = textOf(children(state).find((c) => local(tag(c)) === 'value') ?? {});
    const m = inv.kernel ? new RegExp(capture).exec(inv.kernel) : null;
    return { evr: m ? `${literal}${m[1] ?? ''}` : null, limit };
  };
  const dpkgTest = (test: El): { names: string[]; limit: string } => {
    const obj =
      byId.get(
        attrs(children(test).find((c) => local(tag(c)) === 'object') ?? {}).object_ref ?? '',
      ) ?? {};
    const nameEl = children(obj).find((c) => local(tag(c)) === 'name') ?? {};
    const varRef = attrs(nameEl).var_ref;
    const names = varRef
      ? children(byId.get(varRef) ?? {})
          .filter((c) => local(tag(c)) === 'value')
          .map(textOf)
      : [textOf(nameEl)];
    const state =
      byId.get(
        attrs(children(test).find((c) => local(tag(c)) === 'state') ?? {}).state_ref ?? '',
      ) ?? {};
    const evr = children(state).find((c) => local(tag(c)) === 'evr');
    if (!evr || attrs(evr).operation !== 'less than') throw new Error('unexpected dpkginfo state');
    return { names, limit: textOf(evr) };
  };
  for (const t of byId.values()) {
    const kind = local(tag(t));
    if (kind === 'dpkginfo_test') {
      const { names, limit } = dpkgTest(t);
      for (const n of names) {
        const v = installed.get(n);
        if (v !== undefined) need(v, limit);
      }
    } else if (kind === 'variable_test') {
      const { evr, limit } = kernelEvr(t);
      if (evr) need(evr, limit);
    }
  }
  const verdicts = dpkgAvailable ? dpkgLessThan(pairs) : pairs.map(([a, b]) => fallbackLess(a, b));
  const less = (a: string, b: string): boolean =>
    verdicts[pairIndex.get(`${a}\n${b}`) ?? -1] === true;

  // Evaluate: returns truth and the packages whose tests were true.
  const evalTest = (ref: string, hits: Set<string>): boolean => {
    const t = byId.get(ref);
    if (!t) throw new Error(`missing test ${ref}`);
    const kind = local(tag(t));
    if (kind === 'dpkginfo_test') {
      const { names, limit } = dpkgTest(t);
      let any = false;
      for (const n of names) {
        const v = installed.get(n);
        if (v !== undefined && less(v, limit)) {
          any = true;
          hits.add(n);
        }
      }
      return any;
    }
    if (kind === 'textfilecontent54_test') {
      const state =
        byId.get(attrs(children(t).find((c) => local(tag(c)) === 'state') ?? {}).state_ref ?? '') ??
        {};
      return (
        textOf(children(state).find((c) => local(tag(c)) === 'subexpression') ?? {}) ===
        inv.codename
      );
    }
    if (kind === 'uname_test') {
      const state =
        byId.get(attrs(children(t).find((c) => local(tag(c)) === 'state') ?? {}).state_ref ?? '') ??
        {};
      const pattern = textOf(children(state).find((c) => local(tag(c)) === 'os_release') ?? {});
      return inv.kernel !== null && new RegExp(pattern).test(inv.kernel);
    }
    if (kind === 'variable_test') {
      const { evr, limit } = kernelEvr(t);
      if (evr !== null && less(evr, limit)) {
        hits.add(`linux-image-${inv.kernel ?? ''}`);
        return true;
      }
      return false;
    }
    if (kind === 'family_test') return true;
    throw new Error(`unexpected test kind ${kind}`);
  };
  const evalCriteria = (el: El, hits: Set<string>): boolean => {
    const op = (attrs(el).operator ?? 'AND').toUpperCase();
    const results: boolean[] = [];
    for (const c of children(el)) {
      const kind = local(tag(c));
      const local_hits = new Set<string>();
      let r: boolean;
      if (kind === 'criteria') r = evalCriteria(c, local_hits);
      else if (kind === 'criterion') r = evalTest(attrs(c).test_ref ?? '', local_hits);
      else if (kind === 'extend_definition') {
        const d = defById.get(attrs(c).definition_ref ?? '');
        const crit = children(d ?? {}).find((x) => local(tag(x)) === 'criteria');
        r = crit ? evalCriteria(crit, local_hits) : false;
      } else continue;
      if (attrs(c).negate === 'true') r = !r;
      else if (r) for (const h of local_hits) hits.add(h);
      results.push(r);
    }
    if (op === 'OR') return results.some(Boolean);
    if (op === 'AND') return results.every(Boolean);
    throw new Error(`unexpected operator ${op}`);
  };

  const expected = new Set<string>();
  for (const d of defs) {
    if (attrs(d).class !== 'patch') continue;
    const crit = children(d).find((c) => local(tag(c)) === 'criteria');
    if (!crit) continue;
    const hits = new Set<string>();
    if (!evalCriteria(crit, hits)) continue;
    const meta = children(d).find((c) => local(tag(c)) === 'metadata') ?? {};
    const cves = new Set<string>();
    for (const m of children(meta)) {
      if (local(tag(m)) === 'reference' && attrs(m).source === 'CVE')
        cves.add(attrs(m).ref_id ?? '');
      if (local(tag(m)) === 'advisory') {
        for (const c of children(m)) if (local(tag(c)) === 'cve') cves.add(textOf(c).trim());
      }
    }
    for (const h of hits)
      for (const c of cves) if (/^CVE-\d+-\d+$/.test(c)) expected.add(`${h}|${c}`);
  }
  return expected;
}
