import { performance } from 'node:perf_hooks';
import type { SimHost, ScheduleStats } from '../host/sim-host.js';
import type { SqlEngine } from '../host/sql-engine.js';
import { asciiTime, OSQUERY_VERSION } from '../profiles/common.js';
import { hostSchedule, internConfig } from './config.js';
import type { ParsedConfig, ScheduledQuery } from './config.js';
import { PreviousResults } from './differential.js';
import {
  distributedWriteBody,
  ENROLL_HOST_DETAILS,
  enrollBody,
  eventLogLine,
  logBody,
  nodeKeyBody,
  snapshotLogLine,
  statusLogLine,
} from './requests.js';
import type { DistributedResult, LogContext, LogType } from './requests.js';
import { TransportError } from './transport.js';
import type { Transport } from './transport.js';

export type Endpoint = 'enroll' | 'config' | 'distributed_read' | 'distributed_write' | 'log';

export const ENDPOINT_PATHS: Readonly<Record<Endpoint, string>> = {
  enroll: '/api/v1/osquery/enroll',
  config: '/api/v1/osquery/config',
  distributed_read: '/api/v1/osquery/distributed/read',
  distributed_write: '/api/v1/osquery/distributed/write',
  log: '/api/v1/osquery/log',
};

/** Receives one call per request and per notable agent event, for fleet statistics. */
export interface AgentObserver {
  request(endpoint: Endpoint, milliseconds: number, ok: boolean): void;
  event(name: AgentEvent, count?: number): void;
}

/** Why a request failed (see failureKind). */
export type FailureKind =
  'error_busy' | 'error_timeout' | 'error_http' | 'error_node_invalid' | 'error_network';

export type AgentEvent =
  | 'enrolled'
  | 'reenroll'
  | 'distributed_query'
  | 'scheduled_query'
  | 'log_lines'
  | 'connection_opened'
  | FailureKind;

export interface AgentOptions {
  host: SimHost;
  engine: SqlEngine;
  transport: Transport;
  enrollSecret: string;
  /** --host_identifier: Fleet recommends `uuid`; osquery's own default is `hostname`. */
  hostIdentifier?: 'uuid' | 'hostname';
  /** --logger_tls_compress */
  gzip?: boolean;
  observer?: AgentObserver;
  /** Command-line flags (shown in osquery_flags; config `options` override them). */
  flags?: Readonly<Record<string, string>>;
  /** Wait before enrolling, to stagger a fleet's start. */
  startDelayMs?: number;
}

/** Seconds between distributed reads while the server asked to accelerate (osquery's constant). */
const ACCELERATED_INTERVAL = 5;
const MAX_BUFFERED_LINES = 20_000;

interface QueryState {
  query: ScheduledQuery;
  previous: PreviousResults;
  counter: number;
  firstRun: boolean;
  nextRun: number;
  lastRun: number | undefined;
  stats: ScheduleStats;
}

class NodeInvalid extends Error {}

/** A 2xx answer: parsed body, and the text (configs are interned by it). */
interface Reply {
  json: Record<string, unknown>;
  text: string;
}

/**
 * One simulated osqueryd: enrolls with its host's details, follows the config the server
 * returns (options, schedule, packs, decorators), answers distributed queries and ships
 * result and status logs, all over the osquery TLS remote API.
 */
export class OsqueryAgent {
  readonly host: SimHost;
  nodeKey: string | undefined;
  config: ParsedConfig | undefined;
  private readonly engine: SqlEngine;
  private readonly transport: Transport;
  private readonly options: AgentOptions;
  private readonly observer: AgentObserver | undefined;
  private readonly cliFlags: Readonly<Record<string, string>>;
  private running = false;
  private enrolling: Promise<void> | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly wakers = new Set<() => void>();
  private states = new Map<string, QueryState>();
  private results: string[] = [];
  private statuses: string[] = [];
  private decorations: Record<string, string> = {};
  private intervalDecorationsRun = new Map<number, number>();
  private accelerateUntil = 0;
  private logBackoff = 0;

