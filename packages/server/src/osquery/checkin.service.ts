import { randomUUID } from 'node:crypto';
import { invalid, notFound, FlotillaError } from '@flotilla/core';
import type { Datastore } from '@flotilla/db';
import type { Logger } from 'pino';
import type { ServerConfig } from '../config.js';
import { randomToken, tokenHash, type SecretBox } from '../crypto/secrets.js';
import { RateLimiter } from '../http/rate-limiter.js';
import { EnrollGate } from './enroll-gate.js';
import { CHANNELS, type Bus } from '../bus/bus.js';
import {
  configForPlatform,
  DEFAULT_AGENT_OPTIONS,
  type AgentOptions,
} from '../settings/agent-options.js';
import {
  DETAIL_PREFIX,
  detailQueriesFor,
  detailQueryByName,
  hostDetailsColumns,
  type DetailResult,
} from './detail-queries.js';
import { HostCache, jitterMs, type HostRuntime } from './host-cache.js';
import type { LogIngest } from '../logging/ingest.js';
import { overridePlatformKeys } from './platforms.js';
import { WriteBatcher } from './write-batcher.js';

type Rows = Array<Record<string, string>>;

/**
 * Something else that asks hosts questions through distributed reads (labels, policies,
 * live queries). `pending` must be O(1) and cheap: it runs on every check-in.
 */
export interface QuerySource {
  prefix: string;
  pending(host: HostRuntime, now: number): Record<string, string> | undefined;
  ingest(
    host: HostRuntime,
    name: string,
    rows: Rows,
    status: number,
    message: string,
    stats: unknown,
    now: number,
  ): void;
  /** Called once after all of a write's results for this source were ingested. */
  endWrite?(host: HostRuntime, now: number): void;
}

/** Hooks other features use to add to a host's config (e.g. scheduled query packs). */
/** Config parts that depend on the host itself (legacy packs targeted at hosts or labels). */
export type HostConfigContributor = (host: HostRuntime) => Record<string, unknown> | undefined;

export type ConfigContributor = (
  teamId: number | null,
  platform: string,
  config: Record<string, unknown>,
) => void;

const ENROLL_WINDOW = 'enroll';

/** The osquery side: enroll, config, distributed read/write, logs and carves. */
export class CheckinService {
  readonly cache: HostCache;
  readonly writes: WriteBatcher;
  readonly sources: QuerySource[] = [];
  readonly configContributors: ConfigContributor[] = [];
  /** Per-host packs merged into the shared config, only for hosts that have some. */
  hostPacks: HostConfigContributor | undefined;
  private readonly enrollFailures: RateLimiter;
  readonly enrollGate: EnrollGate;
  private readonly configCache = new Map<string, string>();
  private globalOptions: AgentOptions = DEFAULT_AGENT_OPTIONS;
  private readonly teamOptions = new Map<number, AgentOptions | null>();
  readonly counters = { enrolls: 0, reads: 0, writes: 0, configs: 0, logs: 0, invalid: 0 };

  constructor(
    private readonly ds: Datastore,
    private readonly config: ServerConfig,
    private readonly bus: Bus,
    private readonly secrets: SecretBox,
    private readonly log: Logger,
    private readonly clock: () => number,
    readonly logIngest: LogIngest,
  ) {
    this.cache = new HostCache(ds, config.osquery.detailUpdateIntervalS);
    this.writes = new WriteBatcher(
      ds,
      log,
      config.osquery.seenFlushIntervalMs,
      config.osquery.ingestFlushIntervalMs,
      clock,
    );
    this.enrollFailures = new RateLimiter(config.rateLimits.enrollFailuresPerMinute, clock);
    this.enrollGate = new EnrollGate({
      maxLagMs: config.rateLimits.enrollShedLagMs,
      maxPending: config.rateLimits.enrollMaxPending,
      maxWaitMs: config.rateLimits.enrollMaxWaitMs,
      holdMs: 60_000,
    });
    bus.subscribe(CHANNELS.hostChanged, (m) => {
      const id = (m as { id?: unknown }).id;
      if (typeof id === 'number') this.cache.drop(id);
    });
    bus.subscribe(CHANNELS.agentOptionsChanged, () => void this.reloadAgentOptions());
  }

