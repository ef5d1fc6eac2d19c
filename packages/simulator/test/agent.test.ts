import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedAgent } from '../src/agent/factory.js';
import type { OsqueryAgent } from '../src/agent/agent.js';
import { StatsCollector } from '../src/stats.js';
import { FakeOsqueryServer } from './helpers/fake-osquery-server.js';
import { makeTlsFixture } from './helpers/tls-fixture.js';
import type { TlsFixture } from './helpers/tls-fixture.js';

const ENROLL = '/api/v1/osquery/enroll';
const CONFIG = '/api/v1/osquery/config';
const READ = '/api/v1/osquery/distributed/read';
const WRITE = '/api/v1/osquery/distributed/write';
const LOG = '/api/v1/osquery/log';

let tls: TlsFixture;
let server: FakeOsqueryServer;
const agents: OsqueryAgent[] = [];

beforeAll(() => {
  tls = makeTlsFixture();
});

afterEach(async () => {
  for (const a of agents.splice(0)) a.stop();
  await server.close();
});

async function startServer(): Promise<FakeOsqueryServer> {
  server = new FakeOsqueryServer(tls);
  await server.listen();
  return server;
}

function agent(extra: Partial<Parameters<typeof createSimulatedAgent>[0]> = {}): OsqueryAgent {
  const a = createSimulatedAgent({
    profile: 'ubuntu-22.04',
    index: 5,
    server: server.url,
    ca: tls.caPem,
    enrollSecret: 'sekret',
    ...extra,
  });
  agents.push(a);
  return a;
}

