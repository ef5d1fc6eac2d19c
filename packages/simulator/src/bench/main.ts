/**
 * `npm run bench`: starts a Flotilla server in its own process, ramps up N simulated hosts,
 * and measures the enrollment storm, steady-state check-ins (server CPU per request from the
 * server's own /proc accounting, latency in the steady window and over the whole run, RSS,
 * database size) and a node:https baseline. Writes bench/results/<timestamp>.json and .md.
 * Options: see USAGE.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { setPriority, tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { FlotillaClient } from '@flotilla/api';
import { startFleet } from '../fleet.js';
import { mergeFleetStats, statsBetween } from '../stats.js';
import type { FleetStats } from '../stats.js';
import { cpuMicros, rssBytes } from './proc.js';

const ROOT = resolve(import.meta.dirname, '../../../..');
const USAGE = `npm run bench -- [options]

  --hosts N              simulated hosts (default 2000, or FLOTILLA_BENCH_HOSTS)
  --steady S             seconds of the steady window (default 60)
  --db sqlite|postgres   database (default sqlite; postgres at 127.0.0.1:5432)
  --redis                use the Redis bus at 127.0.0.1:6379
  --storm-timeout S      give up waiting for the enrollment storm after S seconds (default 600)
  --port P               server port (default 18600; the baseline uses P+1)
  --max-connections C    hosts share C keep-alive connections (default: past 18,000 hosts)
  --cold-connections     do not open all of them after the storm (they open as needed)
  --fleet-processes K    simulator processes (default: one per 9,500 hosts)
  --fleet-workers W      worker threads per simulator process (default 2; 0: one thread)
  --ramp R               hosts start at R per second in all (default 500/s, over 60 s at most)
  --sim-nice K           scheduling niceness of the simulator processes (default 10; 0: none)
  --profile              V8 CPU profile of the server in bench/profiles/
  --profile-fleet        also of the simulator processes, in bench/profiles/fleet/
`;
const { values } = parseArgs({
  options: {
    help: { type: 'boolean', short: 'h', default: false },
    hosts: { type: 'string', default: process.env['FLOTILLA_BENCH_HOSTS'] ?? '2000' },
    db: { type: 'string', default: 'sqlite' },
    redis: { type: 'boolean', default: false },
    steady: { type: 'string', default: '60' },
    'storm-timeout': { type: 'string', default: '600' },
    port: { type: 'string', default: '18600' },
    // Internal: a child process that runs part of the fleet and reports over IPC.
    role: { type: 'string', default: 'main' },
    server: { type: 'string' },
    seed: { type: 'string', default: '1' },
    // Child mode: seconds over which the whole fleet's hosts start (so each child ramps at
    // the fleet's rate, not its own share's).
    spread: { type: 'string' },
    'fleet-processes': { type: 'string' },
    'fleet-workers': { type: 'string' },
    ramp: { type: 'string' },
    'sim-nice': { type: 'string', default: '10' },
    'ca-dir': { type: 'string' },
    // Write a V8 CPU profile of the server (bench/profiles/*.cpuprofile); summarise with
    // `node packages/simulator/src/bench/profile-summary.ts FILE`.
    profile: { type: 'boolean', default: false },
    // Also profile the simulator processes (to tell load-generator cost from server cost).
    'profile-fleet': { type: 'boolean', default: false },
    // Connections the server may hold (see SERVER_SOCKETS); in a fleet child: its share.
    'max-connections': { type: 'string' },
    // Open every shared connection after the storm (see WARM_SETTLE_MS).
    'cold-connections': { type: 'boolean', default: false },
  },
});
const N = Number(values.hosts);
const STEADY_S = Number(values.steady);
const PORT = Number(values.port);
/** Seconds over which the fleet's hosts start. */
const SPREAD_S = values.ramp === undefined ? Math.min(60, N / 500) : N / Number(values.ramp);
if (!(Number.isFinite(SPREAD_S) && SPREAD_S >= 0))
  throw new Error(`--ramp must be a number of hosts per second above 0, not "${values.ramp}"`);
const LIVE_QUERY_MAX_ROWS = Math.max(1_000_000, N * 150);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const totalRequests = (s: FleetStats | undefined) =>
  s ? Object.values(s.endpoints).reduce((a, e) => a + e.requests, 0) : 0;
const totalErrors = (s: FleetStats | undefined) =>
  s ? Object.values(s.endpoints).reduce((a, e) => a + e.errors, 0) : 0;
/** Failed requests by kind (the agent's `error_*` events): busy, timeout, network, http… */
const errorsByKind = (s: FleetStats | undefined): Record<string, number> =>
  Object.fromEntries(
    Object.entries(s?.events ?? {})
      .filter(([k, v]) => k.startsWith('error_') && v > 0)
      .map(([k, v]) => [k.slice('error_'.length), v]),
  );

async function waitFor(url: string, ca: string | undefined, ms = 60_000): Promise<void> {
  const c = new FlotillaClient({ serverUrl: url, ca });
  const end = Date.now() + ms;
  for (;;) {
    try {
      await c.request('GET', '/healthz');
      c.close();
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(300);
    }
  }
}

/** Hosts per simulator process: one process can hold only ~20,000 open sockets here. */
const HOSTS_PER_PROCESS = 9_500;
/**
 * The server is one process too: past this many hosts they share keep-alive connections
 * (`--max-connections`, split over the simulator processes) instead of holding one each…
 */
