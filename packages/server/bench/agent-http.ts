/**
 * Server CPU per agent check-in, by who reads the agents' HTTP: Flotilla's own connection
 * reader (osquery/agent-connections.ts, the default), node's HTTP server
 * (FLOTILLA_AGENT_CONNECTIONS=false), and a bare node:https server answering `{"queries":{}}`
 * (the baseline of `npm run bench`). Each runs in its own process, one after the other, under
 * the same load: N enrolled hosts, each on its own kept-alive TLS connection, checking in
 * (distributed/read) at a fixed total rate for a window. CPU comes from the server's /proc.
 *
 * Run: node --import tsx packages/server/bench/agent-http.ts [--hosts 2000] [--rate 2000]
 *      [--window 30] [--port 18740]
 * Writes bench/results/<time>-agent-http.json and .md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { processCpuUs, ROOT, startBenchServer } from './bench-server.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '2000' },
    window: { type: 'string', default: '30' },
    port: { type: 'string', default: '18740' },
    // Which servers to measure, in order: own (Flotilla's reader), node, baseline.
    servers: { type: 'string', default: 'own,node,baseline' },
  },
});
const N = Number(values.hosts);
const RATE = Number(values.rate);
const WINDOW_S = Number(values.window);
const PORT = Number(values.port);
const SECRET = 'bench-agent-http-secret';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One agent's connection: one request at a time, Content-Length framed answers. */
class Conn {
  private buf: Buffer = Buffer.alloc(0);
  private pending: ((r: { status: number; body: string }) => void) | undefined;
  busy = false;
  constructor(private readonly socket: TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.toString('latin1', 0, end);
      let body: string;
      if (/transfer-encoding: *chunked/i.test(head)) {
        // The baseline's node:https answers are chunked: small, so one chunk and the last.
        const last = this.buf.indexOf('\r\n0\r\n\r\n', end + 4);
        if (last < 0) return;
        const chunk = this.buf.toString('utf8', end + 4, last);
        body = chunk.slice(chunk.indexOf('\r\n') + 2);
        this.buf = this.buf.subarray(last + 7);
      } else {
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (this.buf.length < end + 4 + length) return;
        body = this.buf.toString('utf8', end + 4, end + 4 + length);
        this.buf = this.buf.subarray(end + 4 + length);
      }
      const p = this.pending;
      this.pending = undefined;
      this.busy = false;
      p?.({ status: Number(head.split(' ')[1]), body });
    });
  }

  static open(ca: string): Promise<Conn> {
    return new Promise((res, rej) => {
      const s = connect({ host: '127.0.0.1', port: PORT, ca, servername: 'localhost' }, () =>
        res(new Conn(s)),
      );
      s.on('error', rej);
    });
  }

  post(path: string, body: string, nodeKey?: string): Promise<{ status: number; body: string }> {
    this.busy = true;
    const head =
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\nUser-Agent: osquery/5.12.1\r\n` +
      `Content-Type: application/json\r\nAccept: application/json\r\n` +
      (nodeKey ? `Authorization: NodeKey ${nodeKey}\r\n` : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\n\r\n`;
    return new Promise((r) => {
      this.pending = r;
      this.socket.write(head + body);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

const cpuUs = processCpuUs;

const pct = (a: number[], p: number) => a[Math.min(a.length - 1, Math.floor(a.length * p))] ?? NaN;

interface Row {
  server: string;
  checkins: number;
  per_s: number;
  cpu_us_per_checkin: number;
  /** Of which in user space and in the kernel (TLS sockets' system calls, loopback TCP). */
  user_us: number;
  system_us: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  /** Check-ins answered with questions (labels, vitals …) rather than nothing. */
  asked: number;
}

async function measure(name: string, server: ChildProcess, ca: string): Promise<Row> {
  const pid = server.pid!;
  const conns: Conn[] = [];
  const keys: string[] = [];
  for (let h = 0; h < N; h++) {
    const c = await Conn.open(ca);
    const enroll = await c.post(
      '/api/v1/osquery/enroll',
      JSON.stringify({
        enroll_secret: SECRET,
        host_identifier: `agent-http-${h}`,
        platform_type: '9',
        host_details: { system_info: { hostname: `agent-http-${h}`, uuid: `uuid-${h}` } },
      }),
    );
    keys.push((JSON.parse(enroll.body) as { node_key: string }).node_key);
    conns.push(c);
  }
  // Each host's first check-ins are asked its vitals; answer nothing, then settle.
  for (let pass = 0; pass < 2; pass++)
    await Promise.all(
      conns.map((c, h) =>
        c.post('/api/v1/osquery/distributed/read', JSON.stringify({ node_key: keys[h] }), keys[h]),
      ),
    );
  const run = async (seconds: number, record: boolean) => {
    const lat: number[] = [];
    let errors = 0;
    let asked = 0;
    let sent = 0;
    const t0 = performance.now();
    const cpu0 = cpuUs(pid);
    await new Promise<void>((done) => {
      const tick = setInterval(() => {
        const now = performance.now();
        if (now - t0 >= seconds * 1000) {
          clearInterval(tick);
          done();
          return;
        }
        const due = Math.floor(((now - t0) / 1000) * RATE);
        for (; sent < due; sent++) {
          const h = sent % N;
          const c = conns[h]!;
          if (c.busy) {
            errors++; // still waiting for its previous answer
            continue;
          }
          const start = performance.now();
          void c
            .post('/api/v1/osquery/distributed/read', `{"node_key":"${keys[h]}"}`, keys[h])
            .then((r) => {
              if (r.status !== 200) errors++;
              else if (r.body !== '{"queries":{}}') asked++;
              if (record) lat.push(performance.now() - start);
            });
        }
      }, 2);
    });
    await sleep(500);
    const cpu1 = cpuUs(pid);
    const cpu = { user: cpu1.user - cpu0.user, system: cpu1.system - cpu0.system };
    lat.sort((a, b) => a - b);
    return { lat, errors, asked, cpu, seconds: (performance.now() - t0) / 1000 };
  };
  await run(5, false);
  const r = await run(WINDOW_S, true);
  for (const c of conns) c.close();
  const row: Row = {
    server: name,
    checkins: r.lat.length,
    per_s: Math.round((r.lat.length / r.seconds) * 10) / 10,
    cpu_us_per_checkin: Math.round(((r.cpu.user + r.cpu.system) / r.lat.length) * 10) / 10,
    user_us: Math.round((r.cpu.user / r.lat.length) * 10) / 10,
    system_us: Math.round((r.cpu.system / r.lat.length) * 10) / 10,
    p50_ms: Math.round(pct(r.lat, 0.5) * 100) / 100,
    p99_ms: Math.round(pct(r.lat, 0.99) * 100) / 100,
    errors: r.errors,
    asked: r.asked,
  };
  console.log(`  ${JSON.stringify(row)}`);
  return row;
}

async function flotilla(agentConnections: boolean, dir: string): Promise<ChildProcess> {
  const { server } = await startBenchServer({
    dir,
    port: PORT,
    enrollSecret: SECRET,
    nodeArgs: process.env['BENCH_SERVER_NODE_ARGS']?.split(' ').filter(Boolean) ?? [],
    env: {
      FLOTILLA_ENROLL_MAX_PENDING: '0',
      FLOTILLA_VULN_SCAN_INTERVAL: '0',
      FLOTILLA_AGENT_CONNECTIONS: String(agentConnections),
    },
  });
  return server;
}

async function stop(server: ChildProcess): Promise<void> {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
}

const rows: Row[] = [];
console.log(`agent-http: ${N} hosts, ${RATE} check-ins/s, ${WINDOW_S} s windows`);
const SERVERS = values.servers.split(',');
let tlsDir = '';
for (const on of [true, false]) {
  if (!SERVERS.includes(on ? 'own' : 'node') && (tlsDir || !SERVERS.includes('baseline'))) continue;
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-agent-http-'));
  const server = await flotilla(on, dir);
  const ca = readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8');
  rows.push(
    await measure(
      on ? 'Flotilla, own connection reader' : "Flotilla, node's HTTP server",
      server,
      ca,
    ),
  );
  await stop(server);
  if (!tlsDir) {
    tlsDir = mkdtempSync(join(tmpdir(), 'flotilla-agent-http-tls-'));
    for (const f of ['ca.pem', 'server.pem', 'server-key.pem'])
      writeFileSync(join(tlsDir, f), readFileSync(join(dir, 'tls', f)));
  }
  rmSync(dir, { recursive: true, force: true });
}
if (SERVERS.includes('baseline')) {
  const baseline = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'packages/simulator/src/bench/baseline-server.ts'),
      join(tlsDir, 'server.pem'),
      join(tlsDir, 'server-key.pem'),
      String(PORT),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  process.on('exit', () => baseline.kill('SIGKILL'));
  await new Promise((r) => baseline.stdout!.once('data', r));
  rows.push(
    await measure(
      'bare node:https answering {}',
      baseline,
      readFileSync(join(tlsDir, 'ca.pem'), 'utf8'),
    ),
  );
  await stop(baseline);
  rmSync(tlsDir, { recursive: true, force: true });
}

const at = new Date().toISOString();
const result = {
  at,
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  config: { hosts: N, rate: RATE, window_s: WINDOW_S },
  rows,
};
const md = [
  `## Server CPU per check-in by HTTP reader (${at})`,
  '',
  `\`node --import tsx packages/server/bench/agent-http.ts --hosts ${N} --rate ${RATE} --window ${WINDOW_S}\`: ${N} enrolled hosts, each on its own kept-alive TLS connection, ${RATE} distributed/read check-ins per second for ${WINDOW_S} s after a 5 s warm-up; server CPU from its /proc, latency measured by the load generator (same machine, ${cpus().length} cores).`,
  '',
  '| server | check-ins | per s | server CPU µs per check-in | of which user / kernel | p50 ms | p99 ms | errors | answered with questions |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| ${r.server} | ${r.checkins} | ${r.per_s} | ${r.cpu_us_per_checkin} | ${r.user_us} / ${r.system_us} | ${r.p50_ms} | ${r.p99_ms} | ${r.errors} | ${r.asked} |`,
  ),
  '',
].join('\n');
console.log(md);
const out = join(ROOT, 'bench', 'results');
mkdirSync(out, { recursive: true });
const stem = join(out, `${at.replace(/[:.]/g, '-')}-agent-http`);
writeFileSync(`${stem}.json`, JSON.stringify(result, null, 2) + '\n');
writeFileSync(`${stem}.md`, md);
console.log(`wrote ${stem}.json and .md`);
process.exit(0);
