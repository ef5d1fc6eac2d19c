import { createServer, type IncomingMessage, type Server } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import pino from 'pino';
import { FlotillaClient } from '@flotilla/api';
import { runFleet } from '@flotilla/simulator';
import { FilesystemDestination } from '../src/logging/destinations/filesystem.js';
import { LogPipeline } from '../src/logging/pipeline.js';
import { WebhookDestination } from '../src/logging/destinations/webhook.js';
import { loadConfig, startServer } from '../src/index.js';
import { redisAvailable, waitUntil } from './helpers.js';

const silent = pino({ level: 'silent' });
const REDIS = process.env['FLOTILLA_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
// The figure: a destination down for 60 s. Shorter outside CI so local runs stay quick.
const OUTAGE_MS = process.env['CI'] === 'true' ? 60_000 : 3_000;

/** A real HTTP receiver that can be switched to fail, recording every entry it accepted. */
async function receiver(): Promise<{
  url: string;
  entries: Array<Record<string, unknown>>;
  bodies: string[];
  up: { value: boolean };
  server: Server;
}> {
  const entries: Array<Record<string, unknown>> = [];
  const bodies: string[] = [];
  const up = { value: true };
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!up.value) {
        res.writeHead(503).end();
        return;
      }
      const body = Buffer.concat(chunks).toString();
      bodies.push(body);
      if (body.startsWith('{"log_type"'))
        entries.push(...(JSON.parse(body) as { entries: Array<Record<string, unknown>> }).entries);
      else
        for (const l of body.split('\n'))
          entries.push((JSON.parse(l) as { event: Record<string, unknown> }).event);
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/ingest`, entries, bodies, up, server };
}

describe('the log pipeline', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-logs-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`loses nothing and keeps order while a webhook is down for ${OUTAGE_MS / 1000} s, then catches up`, async () => {
    const r = await receiver();
    const pipeline = new LogPipeline(
      join(dir, 'outage'),
      [{ type: 'result', destination: new WebhookDestination({ url: r.url, format: 'generic' }) }],
      silent,
    );
    pipeline.start();
    let seq = 0;
    const send = async (n: number) => {
      const lines = Array.from({ length: n }, () =>
        JSON.stringify({ name: 'pack/Global/x', seq: seq++ }),
      );
      await pipeline.append('result', lines);
    };
    await send(500);
    await waitUntil('first batch delivered', async () => r.entries.length === 500);
    r.up.value = false;
    const outageEnds = Date.now() + OUTAGE_MS;
    while (Date.now() < outageEnds) {
      await send(250); // agents keep sending; every line is acknowledged only once on disk
      await new Promise((res) => setTimeout(res, 200));
    }
    const during = pipeline.status()[0]!;
    expect(during.backlog_bytes).toBeGreaterThan(0);
    expect(during.errors).toBeGreaterThan(0);
    r.up.value = true;
    await waitUntil(
      'backlog drained',
      async () => pipeline.status()[0]!.backlog_bytes === 0,
      120_000,
    );
    console.log(
      `[log pipeline] ${OUTAGE_MS / 1000} s outage: ${seq} lines sent, ${r.entries.length} delivered, in order`,
    );
    expect(r.entries).toHaveLength(seq);
    expect(r.entries.map((e) => e['seq'])).toEqual(Array.from({ length: seq }, (_, i) => i));
    await pipeline.stop();
    r.server.close();
  }, 200_000);

  it('loses nothing acknowledged across a restart while the destination is down', async () => {
    const r = await receiver();
    r.up.value = false;
    const where = join(dir, 'restart');
    const first = new LogPipeline(
      where,
      [
        {
          type: 'status',
          destination: new WebhookDestination({ url: r.url, format: 'splunk', token: 'hec-token' }),
        },
      ],
      silent,
    );
    first.start();
    await first.append(
      'status',
      Array.from({ length: 300 }, (_, i) =>
        JSON.stringify({ message: `line ${i}`, unixTime: 1795493555 + i }),
      ),
    );
    await first.stop(100); // the process goes away with everything undelivered
    r.up.value = true;
    const second = new LogPipeline(
      where,
      [
        {
          type: 'status',
          destination: new WebhookDestination({ url: r.url, format: 'splunk', token: 'hec-token' }),
        },
      ],
      silent,
    );
    second.start();
    await waitUntil('redelivery after restart', async () => r.entries.length >= 300);
    expect(r.entries.map((e) => e['message'])).toEqual(
      Array.from({ length: 300 }, (_, i) => `line ${i}`),
    );
    expect(r.bodies[0]!.split('\n')[0]).toMatch(
      /^\{"time":1795493555,"sourcetype":"osquery:status","source":"flotilla","event":\{/,
    );
    await second.stop();
    r.server.close();
  });

  it('writes the filesystem destination as JSON lines, rotating by size and gzipping rotated files', async () => {
    const out = join(dir, 'fs-out');
    const fsDest = new FilesystemDestination({
      dir: out,
      maxBytes: 2000,
      maxAgeS: 0,
      compress: true,
    });
    const pipeline = new LogPipeline(
      join(dir, 'fs'),
      [{ type: 'result', destination: fsDest }],
      silent,
    );
    pipeline.start();
    const lines = Array.from({ length: 200 }, (_, i) =>
      JSON.stringify({ name: 'pack/Global/x', i }),
    );
    for (let i = 0; i < 200; i += 20) await pipeline.append('result', lines.slice(i, i + 20));
    await waitUntil('delivered', async () => pipeline.status()[0]!.backlog_bytes === 0);
    await pipeline.stop();
    const files = readdirSync(out);
    const rotated = files.filter((f) => f.endsWith('.log.gz'));
    expect(rotated.length).toBeGreaterThan(0);
    let all: string[] = [];
    for (const f of files.filter((f) => f.endsWith('.gz')).sort())
      all = all.concat(
        gunzipSync(readFileSync(join(out, f)))
          .toString()
          .trim()
          .split('\n'),
      );
    all = all.concat(
      readFileSync(join(out, 'osquery_result.log'), 'utf8').trim().split('\n').filter(Boolean),
    );
    expect(all.map((l) => (JSON.parse(l) as { i: number }).i).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
  });
});

const redisUp = await redisAvailable();

describe('simulated hosts to every destination, through the real services', () => {
  it.skipIf(!redisUp)(
    'scheduled query results reach the filesystem, a webhook and Redis Streams',
    async () => {
      const data = mkdtempSync(join(tmpdir(), 'flotilla-sim-logs-'));
      const r = await receiver();
      const server = await startServer(
        loadConfig({
          env: {
            FLOTILLA_DATA_DIR: data,
            FLOTILLA_PORT: '0',
            FLOTILLA_HOST: '127.0.0.1',
            FLOTILLA_LOG_LEVEL: 'warn',
            FLOTILLA_LOG_RESULT_DESTINATIONS: 'filesystem,webhook,redis_streams',
            FLOTILLA_LOG_STATUS_DESTINATIONS: 'filesystem',
            FLOTILLA_LOG_AUDIT_DESTINATIONS: 'filesystem',
            FLOTILLA_LOG_WEBHOOK_URL: r.url,
            FLOTILLA_LOG_REDIS_URL: REDIS,
          },
        }),
      );
      // The destination's stream prefix is fixed; read the same keys the server writes.
      const redis = new Redis(REDIS);
      const before = await redis.xlen('flotilla:logs:result');
      const ca = readFileSync(join(data, 'tls', 'ca.pem'), 'utf8');
      const url = server.url.replace('localhost', '127.0.0.1');
      const admin = new FlotillaClient({ serverUrl: url, ca });
      await admin.setup({ email: 'admin@example.com', name: 'Admin', password: 'Log-pipeline-1!' });
      await admin.request('POST', '/api/v1/fleet/spec/enroll_secret', {
        spec: { secrets: [{ secret: 'logs-secret-1' }] },
      });
      await admin.request('PATCH', '/api/v1/fleet/config', {
        agent_options: {
          config: {
            options: {
              distributed_interval: 1,
              config_refresh: 2,
              logger_tls_period: 1,
              pack_delimiter: '/',
            },
          },
        },
      });
      await admin.request('POST', '/api/v1/fleet/queries', {
        name: 'os',
        query: 'SELECT name, version FROM os_version',
        interval: 2,
        logging: 'snapshot',
      });
      await admin.request('POST', '/api/v1/fleet/queries', {
        name: 'users',
        query: 'SELECT username, uid FROM users',
        interval: 2,
        logging: 'differential',
      });
      const stats = await runFleet({
        hosts: 6,
        server: url,
        enrollSecret: 'logs-secret-1',
        caPem: ca,
        workers: 0,
        durationSeconds: 9,
        startSpreadSeconds: 1,
        profiles: { 'ubuntu-22.04': 1 },
      });
      expect(Object.values(stats.endpoints).reduce((a, e) => a + e.errors, 0)).toBe(0);
      await waitUntil('webhook has results', async () =>
        r.entries.some((e) => e['name'] === 'pack/Global/users'),
      );
      const fsLines = readFileSync(join(data, 'logs', 'out', 'osquery_result.log'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { name: string; action: string; host_id: number });
      expect(fsLines.some((l) => l.name === 'pack/Global/os' && l.action === 'snapshot')).toBe(
        true,
      );
      expect(fsLines.some((l) => l.name === 'pack/Global/users' && l.action === 'added')).toBe(
        true,
      );
      expect(new Set(fsLines.map((l) => l.host_id)).size).toBe(6);
      await waitUntil(
        'redis stream has results',
        async () => (await redis.xlen('flotilla:logs:result')) > before,
      );
      const entries = await redis.xrevrange('flotilla:logs:result', '+', '-', 'COUNT', 5);
      expect(JSON.parse(entries[0]![1][1]!)).toHaveProperty('name');
      // Reports from the same stream of logs, and the audit log copied to its destination.
      const queries = (
        await admin.request<{ queries: Array<{ id: number; name: string }> }>(
          'GET',
          '/api/v1/fleet/queries',
        )
      ).queries;
      const report = await admin.request<{ results: unknown[] }>(
        'GET',
        `/api/v1/fleet/queries/${queries.find((q) => q.name === 'os')!.id}/report`,
      );
      expect(report.results).toHaveLength(6);
      expect(existsSync(join(data, 'logs', 'out', 'osquery_audit.log'))).toBe(true);
      expect(readFileSync(join(data, 'logs', 'out', 'osquery_audit.log'), 'utf8')).toMatch(
        /"type":"created_saved_query"/,
      );
      const status = await admin.request<{
        destinations: Array<{
          destination: string;
          delivered_lines: number;
          backlog_bytes: number;
        }>;
      }>('GET', '/api/v1/fleet/logging/status');
      expect(
        status.destinations.filter((d) => d.destination === 'webhook')[0]!.delivered_lines,
      ).toBeGreaterThan(0);
      admin.close();
      redis.disconnect();
      await server.close();
      r.server.close();
      rmSync(data, { recursive: true, force: true });
    },
    120_000,
  );
});