const SERVER_SOCKETS = 18_000;
/**
 * Past SERVER_SOCKETS hosts, after the storm the simulator opens every shared connection
 * (`fleet.warm`, a few handshakes at a time), as a real fleet's hosts all hold theirs, before
 * the steady window and the fan-out. Opened only as requests need them
 * (`--cold-connections`), a 20,000-host storm leaves ~5,600 open, and during the fan-out
 * (each host's answer waiting while the simulator runs the others' queries) the pool opened
 * ~4,400 more TLS connections in 17 s, ~45 % of the simulator's CPU meanwhile
 * (`…T02-19-35-870Z…`, whose timelines count connections opened per interval). The first
 * warm-up opened all ~12,400 at once (`…T02-45-43-195Z…`): SYNs dropped by the server's
 * accept queue came back seconds later and the steady window's read p99 was 112 ms. Each
 * host always on the same connection (host i: i mod C) was measured and dropped: the storm
 * opened one per host at its start (141.4 s with C = 18,000, `…T02-28-07-284Z…`), and at
 * C = 6,000 hosts queued behind other hosts' enrolls held in the enroll gate (137.0 s,
 * `…T02-35-09-343Z…`).
 */
const WARM_SETTLE_MS = 10_000;

/** Parent to fleet child: stop, or send cumulative stats taken now (answered with the id). */
type ToChild = 'stop' | 'warm' | { type: 'stats'; id: number };
/** Fleet child to parent: a periodic report, an answer to `stats`, or the final stats. */
type FromChild =
  | { type: 'started'; at: number; stats?: undefined }
  | { type: 'report'; stats: FleetStats }
  | { type: 'stats'; id: number; stats: FleetStats }
  | { type: 'warmed'; stats?: undefined }
  | { type: 'final'; stats: FleetStats };

/** Child mode: run `hosts` simulated hosts and send cumulative stats to the parent. */
function fleetChild(): void {
  // Lower priority for the load generator, before its worker threads start (they inherit it).
  // Sharing two cores, its threads outnumber the server's and the scheduler split the CPU
  // per thread: when a storm's retries made the simulator busy, the server got ~25 % of a
  // core, answered later, caused more timeouts and retries, and the storm collapsed for a
  // minute. Real agents run on their own machines; here the server must not be starved by
  // the tool that measures it. The simulator's CPU is still counted in every figure.
  setPriority(Number(values['sim-nice']));
  const ca = readFileSync(join(String(values['ca-dir']), 'tls', 'ca.pem'), 'utf8');
  const send = (m: FromChild, then: () => void = () => undefined): void => {
    process.send?.(m, then);
  };
  const fleet = startFleet({
    hosts: N,
    server: String(values.server),
    enrollSecret: 'bench-enroll-secret',
    caPem: ca,
    fleetSeed: Number(values.seed),
    ...(values['max-connections'] === undefined
      ? {}
      : { maxConnections: Number(values['max-connections']) }),
    ...(values['fleet-workers'] === undefined ? {} : { workers: Number(values['fleet-workers']) }),
    reportEverySeconds: 2,
    ...(values.spread === undefined ? {} : { startSpreadSeconds: Number(values.spread) }),
    onStats: (stats) => send({ type: 'report', stats }),
  });
  void fleet.started.then((at) => send({ type: 'started', at }));
  // The parent went away (crashed, killed): stop cleanly, so a --cpu-prof profile is written.
  process.on('disconnect', () => void fleet.stop().then(() => process.exit(0)));
  process.on('message', (m: ToChild) => {
    if (m === 'warm') void fleet.warm().then(() => send({ type: 'warmed' }));
    else if (m === 'stop')
      void fleet.stop().then((stats) => send({ type: 'final', stats }, () => process.exit(0)));
    else void fleet.stats().then((stats) => send({ type: 'stats', id: m.id, stats }));
  });
}

