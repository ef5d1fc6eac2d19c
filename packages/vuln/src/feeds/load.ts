import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FeedError } from '../errors.js';
import type { VulnDatabase } from '../match/scanner.js';
import { emptyDatabase } from '../match/scanner.js';
import { parseAlpineSecdb } from './alpine-secdb.js';
import { parseDebianTracker } from './debian-tracker.js';
import { isRecord, parseJson } from './json.js';
import { parseEpss, parseKev } from './kev-epss.js';
import { emptyNvdIndex, parseNvd } from './nvd.js';
import { emptyOsvIndex, parseOsv } from './osv.js';
import { parseOval } from './oval.js';
import type { HostInventory } from '../types.js';

/** Reads a file as text, gunzipping `.gz` files. */
export function readFeedText(path: string, name: string = path): string {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new FeedError('feeds', 'unreadable', e instanceof Error ? e.message : String(e), name);
  }
  if (path.endsWith('.gz')) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new FeedError(
        'feeds',
        'truncated',
        `gzip: ${e instanceof Error ? e.message : String(e)}`,
        name,
      );
    }
  }
  return buf.toString('utf8');
}

export type FeedKind = 'oval' | 'debian_tracker' | 'alpine_secdb' | 'osv' | 'nvd' | 'kev' | 'epss';

