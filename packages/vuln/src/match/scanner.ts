import type { AlpineSecdb } from '../feeds/alpine-secdb.js';
import type { DebianTrackerIndex } from '../feeds/debian-tracker.js';
import type { EpssIndex, KevIndex } from '../feeds/kev-epss.js';
import type { NvdIndex } from '../feeds/nvd.js';
import type { OsvIndex } from '../feeds/osv.js';
import type { OvalFeed } from '../feeds/oval.js';
import type { Finding, HostInventory, InstalledPackage, OsRelease, SourceFeed } from '../types.js';
import { compareDpkg } from '../versions/dpkg.js';
import { compareRpmEvr } from '../versions/rpm.js';
import { severityFromCvss } from '../types.js';
import { matchAlpine, matchDebianTracker, matchNvd, matchOsv, Memo } from './feed-matchers.js';
import { OvalMatcher, ovalFeedApplies } from './oval-matcher.js';
import type { RawFinding } from './raw-finding.js';

/** Every parsed feed the engine can use. Any part may be missing. */
export interface VulnDatabase {
  oval: OvalFeed[];
  debianTracker: DebianTrackerIndex[];
  alpine: AlpineSecdb[];
  osv: OsvIndex | null;
  nvd: NvdIndex | null;
  kev: KevIndex | null;
  epss: EpssIndex | null;
}

export function emptyDatabase(): VulnDatabase {
  return { oval: [], debianTracker: [], alpine: [], osv: null, nvd: null, kev: null, epss: null };
}

/** What NVD says about a CVE beyond matching: publication date and description. */
export interface CveDetails {
  published: string | null;
  description: string | null;
}

/** A CVE's NVD publication date and English description, when the NVD feed has the CVE. */
export function cveDetails(db: VulnDatabase, cve: string): CveDetails | undefined {
  const c = db.nvd?.cves.get(cve);
  return c ? { published: c.published, description: c.description } : undefined;
}

export interface ScanStats {
  hosts: number;
  /** Distinct (release, package, version) evaluations, summed over feeds. */
  evaluations: number;
  findings: number;
}

export interface Scanner {
  /** Findings for one host, sorted by CVE then package. Never throws on odd package data. */
  scanHost(host: HostInventory): Finding[];
  /**
   * The same findings grouped by installed package, unsorted. The groups (and the frozen
   * findings in them) are shared by every host with the same (release, package, version), so
   * this is the call to use for many hosts: it builds no per-host finding objects.
   */
  scanHostGrouped(host: HostInventory): readonly (readonly Finding[])[];
  stats(): ScanStats;
}

// When two feeds report the same (CVE, package), the distro's own data wins.
const PRIORITY: Record<SourceFeed, number> = {
  oval: 0,
  debian_tracker: 1,
  alpine_secdb: 2,
  osv: 3,
  nvd: 4,
};

const MAX_NAME_LENGTH = 512;

function sane(p: InstalledPackage): InstalledPackage | null {
  if (typeof p !== 'object' || p === null) return null;
  if (typeof p.name !== 'string' || typeof p.version !== 'string' || typeof p.type !== 'string')
    return null;
  if (p.name === '' || p.name.length > MAX_NAME_LENGTH || p.version.trim() === '') return null;
  return p;
}

/**
 * Builds a scanner over a database. Results per distinct (OS release, package, version) are
 * memoized inside the scanner, so scanning many hosts that share packages costs little more
 * than scanning their distinct packages once.
 */
interface PackageVerdict {
  /** Final findings for the package (priority-deduplicated and enriched), frozen and shared. */
  findings: readonly Finding[];
  /** Per OVAL matcher: its raw findings for the package, kept for per-host merges. */
  oval: readonly (readonly RawFinding[])[];
  /** Raw findings from the other feeds. */
  other: readonly RawFinding[];
  /** Per OVAL matcher: definitions this package reaches that need the whole host. */
  rest: readonly (ReadonlySet<number> | null)[];
  /** Does any OVAL test name this package (so a second package of the same name matters)? */
  ovalNamed: boolean;
  hasRest: boolean;
  /** Findings merged with a running kernel's findings of the same package name, by kernel. */
  kernelMerged: Map<string, readonly Finding[]>;
  type: string;
  source: string;
  arch: string;
  vendor: string;
}

interface NameNode {
  /** Serial of the last host that had a relevant package of this name. */
  stamp: number;
  versions: Map<string, PackageVerdict[]>;
}

const EMPTY: readonly Finding[] = Object.freeze([]);