/** Runs N hosts over as many child processes as the open-file limit needs; sums their stats. */
function startFleetProcesses(
  url: string,
  dataDir: string,
  hosts: number,
): {
  /** Cumulative stats taken now in every child, summed: two calls bound a window exactly. */
  stats: () => Promise<FleetStats | undefined>;
  stop: () => Promise<FleetStats | undefined>;
  /** The simulator processes' own CPU (µs), to tell server time from load-generator time. */
  cpu: () => number;
  /** When the first and the last process had all their hosts started (Date.now()). */
  started: Promise<{ first: number; last: number }>;
  /** Connections the hosts share at most (null: one per host). */
  sharedConnections: number | null;
  /** Opens every shared connection now; resolves once all are open (see WARM_SETTLE_MS). */
  warm: () => Promise<void>;
} {
  const processes = Number(
    values['fleet-processes'] ?? Math.max(1, Math.ceil(hosts / HOSTS_PER_PROCESS)),
  );
  const per = Math.ceil(hosts / processes);
  const budget = Number(values['max-connections'] ?? SERVER_SOCKETS);
  const pooled = hosts > budget ? Math.floor(budget / processes) : undefined;
  if (pooled !== undefined)
    console.log(
      `  ${hosts} hosts share ${pooled * processes} keep-alive connections, (server open-file limit)`,
    );
  const children: ChildProcess[] = [];
  const last: Array<FleetStats | undefined> = [];
  const finals: Array<Promise<FleetStats | undefined>> = [];
  const startedAt: Array<Promise<number>> = [];
  for (let i = 0; i < processes; i++) {
    const n = Math.min(per, hosts - i * per);
    const child = spawn(
      process.execPath,
      [
        ...(values['profile-fleet']
          ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, 'bench', 'profiles', 'fleet')}`]
          : []),
        '--import',
        'tsx',
        import.meta.filename,
        '--role',
        'fleet',
        '--hosts',
        String(n),
        '--server',
        url,
        '--seed',
        String(i + 1),
        // Every process ramps over the whole fleet's spread: --ramp hosts/s in all, at any size.
        '--spread',
        String(SPREAD_S),
        '--sim-nice',
        String(values['sim-nice']),
        '--ca-dir',
        dataDir,
        ...(pooled === undefined ? [] : ['--max-connections', String(pooled)]),
        ...(values['fleet-workers'] === undefined
          ? []
          : ['--fleet-workers', String(values['fleet-workers'])]),
      ],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    children.push(child);
    startedAt.push(
      new Promise((resolve) => {
        const onStarted = (m: FromChild): void => {
          if (m.type !== 'started') return;
          child.off('message', onStarted);
          resolve(m.at);
        };
        child.on('message', onStarted);
      }),
    );
    finals.push(
      new Promise((resolve) => {
        child.on('message', (m: FromChild) => {
          if (m.type === 'started' || m.type === 'warmed') return;
          last[i] = m.stats;
          if (m.type === 'final') resolve(m.stats);
        });
        child.on('exit', () => resolve(last[i]));
      }),
    );
  }
  // Histograms merge exactly, so percentiles are the whole fleet's, not one process's.
  const sum = (all: Array<FleetStats | undefined>): FleetStats | undefined => {
    const xs = all.filter((x): x is FleetStats => x !== undefined);
    return xs.length ? mergeFleetStats(xs) : undefined;
  };
  let nextId = 0;
  const fresh = (child: ChildProcess, i: number, id: number): Promise<FleetStats | undefined> =>
    new Promise((resolve) => {
      if (!child.connected) return resolve(last[i]);
      const done = (stats: FleetStats | undefined): void => {
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(stats);
      };
      const onMessage = (m: FromChild): void => {
        if (m.type === 'stats' && m.id === id) done(m.stats);
      };
      const onExit = (): void => done(last[i]);
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send({ type: 'stats', id } satisfies ToChild);
    });
  return {
    sharedConnections: pooled === undefined ? null : pooled * processes,
    stats: async () => {
      const id = nextId++;
      return sum(await Promise.all(children.map((c, i) => fresh(c, i, id))));
    },
    cpu: () => children.reduce((n, c) => n + (c.pid ? cpuMicros(c.pid) : 0), 0),
    started: Promise.all(startedAt).then((at) => ({
      first: Math.min(...at),
      last: Math.max(...at),
    })),
    warm: async () => {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              const onMessage = (m: FromChild): void => {
                if (m.type === 'warmed') done();
              };
              const done = (): void => {
                c.off('message', onMessage);
                c.off('exit', done);
                resolve();
              };
              c.on('message', onMessage);
              c.once('exit', done);
              c.send('warm' satisfies ToChild);
            }),
        ),
      );
    },
    stop: async () => {
      for (const c of children) c.send('stop' satisfies ToChild);
      return sum(await Promise.all(finals));
    },
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
  let databaseUrl: string | undefined;
  if (values.db === 'postgres') {
    const name = `flotilla_bench_${Date.now()}`;
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    databaseUrl = `postgres://postgres@127.0.0.1:5432/${name}`;
  }
  const env = {
    ...process.env,
    FLOTILLA_DATA_DIR: dir,
    FLOTILLA_PORT: String(PORT),
    FLOTILLA_HOST: '127.0.0.1',
    FLOTILLA_LOG_LEVEL: 'warn',
    // The fan-out brings ~100 rows per host: room for all of them in the one campaign.
    FLOTILLA_LIVE_QUERY_MAX_ROWS: String(LIVE_QUERY_MAX_ROWS),
    ...(databaseUrl ? { FLOTILLA_DATABASE_URL: databaseUrl } : {}),
    ...(values.redis ? { FLOTILLA_REDIS_URL: 'redis://127.0.0.1:6379' } : {}),
  };
  const server: ChildProcess = spawn(
    process.execPath,
    [
      ...(values.profile
        ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, 'bench', 'profiles')}`]
        : []),
      // As `npm start` runs it: a larger young generation (fewer scavenges under load).
      '--max-semi-space-size=64',
      '--import',
      'tsx',
      join(ROOT, 'packages/cli/src/main.ts'),
      'serve',
    ],
    { env, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const url = `https://127.0.0.1:${PORT}`;
  for (let i = 0; i < 100 && !existsSync(join(dir, 'tls', 'ca.pem')); i++) await sleep(200);
  const ca = readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8');
  await waitFor(url, ca);
  const client = new FlotillaClient({ serverUrl: url, ca });
  await client.setup({ email: 'bench@example.com', name: 'Bench', password: 'Benchmark-pass-1!' });
  await client.request('POST', '/api/v1/fleet/spec/enroll_secret', {
    spec: { secrets: [{ secret: 'bench-enroll-secret' }] },
  });
  await client.request('PATCH', '/api/v1/fleet/config', {
    agent_options: {
      config: {
        options: {
          distributed_interval: 10,
          config_refresh: 60,
          logger_tls_period: 10,
          pack_delimiter: '/',
        },
      },
    },
  });

  const inventoried = databaseUrl
    ? pgCounter(databaseUrl)
    : sqliteCounter(join(dir, 'flotilla.db'));
  const pid = server.pid!;
  console.log(
    `bench: ${N} hosts, ${values.db}${values.redis ? ' + redis' : ''}, server pid ${pid}`,
  );

  const spawnedAt = Date.now();
  const fleet = startFleetProcesses(url, dir, N);
  // The storm starts when the simulator has booted (loaded its profiles and built its hosts
  // in every process) and the first hosts begin; booting is the load generator's, not the
  // server's, time. Until then the server has had nothing to do.
  const booted = await fleet.started;
  const bootSeconds = (booted.last - spawnedAt) / 1000;
  console.log(
    `  simulator booted: hosts started ${((booted.first - spawnedAt) / 1000).toFixed(1)}–${bootSeconds.toFixed(1)} s after spawn`,
  );

  // Enrollment storm: until every host is enrolled and has its vitals ingested.
  const t0 = booted.first;
  const cpuStart = cpuMicros(pid);
  const simCpuStart = fleet.cpu();
  let stormSeconds: number | null = null;
  // Every 5 s: how far the storm got, who used the CPU, and what failed (the shape of a slow
  // storm: overload at the start, back-off at the end).
  const timeline: StormTick[] = [];
  let tick = { at: t0, server: cpuStart, sim: simCpuStart, stats: await fleet.stats() };
  while (Date.now() - t0 < Number(values['storm-timeout']) * 1000) {
    await sleep(1000);
    const done = await inventoried();
    if (done >= N) {
      stormSeconds = (Date.now() - t0) / 1000;
      break;
    }
    if (Date.now() - tick.at >= 5000) {
      const now = { at: Date.now(), server: cpuMicros(pid), sim: fleet.cpu() };
      const stats = await fleet.stats();
      const metrics = await scrape(url, ca);
      const d = stats && tick.stats ? statsBetween(tick.stats, stats) : undefined;
      const ms = now.at - tick.at;
      const t: StormTick = {
        t_s: Math.round((now.at - t0) / 100) / 10,
        inventoried: done,
        enrolled: stats?.enrolled ?? 0,
        server_cpu_pct: Math.round(((now.server - tick.server) / 1000 / ms) * 100),
        simulator_cpu_pct: Math.round(((now.sim - tick.sim) / 1000 / ms) * 100),
        requests: totalRequests(d),
        enroll_requests: d?.endpoints.enroll.requests ?? 0,
        errors: errorsByKind(d),
        errors_by_endpoint: Object.fromEntries(
          Object.entries(d?.endpoints ?? {})
            .filter(([, e]) => e.errors > 0)
            .map(([k, e]) => [k, e.errors]),
        ),
        simulator_loop_lag_ms: d?.events['loop_lag_ms'] ?? 0,
        server_loop_lag_max_ms: Math.round(
          (metrics['flotilla_process_nodejs_eventloop_lag_max_seconds'] ?? NaN) * 1000,
        ),
        server_enrolls_in_flight: metrics['flotilla_enrolls_in_flight'] ?? NaN,
        connections_opened: d?.events['connection_opened'] ?? 0,
      };
      timeline.push(t);
      tick = { ...now, stats };
      console.log(
        `  storm ${t.t_s} s: ${done}/${N} inventoried, ${t.enrolled} enrolled, CPU server ${t.server_cpu_pct}% simulator ${t.simulator_cpu_pct}%, ${t.requests} requests (${t.enroll_requests} enroll), errors ${JSON.stringify(t.errors)} ${JSON.stringify(t.errors_by_endpoint)}, simulator lag ${t.simulator_loop_lag_ms} ms, server loop lag max ${t.server_loop_lag_max_ms} ms, ${t.server_enrolls_in_flight} enrolls in flight, ${t.connections_opened} connections opened`,
      );
    }
  }
  const stormCpuS = (cpuMicros(pid) - cpuStart) / 1e6;
  const stormSimCpuS = (fleet.cpu() - simCpuStart) / 1e6;
  console.log(
    `storm: ${stormSeconds ?? 'not finished'} s, server CPU ${stormCpuS.toFixed(1)} s, simulator CPU ${stormSimCpuS.toFixed(1)} s`,
  );

  // Steady state: let the fleet settle, then measure a window. Its requests, errors and
  // latencies are the simulators' counters at its end minus those at its start.
  // Shared connections: open them all now, as a real fleet's hosts hold theirs, then settle.
  let warmed: number | null = null;
  let warmSeconds: number | null = null;
  if (!values['cold-connections'] && fleet.sharedConnections !== null) {
    const before = await fleet.stats();
    const warmStart = Date.now();
    await fleet.warm();
    warmSeconds = (Date.now() - warmStart) / 1000;
    const after = await fleet.stats();
    warmed = (after?.events['connection_opened'] ?? 0) - (before?.events['connection_opened'] ?? 0);
    console.log(`  warmed: opened ${warmed} more shared connections in ${warmSeconds} s`);
    await sleep(WARM_SETTLE_MS);
  }
  await sleep(15_000);
  const windowStart = await fleet.stats();
  const before = { cpu: cpuMicros(pid), sim: fleet.cpu(), at: Date.now() };
  await sleep(STEADY_S * 1000);
  const windowEnd = await fleet.stats();
  const after = { cpu: cpuMicros(pid), sim: fleet.cpu(), at: Date.now() };
  if (windowStart === undefined || windowEnd === undefined)
    throw new Error('the simulator processes sent no statistics');
  const steady = statsBetween(windowStart, windowEnd);
  const windowS = (after.at - before.at) / 1000;
  const reqs = totalRequests(steady);
  const cpuPerReqUs = reqs > 0 ? (after.cpu - before.cpu) / reqs : NaN;
  const simCpuPerReqUs = reqs > 0 ? (after.sim - before.sim) / reqs : NaN;
  const rss = rssBytes(pid);

  // Live-query fan-out: one query of ~100 rows per host to every host, streamed to a client.
  const fanout = await liveFanout(url, ca, client, { pid, fleet });
  console.log(
    `fan-out: 50% ${fanout.seconds_to_50_percent} s, 99% ${fanout.seconds_to_99_percent} s, 100% ${fanout.seconds_to_100_percent} s, ${fanout.rows_per_second.toFixed(0)} rows/s`,
  );
  const final = (await fleet.stop())!;
  const dbBytes = databaseUrl
    ? await pgSize(databaseUrl)
    : fileSize(join(dir, 'flotilla.db')) + fileSize(join(dir, 'flotilla.db-wal'));
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  client.close();

  // Baseline: the same check-ins against a do-nothing node:https server.
  const base = await baseline(dir, ca, STEADY_S);

  const result = {
    when: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model,
      memory_gb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    config: {
      hosts: N,
      database: values.db,
      redis: values.redis,
      distributed_interval_s: 10,
      config_refresh_s: 60,
      logger_tls_period_s: 10,
      steady_window_s: windowS,
      live_query_max_rows: LIVE_QUERY_MAX_ROWS,
      // A V8 profiler in the server (or simulator) costs CPU: its figures are not comparable.
      profiled: { server: values.profile === true, simulator: values['profile-fleet'] === true },
      simulator_nice: Number(values['sim-nice']),
      // Worker threads per simulator process (null: the fleet's default, 2 at this size).
      simulator_workers:
        values['fleet-workers'] === undefined ? null : Number(values['fleet-workers']),
      shared_connections: fleet.sharedConnections,
      // All opened after the storm (this many were not yet), before the steady window.
      shared_connections_warmed: warmed,
      // How long opening them took (a few handshakes at a time), before WARM_SETTLE_MS.
      shared_connections_warm_seconds: warmSeconds,
    },
    enrollment_storm: {
      simulator_boot_seconds: bootSeconds,
      seconds_to_fully_inventoried: stormSeconds,
      server_cpu_seconds: stormCpuS,
      simulator_cpu_seconds: stormSimCpuS,
      timeline,
    },
    steady_state: {
      checkins_per_second: reqs / windowS,
      server_cpu_us_per_request: cpuPerReqUs,
      baseline_cpu_us_per_request: base.cpuPerReqUs,
      cpu_ratio_vs_baseline: cpuPerReqUs / base.cpuPerReqUs,
      // The load generator's own CPU per request (all its processes and threads).
      simulator_cpu_us_per_request: simCpuPerReqUs,
      errors_in_window: totalErrors(steady),
      errors_in_window_by_kind: errorsByKind(steady),
      server_rss_mb: rss / 2 ** 20,
      rss_per_host_kb: rss / N / 1024,
      db_bytes_per_host: dbBytes / N,
      latency_ms: latencyRows(steady),
    },
    live_query_fanout: fanout,
    latency_ms_whole_run: latencyRows(final),
    total_errors: totalErrors(final),
    errors_by_kind: errorsByKind(final),
    simulator_rss_mb: final.rssBytes / 2 ** 20,
  };
  const outDir = join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const stamp = result.when.replace(/[:.]/g, '-');
  const tag = `${stamp}-${values.db}${values.redis ? '-redis' : ''}-${N}`;
  writeFileSync(join(outDir, `${tag}.json`), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(outDir, `${tag}.md`), markdown(result));
  console.log(markdown(result));
  process.exit(0);
}

interface Fanout {
  /** The SQL asked (absent in runs before it was recorded: `FROM n, system_info s`). */
  query?: string;
  hosts: number;
  responded: number;
  rows: number;
  seconds_to_50_percent: number | null;
  seconds_to_99_percent: number | null;
  seconds_to_100_percent: number | null;
  rows_per_second: number;
  /** CPU seconds from the campaign's start to its last result, per process. */
  cpu_seconds: { server: number; simulator: number; streaming_client: number };
  timeline: FanoutTick[];
}

/** The fan-out every ~2 s: how far it got and who used the two cores meanwhile. */
interface FanoutTick {
  t_s: number;
  responded: number;
  /** In % of one core over the interval (200 % is the whole machine). */
  server_cpu_pct: number;
  simulator_cpu_pct: number;
  streaming_client_cpu_pct: number;
  /** As the agents counted them in the interval. */
  distributed_reads: number;
  distributed_writes: number;
  distributed_write_p50_ms: number;
  distributed_write_p99_ms: number;
  errors: number;
  simulator_loop_lag_ms: number;
  server_loop_lag_max_ms: number;
  /** TLS connections the simulated hosts opened in the interval. */
  connections_opened?: number;
}

/** What the fan-out samples while it waits: the server's pid and the simulator processes. */
interface FanoutProbe {
  pid: number;
  fleet: { cpu: () => number; stats: () => Promise<FleetStats | undefined> };
}

/**
 * ~100 rows of ~120 bytes from every host. system_info comes first and CROSS JOIN keeps it
 * outside: written `FROM n, system_info s`, SQLite scans the virtual table once per row of
 * `n` (better-sqlite3 rates every virtual table at 10^9 rows, so neither order looks
 * cheaper), 100 scans per host, and the simulator spent ~40 % of its fan-out CPU in that
 * statement (~250 µs per host against ~160 µs). The server gets the same rows either way.
 */
const HUNDRED_ROWS =
  'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100) ' +
  'SELECT n.x AS row_number, s.hostname, s.uuid, s.cpu_brand FROM system_info s CROSS JOIN n';

async function liveFanout(
  url: string,
  ca: string,
  client: FlotillaClient,
  probe: FanoutProbe,
): Promise<Fanout> {
  const { default: WebSocket } = await import('ws');
  const { labels } = await client.request<{ labels: Array<{ id: number; name: string }> }>(
    'GET',
    '/api/v1/fleet/labels',
  );
  const all = labels.find((l) => l.name === 'All Hosts')!.id;
  const first = { server: cpuMicros(probe.pid), sim: probe.fleet.cpu(), me: process.cpuUsage() };
  let tick = { at: Date.now(), ...first, stats: await probe.fleet.stats() };
  const t0 = Date.now();
  const { campaign } = await client.request<{
    campaign: { id: number; Metrics: { TotalHosts: number } };
  }>('POST', '/api/v1/fleet/queries/run', { query: HUNDRED_ROWS, selected: { labels: [all] } });
  const total = campaign.Metrics.TotalHosts;
  const marks: Record<string, number | null> = { 50: null, 99: null, 100: null };
  let responded = 0;
  let rows = 0;
  let lastAt = t0;
  let last = first;
  const timeline: FanoutTick[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sleep(2000);
      if (!sampling) break;
      const now = {
        at: Date.now(),
        server: cpuMicros(probe.pid),
        sim: probe.fleet.cpu(),
        me: process.cpuUsage(),
      };
      const stats = await probe.fleet.stats();
      const metrics = await scrape(url, ca);
      const d = stats && tick.stats ? statsBetween(tick.stats, stats) : undefined;
      const ms = now.at - tick.at;
      const pctOf = (us: number) => Math.round((us / 1000 / ms) * 100);
      const t: FanoutTick = {
        t_s: Math.round((now.at - t0) / 100) / 10,
        responded,
        server_cpu_pct: pctOf(now.server - tick.server),
        simulator_cpu_pct: pctOf(now.sim - tick.sim),
        streaming_client_cpu_pct: pctOf(
          now.me.user + now.me.system - tick.me.user - tick.me.system,
        ),
        distributed_reads: d?.endpoints.distributed_read.requests ?? 0,
        distributed_writes: d?.endpoints.distributed_write.requests ?? 0,
        distributed_write_p50_ms: d?.endpoints.distributed_write.p50 ?? NaN,
        distributed_write_p99_ms: d?.endpoints.distributed_write.p99 ?? NaN,
        errors: totalErrors(d),
        simulator_loop_lag_ms: d?.events['loop_lag_ms'] ?? 0,
        server_loop_lag_max_ms: Math.round(
          (metrics['flotilla_process_nodejs_eventloop_lag_max_seconds'] ?? NaN) * 1000,
        ),
        connections_opened: d?.events['connection_opened'] ?? 0,
      };
      timeline.push(t);
      tick = { ...now, stats };
      console.log(
        `  fan-out ${t.t_s} s: ${responded}/${total} responded, CPU server ${t.server_cpu_pct}% simulator ${t.simulator_cpu_pct}% client ${t.streaming_client_cpu_pct}%, ${t.distributed_reads} reads, ${t.distributed_writes} writes (p50 ${t.distributed_write_p50_ms} p99 ${t.distributed_write_p99_ms} ms), ${t.errors} errors, simulator lag ${t.simulator_loop_lag_ms} ms, server loop lag max ${t.server_loop_lag_max_ms} ms, ${t.connections_opened} connections opened`,
      );
    }
  })();
  const ws = new WebSocket(url.replace('https', 'wss') + '/api/v1/fleet/results/websocket', { ca });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 120_000);
    ws.on('error', (err) => {
      console.error(`fan-out: results websocket failed: ${err.message}`);
      clearTimeout(timer);
      resolve();
    });
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'auth', data: { token: client.token } }));
      ws.send(JSON.stringify({ type: 'select_campaign', data: { campaign_id: campaign.id } }));
    });
    ws.on('message', (raw: Buffer) => {
      const m = JSON.parse(raw.toString()) as { type: string; data: { rows?: unknown[] } };
      if (m.type !== 'result') return;
      responded++;
      rows += m.data.rows?.length ?? 0;
      lastAt = Date.now();
      if (responded === total || responded % 500 === 0)
        last = { server: cpuMicros(probe.pid), sim: probe.fleet.cpu(), me: process.cpuUsage() };
      for (const p of [50, 99, 100])
        if (marks[p] === null && responded >= Math.ceil((total * p) / 100))
          marks[p] = (lastAt - t0) / 1000;
      if (responded >= total) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  ws.close();
  sampling = false;
  await sampler;
  await client
    .request('POST', `/api/v1/fleet/campaigns/${campaign.id}/stop`)
    .catch(() => undefined);
  return {
    query: HUNDRED_ROWS,
    hosts: total,
    responded,
    rows,
    seconds_to_50_percent: marks[50] ?? null,
    seconds_to_99_percent: marks[99] ?? null,
    seconds_to_100_percent: marks[100] ?? null,
    rows_per_second: rows / Math.max(0.001, (lastAt - t0) / 1000),
    cpu_seconds: {
      server: (last.server - first.server) / 1e6,
      simulator: (last.sim - first.sim) / 1e6,
      streaming_client: (last.me.user + last.me.system - first.me.user - first.me.system) / 1e6,
    },
    timeline,
  };
}

/** The server's Prometheus metrics (unlabelled samples only), or {} when it does not answer. */
function scrape(url: string, ca: string): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    const req = httpsGet(`${url}/metrics`, { ca, timeout: 2000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const out: Record<string, number> = {};
        for (const line of text.split('\n')) {
          const m = /^([a-z_]+) ([0-9.e+-]+)$/.exec(line);
          if (m) out[m[1]!] = Number(m[2]);
        }
        resolve(out);
      });
    });
    req.on('error', () => resolve({}));
    req.on('timeout', () => req.destroy());
  });
}

