import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiError } from '@flotilla/api';
import { FlotillaClient } from '@flotilla/api';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '@flotilla/db';
import { runFleet } from '@flotilla/simulator';
import { redisAvailable, streamCampaign, waitUntil } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const enabled = (await postgresAvailable()) && (await redisAvailable());
const HOSTS_PER_PROCESS = 10;

function serve(dataDir: string, port: number, databaseUrl: string): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'packages/cli/src/main.ts'), 'serve'],
    {
      env: {
        ...process.env,
        FLOTILLA_DATA_DIR: dataDir,
        FLOTILLA_PORT: String(port),
        FLOTILLA_HOST: '127.0.0.1',
        FLOTILLA_DATABASE_URL: databaseUrl,
        FLOTILLA_REDIS_URL: process.env['FLOTILLA_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
        FLOTILLA_LOG_LEVEL: 'warn',
        FLOTILLA_SEEN_FLUSH_INTERVAL_MS: '200',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

async function healthy(url: string, ca: string): Promise<void> {
  const c = new FlotillaClient({ serverUrl: url, ca });
  await waitUntil(
    `${url} to answer`,
    async () =>
      c.request('GET', '/healthz').then(
        () => true,
        () => false,
      ),
    120_000,
  );
  c.close();
}

describe.skipIf(!enabled)('two server processes on one PostgreSQL and one Redis', () => {
  let dir: string;
  let db: TestDatabase;
  const procs: ChildProcess[] = [];
  let ca: string;
  const urls: string[] = [];
  let a: FlotillaClient;
  let b: FlotillaClient;
  const abort = new AbortController();
  const fleets: Array<Promise<unknown>> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-mp-'));
    db = await createTestDatabase('postgres');
    const base = 19000 + Math.floor(Math.random() * 500) * 2;
    // The first process creates the CA and server key; the second gets copies in a data dir of
    // its own (each process keeps its own log write-ahead log there).
    procs.push(serve(join(dir, 'a'), base, db.location));
    for (let i = 0; i < 100 && !existsSync(join(dir, 'a', 'tls', 'ca.pem')); i++)
      await new Promise((r) => setTimeout(r, 200));
    ca = readFileSync(join(dir, 'a', 'tls', 'ca.pem'), 'utf8');
    urls.push(`https://127.0.0.1:${base}`);
    await healthy(urls[0]!, ca);
    cpSync(join(dir, 'a', 'tls'), join(dir, 'b', 'tls'), { recursive: true });
    cpSync(join(dir, 'a', 'server.key'), join(dir, 'b', 'server.key'));
    procs.push(serve(join(dir, 'b'), base + 1, db.location));
    urls.push(`https://127.0.0.1:${base + 1}`);
    await healthy(urls[1]!, ca);

    a = new FlotillaClient({ serverUrl: urls[0]!, ca });
    await a.setup({ email: 'admin@example.com', name: 'Admin', password: 'Two-processes-1!' });
    b = new FlotillaClient({ serverUrl: urls[1]!, ca, token: a.token });
    await a.request('POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: 'mp-secret-1234' }] },
    });
    await b.request('PATCH', '/api/v1/fleet/config', {
      agent_options: {
        config: { options: { distributed_interval: 1, config_refresh: 3, logger_tls_period: 5 } },
      },
    });
    urls.forEach((url, i) => {
      fleets.push(
        runFleet({
          hosts: HOSTS_PER_PROCESS,
          server: url,
          enrollSecret: 'mp-secret-1234',
          caPem: ca,
          workers: 0,
          signal: abort.signal,
          startSpreadSeconds: 1,
          fleetSeed: i + 1,
          profiles: { 'ubuntu-24.04': 1 },
        }),
      );
    });
    await waitUntil('all hosts inventoried', async () => {
      const { hosts } = await a.listHosts({ per_page: 100 });
      return hosts.length === 2 * HOSTS_PER_PROCESS && hosts.every((h) => h['os_version'] !== '');
    });
  }, 180_000);

  afterAll(async () => {
    abort.abort();
    await Promise.all(fleets);
    a?.close();
    b?.close();
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(
      procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))),
    );
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a campaign started on process A gets answers from hosts checking in to process B, streamed from A and from B', async () => {
    const all = (
      await a.request<{ labels: Array<{ id: number; name: string }> }>(
        'GET',
        '/api/v1/fleet/labels',
      )
    ).labels.find((l) => l.name === 'All Hosts')!.id;
    const { hosts } = await a.listHosts({ per_page: 100 });
    const { campaign } = await a.request<{ campaign: { id: number } }>(
      'POST',
      '/api/v1/fleet/queries/run',
      {
        query: 'SELECT uuid FROM system_info',
        selected: { hosts: hosts.map((h) => h['id'] as number), labels: [all] },
      },
    );
    const wsA = `${urls[0]!.replace('https', 'wss')}/api/v1/fleet/results/websocket`;
    const wsB = `${urls[1]!.replace('https', 'wss')}/api/v1/fleet/results/websocket`;
    const [fromA, fromB] = await Promise.all([
      streamCampaign(wsA, ca, a.token!, campaign.id),
      streamCampaign(wsB, ca, a.token!, campaign.id).catch((e: Error) => e),
    ]);
    expect(fromA.results).toHaveLength(2 * HOSTS_PER_PROCESS);
    const uuidOf = new Map(hosts.map((h) => [h['id'] as number, h['uuid'] as string]));
    for (const r of fromA.results) expect(r.rows[0]!['uuid']).toBe(uuidOf.get(r.host.id));
    // B watches live from the moment it joins; it must not fail and must only see real answers.
    if (!(fromB instanceof Error))
      for (const r of fromB.results) expect(uuidOf.has(r.host.id)).toBe(true);
  });

  it('a host deleted through process A is refused by process B at its next check-in, and re-enrolls', async () => {
    const before = (await b.listHosts({ per_page: 100 })).hosts;
    const victim = before[0]!;
    await a.request('DELETE', `/api/v1/fleet/hosts/${victim['id'] as number}`);
    expect(await b.getHost(victim['id'] as number).catch((e: ApiError) => e.status)).toBe(404);
    // Its agent gets node_invalid on whichever process it talks to, re-enrolls, and is back.
    await waitUntil('the deleted host to re-enroll', async () => {
      const { hosts } = await b.listHosts({ per_page: 100 });
      return hosts.some((h) => h['uuid'] === victim['uuid'] && h['id'] !== victim['id']);
    });
  });
});
