import type { Datastore, HostSoftwareUpdate, SoftwareInput } from '@flotilla/db';
import type { Logger } from 'pino';
import type { QuerySource } from '../osquery/checkin.service.js';
import { DETAIL_PREFIX } from '../osquery/detail-queries.js';
import { jitterMs, type HostRuntime } from '../osquery/host-cache.js';
import { platformFamily, type PlatformFamily } from '../osquery/platforms.js';
import { InlineSoftwareWriter, type SoftwareWriter } from './software-writer.js';

type Row = Record<string, string>;

/** Prefix of the software inventory questions (Fleet names them the same way). */
export const SOFTWARE_PREFIX = `${DETAIL_PREFIX}software_`;

interface SoftwareQuery {
  /** Suffix after the prefix; also what a failed query leaves untouched. */
  name: string;
  /** The `source` stored on each row (osquery's table name, as Fleet reports it). */
  source: string;
  platforms: readonly PlatformFamily[];
  sql: string;
  map(r: Row): SoftwareInput | null;
}

const MAX_NAME = 512;
const MAX_FIELD = 255;

/** Clips and cleans a value from an agent: no NUL (PostgreSQL refuses it), bounded length. */
function clean(v: string | undefined, max = MAX_FIELD): string {
  if (typeof v !== 'string') return '';
  const s = (v.includes('\u0000') ? v.replace(/\u0000/g, '') : v).trim();
  return s.length > max ? s.slice(0, max) : s;
}

type Fields = { version: string } & Partial<
  Record<Exclude<keyof SoftwareInput, 'name' | 'source' | 'version'>, string | undefined>
>;

function item(source: string, name: string | undefined, fields: Fields): SoftwareInput | null {
  const n = clean(name, MAX_NAME);
  if (n === '') return null;
  const out: SoftwareInput = { name: n, source, version: clean(fields.version) };
  for (const k of [
    'release',
    'arch',
    'vendor',
    'bundle_identifier',
    'extension_id',
    'browser',
    'package_source',
  ] as const) {
    const v = clean(fields[k]);
    if (v !== '') out[k] = v;
  }
  return out;
}

const EVERYWHERE: readonly PlatformFamily[] = ['linux', 'darwin', 'windows'];

/** One question per source so one missing table (older osquery) never hides the others. */
export const SOFTWARE_QUERIES: readonly SoftwareQuery[] = [
  {
    name: 'deb',
    source: 'deb_packages',
    platforms: ['linux'],
    // Only installed packages: removed-but-configured ("deinstall ok config-files") are not.
    sql: "SELECT name, version, source, arch FROM deb_packages WHERE status LIKE '% ok installed'",
    map: (r) =>
      item('deb_packages', r['name'], {
        version: r['version'] ?? '',
        arch: r['arch'],
        package_source: r['source'],
      }),
  },
  {
    name: 'rpm',
    source: 'rpm_packages',
    platforms: ['linux'],
    sql: 'SELECT name, version, release, epoch, arch, vendor, source FROM rpm_packages',
    map: (r) =>
      item('rpm_packages', r['name'], {
        // Stored as rpm prints it ([epoch:]version), release apart, as Fleet does.
        version:
          r['epoch'] && r['epoch'] !== '0'
            ? `${r['epoch']}:${r['version'] ?? ''}`
            : (r['version'] ?? ''),
        release: r['release'],
        arch: r['arch'],
        vendor: r['vendor'],
        package_source: r['source'],
      }),
  },
  {
    name: 'python',
    source: 'python_packages',
    platforms: EVERYWHERE,
    sql: 'SELECT name, version FROM python_packages',
    map: (r) => item('python_packages', r['name'], { version: r['version'] ?? '' }),
  },
  {
    name: 'npm',
    source: 'npm_packages',
    platforms: EVERYWHERE,
    sql: 'SELECT name, version FROM npm_packages',
    map: (r) => item('npm_packages', r['name'], { version: r['version'] ?? '' }),
  },
  {
    name: 'chrome_extensions',
    source: 'chrome_extensions',
    platforms: EVERYWHERE,
    sql:
      'SELECT ce.name, ce.identifier, ce.version, ce.browser_type FROM users u ' +
      'CROSS JOIN chrome_extensions ce USING (uid)',
    map: (r) =>
      item('chrome_extensions', r['name'], {
        version: r['version'] ?? '',
        extension_id: r['identifier'],
        browser: r['browser_type'] || 'chrome',
      }),
  },
  {
    name: 'firefox_addons',
    source: 'firefox_addons',
    platforms: EVERYWHERE,
    sql: 'SELECT fa.name, fa.identifier, fa.version FROM users u CROSS JOIN firefox_addons fa USING (uid)',
    map: (r) =>
      item('firefox_addons', r['name'], {
        version: r['version'] ?? '',
        extension_id: r['identifier'],
        browser: 'firefox',
      }),
  },
  {
    name: 'apps',
    source: 'apps',
    platforms: ['darwin'],
    sql: 'SELECT name, bundle_identifier, bundle_short_version, bundle_version FROM apps',
    map: (r) =>
      item('apps', r['name'], {
        version: r['bundle_short_version'] || r['bundle_version'] || '',
        bundle_identifier: r['bundle_identifier'],
      }),
  },
  {
    name: 'homebrew',
    source: 'homebrew_packages',
    platforms: ['darwin'],
    sql: 'SELECT name, version, type FROM homebrew_packages',
    map: (r) => item('homebrew_packages', r['name'], { version: r['version'] ?? '' }),
  },
  {
    name: 'programs',
    source: 'programs',
    platforms: ['windows'],
    sql: 'SELECT name, version, publisher FROM programs',
    map: (r) =>
      item('programs', r['name'], { version: r['version'] ?? '', vendor: r['publisher'] }),
  },
];