  constructor(options: AgentOptions) {
    this.options = options;
    this.host = options.host;
    this.engine = options.engine;
    this.transport = options.transport;
    this.observer = options.observer;
    this.cliFlags = {
      tls_hostname: '',
      host_identifier: options.hostIdentifier ?? 'uuid',
      config_plugin: 'tls',
      logger_plugin: 'tls',
      distributed_plugin: 'tls',
      disable_distributed: 'false',
      enroll_tls_endpoint: ENDPOINT_PATHS.enroll,
      config_tls_endpoint: ENDPOINT_PATHS.config,
      logger_tls_endpoint: ENDPOINT_PATHS.log,
      distributed_tls_read_endpoint: ENDPOINT_PATHS.distributed_read,
      distributed_tls_write_endpoint: ENDPOINT_PATHS.distributed_write,
      logger_tls_compress: options.gzip === true ? 'true' : 'false',
      ...options.flags,
    };
    this.host.runtime = { ...this.host.runtime, flags: this.cliFlags };
  }

  /** The identifier osquery reports (host_identifier, hostIdentifier in logs). */
  get hostIdentifier(): string {
    return this.flag('host_identifier') === 'hostname' ? this.host.hostname : this.host.uuid;
  }

  private flag(name: string): string | undefined {
    return this.host.runtime.flags[name];
  }

  private seconds(name: string, fallback: number): number {
    const n = Number(this.flag(name));
    return Number.isFinite(n) && n > 0 ? n : fallback;
  }

  /** A wait that ends early when the agent stops, so a stopped fleet leaves no timers behind. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running) {
        resolve();
        return;
      }
      const wake = (): void => {
        clearTimeout(t);
        this.timers.delete(t);
        this.wakers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, Math.max(0, ms));
      this.timers.add(t);
      this.wakers.add(wake);
    });
  }

  private later(ms: number, fn: () => Promise<void> | void): void {
    if (!this.running) return;
    const t = setTimeout(
      () => {
        this.timers.delete(t);
        if (this.running) void Promise.resolve(fn()).catch(() => undefined);
      },
      Math.max(0, ms),
    );
    this.timers.add(t);
  }

  /** Enrolls (retrying with osquery's backoff), fetches the config and starts every loop. */
  async start(): Promise<void> {
    this.running = true;
    this.status(0, 'init.cpp', 676, `osquery initialized [version=${OSQUERY_VERSION}]`);
    if (this.options.startDelayMs !== undefined && this.options.startDelayMs > 0)
      await this.pause(this.options.startDelayMs);
    if (!this.running) return;
    await this.ensureEnrolled();
    if (!this.running) return;
    await this.refreshConfig();
    this.later(this.configRefreshSeconds() * 1000, () => this.configLoop());
    this.later(0, () => this.distributedLoop());
    this.later(this.seconds('logger_tls_period', 4) * 1000, () => this.loggerLoop());
    this.scheduleNext();
  }

