/**
 * Check-ins while hosts report policy results: starts a Flotilla server in its own process,
 * enrolls N hosts over HTTPS and checks each in every `--interval` seconds (distributed/read,
 * and a distributed/write when it was asked something), then compares three windows:
 *
 *   A. no policies: check-ins only;
 *   B. 50 policies just created: every host is asked all of them once and reports 50 first
 *      results (every row new, history written), N × 50 in all; the server spreads a new
 *      library's asks (20,000 hosts × 50: over 100 s), so B lasts `--first-window` seconds;
 *   C. the same policies re-asked every `--policy-interval` seconds: every host reports 50
 *      results per interval, a few of them flipping.
 *
 * Per window: distributed/read latency (p50/p95/p99/max, client side, over real HTTPS with
 * keep-alive), server CPU per check-in from /proc, the server's event-loop delay (p99, max;
 * prom-client samples it every 10 ms, so ~10 ms is its floor) and the load generator's own
 * event-loop delay (a read's latency includes it). The load generator is a plain HTTPS client
 * (not the simulator), so that its own CPU stays small next to the server's on a small machine.
 * A probe process (`--probe-hosts`, 1,000 by default, on the same schedule) checks in the last
 * hosts with an otherwise idle event loop: its plain-read latency leaves out the load
 * generator's own delays, which grow with the work B and C give it.
 *
 * Run: node --import tsx packages/server/bench/policy-checkins.ts --db sqlite|postgres
 *      [--hosts 20000] [--policies 50] [--interval 10] [--window 60] [--first-window 120]
 *      [--policy-interval 60]
 *      [--profile]
 * Writes bench/results/<time>-policy-checkins-<db>.json and .md.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fork } from 'node:child_process';
import pg from 'pg';
import { postJson, processCpuUs, ROOT, startBenchServer, threadCpuUs } from './bench-server.js';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    hosts: { type: 'string', default: '20000' },
    policies: { type: 'string', default: '50' },
    interval: { type: 'string', default: '10' },
    window: { type: 'string', default: '60' },
    'first-window': { type: 'string', default: '120' },
    'policy-interval': { type: 'string', default: '60' },
    'probe-hosts': { type: 'string', default: '1000' },
    port: { type: 'string', default: '18700' },
    profile: { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
  },
});
const N = Number(values.hosts);
const POLICIES = Number(values.policies);
const INTERVAL_MS = Number(values.interval) * 1000;
const WINDOW_MS = Number(values.window) * 1000;
const FIRST_WINDOW_MS = Number(values['first-window']) * 1000;
const POLICY_INTERVAL_S = Number(values['policy-interval']);
/** The last PROBE hosts are checked in by the latency probe (policy-checkins-probe.ts). */
const PROBE = Math.min(Number(values['probe-hosts']), N - 1);
const PORT = Number(values.port);
const SECRET = 'bench-policy-secret';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the server --------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'flotilla-policy-bench-'));
let databaseUrl: string | undefined;
let pgName: string | undefined;
if (values.db === 'postgres') {
  pgName = `flotilla_bench_${Date.now()}`;
  const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${pgName}`);
  await admin.end();
  databaseUrl = `postgres://postgres@127.0.0.1:5432/${pgName}`;
}
const { server, pid, ca, url, admin } = await startBenchServer({
  dir,
  port: PORT,
  enrollSecret: SECRET,
  nodeArgs: [
    ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, 'bench', 'profiles')}`] : []),
    ...(process.env['BENCH_SERVER_NODE_ARGS']?.split(' ').filter(Boolean) ?? []),
  ],
  env: {
    // Its hosts enroll all at once and never report software: no enroll pacing.
    FLOTILLA_ENROLL_MAX_PENDING: '0',
    FLOTILLA_POLICY_UPDATE_INTERVAL: String(POLICY_INTERVAL_S),
    FLOTILLA_VULN_SCAN_INTERVAL: '0',
    ...(databaseUrl ? { FLOTILLA_DATABASE_URL: databaseUrl } : {}),
  },
  stdout: process.env['BENCH_SERVER_STDOUT'] ? 'inherit' : 'ignore',
});

/** User+system CPU of the server process (µs), from its own /proc accounting. */
function serverCpuUs(): number {
  const { user, system } = processCpuUs(pid);
  return user + system;
}
function serverRssMb(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}
/** The server's event-loop delay since the previous scrape (prom-client resets it per scrape). */
async function serverEventLoop(): Promise<{ p99: number; max: number }> {
  const text = await admin.request<string>('GET', '/metrics').catch(() => '');
  const get = (name: string) => {
    const m = new RegExp(`^flotilla_process_nodejs_eventloop_lag_${name}_seconds (\\S+)`, 'm').exec(
      String(text),
    );
    return m ? Number(m[1]) * 1000 : NaN;
  };
  return { p99: get('p99'), max: get('max') };
}

// ---- the agents ----------------------------------------------------------------------------

/**
 * Real agents each keep their own connection open, so a server hiccup makes requests wait,
 * never reconnect. A shared pool would open new connections the moment a stall raised the
 * number in flight (a --trace run saw 224 TLS handshakes within 300 ms after a 70 ms stall,
 * and reads at p99 285 ms): the warm-up opens every connection the pool may hold and `fifo`
 * keeps them all in use, so none sits idle and none is added under load.
 */
const SOCKETS = 256;
const agent = new Agent({ keepAlive: true, maxSockets: SOCKETS, scheduling: 'fifo', ca });
/** When each new connection was opened (performance.now()), for --trace. */
const opened: number[] = [];
{
  const create = agent.createConnection.bind(agent);
  agent.createConnection = ((...args: Parameters<typeof create>) => {
    opened.push(performance.now());
    return create(...args);
  }) as typeof agent.createConnection;
}
/** The load generator's own timer lateness, sampled every 5 ms, for --trace. */
const lag: Array<[number, number]> = [];
if (values.trace) {
  let expected = performance.now() + 5;
  setInterval(() => {
    const now = performance.now();
    lag.push([now, now - expected]);
    expected = now + 5;
  }, 5).unref();
}
function post(path: string, body: string): Promise<{ status: number; text: string }> {
  return postJson(agent, `${url}${path}`, body);
}

const keys: string[] = new Array<string>(N);
const PREFIX = 'fleet_policy_query_';
/**
 * Host h fails policy p (the p-th created, id p + 1 on a fresh database) when (31h + p) % 7 is
 * 0; each round, 1 host in 10 flips one policy.
 */
function answer(h: number, name: string): '' | Array<Record<string, string>> {
  if (!name.startsWith(PREFIX)) return ''; // vitals, labels, software: "no rows" is enough here
  const p = Number(name.slice(PREFIX.length)) - 1;
  const round = Math.floor(Date.now() / (POLICY_INTERVAL_S * 1000));
  const fails = ((31 * h + p) % 7 === 0) !== (p === round % POLICIES && h % 10 === 0);
  return fails ? '' : [{ '1': '1' }];
}

interface Window {
  reads: number[];
  /** Reads that were asked nothing (no queries in the answer): what 99% of check-ins are. */
  plainReads: number[];
  /** Reads whose answer carried queries (policies, vitals): their own, larger work. */
  askedReads: number[];
  /** When each read was sent (ms since the window started), to see when slow ones happened. */
  readAt: number[];
  start: number;
  writes: number[];
  errors: number;
  results: number;
  lateMs: number;
}
const newWindow = (): Window => ({
  reads: [],
  plainReads: [],
  askedReads: [],
  readAt: [],
  start: performance.now(),
  writes: [],
  errors: 0,
  results: 0,
  lateMs: 0,
});
let win = newWindow();

/** One check-in: a read, and a write with answers when the server asked something. */
async function checkIn(h: number): Promise<void> {
  const w = win;
  const t0 = performance.now();
  try {
    const r = await post('/api/v1/osquery/distributed/read', `{"node_key":"${keys[h]}"}`);
    const took = performance.now() - t0;
    w.reads.push(took);
    w.readAt.push(t0 - w.start);
    if (r.status !== 200) {
      w.errors++;
      return;
    }
    const queries = (JSON.parse(r.text) as { queries?: Record<string, string> }).queries ?? {};
    const names = Object.keys(queries);
    (names.length ? w.askedReads : w.plainReads).push(took);
    if (!names.length) return;
    const out: Record<string, unknown> = {};
    const statuses: Record<string, number> = {};
    for (const n of names) {
      out[n] = answer(h, n);
      statuses[n] = 0;
      if (n.startsWith(PREFIX)) w.results++;
    }
    const t1 = performance.now();
    const wr = await post(
      '/api/v1/osquery/distributed/write',
      JSON.stringify({ node_key: keys[h], queries: out, statuses }),
    );
    w.writes.push(performance.now() - t1);
    if (wr.status !== 200) w.errors++;
  } catch {
    w.errors++;
  }
}

console.log(`policy-checkins: ${N} hosts, ${values.db}, server pid ${pid}`);
const tEnroll = Date.now();
let next = 0;
await Promise.all(
  Array.from({ length: 32 }, async () => {
    for (let h = next++; h < N; h = next++) {
      const uuid = `00000000-0000-4000-8000-${String(h).padStart(12, '0')}`;
      const r = await post(
        '/api/v1/osquery/enroll',
        JSON.stringify({
          enroll_secret: SECRET,
          host_identifier: uuid,
          platform_type: '9',
          host_details: {
            os_version: { name: 'Ubuntu', platform: 'ubuntu', platform_like: 'debian' },
            system_info: { hostname: `bench-${h}.example`, uuid },
            osquery_info: { version: '5.23.1' },
          },
        }),
      );
      keys[h] = (JSON.parse(r.text) as { node_key: string }).node_key;
    }
  }),
);
console.log(`  enrolled in ${((Date.now() - tEnroll) / 1000).toFixed(1)} s`);
// Warm-up: answer what new hosts are asked (vitals, labels, software) until nothing is due.
for (let pass = 0; pass < 3; pass++) {
  win = newWindow();
  next = 0;
  await Promise.all(
    Array.from({ length: SOCKETS }, async () => {
      for (let h = next++; h < N; h = next++) await checkIn(h);
    }),
  );
  console.log(
    `  warm-up pass ${pass + 1}: ${win.writes.length} hosts had questions, ${opened.length} connections open`,
  );
  if (!win.writes.length) break;
}

const probe = fork(join(import.meta.dirname, 'policy-checkins-probe.ts'), [], {
  execArgv: ['--import', 'tsx'],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const probeHosts = Array.from({ length: PROBE }, (_, i) => N - PROBE + i);
probe.send({
  type: 'start',
  hosts: probeHosts,
  keys: probeHosts.map((h) => keys[h]),
  url,
  ca,
  intervalMs: INTERVAL_MS,
  offsetsMs: probeHosts.map((h) => (h * INTERVAL_MS) / N),
});
interface ProbeWindow {
  plainReads: number[];
  askedReads: number;
  errors: number;
}
function probeCollect(): Promise<ProbeWindow> {
  return new Promise((resolve) => {
    probe.once('message', (m: ProbeWindow) => resolve(m));
    probe.send({ type: 'collect' });
  });
}

/** Checks every host in once per interval, evenly spread, until stopped. */
let running = true;
const driver = (async () => {
  const t0 = performance.now();
  let cycle = 0;
  let h = 0;
  while (running) {
    const now = performance.now();
    // Host h of cycle c is due at t0 + c·interval + h·interval/N.
    for (;;) {
      const due = t0 + cycle * INTERVAL_MS + (h * INTERVAL_MS) / N;
      if (due > now) break;
      win.lateMs = Math.max(win.lateMs, now - due);
      if (h < N - PROBE) void checkIn(h);
      if (++h === N) {
        h = 0;
        cycle++;
      }
    }
    await sleep(5);
  }
})();

interface Measured {
  window: string;
  seconds: number;
  checkins: number;
  checkins_per_second: number;
  read_p50_ms: number;
  read_p95_ms: number;
  read_p99_ms: number;
  read_max_ms: number;
  plain_reads: number;
  plain_read_p50_ms: number;
  plain_read_p95_ms: number;
  plain_read_p99_ms: number;
  plain_read_max_ms: number;
  asked_reads: number;
  asked_read_p50_ms: number;
  asked_read_p99_ms: number;
  write_p50_ms: number | null;
  write_p99_ms: number | null;
  policy_results_reported: number;
  errors: number;
  server_cpu_us_per_checkin: number;
  server_cpu_percent: number;
  /** The event loop's own thread: what a check-in waits behind. */
  server_main_thread_cpu_us_per_checkin: number;
  server_main_thread_cpu_percent: number;
  /** The niced policy writer thread. */
  server_writer_thread_cpu_percent: number;
  /** V8's and libuv's helper threads (garbage collection, compression…). */
  server_other_threads_cpu_percent: number;
  server_event_loop_p99_ms: number;
  server_event_loop_max_ms: number;
  server_rss_mb: number;
  driver_max_lateness_ms: number;
  driver_event_loop_p99_ms: number;
  driver_event_loop_max_ms: number;
  driver_cpu_percent: number;
  /** Connections the load generator opened during the window (0 once warmed up). */
  connections_opened: number;
  /** Read p99 per 10 s of the window: a transient stall shows as one high value. */
  read_p99_ms_per_10s: number[];
  /** The probe's plain reads (its event loop idle otherwise): the server's latency. */
  probe_plain_reads: number;
  probe_plain_read_p50_ms: number;
  probe_plain_read_p95_ms: number;
  probe_plain_read_p99_ms: number;
  probe_plain_read_max_ms: number;
  probe_errors: number;
}
// The load generator's own event-loop delay: a read's latency includes it.
const driverLoop = monitorEventLoopDelay({ resolution: 1 });
driverLoop.enable();
const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const r2 = (x: number) => Math.round(x * 100) / 100;
/**
 * Measures one window and returns what turns it into figures: sorting hundreds of thousands of
 * latencies takes the load generator's event loop tens of milliseconds, which delayed the next
 * window's first requests (the probe saw nothing of it), so that is done after the run.
 */
async function measure(name: string, ms: number): Promise<() => Measured> {
  await serverEventLoop(); // resets the server's histogram
  win = newWindow();
  probe.send({ type: 'window' });
  driverLoop.reset();
  const driverCpu0 = process.cpuUsage();
  const cpu0 = serverCpuUs();
  const threads0 = threadCpuUs(pid);
  const t0 = Date.now();
  await sleep(ms);
  const w = win;
  const seconds = (Date.now() - t0) / 1000;
  const cpu = serverCpuUs() - cpu0;
  const threads1 = threadCpuUs(pid);
  const threadPct = (k: keyof typeof threads0) => r2((threads1[k] - threads0[k]) / 1e4 / seconds);
  const driverCpu = process.cpuUsage(driverCpu0);
  const driverLoopP99 = driverLoop.percentile(99) / 1e6;
  const driverLoopMax = driverLoop.max / 1e6;
  const loop = await serverEventLoop();
  const pw = await probeCollect();
  const rss = serverRssMb();
  const connectionsOpened = opened.filter((t) => t >= w.start).length;
  return figures;
  function figures(): Measured {
    const per10s: number[][] = [];
    w.reads.forEach((ms, i) => (per10s[Math.floor(w.readAt[i]! / 10_000)] ??= []).push(ms));
    if (values.trace) traceStart(name, w);
    const m: Measured = {
      window: name,
      seconds: r2(seconds),
      checkins: w.reads.length,
      checkins_per_second: r2(w.reads.length / seconds),
      read_p50_ms: r2(pct(w.reads, 50)),
      read_p95_ms: r2(pct(w.reads, 95)),
      read_p99_ms: r2(pct(w.reads, 99)),
      read_max_ms: r2(w.reads.reduce((a, b) => Math.max(a, b), 0)),
      plain_reads: w.plainReads.length,
      plain_read_p50_ms: r2(pct(w.plainReads, 50)),
      plain_read_p95_ms: r2(pct(w.plainReads, 95)),
      plain_read_p99_ms: r2(pct(w.plainReads, 99)),
      plain_read_max_ms: r2(w.plainReads.reduce((a, b) => Math.max(a, b), 0)),
      asked_reads: w.askedReads.length,
      asked_read_p50_ms: r2(pct(w.askedReads, 50)),
      asked_read_p99_ms: r2(pct(w.askedReads, 99)),
      write_p50_ms: w.writes.length ? r2(pct(w.writes, 50)) : null,
      write_p99_ms: w.writes.length ? r2(pct(w.writes, 99)) : null,
      policy_results_reported: w.results,
      errors: w.errors,
      server_cpu_us_per_checkin: r2(cpu / Math.max(1, w.reads.length)),
      server_cpu_percent: r2(cpu / 1e4 / seconds),
      server_main_thread_cpu_us_per_checkin: r2(
        (threads1.main - threads0.main) / Math.max(1, w.reads.length),
      ),
      server_main_thread_cpu_percent: threadPct('main'),
      server_writer_thread_cpu_percent: threadPct('niced'),
      server_other_threads_cpu_percent: threadPct('other'),
      server_event_loop_p99_ms: r2(loop.p99),
      server_event_loop_max_ms: r2(loop.max),
      server_rss_mb: r2(rss),
      driver_max_lateness_ms: r2(w.lateMs),
      driver_event_loop_p99_ms: r2(driverLoopP99),
      driver_event_loop_max_ms: r2(driverLoopMax),
      connections_opened: connectionsOpened,
      read_p99_ms_per_10s: Array.from(per10s, (xs) => r2(pct(xs ?? [], 99))),
      driver_cpu_percent: r2((driverCpu.user + driverCpu.system) / 1e4 / seconds),
      probe_plain_reads: pw.plainReads.length,
      probe_plain_read_p50_ms: r2(pct(pw.plainReads, 50)),
      probe_plain_read_p95_ms: r2(pct(pw.plainReads, 95)),
      probe_plain_read_p99_ms: r2(pct(pw.plainReads, 99)),
      probe_plain_read_max_ms: r2(pw.plainReads.reduce((a, b) => Math.max(a, b), 0)),
      probe_errors: pw.errors,
    };
    console.log(
      `  ${name}: ${m.checkins_per_second}/s, read p50 ${m.read_p50_ms} p99 ${m.read_p99_ms} max ${m.read_max_ms} ms, ` +
        `plain reads (${m.plain_reads}) p50 ${m.plain_read_p50_ms} p99 ${m.plain_read_p99_ms} ms, ` +
        `probe plain reads (${m.probe_plain_reads}) p50 ${m.probe_plain_read_p50_ms} p95 ${m.probe_plain_read_p95_ms} p99 ${m.probe_plain_read_p99_ms} max ${m.probe_plain_read_max_ms} ms, ` +
        `asked reads (${m.asked_reads}) p50 ${m.asked_read_p50_ms} p99 ${m.asked_read_p99_ms} ms, ` +
        `CPU ${m.server_cpu_us_per_checkin} µs/check-in (main thread ${m.server_main_thread_cpu_us_per_checkin}; ` +
        `threads: main ${m.server_main_thread_cpu_percent}%, writer ${m.server_writer_thread_cpu_percent}%, other ${m.server_other_threads_cpu_percent}%), loop p99 ${m.server_event_loop_p99_ms} max ${m.server_event_loop_max_ms} ms, ` +
        `driver loop p99 ${m.driver_event_loop_p99_ms} max ${m.driver_event_loop_max_ms} ms, driver CPU ${m.driver_cpu_percent}%, ` +
        `read p99 per 10 s [${m.read_p99_ms_per_10s.join(', ')}], ` +
        `per 1 s for the first 20 s [${Array.from({ length: 20 }, (_, s) =>
          r2(
            pct(
              w.reads.filter((_, i) => Math.floor(w.readAt[i]! / 1000) === s),
              99,
            ),
          ),
        ).join(', ')}], ` +
        `${m.policy_results_reported} results, ${m.connections_opened} connections opened`,
    );
    return m;
  }
}

/**
 * --trace: the window's first 3 s in 100 ms buckets (by send time): reads sent, their p99 and
 * max, connections the client opened, and the load generator's worst timer lateness.
 */
function traceStart(name: string, w: Window): void {
  const rows: string[] = [];
  for (let b = 0; b < 30; b++) {
    const lo = w.start + b * 100;
    const xs = w.reads.filter((_, i) => Math.floor(w.readAt[i]! / 100) === b);
    const conns = opened.filter((t) => t >= lo && t < lo + 100).length;
    const late = lag
      .filter(([t]) => t >= lo && t < lo + 100)
      .reduce((m, [, l]) => Math.max(m, l), 0);
    rows.push(
      `${(b / 10).toFixed(1)}s n=${xs.length} p99=${r2(pct(xs, 99))} max=${r2(xs.reduce((a, c) => Math.max(a, c), 0))} new-conns=${conns} gen-lag-max=${r2(late)}`,
    );
  }
  console.log(`  trace ${name}:\n    ${rows.join('\n    ')}`);
}

/** Sum of passing + failing counts over every policy (reading it drains the write queue). */
async function countedResults(): Promise<number> {
  const { policies } = await admin.request<{
    policies: Array<{ passing_host_count: number; failing_host_count: number }>;
  }>('GET', '/api/v1/fleet/global/policies');
  return policies.reduce((a, p) => a + p.passing_host_count + p.failing_host_count, 0);
}

// The admin requests the bench makes between windows, once before measuring: a route's first
// call costs the event loop ~10 ms more than later ones (measured with 50 policies), which
// would otherwise land at the start of window C.
for (const path of ['/api/v1/fleet/global/policies', '/api/v1/fleet/policies/compliance'])
  await admin.request('GET', path);
await sleep(INTERVAL_MS + 5000); // settle
const measured: Array<() => Measured> = [];
measured.push(await measure('A. no policies (check-ins only)', WINDOW_MS));

// All at once (one spec document), as a team applying a policy library would.
const tPolicies = Date.now();
await admin.request('POST', '/api/v1/fleet/spec/policies', {
  specs: Array.from({ length: POLICIES }, (_, p) => ({
    name: `bench policy ${p}`,
    query: `SELECT 1 FROM osquery_info WHERE ${p} = ${p}`,
  })),
});
measured.push(
  await measure(`B. ${POLICIES} new policies: first results from every host`, FIRST_WINDOW_MS),
);
const tCount = performance.now();
const firstWritten = await countedResults();
const countMs = performance.now() - tCount;
const { policies: created } = await admin.request<{
  policies: Array<{ id: number; name: string }>;
}>('GET', '/api/v1/fleet/global/policies');
console.log(
  `  between B and C: listing the policies with counts took ${r2(countMs)} ms, again ${r2(performance.now() - tCount - countMs)} ms`,
);
if (created.some((p) => p.name !== `bench policy ${p.id - 1}`))
  throw new Error('policy ids are not 1..N in creation order: the answers would be wrong');
const firstResultsS = (Date.now() - tPolicies) / 1000;
console.log(`  first results counted: ${firstWritten} of ${N * POLICIES} (${firstResultsS} s)`);

measured.push(
  await measure(
    `C. policies re-asked every ${POLICY_INTERVAL_S} s`,
    Math.max(WINDOW_MS, 2 * POLICY_INTERVAL_S * 1000),
  ),
);
running = false;
await driver;
probe.send({ type: 'stop' });
const windows = measured.map((f) => f());
await sleep(3000);

const policyTimes: number[] = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  await admin.request('GET', '/api/v1/fleet/global/policies');
  await admin.request('GET', '/api/v1/fleet/policies/compliance');
  policyTimes.push(performance.now() - t);
}

const result = {
  when: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    load_average_at_end: loadavg().map(r2),
    note: 'shared with other jobs while measured; the load generator runs on the same 2 cores',
  },
  config: {
    database: values.db,
    hosts: N,
    policies: POLICIES,
    checkin_interval_s: INTERVAL_MS / 1000,
    window_s: WINDOW_MS / 1000,
    first_results_window_s: FIRST_WINDOW_MS / 1000,
    policy_update_interval_s: POLICY_INTERVAL_S,
    probe_hosts: PROBE,
    // Extra node flags given to the server (BENCH_SERVER_NODE_ARGS), e.g. V8's heap settings.
    server_node_args: process.env['BENCH_SERVER_NODE_ARGS'] ?? '',
    // A V8 profiler in the server costs CPU: such figures are not comparable with others.
    profiled: values.profile === true,
    // The server's policy_write_thread_nice (its default unless set in the environment).
    policy_writer_niceness: Number(process.env['FLOTILLA_POLICY_WRITE_THREAD_NICE'] ?? 10),
  },
  windows,
  first_results: {
    expected: N * POLICIES,
    counted_after_window_b: firstWritten,
    seconds_from_creating_policies: r2(firstResultsS),
  },
  policies_list_plus_compliance_ms: {
    min: r2(Math.min(...policyTimes)),
    max: r2(Math.max(...policyTimes)),
  },
};
agent.destroy();
admin.close();
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));
rmSync(dir, { recursive: true, force: true });
if (pgName) {
  const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`);
  await c.end();
}

