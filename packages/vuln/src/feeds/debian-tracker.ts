import { FeedError } from '../errors.js';
import { normalizeSeverity } from '../types.js';
import type { Severity } from '../types.js';
import { isRecord, parseJson, str } from './json.js';

export interface DebianTrackerEntry {
  cve: string;
  status: 'resolved' | 'open';
  /** null while open; "0" (never affected) entries are dropped at load. */
  fixed: string | null;
  severity: Severity;
}

/** Source package → release codename → entries. */
export interface DebianTrackerIndex {
  kind: 'debian_tracker';
  file: string;
  packages: Map<string, Map<string, DebianTrackerEntry[]>>;
}

const FEED = 'debian_tracker';

/** Parses the security tracker's `/tracker/data/json` (package → CVE → release → status). */
export function parseDebianTracker(json: string, file = '<memory>'): DebianTrackerIndex {
  const doc = parseJson(FEED, json, file);
  if (!isRecord(doc))
    throw new FeedError(FEED, 'unknown_format', 'top level is not an object', file);
  const packages = new Map<string, Map<string, DebianTrackerEntry[]>>();
  let records = 0;
  for (const [pkg, cves] of Object.entries(doc)) {
    if (!isRecord(cves))
      throw new FeedError(FEED, 'unknown_format', `package ${pkg} is not an object`, file);
    for (const [cve, info] of Object.entries(cves)) {
      if (!isRecord(info))
        throw new FeedError(FEED, 'unknown_format', `${pkg}/${cve} is not an object`, file);
      // Entries still being triaged (TEMP-…, no release data yet) are skipped.
      if (!isRecord(info.releases) || !/^CVE-\d+-\d+$/.test(cve)) continue;
      for (const [release, r] of Object.entries(info.releases)) {
        if (!isRecord(r)) continue;
        records++;
        const status = str(r.status);
        const fixed = str(r.fixed_version);
        const severity = normalizeSeverity((str(r.urgency) ?? '').replace(/\*+$/, ''));
        let entry: DebianTrackerEntry | null = null;
        if (status === 'resolved' && fixed !== undefined && fixed !== '0')
          entry = { cve, status, fixed, severity };
        else if (status === 'open') entry = { cve, status, fixed: null, severity };
        if (!entry) continue;
        let byRelease = packages.get(pkg);
        if (!byRelease) packages.set(pkg, (byRelease = new Map()));
        const list = byRelease.get(release);
        if (list) list.push(entry);
        else byRelease.set(release, [entry]);
      }
    }
  }
  if (records === 0) throw new FeedError(FEED, 'empty', 'no package/release records', file);
  return { kind: 'debian_tracker', file, packages };
}

const DEBIAN_CODENAMES: Record<string, string> = {
  '8': 'jessie',
  '9': 'stretch',
  '10': 'buster',
  '11': 'bullseye',
  '12': 'bookworm',
  '13': 'trixie',
  '14': 'forky',
};

/** The tracker's release key for a Debian host (codename; derived from the major version if absent). */
export function debianCodename(version: string, codename?: string): string | undefined {
  if (codename) return codename.toLowerCase();
  return DEBIAN_CODENAMES[version.split('.')[0] ?? ''];
}
