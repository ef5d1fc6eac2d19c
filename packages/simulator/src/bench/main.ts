/**
 * `npm run bench`: starts a Flotilla server in its own process, ramps up N simulated hosts,
 * and measures the enrollment storm, steady-state check-ins (server CPU per request from the
 * server's own /proc accounting, latency, RSS, database size) and a node:https baseline.
 * Writes bench/results/<timestamp>.json and .md. Options: --hosts N --db sqlite|postgres
 * --redis --steady S.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { FlotillaClient } from '@flotilla/api';
import { runFleet } from '../fleet.js';
import type { FleetStats } from '../stats.js';
import { cpuMicros, rssBytes } from './proc.js';

const ROOT = resolve(import.meta.dirname, '../../../..');
const { values } = parseArgs({
  options: {
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
    'fleet-processes': { type: 'string' },
    'ca-dir': { type: 'string' },
    // Write a V8 CPU profile of the server (bench/profiles/*.cpuprofile); summarise with
    // `node packages/simulator/src/bench/profile-summary.ts FILE`.
    profile: { type: 'boolean', default: false },
    // Also profile the simulator processes (to tell load-generator cost from server cost).
    'profile-fleet': { type: 'boolean', default: false },
    // Connections the server may hold (see SERVER_SOCKETS); in a fleet child: its share.
    'max-connections': { type: 'string' },
  },
});
const N = Number(values.hosts);
const STEADY_S = Number(values.steady);
const PORT = Number(values.port);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const totalRequests = (s: FleetStats | undefined) =>
  s ? Object.values(s.endpoints).reduce((a, e) => a + e.requests, 0) : 0;
const totalErrors = (s: FleetStats | undefined) =>
  s ? Object.values(s.endpoints).reduce((a, e) => a + e.errors, 0) : 0;

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
 * (`--max-connections`, split over the simulator processes) instead of holding one each.
 */
const SERVER_SOCKETS = 18_000;

/** Child mode: run `hosts` simulated hosts and send cumulative stats to the parent. */
async function fleetChild(): Promise<void> {
  const abort = new AbortController();
  process.on('message', (m) => {
    if (m === 'stop') abort.abort();
  });
  const ca = readFileSync(join(String(values['ca-dir']), 'tls', 'ca.pem'), 'utf8');
  const stats = await runFleet({
    hosts: N,
    server: String(values.server),
    enrollSecret: 'bench-enroll-secret',
    caPem: ca,
    signal: abort.signal,
    fleetSeed: Number(values.seed),
    ...(values['max-connections'] === undefined
      ? {}
      : { maxConnections: Number(values['max-connections']) }),
    reportEverySeconds: 2,
    onStats: (st) => process.send?.({ type: 'stats', stats: st }),
  });
  process.send?.({ type: 'final', stats }, () => process.exit(0));
}

