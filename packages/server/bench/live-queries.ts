/**
 * Live-query server benchmark (no simulator: requests are generated directly so the server is
 * the bottleneck):
 *  1. check-in CPU per distributed/read with no campaign open, then with 100 campaigns open;
 *  2. result ingestion: hosts answer one campaign with 100 rows each as fast as they can, and a
 *     websocket client counts rows delivered per second.
 * The server runs in its own process (HTTPS, SQLite); CPU comes from its /proc accounting.
 * Usage: node --import tsx packages/server/bench/live-queries.ts [--hosts 4000]
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { processCpuUs, ROOT, startBenchServer } from './bench-server.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '4000' },
    reads: { type: 'string', default: '40000' },
    port: { type: 'string', default: '18710' },
    // V8 CPU profile of the server into bench/profiles/ (summarise with profile-summary.ts).
    profile: { type: 'boolean', default: false },
  },
});
const HOSTS = Number(values.hosts);
const READS = Number(values.reads);
const PORT = Number(values.port);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cpu = (pid: number) => {
  const { user, system } = processCpuUs(pid);
  return user + system;
};

const dir = mkdtempSync(join(tmpdir(), 'flotilla-lqbench-'));
const { server, ca, url, admin } = await startBenchServer({
  dir,
  port: PORT,
  enrollSecret: 'lq-bench-secret',
  nodeArgs: values.profile
    ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, 'bench', 'profiles')}`]
    : [],
  env: {
    // Its hosts enroll all at once and never report software: no enroll pacing.
    FLOTILLA_ENROLL_MAX_PENDING: '0',
    FLOTILLA_ENROLL_FAILURES_PER_MINUTE: '1000000',
  },
});
const agent = new Agent({ keepAlive: true, ca, maxSockets: 64 });
const post = (path: string, body: string) =>
  new Promise<string>((res, rej) => {
    const buf = Buffer.from(body);
    const req = request(
      {
        hostname: '127.0.0.1',
        port: PORT,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': buf.length },
      },
      (r) => {
        let t = '';
        r.on('data', (c: Buffer) => (t += c.toString()));
        r.on('end', () => res(t));
      },
    );
    req.on('error', rej);
    req.end(buf);
  });
const pool = async <T>(items: T[], n: number, fn: (x: T, i: number) => Promise<void>) => {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) {
        const k = i++;
        await fn(items[k]!, k);
      }
    }),
  );
};

// Enroll hosts and answer their vitals once, so their reads are empty.
const keys: string[] = new Array<string>(HOSTS);
await pool(
  Array.from({ length: HOSTS }, (_, i) => i),
  32,
  async (i) => {
    const r = JSON.parse(
      await post(
        '/api/v1/osquery/enroll',
        JSON.stringify({
          enroll_secret: 'lq-bench-secret',
          host_identifier: `lq-${i}`,
          platform_type: '9',
          host_details: {
            os_version: { platform: 'ubuntu', name: 'Ubuntu', version: '22.04' },
            system_info: { hostname: `lq-${i}` },
          },
        }),
      ),
    ) as { node_key: string };
    keys[i] = r.node_key;
  },
);
await pool(keys, 32, async (k) => {
  const q = JSON.parse(
    await post('/api/v1/osquery/distributed/read', JSON.stringify({ node_key: k })),
  ) as { queries: Record<string, string> };
  const names = Object.keys(q.queries);
  await post(
    '/api/v1/osquery/distributed/write',
    JSON.stringify({
      node_key: k,
      queries: Object.fromEntries(names.map((n) => [n, ''])),
      statuses: Object.fromEntries(names.map((n) => [n, 0])),
    }),
  );
});
const half = Math.floor(HOSTS / 2);
const readers = keys.slice(0, half);

async function readLoop(n: number): Promise<number> {
  const pid = server.pid!;
  let i = 0;
  const c0 = cpu(pid);
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (i < n)
        await post(
          '/api/v1/osquery/distributed/read',
          `{"node_key":"${readers[i++ % readers.length]}"}`,
        );
    }),
  );
  return (cpu(pid) - c0) / n;
}
await readLoop(5000); // warm up

// 100 campaigns open at once, each targeting 20 hosts of the other half. Phases alternate
// (none open / 100 open) three times and the medians are compared, so that machine noise
// does not read as a difference.
const { hosts } = await admin.listHosts({ per_page: HOSTS, order_key: 'id' });
// Ids of the hosts enrolled as lq-<half…>: enrollment ran concurrently, so ids need not follow i.
const others = hosts
  .filter((h) => Number(String(h['hostname']).slice('lq-'.length)) >= half)
  .map((h) => h['id'] as number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const idle: number[] = [];
const busy: number[] = [];
for (let round = 0; round < 3; round++) {
  idle.push(await readLoop(READS));
  const open: number[] = [];
  for (let c = 0; c < 100; c++) {
    const at = (c * 20) % others.length;
    const r = await admin.request<{ campaign: { id: number } }>(
      'POST',
      '/api/v1/fleet/queries/run',
      { query: 'SELECT 1', selected: { hosts: others.slice(at, at + 20) } },
    );
    open.push(r.campaign.id);
  }
  busy.push(await readLoop(READS));
  for (const id of open) await admin.request('POST', `/api/v1/fleet/campaigns/${id}/stop`);
}
const idleUs = median(idle);
const busyUs = median(busy);
console.log(
  `check-in CPU, no campaigns: ${idle.map((x) => x.toFixed(1)).join(' / ')} µs/request (median ${idleUs.toFixed(1)})`,
);
console.log(
  `check-in CPU, 100 campaigns open: ${busy.map((x) => x.toFixed(1)).join(' / ')} µs/request (median ${busyUs.toFixed(1)}, ${((busyUs / idleUs - 1) * 100).toFixed(1)}% extra)`,
);

// Ingestion: every host of the second half answers one campaign with 100 rows.
const answerers = keys.slice(half);
const { campaign } = await admin.request<{ campaign: { id: number } }>(
  'POST',
  '/api/v1/fleet/queries/run',
  {
    query:
      'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100) SELECT n.x AS row_number, s.hostname FROM n, system_info s',
    selected: { hosts: others },
  },
);
const ws = new WebSocket(`${url.replace('https', 'wss')}/api/v1/fleet/results/websocket`, { ca });
let rows = 0;
let results = 0;
const done = new Promise<number>((resolveDone) => {
  ws.on('message', (raw: Buffer) => {
    const m = JSON.parse(raw.toString()) as { type: string; data: { rows?: unknown[] } };
    if (m.type !== 'result') return;
    results++;
    rows += m.data.rows?.length ?? 0;
    if (results === answerers.length) resolveDone(performance.now());
  });
});
await new Promise((r) => ws.on('open', r));
ws.send(JSON.stringify({ type: 'auth', data: { token: admin.token } }));
ws.send(JSON.stringify({ type: 'select_campaign', data: { campaign_id: campaign.id } }));
await sleep(500);
const hundred = (k: number) =>
  Array.from({ length: 100 }, (_, x) => ({
    row_number: String(x + 1),
    hostname: `lq-${k}`,
    path: '/usr/bin/something-long-enough',
    version: '1.2.3-4ubuntu0.1',
  }));
const bodies = answerers.map(
  (k, i) =>
    `{"node_key":"${k}","queries":{"fleet_distributed_query_${campaign.id}":${JSON.stringify(hundred(i))}},"statuses":{"fleet_distributed_query_${campaign.id}":0}}`,
);
// Hosts first read the question, then answer (as osquery does).
await pool(
  answerers,
  64,
  async (k) => void (await post('/api/v1/osquery/distributed/read', `{"node_key":"${k}"}`)),
);
const c0 = cpu(server.pid!);
const t0 = performance.now();
await pool(bodies, 64, async (b) => void (await post('/api/v1/osquery/distributed/write', b)));
// Never wait forever: report what arrived if results stop coming.
const progress = setInterval(
  () => console.log(`  ingestion: ${results}/${answerers.length} results so far`),
  5000,
);
const tEnd = await Promise.race([
  done,
  sleep(120_000).then(() => {
    throw new Error(`only ${results} of ${answerers.length} results reached the websocket`);
  }),
]);
clearInterval(progress);
const ingestSeconds = (tEnd - t0) / 1000;
const rowsPerSecond = rows / ingestSeconds;
const ingestCpuUsPerRow = (cpu(server.pid!) - c0) / rows;
console.log(
  `ingestion: ${rows} rows from ${results} hosts in ${ingestSeconds.toFixed(2)} s = ${Math.round(rowsPerSecond)} rows/s delivered to the websocket (${ingestCpuUsPerRow.toFixed(2)} µs server CPU per row)`,
);
ws.close();
agent.destroy();
admin.close();
server.kill('SIGTERM');

const result = {
  when: new Date().toISOString(),
  hosts: HOSTS,
  reads: READS,
  checkin_cpu_us_idle: idleUs,
  checkin_cpu_us_100_campaigns: busyUs,
  extra_cpu_percent: (busyUs / idleUs - 1) * 100,
  ingestion: {
    hosts: results,
    rows,
    seconds: ingestSeconds,
    rows_per_second: rowsPerSecond,
    server_cpu_us_per_row: ingestCpuUsPerRow,
  },
};
const md = [
  `## Live queries: ${HOSTS} hosts (server on HTTPS + SQLite)`,
  '',
  '| measure | value |',
  '| --- | --- |',
  `| check-in CPU per distributed/read, no campaign open | ${idleUs.toFixed(1)} µs |`,
  `| check-in CPU per distributed/read, 100 campaigns open | ${busyUs.toFixed(1)} µs (${result.extra_cpu_percent.toFixed(1)}% extra) |`,
  `| result ingestion: ${results} hosts × 100 rows, delivered to a websocket client | ${Math.round(rowsPerSecond)} rows/s (${ingestCpuUsPerRow.toFixed(2)} µs server CPU per row) |`,
  '',
].join('\n');
console.log(md);
const out = join(ROOT, 'bench', 'results');
mkdirSync(out, { recursive: true });
const stamp = result.when.replace(/[:.]/g, '-');
writeFileSync(join(out, `${stamp}-live-queries.json`), JSON.stringify(result, null, 2) + '\n');
writeFileSync(join(out, `${stamp}-live-queries.md`), md);
process.exit(0);