  async start(): Promise<void> {
    await this.reloadAgentOptions();
    const n = await this.cache.loadAll();
    this.writes.start();
    this.log.info({ hosts: n }, 'host cache loaded');
  }

  async stop(): Promise<void> {
    this.enrollGate.stop();
    await this.writes.stop();
  }

  async reloadAgentOptions(): Promise<void> {
    const cfg = await this.ds.appConfig.get();
    this.globalOptions =
      (cfg?.['agent_options'] as AgentOptions | undefined) ?? DEFAULT_AGENT_OPTIONS;
    this.teamOptions.clear();
    this.configCache.clear();
  }

  /** Tell every process that hosts' configs changed. */
  agentOptionsChanged(): void {
    this.bus.publish(CHANNELS.agentOptionsChanged, {});
  }

  hostChanged(id: number): void {
    this.bus.publish(CHANNELS.hostChanged, { id });
  }

  // ---- enroll ---------------------------------------------------------------------------

  async enroll(
    body: {
      enroll_secret?: unknown;
      host_identifier?: unknown;
      host_details?: unknown;
      platform_type?: unknown;
    },
    remoteIp: string,
  ): Promise<string> {
    this.enrollFailures.check(`${ENROLL_WINDOW}:${remoteIp}`);
    const secret = typeof body.enroll_secret === 'string' ? body.enroll_secret : '';
    const identifier = typeof body.host_identifier === 'string' ? body.host_identifier.trim() : '';
    const row = secret
      ? await this.ds.enrollSecrets.findByHash(this.secrets.lookupHash(secret))
      : undefined;
    if (!row) {
      this.enrollFailures.hit(`${ENROLL_WINDOW}:${remoteIp}`);
      throw new FlotillaError(
        'unauthenticated',
        'ENROLL_SECRET_INVALID',
        'enroll failed: invalid or missing enroll secret',
      );
    }
    if (!identifier || identifier.length > 255) {
      throw invalid('enroll failed: host_identifier is required (at most 255 characters)', [
        { name: 'host_identifier', reason: 'required' },
      ]);
    }
    const details =
      body.host_details && typeof body.host_details === 'object'
        ? (body.host_details as Record<string, unknown>)
        : undefined;
    const columns = hostDetailsColumns(details);
    if (!columns.hostname) columns.hostname = identifier;
    if (!columns.computer_name) columns.computer_name = columns.hostname;
    if (!columns.uuid && /^[0-9a-f-]{32,36}$/i.test(identifier)) columns.uuid = identifier;
    columns.public_ip = remoteIp;
    const ticket = await this.enrollGate.admit();
    try {
      const nodeKey = randomToken();
      const now = this.clock();
      const { host, created } = await this.ds.hosts.enroll({
        osqueryHostId: identifier,
        nodeKeyHash: tokenHash(nodeKey),
        teamId: row.team_id,
        nowMs: now,
        details: columns,
      });
      if (!created) this.hostChanged(host.id); // other processes drop the old key
      this.cache.put(host);
      this.counters.enrolls++;
      // A new host keeps its place until its first inventory is written; one enrolling again
      // (same osquery host id) reports mostly what is stored already.
      if (created) this.enrollGate.hold(ticket, host.id);
      return nodeKey;
    } finally {
      this.enrollGate.release(ticket); // no-op once held
    }
  }

  // ---- authenticated endpoints -----------------------------------------------------------

  /** Authenticates a check-in and records that the host was seen (batched, not written now). */
  async checkIn(nodeKey: string | undefined): Promise<HostRuntime | undefined> {
    if (!nodeKey) {
      this.counters.invalid++;
      return undefined;
    }
    const now = this.clock();
    const host = await this.cache.authenticate(nodeKey, now);
    if (!host) {
      this.counters.invalid++;
      return undefined;
    }
    host.seenAt = now;
    this.writes.markSeen(host.id);
    return host;
  }

