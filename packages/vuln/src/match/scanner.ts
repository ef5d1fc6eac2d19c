import type { AlpineSecdb } from '../feeds/alpine-secdb.js';
import type { DebianTrackerIndex } from '../feeds/debian-tracker.js';
import type { EpssIndex, KevIndex } from '../feeds/kev-epss.js';
import type { NvdIndex } from '../feeds/nvd.js';
import type { OsvIndex } from '../feeds/osv.js';
import type { OvalFeed } from '../feeds/oval.js';
import type { Finding, HostInventory, InstalledPackage, SourceFeed } from '../types.js';
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

export interface ScanStats {
  hosts: number;
  /** Distinct (release, package, version) evaluations, summed over feeds. */
  evaluations: number;
  findings: number;
}

export interface Scanner {
  /** Findings for one host, sorted by CVE then package. Never throws on odd package data. */
  scanHost(host: HostInventory): Finding[];
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
export function createScanner(db: VulnDatabase): Scanner {
  const ovalMatchers = db.oval.map((f) => new OvalMatcher(f));
  const debMemo = new Memo<RawFinding[]>();
  const alpineMemo = new Memo<RawFinding[]>();
  const osvMemo = new Memo<RawFinding[]>();
  const nvdMemo = new Memo<RawFinding[]>();
  let hosts = 0;
  let findings = 0;

  const enrich = (r: RawFinding): Finding => {
    const nvd = db.nvd?.cves.get(r.cve);
    const cvss3 = r.cvss3_score ?? nvd?.cvss3 ?? null;
    const kevDate = db.kev?.added.get(r.cve) ?? null;
    return {
      ...r,
      severity: r.severity === 'unknown' ? severityFromCvss(cvss3) : r.severity,
      cvss3_score: cvss3,
      known_exploited: kevDate !== null,
      kev_date_added: kevDate,
      epss: db.epss?.scores.get(r.cve)?.epss ?? null,
    };
  };

  return {
    scanHost(host) {
      hosts++;
      const packages: InstalledPackage[] = [];
      for (const p of Array.isArray(host.packages) ? host.packages : []) {
        const ok = sane(p);
        if (ok) packages.push(ok);
      }
      const os = host.os;
      const raw: RawFinding[] = [];
      for (const m of ovalMatchers) {
        if (ovalFeedApplies(m.feed, os)) raw.push(...m.match(os, host.kernel, packages));
      }
      for (const p of packages) {
        for (const t of db.debianTracker) raw.push(...matchDebianTracker(t, debMemo, os, p));
        if (db.alpine.length > 0) raw.push(...matchAlpine(db.alpine, alpineMemo, os, p));
        if (db.osv) raw.push(...matchOsv(db.osv, osvMemo, os, p));
        if (db.nvd) raw.push(...matchNvd(db.nvd, nvdMemo, p));
      }
      const best = new Map<string, RawFinding>();
      for (const r of raw) {
        const key = `${r.cve}\0${r.package}`;
        const prev = best.get(key);
        if (!prev || PRIORITY[r.source_feed] < PRIORITY[prev.source_feed]) best.set(key, r);
      }
      const out = [...best.values()].map(enrich);
      out.sort((a, b) =>
        a.cve < b.cve
          ? -1
          : a.cve > b.cve
            ? 1
            : a.package < b.package
              ? -1
              : a.package > b.package
                ? 1
                : 0,
      );
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