function fileSize(f: string): number {
  return existsSync(f) ? statSync(f).size : 0;
}

function sqliteCounter(file: string): () => Promise<number> {
  let db: Database.Database | undefined;
  return async () => {
    db ??= new Database(file, { readonly: true, fileMustExist: true });
    return (
      db.prepare('SELECT count(*) AS n FROM hosts WHERE detail_updated_at > 0').get() as {
        n: number;
      }
    ).n;
  };
}

function pgCounter(url: string): () => Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  return async () =>
    Number(
      (await pool.query('SELECT count(*) AS n FROM hosts WHERE detail_updated_at > 0')).rows[0].n,
    );
}

async function pgSize(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const r = await c.query('SELECT pg_database_size(current_database()) AS n');
  await c.end();
  return Number(r.rows[0].n);
}

async function baseline(
  dir: string,
  ca: string,
  steadyS: number,
): Promise<{ cpuPerReqUs: number }> {
  const port = PORT + 1;
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'baseline-server.ts'),
      join(dir, 'tls', 'server.pem'),
      join(dir, 'tls', 'server-key.pem'),
      String(port),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await sleep(1500);
  // It failed to start (e.g. its port still held by an earlier, killed run): the figures
  // measured so far are kept, the baseline is reported as not measured.
  if (proc.exitCode !== null) {
    console.error(`baseline server exited (code ${proc.exitCode}); no baseline this run`);
    return { cpuPerReqUs: NaN };
  }
  const fleet = startFleetProcesses(`https://127.0.0.1:${port}`, dir, N);
  await sleep(Math.min(90, N / 300 + 20) * 1000);
  const b = { req: totalRequests(await fleet.stats()), cpu: cpuMicros(proc.pid!) };
  await sleep(Math.min(steadyS, 30) * 1000);
  const a = { req: totalRequests(await fleet.stats()), cpu: cpuMicros(proc.pid!) };
  await fleet.stop();
  proc.kill('SIGTERM');
  return { cpuPerReqUs: (a.cpu - b.cpu) / Math.max(1, a.req - b.req) };
}