  /** The serialized osquery config for a host; cached per (team, platform). */
  async configJson(host: HostRuntime): Promise<string> {
    this.counters.configs++;
    const key = `${host.teamId ?? 0}:${host.platform}`;
    const extra = this.hostPacks?.(host);
    const hit = this.configCache.get(key);
    if (hit) return extra ? withPacks(hit, extra) : hit;
    let opts = this.globalOptions;
    if (host.teamId !== null) {
      let team = this.teamOptions.get(host.teamId);
      if (team === undefined) {
        const t = await this.ds.teams.get(host.teamId);
        team = t?.agent_options ? (JSON.parse(t.agent_options) as AgentOptions) : null;
        this.teamOptions.set(host.teamId, team);
      }
      if (team) opts = team;
    }
    const config = structuredClone(configForPlatform(opts, overridePlatformKeys(host.platform)));
    for (const c of this.configContributors) c(host.teamId, host.platform, config);
    const json = JSON.stringify(config);
    this.configCache.set(key, json);
    return extra ? withPacks(json, extra) : json;
  }

  /** Questions due for this host, or undefined when there is nothing (the common case). */
  pendingQueries(host: HostRuntime): Record<string, string> | undefined {
    this.counters.reads++;
    const now = host.seenAt;
    let out: Record<string, string> | undefined;
    if ((host.refetch || now >= host.detailDueAt) && now - host.detailAskedAt > 60_000) {
      host.detailAskedAt = now;
      out = { ...detailQueriesFor(host.platform) };
    }
    for (const s of this.sources) {
      const more = s.pending(host, now);
      if (more) out = out ? Object.assign(out, more) : { ...more };
    }
    return out;
  }

  /** Folds a distributed write's results into the inventory (batched) and the live sources. */
  distributedWrite(host: HostRuntime, body: Record<string, unknown>): void {
    this.counters.writes++;
    const now = this.clock();
    const queries = isObj(body['queries']) ? body['queries'] : {};
    const statuses = isObj(body['statuses']) ? body['statuses'] : {};
    const messages = isObj(body['messages']) ? body['messages'] : {};
    const stats = isObj(body['stats']) ? body['stats'] : {};
    let detail: DetailResult | undefined;
    let touched: Set<QuerySource> | undefined;
    // A write's names mostly share one source (50 policies): try the last one first.
    let last: QuerySource | undefined;
    // Every name in `queries`, then the names only `statuses` has (an error without rows).
    const names = Object.keys(queries);
    for (const name of Object.keys(statuses)) if (!Object.hasOwn(queries, name)) names.push(name);
    for (const name of names) {
      const rows = normalizeRows(queries[name]);
      const status = normalizeStatus(statuses[name]);
      const message = typeof messages[name] === 'string' ? messages[name] : '';
      // Vitals are ours; other detail names (software inventory) go to their source below.
      const q = name.startsWith(DETAIL_PREFIX) ? detailQueryByName(name) : undefined;
      if (q) {
        if (status !== 0 || !rows) continue;
        detail ??= { set: {} };
        try {
          q.ingest(rows, detail);
        } catch (err) {
          this.log.warn({ err, host: host.id, query: name }, 'detail query result rejected');
        }
        continue;
      }
      const source =
        last && name.startsWith(last.prefix)
          ? last
          : (last = this.sources.find((s) => name.startsWith(s.prefix)));
      if (source) {
        // Rows that are not a list of objects are an error, never "no rows" (a policy fail).
        if (rows === undefined) {
          source.ingest(
            host,
            name,
            [],
            status || 1,
            message || 'malformed result rows',
            stats[name],
            now,
          );
        } else source.ingest(host, name, rows, status, message, stats[name], now);
        touched ??= new Set();
        touched.add(source);
      }
    }
    if (touched) for (const s of touched) s.endWrite?.(host, now);
    if (detail) {
      const interval = this.config.osquery.detailUpdateIntervalS;
      detail.set.detail_updated_at = now;
      detail.set.updated_at = now;
      detail.set.refetch_requested = 0;
      host.detailDueAt = now + interval * 1000 + jitterMs(host.id, interval);
      host.refetch = false;
      if (detail.set.platform) {
        if (detail.set.platform !== host.platform) this.configCache.clear();
        host.platform = detail.set.platform;
      }
      this.writes.update(host.id, detail.set, detail.users);
    }
  }

  async logs(host: HostRuntime, body: Record<string, unknown>): Promise<void> {
    this.counters.logs++;
    await this.logIngest.ingest(host, body);
  }

  // ---- carves ---------------------------------------------------------------------------

