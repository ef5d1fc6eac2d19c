import { createHash } from 'node:crypto';
import { hash32 } from '../host/random.js';

/** One scheduled query after packs are flattened, as osquery's config parser sees it. */
export interface ScheduledQuery {
  /** Schedule name, or `pack<delim>{pack}<delim>{query}` for pack queries. */
  name: string;
  query: string;
  interval: number;
  snapshot: boolean;
  removed: boolean;
  platform: string | undefined;
  shard: number | undefined;
  /** Pack discovery queries; the query runs only while all of them return rows. */
  discovery: readonly string[];
}

export interface Decorators {
  load: readonly string[];
  always: readonly string[];
  /** interval seconds → queries */
  interval: ReadonlyMap<number, readonly string[]>;
}

/** An osquery config (the /config response) parsed once and shared by every host that got it. */
export interface ParsedConfig {
  hash: string;
  options: Readonly<Record<string, string>>;
  schedule: readonly ScheduledQuery[];
  decorators: Decorators;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

function num(v: unknown, fallback: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : fallback;
}

function bool(v: unknown, fallback: boolean): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 1) return true;
  if (v === 'false' || v === 0) return false;
  return fallback;
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function scheduled(
  name: string,
  q: Json,
  defaultInterval: number,
  discovery: readonly string[],
  packPlatform?: string,
  packShard?: number,
): ScheduledQuery | undefined {
  const query = str(q['query']);
  if (query === '') return undefined;
  const platform = str(q['platform']) || packPlatform;
  const shardValue = q['shard'] ?? packShard;
  return {
    name,
    query,
    interval: Math.max(1, num(q['interval'], defaultInterval)),
    snapshot: bool(q['snapshot'], false),
    removed: bool(q['removed'], true),
    platform: platform === '' ? undefined : platform,
    shard: shardValue === undefined ? undefined : num(shardValue, 100),
    discovery,
  };
}

/** Parses a config body; `raw` is hashed as osquery_info.config_hash is. */
export function parseConfig(raw: string, body: unknown): ParsedConfig {
  const root = isObject(body) ? body : {};
  const options: Record<string, string> = {};
  if (isObject(root['options'])) {
    for (const [k, v] of Object.entries(root['options'])) options[k] = str(v);
  }
  const defaultInterval = num(options['schedule_default_interval'], 3600);
  const delimiter = options['pack_delimiter'] ?? '_';
  const schedule: ScheduledQuery[] = [];
  if (isObject(root['schedule'])) {
    for (const [name, q] of Object.entries(root['schedule'])) {
      const s = isObject(q) ? scheduled(name, q, defaultInterval, []) : undefined;
      if (s !== undefined) schedule.push(s);
    }
  }
  if (isObject(root['packs'])) {
    for (const [packName, pack] of Object.entries(root['packs'])) {
      // A pack given as a string is a path on the host's disk; the simulator has none.
      if (!isObject(pack) || !isObject(pack['queries'])) continue;
      const discovery = stringList(pack['discovery']);
      const platform = str(pack['platform']) || undefined;
      const shard = pack['shard'] === undefined ? undefined : num(pack['shard'], 100);
      for (const [queryName, q] of Object.entries(pack['queries'])) {
        if (!isObject(q)) continue;
        const name = `pack${delimiter}${packName}${delimiter}${queryName}`;
        const s = scheduled(name, q, defaultInterval, discovery, platform, shard);
        if (s !== undefined) schedule.push(s);
      }
    }
  }
  const dec = isObject(root['decorators']) ? root['decorators'] : {};
  const interval = new Map<number, string[]>();
  if (isObject(dec['interval'])) {
    for (const [k, v] of Object.entries(dec['interval'])) interval.set(num(k, 3600), stringList(v));
  }
  return {
    hash: createHash('sha1').update(raw).digest('hex'),
    options,
    schedule,
    decorators: { load: stringList(dec['load']), always: stringList(dec['always']), interval },
  };
}

/** The host's shard in 1..100, stable for its identifier (osquery hashes the host UUID). */
export function machineShard(hostUuid: string): number {
  return (hash32(hostUuid.toLowerCase()) % 100) + 1;
}

/**
 * Whether a query's `platform` filter admits this host. osquery accepts a comma list of
 * platform names; `posix` covers Linux and macOS, `any`/`all` everything.
 */
export function platformMatches(
  filter: string | undefined,
  platform: string,
  osPlatform: string,
): boolean {
  if (filter === undefined || filter === '') return true;
  const wanted = filter.split(',').map((p) => p.trim().toLowerCase());
  if (wanted.includes('any') || wanted.includes('all')) return true;
  if (wanted.includes(platform) || wanted.includes(osPlatform)) return true;
  return wanted.includes('posix') && platform !== 'windows';
}

/** The queries of `config` this host runs: platform and shard filters applied. */
export function hostSchedule(
  config: ParsedConfig,
  hostUuid: string,
  platform: string,
  osPlatform: string,
): ScheduledQuery[] {
  const shard = machineShard(hostUuid);
  return config.schedule.filter(
    (q) =>
      platformMatches(q.platform, platform, osPlatform) &&
      (q.shard === undefined || shard <= q.shard),
  );
}

const internCache = new Map<string, ParsedConfig>();
const INTERN_LIMIT = 64;

/** Parses a config once per distinct body: thousands of hosts usually share a few configs. */
export function internConfig(raw: string): ParsedConfig {
  let parsed = internCache.get(raw);
  if (parsed === undefined) {
    parsed = parseConfig(raw, JSON.parse(raw) as unknown);
    if (internCache.size >= INTERN_LIMIT) {
      const oldest = internCache.keys().next().value;
      if (oldest !== undefined) internCache.delete(oldest);
    }
    internCache.set(raw, parsed);
  }
  return parsed;
}
