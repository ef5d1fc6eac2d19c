import { FeedError } from '../errors.js';
import { isRecord, parseJson, str } from './json.js';

export interface CpeMatch {
  vulnerable: boolean;
  vendor: string;
  product: string;
  /** The CPE's version field: "*" (any, see ranges), "-" (not applicable) or an exact version. */
  version: string;
  update: string;
  targetSw: string;
  startIncluding?: string;
  startExcluding?: string;
  endIncluding?: string;
  endExcluding?: string;
}

export interface NvdNode {
  operator: 'AND' | 'OR';
  negate: boolean;
  matches: CpeMatch[];
}

export interface NvdConfiguration {
  operator: 'AND' | 'OR';
  negate: boolean;
  nodes: NvdNode[];
}

export interface NvdCve {
  id: string;
  cvss3: number | null;
  severity: string | null;
  /** When NVD published the CVE, ISO 8601 in UTC (NVD writes its times without a zone). */
  published: string | null;
  /** The English description. */
  description: string | null;
  /** Date CISA added it to the KEV catalog, as NVD mirrors it (`cisaExploitAdd`). */
  cisaExploitAdd: string | null;
  configurations: NvdConfiguration[];
}

export interface NvdIndex {
  kind: 'nvd';
  cves: Map<string, NvdCve>;
  /** "vendor:product" → CVE ids whose configurations mention it as vulnerable. */
  byProduct: Map<string, string[]>;
  /** product → vendors (for the exact-product-name rule). */
  vendorsByProduct: Map<string, Set<string>>;
  /** "vendor:product" → target_sw values seen on vulnerable matches. */
  targetSwByProduct: Map<string, Set<string>>;
}

const FEED = 'nvd';

/** Splits a CPE 2.3 formatted string, honouring backslash escapes. */
export function splitCpe(cpe: string): string[] | null {
  if (!cpe.startsWith('cpe:2.3:')) return null;
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < cpe.length; i++) {
    const c = cpe[i];
    if (c === '\\' && i + 1 < cpe.length) {
      cur += cpe[i + 1];
      i++;
    } else if (c === ':') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts.length === 13 ? parts : null;
}

function metricScore(metrics: unknown): { score: number | null; severity: string | null } {
  if (!isRecord(metrics)) return { score: null, severity: null };
  for (const key of ['cvssMetricV31', 'cvssMetricV30']) {
    const list = metrics[key];
    if (!Array.isArray(list)) continue;
    const primary = list.find((m) => isRecord(m) && m.type === 'Primary') ?? list[0];
    if (
      isRecord(primary) &&
      isRecord(primary.cvssData) &&
      typeof primary.cvssData.baseScore === 'number'
    ) {
      return {
        score: primary.cvssData.baseScore,
        severity: str(primary.cvssData.baseSeverity) ?? null,
      };
    }
  }
  return { score: null, severity: null };
}