/** Runs N hosts over as many child processes as the open-file limit needs; sums their stats. */
function startFleet(
  url: string,
  dataDir: string,
  hosts: number,
): {
  latest: () => FleetStats | undefined;
  stop: () => Promise<FleetStats | undefined>;
  /** The simulator processes' own CPU (µs), to tell server time from load-generator time. */
  cpu: () => number;
} {
  const processes = Number(
    values['fleet-processes'] ?? Math.max(1, Math.ceil(hosts / HOSTS_PER_PROCESS)),
  );
  const per = Math.ceil(hosts / processes);
  const budget = Number(values['max-connections'] ?? SERVER_SOCKETS);
  const pooled = hosts > budget ? Math.floor(budget / processes) : undefined;
  if (pooled !== undefined)
    console.log(
      `  ${hosts} hosts share ${pooled * processes} keep-alive connections (server open-file limit)`,
    );
  const children: ChildProcess[] = [];
  const last: Array<FleetStats | undefined> = [];
  const finals: Array<Promise<FleetStats | undefined>> = [];
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
        '--ca-dir',
        dataDir,
        ...(pooled === undefined ? [] : ['--max-connections', String(pooled)]),
      ],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    children.push(child);
    finals.push(
      new Promise((resolve) => {
        child.on('message', (m: { type: string; stats: FleetStats }) => {
          last[i] = m.stats;
          if (m.type === 'final') resolve(m.stats);
        });
        child.on('exit', () => resolve(last[i]));
      }),
    );
  }
  const sum = (all: Array<FleetStats | undefined>): FleetStats | undefined => {
    const xs = all.filter((x): x is FleetStats => x !== undefined);
    if (!xs.length) return undefined;
    const out = structuredClone(xs[0]!);
    for (const x of xs.slice(1)) {
      out.hosts += x.hosts;
      out.enrolled += x.enrolled;
      out.rssBytes += x.rssBytes;
      for (const k of Object.keys(x.endpoints) as Array<keyof FleetStats['endpoints']>) {
        const e = x.endpoints[k];
        const o = out.endpoints[k];
        o.requests += e.requests;
        o.errors += e.errors;
        // Percentiles cannot be summed: report the worst process's.
        o.p50 = Math.max(o.p50, e.p50);
        o.p95 = Math.max(o.p95, e.p95);
        o.p99 = Math.max(o.p99, e.p99);
      }
    }
    return out;
  };
  return {
    latest: () => sum(last),
    cpu: () => children.reduce((n, c) => n + (c.pid ? cpuMicros(c.pid) : 0), 0),
    stop: async () => {
      for (const c of children) c.send('stop');
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

  const fleet = startFleet(url, dir, N);
  const latest = () => fleet.latest();

  // Enrollment storm: until every host is enrolled and has its vitals ingested.
  const t0 = Date.now();
  const cpuStart = cpuMicros(pid);
  const simCpuStart = fleet.cpu();
  let stormSeconds: number | null = null;
  while (Date.now() - t0 < Number(values['storm-timeout']) * 1000) {
    await sleep(1000);
    const done = await inventoried();
    if (done >= N) {
      stormSeconds = (Date.now() - t0) / 1000;
      break;
    }
    if ((Date.now() - t0) % 10_000 < 1000)
      console.log(
        `  storm: ${done}/${N} inventoried after ${((Date.now() - t0) / 1000).toFixed(0)} s`,
      );
  }
  const stormCpuS = (cpuMicros(pid) - cpuStart) / 1e6;
  const stormSimCpuS = (fleet.cpu() - simCpuStart) / 1e6;
  console.log(
    `storm: ${stormSeconds ?? 'not finished'} s, server CPU ${stormCpuS.toFixed(1)} s, simulator CPU ${stormSimCpuS.toFixed(1)} s`,
  );

  // Steady state: let the fleet settle, then measure a window.
  await sleep(15_000);
  const before = {
    cpu: cpuMicros(pid),
    req: totalRequests(latest()),
    err: totalErrors(latest()),
    at: Date.now(),
  };
  await sleep(STEADY_S * 1000);
  const after = {
    cpu: cpuMicros(pid),
    req: totalRequests(latest()),
    err: totalErrors(latest()),
    at: Date.now(),
  };
  const windowS = (after.at - before.at) / 1000;
  const reqs = after.req - before.req;
  const cpuPerReqUs = reqs > 0 ? (after.cpu - before.cpu) / reqs : NaN;
  const rss = rssBytes(pid);

  // Live-query fan-out: one query of ~100 rows per host to every host, streamed to a client.
  const fanout = await liveFanout(url, ca, client);
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
    },
    enrollment_storm: {
      seconds_to_fully_inventoried: stormSeconds,
      server_cpu_seconds: stormCpuS,
      simulator_cpu_seconds: stormSimCpuS,
    },
    steady_state: {
      checkins_per_second: reqs / windowS,
      server_cpu_us_per_request: cpuPerReqUs,
      baseline_cpu_us_per_request: base.cpuPerReqUs,
      cpu_ratio_vs_baseline: cpuPerReqUs / base.cpuPerReqUs,
      errors_in_window: after.err - before.err,
      server_rss_mb: rss / 2 ** 20,
      rss_per_host_kb: rss / N / 1024,
      db_bytes_per_host: dbBytes / N,
    },
    live_query_fanout: fanout,
    latency_ms_whole_run: Object.fromEntries(
      Object.entries(final.endpoints).map(([k, e]) => [
        k,
        { requests: e.requests, errors: e.errors, p50: e.p50, p95: e.p95, p99: e.p99 },
      ]),
    ),
    total_errors: totalErrors(final),
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
  hosts: number;
  responded: number;
  rows: number;
  seconds_to_50_percent: number | null;
  seconds_to_99_percent: number | null;
  seconds_to_100_percent: number | null;
  rows_per_second: number;
}

const HUNDRED_ROWS =
  'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100) ' +
  'SELECT n.x AS row_number, s.hostname, s.uuid, s.cpu_brand FROM n, system_info s';

