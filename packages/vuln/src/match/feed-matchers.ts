import type { AlpineSecdb } from '../feeds/alpine-secdb.js';
import type { DebianTrackerIndex } from '../feeds/debian-tracker.js';
import { debianCodename } from '../feeds/debian-tracker.js';
import type { CpeMatch, NvdIndex, NvdNode } from '../feeds/nvd.js';
import type { OsvAffected, OsvIndex } from '../feeds/osv.js';
import type { InstalledPackage, OsRelease } from '../types.js';
import { severityFromCvss, normalizeSeverity } from '../types.js';
import { compareVersions, MAX_VERSION_LENGTH } from '../versions/index.js';
import type { VersionScheme } from '../versions/index.js';
import { cpeFor } from './cpe-map.js';
import { normalizeFamily } from './oval-matcher.js';
import type { RawFinding } from './raw-finding.js';

/** A per-package matcher result cache: each distinct (release, package, version) is evaluated once. */
export class Memo<T> {
  private readonly map = new Map<string, T>();
  evaluations = 0;
  get(key: string, compute: () => T): T {
    let v = this.map.get(key);
    if (v === undefined) {
      this.evaluations++;
      v = compute();
      this.map.set(key, v);
    }
    return v;
  }
}

const usable = (v: string): boolean => v.trim() !== '' && v.length <= MAX_VERSION_LENGTH;

const pkgKey = (release: string, p: InstalledPackage): string =>
  `${release}\0${p.type}\0${p.name}\0${p.source ?? ''}\0${p.version}`;

/** Debian security tracker: source package, release codename, fixed version. */
export function matchDebianTracker(
  idx: DebianTrackerIndex,
  memo: Memo<RawFinding[]>,
  os: OsRelease,
  p: InstalledPackage,
): RawFinding[] {
  if (p.type !== 'deb' || normalizeFamily(os.family) !== 'debian' || !usable(p.version)) return [];
  const release = debianCodename(os.version, os.codename);
  if (!release) return [];
  return memo.get(pkgKey(release, p), () => {
    const src = p.source !== undefined && p.source !== '' ? p.source : p.name;
    const out: RawFinding[] = [];
    for (const e of idx.packages.get(src)?.get(release) ?? []) {
      if (e.fixed !== null && compareVersions('dpkg', p.version, e.fixed) >= 0) continue;
      out.push({
        cve: e.cve,
        package: p.name,
        installed_version: p.version,
        fixed_version: e.fixed,
        source_feed: 'debian_tracker',
        advisory: e.cve,
        severity: e.severity,
        cvss3_score: null,
      });
    }
    return out;
  });
}

/** Alpine secdb: every fix newer than the installed version names CVEs still open. */
export function matchAlpine(
  dbs: readonly AlpineSecdb[],
  memo: Memo<RawFinding[]>,
  os: OsRelease,
  p: InstalledPackage,
): RawFinding[] {
  if (p.type !== 'apk' || normalizeFamily(os.family) !== 'alpine' || !usable(p.version)) return [];
  const release = os.version.split('.').slice(0, 2).join('.');
  return memo.get(pkgKey(release, p), () => {
    const best = new Map<string, RawFinding>();
    for (const db of dbs) {
      if (db.release !== release) continue;
      for (const fix of [p.name, p.source].flatMap((n) => (n ? (db.packages.get(n) ?? []) : []))) {
        if (compareVersions('apk', p.version, fix.fixed) >= 0) continue;
        for (const cve of fix.cves) {
          const prev = best.get(cve);
          if (prev?.fixed_version && compareVersions('apk', prev.fixed_version, fix.fixed) >= 0)
            continue;
          best.set(cve, {
            cve,
            package: p.name,
            installed_version: p.version,
            fixed_version: fix.fixed,
            source_feed: 'alpine_secdb',
            advisory: `alpine-${db.release}-${db.repo}`,
            severity: 'unknown',
            cvss3_score: null,
          });
        }
      }
    }
    return [...best.values()];
  });
}

/** The OSV ecosystem key of a host's OS packages ("ubuntu:22.04", "debian:12", "almalinux:9"). */
export function osEcosystemKey(os: OsRelease): string | null {
  const family = normalizeFamily(os.family);
  const parts = os.version.split('.');
  switch (family) {
    case 'ubuntu':
      return `ubuntu:${parts.slice(0, 2).join('.')}`;
    case 'alpine':
      return `alpine:${parts.slice(0, 2).join('.')}`;
    case 'debian':
    case 'almalinux':
    case 'rocky':
    case 'rhel':
      return `${family}:${parts[0] ?? ''}`;
    default:
      return null;
  }
}

/**
 * Is `v` inside an OSV range? Events are applied in version order: introduced opens,
 * fixed closes (exclusive), last_affected closes (inclusive). Returns the fix that closes it.
 */
export function osvAffects(
  scheme: VersionScheme,
  a: OsvAffected,
  v: string,
): { affected: boolean; fixed: string | null } {
  if (a.versions.includes(v)) return { affected: true, fixed: null };
  for (const r of a.ranges) {
    const rs: VersionScheme = r.type === 'SEMVER' ? 'semver' : scheme;
    const cmp = (x: string, y: string): number => compareVersions(rs, x, y);
    const events = r.events
      .map((e) => ({ e, at: e.introduced ?? e.fixed ?? e.last_affected ?? e.limit ?? '' }))
      .sort((x, y) => (x.e.introduced === '0' ? -1 : y.e.introduced === '0' ? 1 : cmp(x.at, y.at)));
    let affected = false;
    let fixed: string | null = null;
    for (const { e } of events) {
      if (e.introduced !== undefined) {
        if (e.introduced === '0' || cmp(v, e.introduced) >= 0) affected = true;
      } else if (e.fixed !== undefined) {
        if (cmp(v, e.fixed) >= 0) affected = false;
        else if (affected && fixed === null) fixed = e.fixed;
      } else if (e.last_affected !== undefined) {
        if (cmp(v, e.last_affected) > 0) affected = false;
      }
      if (!affected) fixed = null;
    }
    if (affected) return { affected: true, fixed };
  }
  return { affected: false, fixed: null };
}

