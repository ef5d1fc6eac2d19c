import { FeedError } from '../errors.js';
import { normalizeSeverity } from '../types.js';
import type { PackageType, Severity } from '../types.js';
import type { VersionScheme } from '../versions/index.js';
import { cvss3BaseScore } from './cvss.js';
import { isRecord, parseJson, str } from './json.js';

export interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

export interface OsvAffected {
  id: string;
  cves: string[];
  severity: Severity;
  cvss3: number | null;
  /** Binary package names (Ubuntu/Debian); empty when the record names only the source. */
  binaries: string[];
  ranges: { type: 'ECOSYSTEM' | 'SEMVER'; events: OsvEvent[] }[];
  versions: string[];
}

/** How an OSV ecosystem maps onto hosts: the version ordering and which packages it covers. */
export interface EcosystemInfo {
  /** Key shared with hosts: "ubuntu:22.04", "debian:12", "almalinux:9", "alpine:3.18", "pypi", "npm". */
  key: string;
  scheme: VersionScheme;
  packageType: PackageType;
}

/** ecosystem key → package name → affected entries. */
export interface OsvIndex {
  kind: 'osv';
  records: number;
  byEcosystem: Map<string, Map<string, OsvAffected[]>>;
  ecosystems: Map<string, EcosystemInfo>;
}

const FEED = 'osv';

/** Reads an OSV ecosystem string; null for ecosystems the engine does not scan (e.g. Ubuntu Pro). */
export function ecosystemInfo(ecosystem: string): EcosystemInfo | null {
  const parts = ecosystem.split(':');
  const head = (parts[0] ?? '').toLowerCase();
  switch (head) {
    case 'ubuntu':
      if (parts[1] === 'Pro' || parts[1] === undefined) return null;
      return { key: `ubuntu:${parts[1]}`, scheme: 'dpkg', packageType: 'deb' };
    case 'debian':
      return parts[1]
        ? { key: `debian:${parts[1].split('.')[0]}`, scheme: 'dpkg', packageType: 'deb' }
        : null;
    case 'almalinux':
    case 'rocky linux':
    case 'red hat':
      return parts[1]
        ? {
            key: `${head === 'rocky linux' ? 'rocky' : head === 'red hat' ? 'rhel' : 'almalinux'}:${parts[1].split('.')[0]}`,
            scheme: 'rpm',
            packageType: 'rpm',
          }
        : null;
    case 'alpine':
      return parts[1]
        ? { key: `alpine:${parts[1].replace(/^v/, '')}`, scheme: 'apk', packageType: 'apk' }
        : null;
    case 'pypi':
      return { key: 'pypi', scheme: 'pep440', packageType: 'python' };
    case 'npm':
      return { key: 'npm', scheme: 'semver', packageType: 'npm' };
    case 'go':
      return { key: 'go', scheme: 'semver', packageType: 'go' };
    case 'crates.io':
      return { key: 'crates.io', scheme: 'semver', packageType: 'cargo' };
    default:
      return null;
  }
}

function cvesOf(rec: Record<string, unknown>, id: string): string[] {
  const ids = new Set<string>();
  if (id.startsWith('CVE-')) ids.add(id);
  for (const field of ['upstream', 'aliases', 'related']) {
    const list = rec[field];
    if (Array.isArray(list))
      for (const v of list) if (typeof v === 'string' && /^CVE-\d+-\d+$/.test(v)) ids.add(v);
  }
  return [...ids];
}

function severityOf(rec: Record<string, unknown>): { severity: Severity; cvss3: number | null } {
  let severity: Severity = 'unknown';
  let cvss3: number | null = null;
  if (Array.isArray(rec.severity)) {
    for (const s of rec.severity) {
      if (!isRecord(s)) continue;
      const score = str(s.score) ?? '';
      if (s.type === 'CVSS_V3') cvss3 = cvss3 ?? cvss3BaseScore(score);
      else if (severity === 'unknown') severity = normalizeSeverity(score);
    }
  }
  const dbSpecific = isRecord(rec.database_specific)
    ? str(rec.database_specific.severity)
    : undefined;
  if (severity === 'unknown' && dbSpecific) severity = normalizeSeverity(dbSpecific);
  return { severity, cvss3 };
}

/** Adds one OSV record (already parsed JSON) to an index. Withdrawn records are skipped. */
export function addOsvRecord(index: OsvIndex, rec: unknown, file: string): void {
  if (!isRecord(rec) || typeof rec.id !== 'string' || !Array.isArray(rec.affected)) {
    throw new FeedError(
      FEED,
      'unknown_format',
      'not an OSV record (needs id and affected[])',
      file,
    );
  }
  index.records++;
  if (rec.withdrawn !== undefined) return;
  const cves = cvesOf(rec, rec.id);
  if (cves.length === 0) return;
  const { severity, cvss3 } = severityOf(rec);
  for (const a of rec.affected) {
    if (!isRecord(a) || !isRecord(a.package)) continue;
    const eco = ecosystemInfo(str(a.package.ecosystem) ?? '');
    const rawName = str(a.package.name);
    const name =
      rawName !== undefined && eco?.key === 'pypi'
        ? rawName.toLowerCase().replace(/[-_.]+/g, '-')
        : rawName;
    if (!eco || !name) continue;
    const ranges: OsvAffected['ranges'] = [];
    for (const r of Array.isArray(a.ranges) ? a.ranges : []) {
      if (
        !isRecord(r) ||
        (r.type !== 'ECOSYSTEM' && r.type !== 'SEMVER') ||
        !Array.isArray(r.events)
      )
        continue;
      const events: OsvEvent[] = r.events.filter(isRecord).map((e) => {
        const ev: OsvEvent = {};
        for (const k of ['introduced', 'fixed', 'last_affected', 'limit'] as const) {
          const v = str(e[k]);
          if (v !== undefined) ev[k] = v;
        }
        return ev;
      });
      ranges.push({ type: r.type, events });
    }
    const versions = Array.isArray(a.versions)
      ? a.versions.filter((v): v is string => typeof v === 'string')
      : [];
    const specific = isRecord(a.ecosystem_specific) ? a.ecosystem_specific.binaries : undefined;
    const binaries = Array.isArray(specific)
      ? specific.flatMap((b) =>
          isRecord(b) && typeof b.binary_name === 'string' ? [b.binary_name] : [],
        )
      : [];
    index.ecosystems.set(eco.key, eco);
    let byName = index.byEcosystem.get(eco.key);
    if (!byName) index.byEcosystem.set(eco.key, (byName = new Map()));
    const entry: OsvAffected = { id: rec.id, cves, severity, cvss3, binaries, ranges, versions };
    const list = byName.get(name);
    if (list) list.push(entry);
    else byName.set(name, [entry]);
  }
}

export function emptyOsvIndex(): OsvIndex {
  return { kind: 'osv', records: 0, byEcosystem: new Map(), ecosystems: new Map() };
}

/** Parses one OSV JSON file: a single record or an array of records. */
export function parseOsv(
  json: string,
  file = '<memory>',
  into: OsvIndex = emptyOsvIndex(),
): OsvIndex {
  const doc = parseJson(FEED, json, file);
  const recs = Array.isArray(doc) ? doc : [doc];
  if (recs.length === 0) throw new FeedError(FEED, 'empty', 'no records', file);
  for (const r of recs) addOsvRecord(into, r, file);
  return into;
}