const md = [
  `## Check-ins while ${N} hosts report ${POLICIES} policies (${values.db}, ${result.when})`,
  '',
  `\`node --import tsx packages/server/bench/policy-checkins.ts --db ${values.db} --hosts ${N}\` — ` +
    `each host checks in every ${INTERVAL_MS / 1000} s over HTTPS (keep-alive); policies re-asked every ${POLICY_INTERVAL_S} s. ` +
    `${PROBE} of the hosts are checked in by a probe process whose event loop does nothing else (its columns: the server's latency without the load generator's own delays). ` +
    `Windows of ${WINDOW_MS / 1000} s (B: ${FIRST_WINDOW_MS / 1000} s, C: ${Math.max(WINDOW_MS, 2 * POLICY_INTERVAL_S * 1000) / 1000} s). ` +
    `${result.machine.cpus} × ${result.machine.cpu_model}, Node ${result.machine.node}; ${result.machine.note} ` +
    `(load average at the end ${result.machine.load_average_at_end.join(', ')}).`,
  '',
  ...(result.config.server_node_args
    ? [`Server started with \`${result.config.server_node_args}\` (BENCH_SERVER_NODE_ARGS).`, '']
    : []),
  ...(values.profile
    ? [
        'Profiled (server, `--profile`): the profiler’s own CPU is in these figures; do not compare them with unprofiled runs.',
        '',
      ]
    : []),
  '| window | check-ins/s | read p50 ms | p95 | p99 | max | plain reads: p50 ms | p95 | p99 | max | probe plain reads: p50 ms | p95 | p99 | max | asked reads: count | p50 ms | p99 | server CPU µs/check-in | server CPU % | main thread µs/check-in | main / writer / other threads CPU % | server event loop p99 / max ms | load generator loop p99 ms | connections opened | policy results reported | errors |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...windows.map(
    (w) =>
      `| ${w.window} | ${w.checkins_per_second} | ${w.read_p50_ms} | ${w.read_p95_ms} | ${w.read_p99_ms} | ${w.read_max_ms} | ${w.plain_read_p50_ms} | ${w.plain_read_p95_ms} | ${w.plain_read_p99_ms} | ${w.plain_read_max_ms} | ${w.probe_plain_read_p50_ms} | ${w.probe_plain_read_p95_ms} | ${w.probe_plain_read_p99_ms} | ${w.probe_plain_read_max_ms} | ${w.asked_reads} | ${w.asked_read_p50_ms} | ${w.asked_read_p99_ms} | ${w.server_cpu_us_per_checkin} | ${w.server_cpu_percent} | ${w.server_main_thread_cpu_us_per_checkin} | ${w.server_main_thread_cpu_percent} / ${w.server_writer_thread_cpu_percent} / ${w.server_other_threads_cpu_percent} | ${w.server_event_loop_p99_ms} / ${w.server_event_loop_max_ms} | ${w.driver_event_loop_p99_ms} | ${w.connections_opened} | ${w.policy_results_reported} | ${w.errors} |`,
  ),
  '',
  `First results: ${firstWritten} of ${N * POLICIES} counted ${r2(firstResultsS)} s after the policies were created. ` +
    `Listing the policies with counts plus the compliance summary: ${result.policies_list_plus_compliance_ms.min}–${result.policies_list_plus_compliance_ms.max} ms.`,
  '',
].join('\n');
const outDir = join(ROOT, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const tag = `${result.when.replace(/[:.]/g, '-')}-policy-checkins-${values.db}`;
writeFileSync(join(outDir, `${tag}.json`), JSON.stringify(result, null, 2) + '\n');
writeFileSync(join(outDir, `${tag}.md`), md);
console.log(md);
process.exit(0);
