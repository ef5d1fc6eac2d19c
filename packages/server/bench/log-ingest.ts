/**
 * Log ingestion benchmark: agents POST result logs (osquery's differential format, batches of
 * 500 lines, 32 connections) to a real server over HTTPS; we measure lines acknowledged per
 * second and lines written to the filesystem destination per second. Writes
 * bench/results/<timestamp>-log-ingest.{json,md}. Usage: node --import tsx log-ingest.ts [--lines N]
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FlotillaClient } from '@flotilla/api';
import { loadConfig, startServer } from '../src/index.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '500' },
    connections: { type: 'string', default: '32' },
  },
});
const TOTAL = Number(values.lines);
const BATCH = Number(values.batch);
const CONNS = Number(values.connections);

const dir = mkdtempSync(join(tmpdir(), 'flotilla-logbench-'));
const server = await startServer(
  loadConfig({
    env: {
      FLOTILLA_DATA_DIR: dir,
      FLOTILLA_PORT: '0',
      FLOTILLA_HOST: '127.0.0.1',
      // Its hosts enroll all at once and never report software: no enroll pacing.
      FLOTILLA_ENROLL_MAX_PENDING: '0',
      FLOTILLA_LOG_LEVEL: 'warn',
      FLOTILLA_LOG_RESULT_DESTINATIONS: 'filesystem',
      FLOTILLA_LOG_FILESYSTEM_MAX_BYTES: '0',
    },
  }),
);
const url = new URL(server.url.replace('localhost', '127.0.0.1'));
const ca = readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8');
const admin = new FlotillaClient({ serverUrl: url.toString(), ca });
await admin.setup({ email: 'bench@example.com', name: 'Bench', password: 'Log-bench-pass-1!' });
await admin.request('POST', '/api/v1/fleet/spec/enroll_secret', {
  spec: { secrets: [{ secret: 'log-bench-secret' }] },
});
const agent = new Agent({ keepAlive: true, ca, maxSockets: CONNS });
const post = (path: string, body: Buffer) =>
  new Promise<{ status: number; text: string }>((res, rej) => {
    const req = request(
      {
        hostname: url.hostname,
        port: url.port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (r) => {
        let t = '';
        r.on('data', (c: Buffer) => (t += c.toString()));
        r.on('end', () => res({ status: r.statusCode ?? 0, text: t }));
      },
    );
    req.on('error', rej);
    req.end(body);
  });
const keys: string[] = [];
for (let i = 0; i < CONNS; i++) {
  const r = await post(
    '/api/v1/osquery/enroll',
    Buffer.from(
      JSON.stringify({
        enroll_secret: 'log-bench-secret',
        host_identifier: `log-bench-${i}`,
        platform_type: '9',
        host_details: {},
      }),
    ),
  );
  keys.push((JSON.parse(r.text) as { node_key: string }).node_key);
}
const entry = (i: number) => ({
  name: 'pack/Global/processes',
  hostIdentifier: 'log-bench',
  calendarTime: 'Tue Nov 24 04:12:35 2026 UTC',
  unixTime: 1795493555,
  epoch: 0,
  counter: i,
  numerics: false,
  decorations: { host_uuid: 'e1f2' },
  columns: {
    pid: String(1000 + i),
    name: 'nginx',
    path: '/usr/sbin/nginx',
    cmdline: 'nginx: worker process',
    uid: '33',
  },
  action: 'added',
});
const bodies = keys.map((k) =>
  Buffer.from(
    JSON.stringify({
      node_key: k,
      log_type: 'result',
      data: Array.from({ length: BATCH }, (_, i) => entry(i)),
    }),
  ),
);

const t0 = performance.now();
let sent = 0;
let errors = 0;
await Promise.all(
  keys.map(async (_, c) => {
    while (sent < TOTAL) {
      sent += BATCH;
      const r = await post('/api/v1/osquery/log', bodies[c]!);
      if (r.status !== 200) errors++;
    }
  }),
);
const ackSeconds = (performance.now() - t0) / 1000;
for (;;) {
  const st = await admin.request<{
    destinations: Array<{ backlog_bytes: number; delivered_lines: number }>;
  }>('GET', '/api/v1/fleet/logging/status');
  if (st.destinations[0]!.backlog_bytes === 0) break;
  await new Promise((r) => setTimeout(r, 100));
}
const deliveredSeconds = (performance.now() - t0) / 1000;
const file = join(dir, 'logs', 'out', 'osquery_result.log');
const result = {
  when: new Date().toISOString(),
  lines: sent,
  batch: BATCH,
  connections: CONNS,
  errors,
  acknowledged_lines_per_second: Math.round(sent / ackSeconds),
  delivered_to_filesystem_lines_per_second: Math.round(sent / deliveredSeconds),
  filesystem_bytes: statSync(file).size,
};
agent.destroy();
admin.close();
await server.close();
const md = [
  `## Log ingestion: ${sent} result lines over HTTPS into the filesystem destination`,
  '',
  '| measure | value |',
  '| --- | --- |',
  `| lines acknowledged to agents (on disk in the WAL) per second | ${result.acknowledged_lines_per_second} |`,
  `| lines written to the filesystem destination per second (end to end) | ${result.delivered_to_filesystem_lines_per_second} |`,
  `| batches of ${BATCH} lines, ${CONNS} connections, errors | ${errors} |`,
  '',
].join('\n');
console.log(md);
const out = join(ROOT, 'bench', 'results');
mkdirSync(out, { recursive: true });
const stamp = result.when.replace(/[:.]/g, '-');
writeFileSync(join(out, `${stamp}-log-ingest.json`), JSON.stringify(result, null, 2) + '\n');
writeFileSync(join(out, `${stamp}-log-ingest.md`), md);
process.exit(0);