/** Decides what a feed file is from its name and its first bytes; null when it is not a feed. */
export function detectFeedKind(path: string, content: string): FeedKind | null {
  const name = path.replace(/\.gz$/, '').toLowerCase();
  const head = content.slice(0, 4096);
  if (name.endsWith('.xml')) return 'oval';
  if (name.endsWith('.csv')) return /^(#[^\n]*\n)*cve,epss,percentile/.test(head) ? 'epss' : null;
  if (name.endsWith('.yaml') || name.endsWith('.yml'))
    return /^distroversion:/m.test(content) ? 'alpine_secdb' : null;
  if (!name.endsWith('.json')) return null;
  if (/"catalogVersion"/.test(head) && /"cveID"/.test(content)) return 'kev';
  if (/"\$schema"/.test(head)) return null;
  if (
    /"format"\s*:\s*"NVD_CVE"/.test(head) ||
    (/"vulnerabilities"\s*:/.test(head) && /"cve"\s*:/.test(content))
  )
    return 'nvd';
  if (/"distroversion"/.test(head) && /"secfixes"/.test(content)) return 'alpine_secdb';
  if (/"affected"\s*:/.test(content) && /"schema_version"|"modified"/.test(head)) return 'osv';
  if (/^\s*\{\s*"id"\s*:\s*"CVE-/.test(head)) return 'nvd';
  if (/"releases"\s*:/.test(head) && /"status"\s*:/.test(head)) return 'debian_tracker';
  return null;
}

export interface LoadedFeeds {
  db: VulnDatabase;
  /** Files used, relative to the feeds directory, with their kind. */
  loaded: { file: string; kind: FeedKind }[];
  /** Files refused; the rest of the database is still usable. */
  errors: FeedError[];
  /** Files that are not feeds (READMEs, schemas, .bz2 which needs a decompressor we do not ship). */
  skipped: string[];
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** Adds one feed file to a database (throws FeedError when the file is refused). */
export function addFeedFile(db: VulnDatabase, kind: FeedKind, content: string, file: string): void {
  switch (kind) {
    case 'oval':
      db.oval.push(parseOval(content, file));
      return;
    case 'debian_tracker':
      db.debianTracker.push(parseDebianTracker(content, file));
      return;
    case 'alpine_secdb':
      db.alpine.push(parseAlpineSecdb(content, file));
      return;
    case 'osv': {
      // Parse into a scratch index first so a bad file leaves the database untouched.
      const scratch = parseOsv(content, file);
      const into = (db.osv ??= emptyOsvIndex());
      into.records += scratch.records;
      for (const [k, v] of scratch.ecosystems) into.ecosystems.set(k, v);
      for (const [eco, byName] of scratch.byEcosystem) {
        let target = into.byEcosystem.get(eco);
        if (!target) into.byEcosystem.set(eco, (target = new Map()));
        for (const [name, list] of byName) target.set(name, [...(target.get(name) ?? []), ...list]);
      }
      return;
    }
    case 'nvd': {
      parseNvd(content, file); // validate first: a refused file must not half-fill the index
      parseNvd(content, file, (db.nvd ??= emptyNvdIndex()));
      return;
    }
    case 'kev':
      db.kev = parseKev(content, file);
      return;
    case 'epss':
      db.epss = parseEpss(content, file);
      return;
  }
}

/**
 * Loads every feed file under a directory (recursively; `.gz` files are gunzipped).
 * A refused file is reported in `errors` and left out; the other feeds still load.
 */
export function loadFeedsDir(dir: string): LoadedFeeds {
  const result: LoadedFeeds = { db: emptyDatabase(), loaded: [], errors: [], skipped: [] };
  for (const path of walk(dir)) {
    const file = relative(dir, path);
    if (!/\.(xml|json|csv|ya?ml)(\.gz)?$/i.test(path)) {
      result.skipped.push(file);
      continue;
    }
    try {
      const content = readFeedText(path, file);
      const kind = detectFeedKind(path, content);
      if (kind === null) {
        result.skipped.push(file);
        continue;
      }
      addFeedFile(result.db, kind, content, file);
      result.loaded.push({ file, kind });
    } catch (e) {
      if (e instanceof FeedError) result.errors.push(e);
      else throw e;
    }
  }
  return result;
}

/** Reads an inventory file: Flotilla's `{os, kernel, packages}` JSON or a Vuls scan result. */
export function readInventory(path: string): HostInventory {
  const doc = parseJson('inventory', readFeedText(path), path);
  if (!isRecord(doc)) throw new FeedError('inventory', 'unknown_format', 'not an object', path);
  return inventoryFromJson(doc, path);
}

const RPM_FAMILIES = new Set([
  'redhat',
  'rhel',
  'centos',
  'alma',
  'almalinux',
  'rocky',
  'oracle',
  'amazon',
  'fedora',
]);

/** Normalizes the inventory shapes we accept (see readInventory). */
export function inventoryFromJson(doc: Record<string, unknown>, file = '<memory>'): HostInventory {
  if (isRecord(doc.os) && Array.isArray(doc.packages)) {
    const os = doc.os;
    const family = String(os.family ?? os.name ?? '').toLowerCase();
    const defaultType = RPM_FAMILIES.has(family) ? 'rpm' : family === 'alpine' ? 'apk' : 'deb';
    return {
      os: {
        family,
        version: String(os.version ?? ''),
        ...(typeof os.codename === 'string' && os.codename !== '' ? { codename: os.codename } : {}),
      },
      ...(typeof doc.kernel === 'string' && doc.kernel !== '' ? { kernel: doc.kernel } : {}),
      packages: doc.packages.filter(isRecord).map((p) => ({
        name: String(p.name ?? ''),
        version: String(p.version ?? ''),
        type: typeof p.type === 'string' ? p.type : defaultType,
        ...(typeof p.source === 'string' && p.source !== '' ? { source: p.source } : {}),
        ...(typeof p.arch === 'string' && p.arch !== '' ? { arch: p.arch } : {}),
      })),
    };
  }
  if (typeof doc.family === 'string' && isRecord(doc.packages)) {
    // Vuls scan result: packages{name:{name,version,release,arch}}.
    const family = doc.family.toLowerCase();
    const rpm = RPM_FAMILIES.has(family);
    const kernel =
      isRecord(doc.runningKernel) && typeof doc.runningKernel.release === 'string'
        ? doc.runningKernel.release
        : '';
    return {
      os: { family, version: String(doc.release ?? '') },
      ...(kernel !== '' ? { kernel } : {}),
      packages: Object.values(doc.packages)
        .filter(isRecord)
        .map((p) => {
          const release = typeof p.release === 'string' ? p.release : '';
          return {
            name: String(p.name ?? ''),
            version:
              rpm && release !== ''
                ? `${String(p.version ?? '')}-${release}`
                : String(p.version ?? ''),
            type: rpm ? 'rpm' : family === 'alpine' ? 'apk' : 'deb',
            ...(typeof p.arch === 'string' && p.arch !== '' ? { arch: p.arch } : {}),
          };
        }),
    };
  }
  throw new FeedError(
    'inventory',
    'unknown_format',
    'expected {os, packages[]} or a Vuls scan result',
    file,
  );
}