/** NVD's `2021-12-10T10:15:09.143` (UTC, no zone) as `2021-12-10T10:15:09.143Z`; junk is null. */
export function nvdTime(v: unknown): string | null {
  const s = str(v);
  if (!s || !/^\d{4}-\d{2}-\d{2}/.test(s)) return null;
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(s) || !s.includes('T') ? s : `${s}Z`;
  const t = Date.parse(zoned);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

function englishDescription(v: unknown): string | null {
  if (!Array.isArray(v)) return null;
  const en = v.find((d) => isRecord(d) && d.lang === 'en') ?? v[0];
  const text = isRecord(en) ? str(en.value) : undefined;
  return text?.trim() ? text.trim() : null;
}

function parseCve(cve: Record<string, unknown>, file: string): NvdCve {
  const id = str(cve.id);
  if (!id) throw new FeedError(FEED, 'unknown_format', 'CVE record without id', file);
  const configurations: NvdConfiguration[] = [];
  for (const c of Array.isArray(cve.configurations) ? cve.configurations : []) {
    if (!isRecord(c) || !Array.isArray(c.nodes)) continue;
    const nodes: NvdNode[] = [];
    for (const n of c.nodes) {
      if (!isRecord(n) || !Array.isArray(n.cpeMatch)) continue;
      const matches: CpeMatch[] = [];
      for (const m of n.cpeMatch) {
        if (!isRecord(m)) continue;
        const parts = splitCpe(str(m.criteria) ?? '');
        if (!parts) continue;
        const match: CpeMatch = {
          vulnerable: m.vulnerable === true,
          vendor: parts[3] ?? '',
          product: parts[4] ?? '',
          version: parts[5] ?? '*',
          update: parts[6] ?? '*',
          targetSw: parts[10] ?? '*',
        };
        const bounds = [
          ['versionStartIncluding', 'startIncluding'],
          ['versionStartExcluding', 'startExcluding'],
          ['versionEndIncluding', 'endIncluding'],
          ['versionEndExcluding', 'endExcluding'],
        ] as const;
        for (const [src, dst] of bounds) {
          const v = str(m[src]);
          if (v !== undefined) match[dst] = v;
        }
        matches.push(match);
      }
      nodes.push({
        operator: n.operator === 'AND' ? 'AND' : 'OR',
        negate: n.negate === true,
        matches,
      });
    }
    configurations.push({
      operator: c.operator === 'AND' ? 'AND' : 'OR',
      negate: c.negate === true,
      nodes,
    });
  }
  const { score, severity } = metricScore(cve.metrics);
  const kev = str(cve.cisaExploitAdd);
  return {
    id,
    cvss3: score,
    severity,
    published: nvdTime(cve.published),
    description: englishDescription(cve.descriptions),
    cisaExploitAdd: kev && /^\d{4}-\d{2}-\d{2}$/.test(kev) ? kev : null,
    configurations,
  };
}

export function emptyNvdIndex(): NvdIndex {
  return {
    kind: 'nvd',
    cves: new Map(),
    byProduct: new Map(),
    vendorsByProduct: new Map(),
    targetSwByProduct: new Map(),
  };
}

function addCve(index: NvdIndex, cve: NvdCve): void {
  index.cves.set(cve.id, cve);
  const seen = new Set<string>();
  for (const c of cve.configurations) {
    for (const n of c.nodes) {
      for (const m of n.matches) {
        if (!m.vulnerable) continue;
        const key = `${m.vendor}:${m.product}`;
        if (!seen.has(key)) {
          seen.add(key);
          const list = index.byProduct.get(key);
          if (list) list.push(cve.id);
          else index.byProduct.set(key, [cve.id]);
        }
        let vendors = index.vendorsByProduct.get(m.product);
        if (!vendors) index.vendorsByProduct.set(m.product, (vendors = new Set()));
        vendors.add(m.vendor);
        let sw = index.targetSwByProduct.get(key);
        if (!sw) index.targetSwByProduct.set(key, (sw = new Set()));
        sw.add(m.targetSw);
      }
    }
  }
}

/** Parses NVD CVE API 2.0 JSON: an API page / yearly feed (`vulnerabilities[].cve`) or one CVE object. */
export function parseNvd(
  json: string,
  file = '<memory>',
  into: NvdIndex = emptyNvdIndex(),
): NvdIndex {
  const doc = parseJson(FEED, json, file);
  if (!isRecord(doc))
    throw new FeedError(FEED, 'unknown_format', 'top level is not an object', file);
  if (Array.isArray(doc.vulnerabilities)) {
    if (doc.format !== undefined && doc.format !== 'NVD_CVE') {
      throw new FeedError(FEED, 'unknown_format', `format ${String(doc.format)}`, file);
    }
    const declared = typeof doc.resultsPerPage === 'number' ? doc.resultsPerPage : undefined;
    if (declared !== undefined && declared !== doc.vulnerabilities.length) {
      throw new FeedError(
        FEED,
        'truncated',
        `declares ${declared} CVEs but holds ${doc.vulnerabilities.length}`,
        file,
      );
    }
    for (const v of doc.vulnerabilities) {
      if (!isRecord(v) || !isRecord(v.cve))
        throw new FeedError(FEED, 'unknown_format', 'entry without cve', file);
      addCve(into, parseCve(v.cve, file));
    }
    return into;
  }
  if (
    typeof doc.id === 'string' &&
    /^CVE-/.test(doc.id) &&
    ('configurations' in doc || 'metrics' in doc || 'descriptions' in doc)
  ) {
    addCve(into, parseCve(doc, file));
    return into;
  }
  throw new FeedError(FEED, 'unknown_format', 'neither an NVD 2.0 page nor a CVE record', file);
}
