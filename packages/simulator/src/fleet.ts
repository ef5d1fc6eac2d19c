import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { prng } from './host/random.js';
import { HostRunner } from './host-runner.js';
import type { HostSlot, RunnerSettings } from './host-runner.js';
import type { FromWorker, ToWorker } from './fleet-worker.js';
import { DEFAULT_MIX, getProfile } from './profiles/catalog.js';
import { summarize } from './stats.js';
import type { FleetStats, StatsSnapshot } from './stats.js';

export interface FleetOptions {
  /** Number of simulated hosts. */
  hosts: number;
  /** Base URL of the osquery TLS server, e.g. https://127.0.0.1:8412 */
  server: string;
  enrollSecret: string;
  /** CA bundle file the server certificate must chain to (or give `caPem`). */
  caFile?: string;
  caPem?: string;
  /** Profile weights, e.g. { 'ubuntu-22.04': 50, 'rhel-9': 20 }; defaults to a mixed fleet. */
  profiles?: Readonly<Record<string, number>>;
  /** --logger_tls_compress */
  gzip?: boolean;
  /** Worker threads; 0 runs everything in this thread. Default: 0 below 2,000 hosts, else 2. */
  workers?: number;
  /** runFleet: stop after this many seconds; without it, stop via `signal`. */
  durationSeconds?: number;
  signal?: AbortSignal;
  /**
   * Connections for the whole fleet together, shared between hosts; unset: one per host, as
   * osquery keeps. For fleets larger than one server process may hold sockets for.
   */
  maxConnections?: number;
  /** Hosts start spread over this many seconds (default: hosts / 500, at most 60). */
  startSpreadSeconds?: number;
  hostIdentifier?: 'uuid' | 'hostname';
  /** Probability per host-minute of an injected Sigma-matching scenario (default 0). */
  suspiciousRate?: number;
  /** Changes every generated hostname, UUID and package drift (default 1). */
  fleetSeed?: number;
  /** Called every `reportEverySeconds` (default 10) with cumulative statistics. */
  onStats?: (stats: FleetStats) => void;
  reportEverySeconds?: number;
}

/**
 * Assigns a profile to each host index: exact shares of `weights` (largest remainder),
 * shuffled deterministically so every worker gets a mix.
 */
export function assignProfiles(
  hosts: number,
  weights: Readonly<Record<string, number>>,
  seed = 1,
): HostSlot[] {
  const entries = Object.entries(weights).filter(([, w]) => w > 0);
  const total = entries.reduce((a, [, w]) => a + w, 0);
  if (total <= 0) throw new Error('profile weights must add up to more than 0');
  for (const [name] of entries) getProfile(name);
  const exact = entries.map(([name, w]) => ({ name, share: (w / total) * hosts }));
  const counts = exact.map((e) => ({
    name: e.name,
    n: Math.floor(e.share),
    rest: e.share - Math.floor(e.share),
  }));
  let missing = hosts - counts.reduce((a, c) => a + c.n, 0);
  for (const c of [...counts].sort((a, b) => b.rest - a.rest)) {
    if (missing-- <= 0) break;
    c.n += 1;
  }
  const names = counts.flatMap((c) => new Array<string>(c.n).fill(c.name));
  const rand = prng(seed);
  for (let i = names.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [names[i], names[j]] = [names[j] ?? '', names[i] ?? ''];
  }
  return names.map((profile, index) => ({ index, profile }));
}

/** Parses `ubuntu-22.04=50,rhel-9=20` into weights. */
export function parseProfileMix(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const [name = '', weight] = part.split('=');
    const w = weight === undefined ? 1 : Number(weight);
    if (!Number.isFinite(w) || w < 0) throw new Error(`bad weight in "${part}"`);
    getProfile(name.trim());
    out[name.trim()] = w;
  }
  return out;
}

/** A fleet started by `startFleet`. */
export interface RunningFleet {
  /**
   * Cumulative statistics taken now from every worker (not the last periodic report), so
   * that two calls bound a window exactly: see `statsBetween`.
   */
  stats(): Promise<FleetStats>;
  /** Stops every host and resolves to the final statistics. */
  stop(): Promise<FleetStats>;
  /**
   * With `maxConnections`: opens every shared connection now (they are otherwise opened as
   * requests need them), as a fleet whose hosts all hold their connections.
   */
  warm(): Promise<void>;
  /**
   * Resolves (to Date.now() then) once every worker has built its hosts and started them:
   * from here on hosts begin, spread over `startSpreadSeconds`. Before it, the simulator is
   * still booting (loading profiles, building thousands of hosts), not loading the server.
   */
  started: Promise<number>;
}

/**
 * Starts `hosts` simulated osquery agents against `server` and returns at once; they run
 * until `stop()`. `durationSeconds` and `signal` are for `runFleet` and ignored here.
 *
 * @example
 * const fleet = startFleet({ hosts: 100, server: 'https://127.0.0.1:8412', enrollSecret: 's', caFile: 'ca.pem' });
 * const start = await fleet.stats();
 * await sleep(60_000);
 * console.log(statsBetween(start, await fleet.stats()).endpoints.distributed_read.p99);
 * await fleet.stop();
 */