const byCvePackage = (a: Finding, b: Finding): number =>
  a.cve < b.cve
    ? -1
    : a.cve > b.cve
      ? 1
      : a.package < b.package
        ? -1
        : a.package > b.package
          ? 1
          : 0;

/**
 * Builds a scanner over a database. Results per distinct (OS release, package, version) are
 * memoized inside the scanner, so scanning many hosts that share packages costs little more
 * than scanning their distinct packages once.
 */
export function createScanner(db: VulnDatabase): Scanner {
  const ovalMatchers = db.oval.map((f) => new OvalMatcher(f));
  const debMemo = new Memo<RawFinding[]>();
  const alpineMemo = new Memo<RawFinding[]>();
  const osvMemo = new Memo<RawFinding[]>();
  const nvdMemo = new Memo<RawFinding[]>();
  const applying = new Map<string, OvalMatcher[]>();
  let hosts = 0;
  let findings = 0;

  const enrich = (r: RawFinding): Finding => {
    const nvd = db.nvd?.cves.get(r.cve);
    const cvss3 = r.cvss3_score ?? nvd?.cvss3 ?? null;
    // The KEV catalog is authoritative; NVD mirrors its date for when no KEV file is loaded.
    const kevDate = db.kev?.added.get(r.cve) ?? nvd?.cisaExploitAdd ?? null;
    return Object.freeze({
      ...r,
      severity: r.severity === 'unknown' ? severityFromCvss(cvss3) : r.severity,
      cvss3_score: cvss3,
      known_exploited: kevDate !== null,
      kev_date_added: kevDate,
      epss: db.epss?.scores.get(r.cve)?.epss ?? null,
    });
  };

  /** Keeps, per (CVE, package), the finding of the most authoritative feed (first wins ties). */
  const prioritize = (raw: Iterable<RawFinding>): RawFinding[] => {
    const best = new Map<string, RawFinding>();
    for (const r of raw) {
      const key = `${r.cve}\0${r.package}`;
      const prev = best.get(key);
      if (!prev || PRIORITY[r.source_feed] < PRIORITY[prev.source_feed]) best.set(key, r);
    }
    return [...best.values()];
  };

  const osKey = (os: OsRelease): string => `${os.family}\0${os.version}\0${os.codename ?? ''}`;

  const matchersFor = (os: OsRelease, key: string): OvalMatcher[] => {
    let list = applying.get(key);
    if (!list) {
      list = ovalMatchers.filter((m) => ovalFeedApplies(m.feed, os));
      applying.set(key, list);
    }
    return list;
  };

  const verdict = (
    os: OsRelease,
    key: string,
    matchers: readonly OvalMatcher[],
    p: InstalledPackage,
  ): PackageVerdict => {
    const oval: RawFinding[][] = [];
    const rest: (Set<number> | null)[] = [];
    let ovalNamed = false;
    for (const m of matchers) {
      const r = new Set<number>();
      oval.push(m.matchPackage(os, p, r));
      rest.push(r.size > 0 ? r : null);
      ovalNamed ||= m.names(p);
    }
    const other: RawFinding[] = [];
    for (const t of db.debianTracker) other.push(...matchDebianTracker(t, debMemo, os, p));
    if (db.alpine.length > 0) other.push(...matchAlpine(db.alpine, alpineMemo, os, p));
    if (db.osv) other.push(...matchOsv(db.osv, osvMemo, os, p));
    if (db.nvd) other.push(...matchNvd(db.nvd, nvdMemo, p));
    const all = prioritize([...oval.flat(), ...other]);
    return {
      findings: all.length === 0 ? EMPTY : Object.freeze(all.map(enrich)),
      oval,
      other,
      rest,
      hasRest: rest.some((r) => r !== null),
      ovalNamed,
      kernelMerged: new Map(),
      type: p.type,
      source: p.source ?? '',
      arch: p.arch ?? '',
      vendor: p.vendor ?? '',
    };
  };

  // release → package name → version → verdicts (told apart by type, source, arch, vendor).
  // Nested maps keyed by the inventory's own strings avoid building a key per package.
  const releases = new Map<string, Map<string, NameNode>>();
  let hostSerial = 0;
  let lastNode: NameNode | undefined;

  const lookup = (
    names: Map<string, NameNode>,
    os: OsRelease,
    key: string,
    matchers: readonly OvalMatcher[],
    p: InstalledPackage,
  ): PackageVerdict => {
    let node = names.get(p.name);
    lastNode = node;
    if (!node) {
      node = { stamp: 0, versions: new Map() };
      names.set(p.name, node);
      lastNode = node;
    }
    let vs = node.versions.get(p.version);
    if (!vs) {
      vs = [];
      node.versions.set(p.version, vs);
    }
    for (const v of vs) {
      if (
        v.type === p.type &&
        v.source === (p.source ?? '') &&
        v.arch === (p.arch ?? '') &&
        v.vendor === (p.vendor ?? '')
      )
        return v;
    }
    const v = verdict(os, key, matchers, p);
    vs.push(v);
    return v;
  };

  /** The original whole-host evaluation, for hosts with two packages of the same name. */
  const scanWhole = (
    os: OsRelease,
    matchers: readonly OvalMatcher[],
    kernel: string | undefined,
    packages: readonly InstalledPackage[],
  ): readonly (readonly Finding[])[] => {
    const raw: RawFinding[] = [];
    for (const m of matchers) raw.push(...m.match(os, kernel, packages));
    for (const p of packages) {
      for (const t of db.debianTracker) raw.push(...matchDebianTracker(t, debMemo, os, p));
      if (db.alpine.length > 0) raw.push(...matchAlpine(db.alpine, alpineMemo, os, p));
      if (db.osv) raw.push(...matchOsv(db.osv, osvMemo, os, p));
      if (db.nvd) raw.push(...matchNvd(db.nvd, nvdMemo, p));
    }
    const out = prioritize(raw).map(enrich);
    return out.length === 0 ? [] : [out];
  };

  /** The general path: definitions that need the whole host, or two packages of one name. */
  const groupedWhole = (host: HostInventory): readonly (readonly Finding[])[] => {
    const os = host.os;
    const key = osKey(os);
    const matchers = matchersFor(os, key);
    const kernel = typeof host.kernel === 'string' && host.kernel !== '' ? host.kernel : undefined;
    let names = releases.get(key);
    if (!names) {
      names = new Map();
      releases.set(key, names);
    }
    const serial = ++hostSerial;
    const packages: InstalledPackage[] = [];
    const list: PackageVerdict[] = [];
    let duplicate = false;
    for (const p of Array.isArray(host.packages) ? host.packages : []) {
      const ok = sane(p);
      if (!ok) continue;
      const v = lookup(names, os, key, matchers, ok);
      const node = lastNode;
      // Two packages of one name can interact (same CVE key, multi-item OVAL tests).
      if (v.ovalNamed || v.findings.length > 0) {
        if (node?.stamp === serial) duplicate = true;
        if (node) node.stamp = serial;
      }
      packages.push(ok);
      list.push(v);
    }
    if (duplicate) return scanWhole(os, matchers, kernel, packages);

    // Definitions that per-package evaluation cannot settle, per matcher.
    const extra = new Map<string, RawFinding[][]>();
    matchers.forEach((m, mi) => {
      const raw: RawFinding[] = [];
      if (kernel) raw.push(...m.matchKernel(os, kernel));
      let only: Set<number> | null = null;
      for (const v of list) {
        const r = v.rest[mi];
        if (r) for (const di of r) (only ??= new Set()).add(di);
      }
      if (kernel) for (const di of m.mixedKernelDefs) (only ??= new Set()).add(di);
      if (only) raw.push(...m.match(os, kernel, packages, only));
      for (const f of raw) {
        let perMatcher = extra.get(f.package);
        if (!perMatcher) {
          perMatcher = matchers.map(() => []);
          extra.set(f.package, perMatcher);
        }
        perMatcher[mi]?.push(f);
      }
    });

    const out: (readonly Finding[])[] = [];
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      const p = packages[i];
      if (!v || !p) continue;
      const more = extra.get(p.name);
      if (more === undefined) {
        if (v.findings.length > 0) out.push(v.findings);
        continue;
      }
      extra.delete(p.name);
      const merged = matchers.map((m, mi) =>
        mergeOval(m.feed.scheme, [...(v.oval[mi] ?? []), ...(more[mi] ?? [])]),
      );
      out.push(prioritize([...merged.flat(), ...v.other]).map(enrich));
    }
    // Findings for packages the inventory does not list (the running kernel's image).
    for (const perMatcher of extra.values()) {
      const merged = matchers.map((m, mi) => mergeOval(m.feed.scheme, perMatcher[mi] ?? []));
      out.push(prioritize(merged.flat()).map(enrich));
    }
    return out;
  };

  // Kernel-only definitions' findings per (release, kernel), grouped by package name.
  const kernelGroups = new Map<string, Map<string, RawFinding[][]>>();
  const kernelUnlisted = new Map<string, readonly Finding[]>();
  const kernelFindings = (
    os: OsRelease,
    key: string,
    kernel: string,
    matchers: readonly OvalMatcher[],
  ): Map<string, RawFinding[][]> => {
    const k = `${key}\0${kernel}`;
    let g = kernelGroups.get(k);
    if (!g) {
      g = new Map();
      for (let mi = 0; mi < matchers.length; mi++) {
        for (const f of matchers[mi]?.matchKernel(os, kernel) ?? []) {
          let per = g.get(f.package);
          if (!per) {
            per = matchers.map(() => []);
            g.set(f.package, per);
          }
          per[mi]?.push(f);
        }
      }
      kernelGroups.set(k, g);
    }
    return g;
  };
  const mergeWith = (
    matchers: readonly OvalMatcher[],
    own: readonly (readonly RawFinding[])[],
    more: readonly (readonly RawFinding[])[],
    other: readonly RawFinding[],
  ): readonly Finding[] => {
    const merged = matchers.map((m, mi) =>
      mergeOval(m.feed.scheme, [...(own[mi] ?? []), ...(more[mi] ?? [])]),
    );
    return Object.freeze(prioritize([...merged.flat(), ...other]).map(enrich));
  };

  /**
   * The common path: every definition settles per package (plus kernel-only definitions per
   * kernel), so a host is a list of shared per-package results.
   */
  const grouped = (host: HostInventory): readonly (readonly Finding[])[] => {
    hosts++;
    const os = host.os;
    const key = osKey(os);
    const matchers = matchersFor(os, key);
    const kernel = typeof host.kernel === 'string' && host.kernel !== '' ? host.kernel : undefined;
    if (kernel && matchers.some((m) => m.mixedKernelDefs.length > 0)) return groupedWhole(host);
    let names = releases.get(key);
    if (!names) {
      names = new Map();
      releases.set(key, names);
    }
    const kern = kernel ? kernelFindings(os, key, kernel, matchers) : null;
    const listed = kern && kern.size > 0 ? new Set<string>() : null;
    const serial = ++hostSerial;
    const out: (readonly Finding[])[] = [];
    for (const p of Array.isArray(host.packages) ? host.packages : []) {
      const ok = sane(p);
      if (!ok) continue;
      const v = lookup(names, os, key, matchers, ok);
      if (v.hasRest) return groupedWhole(host);
      if (v.ovalNamed || v.findings.length > 0) {
        const node = lastNode;
        if (node?.stamp === serial) return groupedWhole(host);
        if (node) node.stamp = serial;
      }
      const more = listed && kern ? kern.get(ok.name) : undefined;
      if (more && kernel && listed) {
        listed.add(ok.name);
        let m = v.kernelMerged.get(kernel);
        if (!m) {
          m = mergeWith(matchers, v.oval, more, v.other);
          v.kernelMerged.set(kernel, m);
        }
        if (m.length > 0) out.push(m);
      } else if (v.findings.length > 0) out.push(v.findings);
    }
    if (kern && listed && kernel) {
      for (const [name, per] of kern) {
        if (listed.has(name)) continue;
        const k = `${key}\0${kernel}\0${name}`;
        let m = kernelUnlisted.get(k);
        if (!m) {
          m = mergeWith(matchers, [], per, []);
          kernelUnlisted.set(k, m);
        }
        if (m.length > 0) out.push(m);
      }
    }
    return out;
  };

  return {
    scanHostGrouped(host) {
      const out = grouped(host);
      for (const g of out) findings += g.length;
      return out;
    },
    scanHost(host) {
      const out = grouped(host).flat();
      out.sort(byCvePackage);
      findings += out.length;
      return out;
    },
    stats() {
      const evaluations =
        ovalMatchers.reduce((n, m) => n + m.evaluations, 0) +
        debMemo.evaluations +
        alpineMemo.evaluations +
        osvMemo.evaluations +
        nvdMemo.evaluations;
      return { hosts, evaluations, findings };
    },
  };
}

/** One OVAL feed's findings for a package from several evaluations: the newest fix per CVE. */
function mergeOval(scheme: 'dpkg' | 'rpm', raw: readonly RawFinding[]): RawFinding[] {
  const cmp = scheme === 'dpkg' ? compareDpkg : compareRpmEvr;
  const out = new Map<string, RawFinding>();
  for (const f of raw) {
    const key = `${f.cve}\0${f.package}`;
    const prev = out.get(key);
    if (
      !prev ||
      (prev.fixed_version !== null &&
        (f.fixed_version === null || cmp(f.fixed_version, prev.fixed_version) > 0))
    ) {
      out.set(key, f);
    }
  }
  return [...out.values()];
}