/** OSV: OS packages by the host's ecosystem, language packages by their registry. */
export function matchOsv(
  idx: OsvIndex,
  memo: Memo<RawFinding[]>,
  os: OsRelease,
  p: InstalledPackage,
): RawFinding[] {
  if (!usable(p.version)) return [];
  const langKey: Record<string, string> = {
    python: 'pypi',
    npm: 'npm',
    go: 'go',
    cargo: 'crates.io',
  };
  const isOs = p.type === 'deb' || p.type === 'rpm' || p.type === 'apk';
  const key = isOs ? osEcosystemKey(os) : (langKey[p.type] ?? null);
  if (key === null) return [];
  const byName = idx.byEcosystem.get(key);
  if (!byName) return [];
  return memo.get(pkgKey(key, p), () => {
    const eco = idx.ecosystems.get(key);
    if (!eco || eco.packageType !== p.type) return [];
    const candidates = new Set<OsvAffected>();
    if (p.type === 'deb') {
      // Debian-family records are keyed by source package; when they list binaries, ours must be one.
      const src = p.source !== undefined && p.source !== '' ? p.source : p.name;
      for (const n of new Set([src, p.name])) {
        for (const a of byName.get(n) ?? []) {
          if (a.binaries.length > 0 ? a.binaries.includes(p.name) : n === src) candidates.add(a);
        }
      }
    } else {
      const name = eco.scheme === 'pep440' ? p.name.toLowerCase().replace(/[-_.]+/g, '-') : p.name;
      for (const a of byName.get(name) ?? []) candidates.add(a);
    }
    const out: RawFinding[] = [];
    for (const a of candidates) {
      const r = osvAffects(eco.scheme, a, p.version);
      if (!r.affected) continue;
      for (const cve of a.cves) {
        out.push({
          cve,
          package: p.name,
          installed_version: p.version,
          fixed_version: r.fixed,
          source_feed: 'osv',
          advisory: a.id,
          severity: a.severity !== 'unknown' ? a.severity : severityFromCvss(a.cvss3),
          cvss3_score: a.cvss3,
        });
      }
    }
    return out;
  });
}

function cpeMatchHits(
  m: CpeMatch,
  vendor: string,
  product: string,
  targetSw: string | undefined,
  v: string,
): boolean {
  if (!m.vulnerable || m.vendor !== vendor || m.product !== product) return false;
  if (targetSw !== undefined && m.targetSw !== '*' && m.targetSw !== targetSw) return false;
  if (m.update !== '*' && m.update !== '-') return false;
  const cmp = (x: string, y: string): number => compareVersions('generic', x, y);
  if (m.version === '-') return false;
  if (m.version !== '*') return cmp(v, m.version) === 0;
  if (m.startIncluding !== undefined && cmp(v, m.startIncluding) < 0) return false;
  if (m.startExcluding !== undefined && cmp(v, m.startExcluding) <= 0) return false;
  if (m.endIncluding !== undefined && cmp(v, m.endIncluding) > 0) return false;
  if (m.endExcluding !== undefined && cmp(v, m.endExcluding) >= 0) return false;
  return true;
}

function nodeHits(n: NvdNode, hit: (m: CpeMatch) => boolean): boolean {
  const r = n.operator === 'AND' ? n.matches.every(hit) : n.matches.some(hit);
  return n.negate ? !r : r;
}

/**
 * NVD: only configurations that stand alone (OR of nodes) are used; AND configurations
 * ("app X running on platform Y") need platform facts we do not have, so they are skipped.
 */
export function matchNvd(
  nvd: NvdIndex,
  memo: Memo<RawFinding[]>,
  p: InstalledPackage,
): RawFinding[] {
  if (!usable(p.version)) return [];
  const cpe = cpeFor(p, nvd);
  if (!cpe) return [];
  return memo.get(pkgKey(`${cpe.vendor}:${cpe.product}`, p), () => {
    const out: RawFinding[] = [];
    const hit = (m: CpeMatch): boolean =>
      cpeMatchHits(m, cpe.vendor, cpe.product, cpe.targetSw, p.version);
    for (const id of nvd.byProduct.get(`${cpe.vendor}:${cpe.product}`) ?? []) {
      const cve = nvd.cves.get(id);
      if (!cve) continue;
      const matched = cve.configurations.some((c) => {
        if (c.operator === 'AND' && c.nodes.length > 1) return false;
        const r = c.nodes.some((n) => nodeHits(n, hit));
        return c.negate ? !r : r;
      });
      if (!matched) continue;
      out.push({
        cve: id,
        package: p.name,
        installed_version: p.version,
        fixed_version: null,
        source_feed: 'nvd',
        advisory: id,
        severity: cve.severity ? normalizeSeverity(cve.severity) : severityFromCvss(cve.cvss3),
        cvss3_score: cve.cvss3,
      });
    }
    return out;
  });
}