  /** Stops all loops and closes the connection; in-flight requests finish silently. */
  stop(): void {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of [...this.wakers]) wake();
    this.transport.close();
  }

  get isRunning(): boolean {
    return this.running;
  }

  // ---------------------------------------------------------------- requests

  private async call(endpoint: Endpoint, body: string, gzip = false): Promise<Reply> {
    const started = performance.now();
    let ok = false;
    let status = 0;
    try {
      const res = await this.transport.post(
        ENDPOINT_PATHS[endpoint],
        body,
        endpoint === 'enroll' ? undefined : this.nodeKey,
        gzip,
      );
      const json = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as Record<
        string,
        unknown
      >;
      status = res.status;
      if (json['node_invalid'] === true) throw new NodeInvalid(`${endpoint}: node_invalid`);
      if (res.status < 200 || res.status >= 300) throw new Error(`${endpoint}: HTTP ${res.status}`);
      ok = true;
      return { json, text: res.text };
    } catch (err) {
      this.observer?.event(failureKind(err, status));
      throw err;
    } finally {
      this.observer?.request(endpoint, performance.now() - started, ok);
    }
  }

  /** Calls `endpoint`, re-enrolling once when the server says the node key is invalid. */
  private async authed(endpoint: Endpoint, body: () => string, gzip = false): Promise<Reply> {
    try {
      return await this.call(endpoint, body(), gzip);
    } catch (err) {
      if (!(err instanceof NodeInvalid)) throw err;
      this.observer?.event('reenroll');
      this.nodeKey = undefined;
      await this.ensureEnrolled();
      return this.call(endpoint, body(), gzip);
    }
  }

  /** Like osquery's TLSRequestHelper::go with max attempts: waits i² seconds between tries. */
  private async withAttempts<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (i >= attempts || !this.running) throw err;
        await this.pause(i * i * 1000);
      }
    }
  }

  // ---------------------------------------------------------------- enroll

  /** Request body for enroll, from the host's own tables (exported for wire-format tests). */
  enrollRequestBody(): string {
    const hostDetails: Record<string, Record<string, string>> = {};
    for (const table of ENROLL_HOST_DETAILS) {
      const row = this.engine.run(this.host, `SELECT * FROM ${table}`).rows[0];
      if (row !== undefined) hostDetails[table] = row;
    }
    return enrollBody({
      enrollSecret: this.options.enrollSecret,
      hostIdentifier: this.hostIdentifier,
      platformType: this.host.profile.platformType,
      hostDetails,
    });
  }

  private ensureEnrolled(): Promise<void> {
    if (this.nodeKey !== undefined) return Promise.resolve();
    this.enrolling ??= this.enrollWithRetry().finally(() => {
      this.enrolling = undefined;
    });
    return this.enrolling;
  }

  private async enrollWithRetry(): Promise<void> {
    const maxInterval = this.seconds('tls_enroll_max_interval', 600);
    // Built once per enrollment: retries send the same host details (none of them changes
    // between attempts), and rebuilding them ran four queries per refused attempt.
    const body = this.enrollRequestBody();
    for (let attempt = 1; this.running; attempt++) {
      try {
        const { json } = await this.call('enroll', body);
        const key = typeof json['node_key'] === 'string' ? json['node_key'] : '';
        if (key === '') throw new Error('No node key returned from TLS enroll plugin');
        this.nodeKey = key;
        this.observer?.event('enrolled');
        return;
      } catch {
        await this.pause(Math.min(attempt * attempt, maxInterval) * 1000);
      }
    }
  }

  // ---------------------------------------------------------------- config

  private async refreshConfig(): Promise<void> {
    for (let attempt = 0; this.running; attempt++) {
      try {
        const res = await this.withAttempts(3, () =>
          this.authed('config', () => nodeKeyBody(this.nodeKey ?? '')),
        );
        this.applyConfig(internConfig(res.text));
        return;
      } catch {
        if (this.config !== undefined) return;
        await this.pause(Math.min(60, 2 ** attempt) * 1000);
      }
    }
  }

  private async configLoop(): Promise<void> {
    await this.refreshConfig();
    this.later(this.configRefreshSeconds() * 1000, () => this.configLoop());
  }

  /** config_refresh (or its old name config_tls_refresh) from the config's options; 60 s if unset. */
  private configRefreshSeconds(): number {
    return this.seconds('config_refresh', this.seconds('config_tls_refresh', 60));
  }

  /** Applies a config: flags from `options`, the host's share of the schedule, decorators. */
  applyConfig(config: ParsedConfig): void {
    if (this.config === config) return;
    this.config = config;
    const flags = { ...this.cliFlags, ...config.options };
    const wanted = hostSchedule(
      config,
      this.host.uuid,
      this.host.profile.platform,
      this.host.profile.osPlatform,
    );
    const next = new Map<string, QueryState>();
    const now = this.host.now();
    const splay = Number(flags['schedule_splay_percent'] ?? 10) / 100;
    const rand = this.host.rand(`splay${config.hash}`);
    for (const q of wanted) {
      const old = this.states.get(q.name);
      const interval = Math.max(1, Math.round(q.interval * (1 + (rand() * 2 - 1) * splay)));
      next.set(q.name, {
        query: q,
        previous: old?.previous ?? new PreviousResults(),
        counter: old?.counter ?? 0,
        firstRun: old?.firstRun ?? true,
        nextRun: old?.nextRun ?? now + Math.floor(rand() * interval) + 1,
        lastRun: old?.lastRun,
        stats: {
          ...(old?.stats ?? {
            executions: 0,
            lastExecuted: 0,
            outputSize: 0,
            wallTimeMs: 0,
            lastWallTimeMs: 0,
            denylisted: false,
          }),
          name: q.name,
          query: q.query,
          interval,
        },
      });
    }
    this.states = next;
    this.host.runtime = {
      ...this.host.runtime,
      flags,
      configHash: config.hash,
      configValid: true,
      schedule: new Map([...next].map(([k, v]) => [k, v.stats])),
    };
    this.decorations = {};
    this.intervalDecorationsRun.clear();
    this.runDecorators(config.decorators.load);
    this.scheduleNext();
  }

  private runDecorators(queries: readonly string[]): void {
    for (const sql of queries) {
      const row = this.engine.run(this.host, sql).rows[0];
      if (row !== undefined) Object.assign(this.decorations, row);
    }
  }

  // ---------------------------------------------------------------- distributed

  private async distributedLoop(): Promise<void> {
    try {
      await this.distributedOnce();
    } catch {
      // osquery logs and waits for the next interval.
    }
    const accelerated = this.host.now() < this.accelerateUntil;
    const interval = accelerated ? ACCELERATED_INTERVAL : this.seconds('distributed_interval', 60);
    this.later(interval * 1000, () => this.distributedLoop());
  }

  /** One check-in: read, run discovery and queries, write results. Returns queries run. */
  async distributedOnce(): Promise<number> {
    await this.ensureEnrolled();
    const attempts = this.seconds('distributed_tls_max_attempts', 3);
    const { json: work } = await this.withAttempts(attempts, () =>
      this.authed('distributed_read', () => nodeKeyBody(this.nodeKey ?? '')),
    );
    const accelerate = work['accelerate'];
    if (typeof accelerate === 'number' && Number.isInteger(accelerate))
      this.accelerateUntil = this.host.now() + accelerate;
    const queries = (
      typeof work['queries'] === 'object' && work['queries'] !== null ? work['queries'] : {}
    ) as Record<string, unknown>;
    const discovery = (
      typeof work['discovery'] === 'object' && work['discovery'] !== null ? work['discovery'] : {}
    ) as Record<string, unknown>;
    const results: DistributedResult[] = [];
    for (const [name, sql] of Object.entries(queries)) {
      if (typeof sql !== 'string' || sql === '') continue;
      const gate = discovery[name];
      if (
        typeof gate === 'string' &&
        gate !== '' &&
        this.engine.run(this.host, gate).rows.length === 0
      )
        continue;
      results.push(this.runDistributed(name, sql));
    }
    if (results.length === 0) return 0;
    this.observer?.event('distributed_query', results.length);
    await this.withAttempts(attempts, () =>
      this.authed('distributed_write', () => distributedWriteBody(this.nodeKey ?? '', results)),
    );
    return results.length;
  }

  private runDistributed(name: string, sql: string): DistributedResult {
    const started = performance.now();
    const r = this.engine.run(this.host, sql);
    // The query runs on the CPU start to end; two getrusage calls per query cost the
    // simulator more than the figure is worth.
    const wallMs = performance.now() - started;
    if (r.status !== 0)
      this.status(
        2,
        'distributed.cpp',
        182,
        `Error executing distributed query: ${name}: ${r.message}`,
      );
    return {
      name,
      columns: r.columns,
      rows: r.rows,
      status: r.status,
      message: r.message,
      stats: {
        wall_time_ms: Math.round(wallMs),
        user_time: Math.round(wallMs),
        system_time: 0,
        memory: 0,
      },
    };
  }

  // ---------------------------------------------------------------- schedule

  private scheduleTimer: NodeJS.Timeout | undefined;

  private scheduleNext(): void {
    if (!this.running) return;
    if (this.scheduleTimer !== undefined) {
      clearTimeout(this.scheduleTimer);
      this.timers.delete(this.scheduleTimer);
    }
    let next = Infinity;
    for (const s of this.states.values()) next = Math.min(next, s.nextRun);
    if (next === Infinity) return;
    const delay = Math.max(0, next * 1000 - this.host.clock());
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.scheduleTimer = undefined;
      if (!this.running) return;
      this.runDueQueries();
      this.scheduleNext();
    }, delay);
    this.scheduleTimer = t;
    this.timers.add(t);
  }

  /** Runs every scheduled query whose time has come (the scheduler's one-second tick). */
  runDueQueries(): number {
    const now = this.host.now();
    let ran = 0;
    for (const state of this.states.values()) {
      if (state.nextRun > now) continue;
      state.nextRun = now + state.stats.interval;
      this.runScheduled(state, now);
      ran++;
    }
    if (ran > 0) this.observer?.event('scheduled_query', ran);
    return ran;
  }

  private runScheduled(state: QueryState, now: number): void {
    const q = state.query;
    if (q.discovery.some((sql) => this.engine.run(this.host, sql).rows.length === 0)) return;
    this.host.eventsAfter = state.lastRun;
    const started = performance.now();
    const r = this.engine.run(this.host, q.query);
    this.host.eventsAfter = undefined;
    const wall = Math.round(performance.now() - started);
    state.lastRun = now;
    Object.assign(state.stats, {
      executions: state.stats.executions + 1,
      lastExecuted: now,
      wallTimeMs: state.stats.wallTimeMs + wall,
      lastWallTimeMs: wall,
    });
    if (r.status !== 0) {
      this.status(
        2,
        'scheduler.cpp',
        128,
        `Error executing scheduled query ${q.name}: ${r.message}`,
      );
      return;
    }
    this.runDecorators(this.config?.decorators.always ?? []);
    for (const [interval, queries] of this.config?.decorators.interval ?? []) {
      const last = this.intervalDecorationsRun.get(interval) ?? 0;
      if (now - last >= interval) {
        this.intervalDecorationsRun.set(interval, now);
        this.runDecorators(queries);
      }
    }
    const ctx: LogContext = {
      name: q.name,
      hostIdentifier: this.hostIdentifier,
      calendarTime: asciiTime(now),
      unixTime: now,
      epoch: 0,
      counter: 0,
      decorations: this.decorations,
    };
    const before = this.results.length;
    if (q.snapshot) {
      this.pushResult(snapshotLogLine(ctx, r.rows));
    } else {
      const { added, removed } = state.previous.update(r.rows);
      const changed = added.length > 0 || (q.removed && removed.length > 0);
      if (state.firstRun) {
        state.firstRun = false;
        state.counter = 0;
      } else if (added.length > 0 || removed.length > 0) {
        state.counter += 1;
      }
      if (changed) {
        ctx.counter = state.counter;
        for (const row of added) this.pushResult(eventLogLine(ctx, row, 'added'));
        if (q.removed)
          for (const row of removed) this.pushResult(eventLogLine(ctx, row, 'removed'));
      }
    }
    let bytes = 0;
    for (let i = before; i < this.results.length; i++) bytes += this.results[i]?.length ?? 0;
    state.stats.outputSize += bytes;
  }

  private pushResult(line: string): void {
    this.results.push(line);
    if (this.results.length > MAX_BUFFERED_LINES) this.results.shift();
  }

  private status(severity: number, filename: string, line: number, message: string): void {
    const now = this.host.now();
    this.statuses.push(
      statusLogLine({
        hostIdentifier: this.hostIdentifier,
        calendarTime: asciiTime(now),
        unixTime: now,
        severity,
        filename,
        line,
        message,
        version: OSQUERY_VERSION,
        decorations: this.decorations,
      }),
    );
    if (this.statuses.length > MAX_BUFFERED_LINES) this.statuses.shift();
  }

  // ---------------------------------------------------------------- logger

  private async loggerLoop(): Promise<void> {
    const period = this.seconds('logger_tls_period', 4);
    try {
      await this.flushLogs();
      this.logBackoff = 0;
      this.later(period * 1000, () => this.loggerLoop());
    } catch {
      // osquery backs off by doubling the period up to --logger_tls_backoff_max.
      this.logBackoff = Math.min(
        this.seconds('logger_tls_backoff_max', 3600),
        Math.max(period, this.logBackoff * 2 || period * 2),
      );
      this.later(this.logBackoff * 1000, () => this.loggerLoop());
    }
  }

  /** Sends buffered status then result lines, at most logger_tls_max_lines per request. */
  async flushLogs(): Promise<number> {
    let sent = 0;
    for (const type of ['status', 'result'] as const) {
      const buffer = type === 'status' ? this.statuses : this.results;
      const max = this.seconds('logger_tls_max_lines', 1024);
      while (buffer.length > 0) {
        const batch = buffer.slice(0, max);
        await this.sendLog(type, batch);
        buffer.splice(0, batch.length);
        sent += batch.length;
      }
    }
    if (sent > 0) this.observer?.event('log_lines', sent);
    return sent;
  }

  private async sendLog(type: LogType, lines: readonly string[]): Promise<void> {
    await this.ensureEnrolled();
    const gzip = this.flag('logger_tls_compress') === 'true';
    await this.authed('log', () => logBody(this.nodeKey ?? '', type, lines), gzip);
  }

  /** Lines waiting to be shipped (for tests and memory reports). */
  get buffered(): { results: number; statuses: number } {
    return { results: this.results.length, statuses: this.statuses.length };
  }
}

/**
 * What kind of failure a request met, counted as an event: `error_busy` (HTTP 503, the
 * server deferring work it will take later), `error_timeout`, `error_http` (any other
 * non-2xx), `error_node_invalid`, or `error_network` (refused, reset, TLS).
 */
export function failureKind(err: unknown, status: number): FailureKind {
  if (err instanceof NodeInvalid) return 'error_node_invalid';
  if (err instanceof TransportError && err.status !== undefined) status = err.status;
  if (status === 503) return 'error_busy';
  if (status !== 0) return 'error_http';
  const message = err instanceof Error ? err.message : String(err);
  return message.startsWith('timeout') ? 'error_timeout' : 'error_network';
}