async function until(check: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('OsqueryAgent against an HTTPS osquery server', () => {
  it('enrolls, fetches config, answers distributed queries with discovery, on one reused connection', async () => {
    const srv = await startServer();
    let reads = 0;
    srv.handlers.set(READ, () =>
      reads++ === 0
        ? {
            queries: {
              os: 'SELECT name, platform FROM os_version',
              bad: 'SELECT * FROM nope',
              skipped: 'SELECT 1',
              kept: 'SELECT 2 AS two',
            },
            discovery: {
              skipped: "SELECT 1 FROM processes WHERE name = 'no-such-daemon'",
              kept: "SELECT 1 FROM processes WHERE name = 'sshd'",
            },
          }
        : { queries: {} },
    );
    const a = agent();
    await a.start();
    await until(() => srv.to(WRITE).length === 1);
    const [enroll] = srv.to(ENROLL);
    expect(enroll?.body).toMatchObject({ enroll_secret: 'sekret', platform_type: '9' });
    expect(enroll?.headers['authorization']).toBeUndefined();
    expect(enroll?.headers['user-agent']).toBe('osquery/5.23.1');
    expect(enroll?.headers['content-type']).toBe('application/json');
    const write = srv.to(WRITE)[0];
    expect(write?.headers['authorization']).toBe('NodeKey nk-1');
    expect(write?.body).toMatchObject({
      node_key: 'nk-1',
      queries: { os: [{ name: 'Ubuntu', platform: 'ubuntu' }], bad: [], kept: [{ two: '2' }] },
      statuses: { os: 0, bad: 1, kept: 0 },
      messages: { os: '', bad: 'no such table: nope', kept: '' },
    });
    expect(Object.keys(write?.body['queries'] as object)).not.toContain('skipped');
    expect(new Set(srv.requests.map((r) => r.remotePort)).size).toBe(1);
    expect(srv.to(CONFIG)[0]?.raw).toBe('{"node_key":"nk-1"}');
  });

  it('re-enrolls when the server answers node_invalid, then retries the request', async () => {
    const srv = await startServer();
    let keys = 0;
    srv.handlers.set(ENROLL, () => ({ node_key: `key-${++keys}` }));
    srv.handlers.set(READ, (r) =>
      r.body['node_key'] === 'key-1' ? { node_invalid: true } : { queries: {} },
    );
    const stats = new StatsCollector();
    const a = agent({ observer: stats });
    await a.start();
    await until(() => srv.to(READ).some((r) => r.body['node_key'] === 'key-2'));
    expect(srv.to(ENROLL)).toHaveLength(2);
    expect(a.nodeKey).toBe('key-2');
    expect(stats.snapshot(1, 1).events['reenroll']).toBeGreaterThanOrEqual(1);
    expect(stats.snapshot(1, 1).events['error_node_invalid']).toBeGreaterThanOrEqual(1);
  });

  it('counts a 503 from a busy server apart from other failures, and tries again', async () => {
    const srv = await startServer();
    let busy = 2;
    srv.status = (r) => (r.path === ENROLL && busy-- > 0 ? 503 : 200);
    const stats = new StatsCollector();
    const a = agent({ observer: stats });
    await a.start();
    expect(a.nodeKey).toBe('nk-1');
    const snap = stats.snapshot(1, 1);
    expect(snap.endpoints.enroll).toMatchObject({ requests: 3, errors: 2 });
    expect(snap.events['error_busy']).toBe(2);
    expect(snap.events['error_network']).toBeUndefined();
  });

  it('runs the schedule and ships differential and snapshot results, gzipped, with decorations', async () => {
    const srv = await startServer();
    srv.handlers.set(CONFIG, () => ({
      options: { distributed_interval: 60, logger_tls_period: 1, pack_delimiter: ':' },
      decorators: { load: ['SELECT uuid AS host_uuid FROM system_info'] },
      schedule: { clock: { query: 'SELECT unix_time FROM time', interval: 1, removed: false } },
      packs: {
        inv: {
          queries: { os: { query: 'SELECT name FROM os_version', interval: 1, snapshot: true } },
        },
      },
    }));
    const a = agent({ gzip: true });
    await a.start();
    const lines = (): Record<string, unknown>[] =>
      srv
        .to(LOG)
        .filter((r) => r.body['log_type'] === 'result')
        .flatMap((r) => r.body['data'] as Record<string, unknown>[]);
    await until(
      () =>
        lines().filter((l) => l['name'] === 'clock').length >= 3 &&
        lines().some((l) => l['name'] === 'pack:inv:os'),
    );
    const logs = srv.to(LOG);
    expect(logs.every((r) => r.headers['content-encoding'] === 'gzip')).toBe(true);
    const clock = lines().filter((l) => l['name'] === 'clock');
    expect(clock[0]).toMatchObject({
      counter: 0,
      action: 'added',
      epoch: 0,
      numerics: false,
      decorations: { host_uuid: a.host.uuid },
    });
    expect(clock.map((l) => l['counter'])).toEqual(clock.map((_, i) => i));
    // removed: false → time's old row is never reported as removed
    expect(clock.every((l) => l['action'] === 'added')).toBe(true);
    const snap = lines().find((l) => l['name'] === 'pack:inv:os');
    expect(snap).toMatchObject({ action: 'snapshot', snapshot: [{ name: 'Ubuntu' }], counter: 0 });
    const status = srv.to(LOG).find((r) => r.body['log_type'] === 'status');
    expect((status?.body['data'] as Record<string, unknown>[])[0]).toMatchObject({
      severity: 0,
      message: 'osquery initialized [version=5.23.1]',
    });
    const schedule = a.host.runtime.schedule.get('clock');
    expect(schedule?.executions).toBeGreaterThanOrEqual(3);
  });

  it('retries with backoff while the server is down and enrolls once it is back', async () => {
    const srv = await startServer();
    const port = srv.port;
    await srv.close();
    const stats = new StatsCollector();
    const a = agent({ observer: stats });
    const started = a.start();
    await until(() => stats.snapshot(1, 0).endpoints.enroll.errors >= 2, 6000);
    server = new FakeOsqueryServer(tls);
    await server.listen(port);
    await started;
    expect(a.nodeKey).toBe('nk-1');
    expect(stats.snapshot(1, 1).endpoints.enroll).toMatchObject({ requests: 3, errors: 2 });
    expect(stats.snapshot(1, 1).events['error_network']).toBe(2);
  });

  it('refuses a server whose certificate does not chain to the given CA', async () => {
    const srv = await startServer();
    const stranger = makeTlsFixture();
    const stats = new StatsCollector();
    const a = agent({ ca: stranger.caPem, observer: stats });
    void a.start();
    await until(() => stats.snapshot(1, 0).endpoints.enroll.errors >= 1);
    a.stop();
    expect(srv.requests).toHaveLength(0);
    expect(a.nodeKey).toBeUndefined();
  });

  it('checks in every 5 s while accelerated', async () => {
    const srv = await startServer();
    srv.handlers.set(CONFIG, () => ({ options: { distributed_interval: 600 } }));
    let first = true;
    srv.handlers.set(READ, () => {
      const answer = first ? { queries: {}, accelerate: 60 } : { queries: {} };
      first = false;
      return answer;
    });
    const a = agent();
    await a.start();
    await until(() => srv.to(READ).length >= 2, 7000);
    const [r1, r2] = srv.to(READ);
    // 5 s (osquery's acceleration interval) instead of the configured 600 s.
    expect((r2?.at ?? 0) - (r1?.at ?? 0)).toBeGreaterThan(4500);
    expect((r2?.at ?? 0) - (r1?.at ?? 0)).toBeLessThan(6500);
  }, 10_000);
});