export function startFleet(options: FleetOptions): RunningFleet {
  const caPem =
    options.caPem ??
    (options.caFile === undefined ? undefined : readFileSync(options.caFile, 'utf8'));
  if (caPem === undefined)
    throw new Error('startFleet needs caFile or caPem (the server is always verified)');
  const settings: RunnerSettings = {
    server: options.server,
    enrollSecret: options.enrollSecret,
    caPem,
    gzip: options.gzip ?? false,
    hostIdentifier: options.hostIdentifier ?? 'uuid',
    suspiciousRate: options.suspiciousRate ?? 0,
    fleetSeed: options.fleetSeed ?? 1,
    startSpreadSeconds: options.startSpreadSeconds ?? Math.min(60, options.hosts / 500),
  };
  const slots = assignProfiles(options.hosts, options.profiles ?? DEFAULT_MIX, settings.fleetSeed);
  const workerCount = Math.min(options.workers ?? (options.hosts >= 2000 ? 2 : 0), options.hosts);
  if (options.maxConnections !== undefined)
    settings.maxConnections = Math.max(
      1,
      Math.floor(options.maxConnections / Math.max(1, workerCount)),
    );
  const started = Date.now();
  const elapsed = (): number => (Date.now() - started) / 1000;

  let snapshots: () => Promise<StatsSnapshot[]>;
  let stopRunners: () => Promise<StatsSnapshot[]>;
  let warmRunners: () => Promise<unknown>;
  let hostsStarted: Promise<number>;
  if (workerCount === 0) {
    const runner = new HostRunner(settings, slots);
    runner.start();
    hostsStarted = Promise.resolve(Date.now());
    snapshots = () => Promise.resolve([runner.snapshot()]);
    warmRunners = () => Promise.resolve(runner.warm());
    stopRunners = () => {
      runner.stop();
      return Promise.resolve([runner.snapshot()]);
    };
  } else {
    const workers = Array.from({ length: workerCount }, (_, w) => {
      const mine = slots.filter((s) => s.index % workerCount === w);
      return new Worker(new URL('./fleet-worker-boot.mjs', import.meta.url), {
        workerData: { settings, slots: mine },
      });
    });
    hostsStarted = Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const onStarted = (m: FromWorker): void => {
              if (m.type !== 'started') return;
              w.off('message', onStarted);
              resolve();
            };
            w.on('message', onStarted);
          }),
      ),
    ).then(() => Date.now());
    let nextId = 0;
    const ask = (type: ToWorker['type']): Promise<StatsSnapshot[]> => {
      const id = nextId++;
      return Promise.all(
        workers.map(
          (w) =>
            new Promise<StatsSnapshot>((resolve, reject) => {
              const onError = (err: Error): void => {
                w.off('message', onMessage);
                reject(err);
              };
              const onMessage = (m: FromWorker): void => {
                if (m.type !== 'started' && m.id === id) {
                  w.off('message', onMessage);
                  w.off('error', onError);
                  resolve(m.snapshot);
                }
              };
              w.on('message', onMessage);
              w.once('error', onError);
              w.postMessage({ type, id } satisfies ToWorker);
            }),
        ),
      );
    };
    snapshots = () => ask('snapshot');
    warmRunners = () => ask('warm');
    stopRunners = async () => {
      const last = await ask('stop');
      await Promise.all(workers.map((w) => w.terminate()));
      return last;
    };
  }

  const every = (options.reportEverySeconds ?? 10) * 1000;
  const report = options.onStats;
  const timer =
    report === undefined
      ? undefined
      : setInterval(() => {
          void snapshots().then((s) => report(summarize(s, elapsed())));
        }, every);
  let stopped: Promise<FleetStats> | undefined;
  return {
    started: hostsStarted,
    stats: async () => stopped ?? summarize(await snapshots(), elapsed()),
    warm: async () => {
      await warmRunners();
    },
    stop: () => {
      if (timer !== undefined) clearInterval(timer);
      stopped ??= stopRunners().then((s) => summarize(s, elapsed()));
      return stopped;
    },
  };
}

/**
 * Runs `hosts` simulated osquery agents against `server` until `durationSeconds` pass or
 * `signal` aborts, and resolves to the final statistics.
 *
 * @example
 * const stats = await runFleet({ hosts: 100, server: 'https://127.0.0.1:8412', enrollSecret: 's', caFile: 'ca.pem', durationSeconds: 60 });
 * console.log(stats.endpoints.distributed_read.p99);
 */
export async function runFleet(options: FleetOptions): Promise<FleetStats> {
  if (options.durationSeconds === undefined && options.signal === undefined) {
    throw new Error('runFleet needs durationSeconds or signal');
  }
  const fleet = startFleet(options);
  await new Promise<void>((resolve) => {
    const done = (): void => resolve();
    if (options.durationSeconds !== undefined) setTimeout(done, options.durationSeconds * 1000);
    if (options.signal !== undefined) {
      if (options.signal.aborted) done();
      else options.signal.addEventListener('abort', done, { once: true });
    }
  });
  return fleet.stop();
}