/** Per endpoint: requests, errors and latency percentiles in ms, as the agents measured them. */
type LatencyRows = Record<
  string,
  { requests: number; errors: number; p50: number; p95: number; p99: number; max: number }
>;

function latencyRows(s: FleetStats): LatencyRows {
  return Object.fromEntries(
    Object.entries(s.endpoints).map(([k, e]) => [
      k,
      { requests: e.requests, errors: e.errors, p50: e.p50, p95: e.p95, p99: e.p99, max: e.max },
    ]),
  );
}

/** The storm every 5 s; CPU in % of one core over the 5 s, requests and errors in them. */
interface StormTick {
  t_s: number;
  inventoried: number;
  enrolled: number;
  server_cpu_pct: number;
  simulator_cpu_pct: number;
  requests: number;
  enroll_requests: number;
  errors: Record<string, number>;
  errors_by_endpoint: Record<string, number>;
  /** Timer lateness summed over the simulator's threads (each has 5,000 ms of wall time). */
  simulator_loop_lag_ms: number;
  /** The server's longest event-loop delay since the previous tick (prom-client resets it). */
  server_loop_lag_max_ms: number;
  server_enrolls_in_flight: number;
  /** TLS connections the simulated hosts opened in the interval. */
  connections_opened?: number;
}