async function liveFanout(url: string, ca: string, client: FlotillaClient): Promise<Fanout> {
  const { default: WebSocket } = await import('ws');
  const { labels } = await client.request<{ labels: Array<{ id: number; name: string }> }>(
    'GET',
    '/api/v1/fleet/labels',
  );
  const all = labels.find((l) => l.name === 'All Hosts')!.id;
  const t0 = Date.now();
  const { campaign } = await client.request<{
    campaign: { id: number; Metrics: { TotalHosts: number } };
  }>('POST', '/api/v1/fleet/queries/run', { query: HUNDRED_ROWS, selected: { labels: [all] } });
  const total = campaign.Metrics.TotalHosts;
  const marks: Record<string, number | null> = { 50: null, 99: null, 100: null };
  let responded = 0;
  let rows = 0;
  let lastAt = t0;
  const ws = new WebSocket(url.replace('https', 'wss') + '/api/v1/fleet/results/websocket', { ca });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 120_000);
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
  await client
    .request('POST', `/api/v1/fleet/campaigns/${campaign.id}/stop`)
    .catch(() => undefined);
  return {
    hosts: total,
    responded,
    rows,
    seconds_to_50_percent: marks[50] ?? null,
    seconds_to_99_percent: marks[99] ?? null,
    seconds_to_100_percent: marks[100] ?? null,
    rows_per_second: rows / Math.max(0.001, (lastAt - t0) / 1000),
  };
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
  const fleet = startFleet(`https://127.0.0.1:${port}`, dir, N);
  await sleep(Math.min(90, N / 300 + 20) * 1000);
  const b = { cpu: cpuMicros(proc.pid!), req: totalRequests(fleet.latest()) };
  await sleep(Math.min(steadyS, 30) * 1000);
  const a = { cpu: cpuMicros(proc.pid!), req: totalRequests(fleet.latest()) };
  await fleet.stop();
  proc.kill('SIGTERM');
  return { cpuPerReqUs: (a.cpu - b.cpu) / Math.max(1, a.req - b.req) };
}

type Result = {
  config: { hosts: number; database: string | undefined; redis: boolean | undefined };
  enrollment_storm: {
    seconds_to_fully_inventoried: number | null;
    server_cpu_seconds: number;
    simulator_cpu_seconds: number;
  };
  steady_state: Record<string, number>;
  latency_ms_whole_run: Record<
    string,
    { requests: number; errors: number; p50: number; p95: number; p99: number }
  >;
  total_errors: number;
  live_query_fanout: Fanout;
};

function markdown(r: Result): string {
  const f = (n: number | null | undefined, d = 1) =>
    n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(d);
  const s = r.steady_state;
  const lines = [
    `## ${r.config.hosts} hosts, ${r.config.database}${r.config.redis ? ' + Redis' : ''}`,
    '',
    '| measure | value |',
    '| --- | --- |',
    `| enrollment storm: all hosts enrolled and inventoried | ${f(r.enrollment_storm.seconds_to_fully_inventoried)} s |`,
    `| storm CPU: server / simulator | ${f(r.enrollment_storm.server_cpu_seconds)} s / ${f(r.enrollment_storm.simulator_cpu_seconds)} s |`,
    `| steady-state check-ins per second | ${f(s['checkins_per_second'])} |`,
    `| server CPU per agent request | ${f(s['server_cpu_us_per_request'])} µs |`,
    `| baseline (node:https answering {}) CPU per request | ${f(s['baseline_cpu_us_per_request'])} µs |`,
    `| ratio to baseline | ${f(s['cpu_ratio_vs_baseline'], 2)}× |`,
    `| server RSS | ${f(s['server_rss_mb'])} MB (${f(s['rss_per_host_kb'])} KB/host) |`,
    `| database size per host | ${f(s['db_bytes_per_host'], 0)} bytes |`,
    `| errors (steady window / whole run) | ${s['errors_in_window']} / ${r.total_errors} |`,
    `| live query (~100 rows/host) to 50% / 99% / 100% of hosts | ${f(r.live_query_fanout.seconds_to_50_percent)} / ${f(r.live_query_fanout.seconds_to_99_percent)} / ${f(r.live_query_fanout.seconds_to_100_percent)} s |`,
    `| live query rows delivered to the streaming client | ${f(r.live_query_fanout.rows, 0)} (${f(r.live_query_fanout.rows_per_second, 0)} rows/s) |`,
    '',
    '| endpoint | requests | errors | p50 ms | p95 ms | p99 ms |',
    '| --- | --- | --- | --- | --- | --- |',
    ...Object.entries(r.latency_ms_whole_run).map(
      ([k, e]) =>
        `| ${k} | ${e.requests} | ${e.errors} | ${f(e.p50, 2)} | ${f(e.p95, 2)} | ${f(e.p99, 2)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

if (values.role === 'fleet') await fleetChild();
else await main();