const BY_NAME = new Map(SOFTWARE_QUERIES.map((q) => [SOFTWARE_PREFIX + q.name, q]));
const FOR_FAMILY = new Map<PlatformFamily, Record<string, string>>();
for (const family of ['linux', 'darwin', 'windows', 'other'] as const) {
  const out: Record<string, string> = {};
  for (const q of SOFTWARE_QUERIES)
    if (q.platforms.includes(family)) out[SOFTWARE_PREFIX + q.name] = q.sql;
  FOR_FAMILY.set(family, out);
}

/** The software questions for a platform (shared object: never mutate). */
export function softwareQueriesFor(platform: string): Readonly<Record<string, string>> {
  return FOR_FAMILY.get(platformFamily(platform)) ?? {};
}

/** The fields of a package's identity, in softwareKey's order. */
function identityFields(s: SoftwareInput): string[] {
  return [
    s.name,
    s.version,
    s.source,
    s.release ?? '',
    s.arch ?? '',
    s.vendor ?? '',
    s.bundle_identifier ?? '',
    s.extension_id ?? '',
    s.browser ?? '',
    s.package_source ?? '',
  ];
}

/** murmur3's finaliser: spreads every input bit over the 32 output bits. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Order-independent digest of one source's list: over its packages' identities, the sums
 * (mod 2^32) of two independent 32-bit hashes, and the count. Any change to the list changes
 * it but for odds of about 1 in 2^64, and a host can only make its own report look unchanged.
 * It runs on every report, so: no sorting, no identity strings, no crypto call per package.
 */
export function sourceChecksum(items: readonly SoftwareInput[]): string {
  let sumA = 0;
  let sumB = 0;
  for (const item of items) {
    let a = 0x811c9dc5;
    let b = 0x9747b28c;
    for (const f of identityFields(item)) {
      for (let i = 0; i < f.length; i++) {
        const c = f.charCodeAt(i);
        a = Math.imul(a ^ c, 0x01000193);
        b = Math.imul(b ^ c, 0x5bd1e995);
        b ^= b >>> 13;
      }
      // The separator: ("ab", "c") and ("a", "bc") differ.
      a = Math.imul(a ^ 0xffff, 0x01000193);
      b = Math.imul(b ^ 0xffff, 0x5bd1e995);
    }
    sumA = (sumA + fmix32(a)) >>> 0;
    sumB = (sumB + fmix32(b ^ 0x2545f491)) >>> 0;
  }
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  return `${hex(sumA)}${hex(sumB)}${items.length.toString(16)}`;
}

/** `source=digest` pairs, sorted: the stored form of a host's per-source checksums. */
export function encodeChecksums(m: ReadonlyMap<string, string>): string {
  return [...m]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function decodeChecksums(s: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of s.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) m.set(part.slice(0, i), part.slice(i + 1));
  }
  return m;
}

interface HostState {
  /** Per source: digest of the last list written. */
  checksums: Map<string, string>;
  seenAt: number;
  askedAt: number;
}

/**
 * Software inventory from the check-in path: asks each host its platform's software questions
 * every `intervalS` (jittered per host, and on refetch), hashes the whole answer, and when it
 * differs from the last one queues the host's list for a batched diff write. An unchanged list
 * costs one batched "seen" update. Nothing is written during the request.
 */
export class SoftwareQuerySource implements QuerySource {
  readonly prefix = SOFTWARE_PREFIX;
  private readonly state = new Map<number, HostState>();
  private readonly collecting = new Map<number, Map<string, SoftwareInput[]>>();
  private updates = new Map<number, HostSoftwareUpdate>();
  private touched = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly settledListeners: Array<(hostIds: number[]) => void> = [];
  readonly counters = { reports: 0, unchanged: 0, changed: 0, writes: 0 };