type Result = {
  config: {
    hosts: number;
    database: string | undefined;
    redis: boolean | undefined;
    steady_window_s: number;
    profiled: { server: boolean; simulator: boolean };
    /** Niceness of the simulator processes (absent in runs before it was set). */
    simulator_nice?: number;
    simulator_workers?: number | null;
    /** Connections the hosts shared at most (null: one per host). */
    shared_connections?: number | null;
    /** How many of them were opened after the storm, before the steady window. */
    shared_connections_warmed?: number | null;
    shared_connections_warm_seconds?: number | null;
  };
  enrollment_storm: {
    simulator_boot_seconds: number;
    seconds_to_fully_inventoried: number | null;
    server_cpu_seconds: number;
    simulator_cpu_seconds: number;
    timeline: StormTick[];
  };
  steady_state: {
    checkins_per_second: number;
    server_cpu_us_per_request: number;
    baseline_cpu_us_per_request: number;
    cpu_ratio_vs_baseline: number;
    simulator_cpu_us_per_request?: number;
    errors_in_window: number;
    errors_in_window_by_kind: Record<string, number>;
    server_rss_mb: number;
    rss_per_host_kb: number;
    db_bytes_per_host: number;
    latency_ms: LatencyRows;
  };
  latency_ms_whole_run: LatencyRows;
  total_errors: number;
  errors_by_kind: Record<string, number>;
  live_query_fanout: Fanout;
};