  async carveBegin(host: HostRuntime, body: Record<string, unknown>): Promise<string> {
    const blockCount = toInt(body['block_count']);
    const blockSize = toInt(body['block_size']);
    const carveSize = toInt(body['carve_size']);
    const carveId = typeof body['carve_id'] === 'string' ? body['carve_id'] : '';
    const requestId = typeof body['request_id'] === 'string' ? body['request_id'] : '';
    const errs = [];
    if (blockCount === undefined || blockCount < 1 || blockCount > 100_000)
      errs.push({ name: 'block_count', reason: 'must be 1..100000' });
    if (
      blockSize === undefined ||
      blockSize < 1 ||
      blockSize > this.config.osquery.maxCarveBlockBytes
    ) {
      errs.push({
        name: 'block_size',
        reason: `must be 1..${this.config.osquery.maxCarveBlockBytes}`,
      });
    }
    if (carveSize === undefined || carveSize < 0 || carveSize > 8 * 1024 ** 3)
      errs.push({ name: 'carve_size', reason: 'must be 0..8 GiB' });
    if (!carveId) errs.push({ name: 'carve_id', reason: 'required' });
    if (errs.length) throw invalid('invalid carve request', errs);
    const sessionId = randomUUID();
    const now = this.clock();
    const h = await this.ds.hosts.get(host.id);
    await this.ds.carves.begin({
      host_id: host.id,
      name: `${h?.hostname ?? host.osqueryHostId}-${new Date(now).toISOString()}-${requestId}`,
      block_count: blockCount!,
      block_size: blockSize!,
      carve_size: carveSize!,
      carve_id: carveId,
      request_id: requestId,
      session_id: sessionId,
      created_at: now,
    });
    return sessionId;
  }

  async carveBlock(body: Record<string, unknown>): Promise<void> {
    const sessionId = typeof body['session_id'] === 'string' ? body['session_id'] : '';
    const blockId = toInt(body['block_id']);
    const data = typeof body['data'] === 'string' ? body['data'] : undefined;
    const carve = sessionId ? await this.ds.carves.bySession(sessionId) : undefined;
    if (!carve) throw notFound('carve session', 'CARVE_SESSION_NOT_FOUND');
    if (blockId === undefined || blockId < 0 || blockId >= carve.block_count) {
      throw invalid(`block_id must be 0..${carve.block_count - 1}`, [
        { name: 'block_id', reason: 'out of range' },
      ]);
    }
    if (data === undefined)
      throw invalid('data (base64) is required', [{ name: 'data', reason: 'required' }]);
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length > carve.block_size)
      throw invalid('block is larger than block_size', [{ name: 'data', reason: 'too large' }]);
    await this.ds.carves.putBlock(carve.id, blockId, bytes);
  }
}

/** Adds per-host packs to a serialized shared config. */
function withPacks(json: string, packs: Record<string, unknown>): string {
  const config = JSON.parse(json) as Record<string, unknown>;
  config['packs'] = {
    ...((config['packs'] as Record<string, unknown> | undefined) ?? {}),
    ...packs,
  };
  return JSON.stringify(config);
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function toInt(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isInteger(n) ? n : undefined;
}

/** osquery sends a status as 0/1 or "0"/"1"; anything unreadable counts as an error. */
export function normalizeStatus(v: unknown): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : 1;
}

/** Rows as osquery sends them; `""` (or null) means no rows. Non-string values are stringified. */
export function normalizeRows(v: unknown): Rows | undefined {
  if (v === '' || v === null || v === undefined) return [];
  if (!Array.isArray(v)) return undefined;
  // Hot path for result ingestion: osquery's rows are already objects of strings, so keep
  // them as they are and copy only the odd row that is not.
  let clean = true;
  for (const r of v) {
    if (!isObj(r)) {
      clean = false;
      break;
    }
    for (const k in r) {
      if (typeof r[k] !== 'string') {
        clean = false;
        break;
      }
    }
    if (!clean) break;
  }
  if (clean) return v as Rows;
  const out: Rows = [];
  for (const r of v) {
    if (!isObj(r)) continue;
    const row: Record<string, string> = {};
    for (const [k, val] of Object.entries(r))
      row[k] =
        typeof val === 'string'
          ? val
          : val === null || val === undefined
            ? ''
            : String(val as number);
    out.push(row);
  }
  return out;
}