  constructor(
    private readonly ds: Datastore,
    private readonly log: Logger,
    private readonly intervalS: number,
    private readonly flushMs = 500,
    private readonly writer: SoftwareWriter = new InlineSoftwareWriter(ds),
  ) {}

  /**
   * Calls `fn` with hosts whose software report is settled: a changed list once it is written,
   * an unchanged or failed one when it arrives.
   */
  onSettled(fn: (hostIds: number[]) => void): void {
    this.settledListeners.push(fn);
  }

  private settled(hostIds: number[]): void {
    for (const l of this.settledListeners) l(hostIds);
  }

  async start(): Promise<void> {
    for (const s of await this.ds.software.states())
      this.state.set(s.host_id, {
        checksums: decodeChecksums(s.checksum),
        seenAt: s.seen_at,
        askedAt: 0,
      });
  }

  pending(host: HostRuntime, now: number): Record<string, string> | undefined {
    if (!host.platform) return undefined; // vitals first: the platform decides the questions
    const st = this.state.get(host.id);
    const due =
      host.refetch ||
      !st ||
      now >= st.seenAt + this.intervalS * 1000 + jitterMs(host.id, this.intervalS);
    if (!due) return undefined;
    if (st && now - st.askedAt < 60_000) return undefined;
    if (st) st.askedAt = now;
    else this.state.set(host.id, { checksums: new Map(), seenAt: 0, askedAt: now });
    const qs = softwareQueriesFor(host.platform);
    return Object.keys(qs).length ? qs : undefined;
  }

  ingest(host: HostRuntime, name: string, rows: Row[], status: number): void {
    const q = BY_NAME.get(name);
    if (!q || status !== 0) return; // a failed source keeps what it had
    let c = this.collecting.get(host.id);
    if (!c) this.collecting.set(host.id, (c = new Map()));
    let items = c.get(q.source);
    if (!items) c.set(q.source, (items = []));
    for (const r of rows) {
      const s = q.map(r);
      if (s) items.push(s);
    }
  }

  endWrite(host: HostRuntime, now: number): void {
    const c = this.collecting.get(host.id);
    this.collecting.delete(host.id);
    if (!c) {
      this.settled([host.id]); // every source failed: nothing to write
      return;
    }
    this.counters.reports++;
    let st = this.state.get(host.id);
    if (!st) this.state.set(host.id, (st = { checksums: new Map(), seenAt: 0, askedAt: 0 }));
    st.seenAt = now;
    st.askedAt = 0;
    // Only the sources that answered are compared (and later replaced): a failed or
    // unasked source keeps what it had.
    let changed = false;
    for (const [source, items] of c) {
      const digest = sourceChecksum(items);
      if (st.checksums.get(source) !== digest) changed = true;
      st.checksums.set(source, digest);
    }
    const pending = this.updates.get(host.id);
    if (!changed && !pending) {
      this.counters.unchanged++;
      this.touched.add(host.id);
      this.settled([host.id]);
    } else {
      this.counters.changed++;
      // Merge with a not-yet-written report of the same host (its other sources stay).
      const bySource = new Map<string, SoftwareInput[]>();
      if (pending) {
        for (const it of pending.items) {
          const list = bySource.get(it.source) ?? [];
          list.push(it);
          bySource.set(it.source, list);
        }
        for (const src of pending.sources) if (!bySource.has(src)) bySource.set(src, []);
      }
      for (const [source, items] of c) bySource.set(source, items);
      this.updates.set(host.id, {
        hostId: host.id,
        checksum: encodeChecksums(st.checksums),
        sources: [...bySource.keys()],
        items: [...bySource.values()].flat(),
      });
    }
    this.schedule();
  }

  private schedule(): void {
    // ~25 hosts × ~1,000 links: a transaction short enough not to stall check-ins behind it.
    if (this.updates.size >= 25) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  /** Writes what is queued, then lets the writer (thread) finish. */
  async stop(): Promise<void> {
    await this.flush();
    await this.writer.stop();
  }

  /** Writes queued lists (diffs) and "seen" times; safe to call any time. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.updates.size === 0 && this.touched.size === 0) return this.flushing;
    const batch = [...this.updates.values()];
    const touched = [...this.touched];
    this.updates = new Map();
    this.touched = new Set();
    this.flushing = this.flushing.then(async () => {
      const now = Date.now();
      try {
        if (batch.length) {
          await this.writer.apply(batch, now);
          this.counters.writes++;
          this.settled(batch.map((b) => b.hostId));
        }
        if (touched.length) await this.writer.touch(touched, now);
      } catch (err) {
        this.log.error({ err, hosts: batch.length }, 'writing software inventory failed');
        // Forget the checksums so the next report is written again.
        for (const b of batch) {
          this.state.get(b.hostId)?.checksums.clear();
        }
      }
    });
    return this.flushing;
  }
}