function markdown(r: Result): string {
  const f = (n: number | null | undefined, d = 1) =>
    n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(d);
  const s = r.steady_state;
  const lines = [
    `## ${r.config.hosts} hosts, ${r.config.database}${r.config.redis ? ' + Redis' : ''}`,
    '',
    ...(r.config.profiled.server || r.config.profiled.simulator
      ? [
          `Profiled (${[r.config.profiled.server && 'server', r.config.profiled.simulator && 'simulator'].filter(Boolean).join(' and ')}): the profiler's own CPU is in these figures; do not compare them with unprofiled runs.`,
          '',
        ]
      : []),
    `Simulator processes at niceness ${r.config.simulator_nice ?? 0} (the server at 0)${r.config.simulator_workers == null ? '' : `, ${r.config.simulator_workers} worker threads each`}, on the same cores.` +
      (r.config.shared_connections
        ? ` The hosts shared ${r.config.shared_connections} keep-alive connections (as behind a pooling proxy), opened as requests needed them${r.config.shared_connections_warmed == null ? ' and kept.' : ` during the storm and all of them after it (${r.config.shared_connections_warmed} then${r.config.shared_connections_warm_seconds == null ? '' : `, in ${f(r.config.shared_connections_warm_seconds)} s, a few handshakes at a time`}), before the steady window.`}`
        : ' Every host kept its own connection.'),
    '',
    '| measure | value |',
    '| --- | --- |',
    `| enrollment storm: all hosts enrolled and inventoried (from the first host's start; simulator boot before it: ${f(r.enrollment_storm.simulator_boot_seconds)} s) | ${f(r.enrollment_storm.seconds_to_fully_inventoried)} s |`,
    `| storm CPU: server / simulator | ${f(r.enrollment_storm.server_cpu_seconds)} s / ${f(r.enrollment_storm.simulator_cpu_seconds)} s |`,
    `| steady-state check-ins per second | ${f(s.checkins_per_second)} |`,
    `| server CPU per agent request | ${f(s.server_cpu_us_per_request)} µs |`,
    `| baseline (node:https answering {}) CPU per request | ${f(s.baseline_cpu_us_per_request)} µs |`,
    `| ratio to baseline | ${f(s.cpu_ratio_vs_baseline, 2)}× |`,
    `| simulator CPU per agent request (the load generator, all its threads) | ${f(s.simulator_cpu_us_per_request)} µs |`,
    `| server RSS | ${f(s.server_rss_mb)} MB (${f(s.rss_per_host_kb)} KB/host) |`,
    `| database size per host | ${f(s.db_bytes_per_host, 0)} bytes |`,
    `| errors (steady window / whole run) | ${s.errors_in_window} / ${r.total_errors}${kinds(r.errors_by_kind)} |`,
    `| live query (~100 rows/host) to 50% / 99% / 100% of hosts | ${f(r.live_query_fanout.seconds_to_50_percent)} / ${f(r.live_query_fanout.seconds_to_99_percent)} / ${f(r.live_query_fanout.seconds_to_100_percent)} s |`,
    `| live query rows delivered to the streaming client | ${f(r.live_query_fanout.rows, 0)} (${f(r.live_query_fanout.rows_per_second, 0)} rows/s) |`,
    ...(r.live_query_fanout.cpu_seconds
      ? [
          `| live query CPU to the last result: server / simulator / streaming client | ${f(r.live_query_fanout.cpu_seconds.server)} s / ${f(r.live_query_fanout.cpu_seconds.simulator)} s / ${f(r.live_query_fanout.cpu_seconds.streaming_client)} s |`,
        ]
      : []),
    '',
    `Latency in the steady window (${f(r.config.steady_window_s)} s, from ${r.config.shared_connections_warmed == null ? 15 : r.config.shared_connections_warm_seconds == null ? 45 : `${f(r.config.shared_connections_warm_seconds + 25)}`} s after every host was inventoried; nothing from before it), as the simulated agents measured it:`,
    '',
    ...latencyTable(s.latency_ms),
    '',
    'Latency over the whole run (enrollment storm and live-query fan-out included):',
    '',
    ...latencyTable(r.latency_ms_whole_run),
    '',
    'The enrollment storm every ~5 s (CPU in % of one core; requests and failures in the interval; simulator lag: how late its timers fired, summed over its threads):',
    '',
    '| s | inventoried | enrolled | server CPU | simulator CPU | requests | enrolls | failed (by endpoint) | simulator lag ms | server loop lag max ms | connections opened |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.enrollment_storm.timeline.map(
      (t) =>
        `| ${t.t_s} | ${t.inventoried} | ${t.enrolled} | ${t.server_cpu_pct}% | ${t.simulator_cpu_pct}% | ${t.requests} | ${t.enroll_requests} | ${
          Object.entries(t.errors_by_endpoint)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ') || '0'
        } | ${t.simulator_loop_lag_ms} | ${f(t.server_loop_lag_max_ms, 0)} | ${t.connections_opened ?? ''} |`,
    ),
    '',
    ...(r.live_query_fanout.timeline?.length
      ? [
          'The live-query fan-out every ~2 s (CPU in % of one core; requests as the agents counted them in the interval):',
          '',
          '| s | responded | server CPU | simulator CPU | streaming client CPU | reads | writes | write p50 / p99 ms | errors | simulator lag ms | server loop lag max ms | connections opened |',
          '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
          ...r.live_query_fanout.timeline.map(
            (t) =>
              `| ${t.t_s} | ${t.responded} | ${t.server_cpu_pct}% | ${t.simulator_cpu_pct}% | ${t.streaming_client_cpu_pct}% | ${t.distributed_reads} | ${t.distributed_writes} | ${f(t.distributed_write_p50_ms)} / ${f(t.distributed_write_p99_ms)} | ${t.errors} | ${t.simulator_loop_lag_ms} | ${f(t.server_loop_lag_max_ms, 0)} | ${t.connections_opened ?? ''} |`,
          ),
          '',
        ]
      : []),
  ];
  return lines.join('\n');
}

/** " (busy 2,400, timeout 96)": busy is HTTP 503, the server deferring an enroll it takes later. */
function kinds(byKind: Record<string, number>): string {
  const parts = Object.entries(byKind).map(([k, v]) => `${k} ${v}`);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

function latencyTable(rows: LatencyRows): string[] {
  return [
    '| endpoint | requests | errors | p50 ms | p95 ms | p99 ms | max ms |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...Object.entries(rows).map(
      ([k, e]) =>
        `| ${k} | ${e.requests} | ${e.errors} | ${e.p50.toFixed(2)} | ${e.p95.toFixed(2)} | ${e.p99.toFixed(2)} | ${e.max.toFixed(2)} |`,
    ),
  ];
}

if (values.help) process.stdout.write(USAGE);
else if (values.role === 'fleet') fleetChild();
else await main();
