import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '@flotilla/db';
import {
  api,
  detailAnswers,
  osqueryEnrollBody,
  setupAdmin,
  startTestServer,
  type TestServer,
} from './helpers.js';

const SECRET = 'global-secret-abcdef';

describe.each(await testDialects())('osquery TLS endpoints on %s', (dialect) => {
  let s: TestServer;
  let token: string;

  beforeAll(async () => {
    s = await startTestServer(dialect);
    token = await setupAdmin(s.app);
    expect(
      (
        await api(s.app, token, 'POST', '/api/v1/fleet/spec/enroll_secret', {
          spec: { secrets: [{ secret: SECRET }] },
        })
      ).status,
    ).toBe(200);
  });
  afterAll(async () => s.close());

  const post = (
    url: string,
    payload: unknown,
    headers: Record<string, string> = {},
    remoteAddress = '127.0.0.1',
  ) =>
    s.app.inject({
      method: 'POST',
      url,
      payload: payload as object,
      remoteAddress,
      headers: { 'content-type': 'application/json', ...headers },
    });

  it('enrolls with an osquery 5.x body and ingests host_details at once', async () => {
    const r = await post('/api/osquery/enroll', osqueryEnrollBody(SECRET, 1));
    expect(r.statusCode).toBe(200);
    const nodeKey = (r.json() as { node_key: string }).node_key;
    expect(nodeKey).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const list = await api(s.app, token, 'GET', '/api/v1/fleet/hosts');
    const host = (list.body['hosts'] as Array<Record<string, unknown>>).find(
      (h) => h['uuid'] === '4c4c4544-0046-5a10-8052-000000000001',
    )!;
    expect(host).toMatchObject({
      hostname: 'web-1.acme.internal',
      computer_name: 'web-1',
      platform: 'ubuntu',
      os_version: 'Ubuntu 22.04.3 LTS',
      osquery_version: '5.13.1',
      cpu_brand: 'Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz',
      cpu_physical_cores: 2,
      cpu_logical_cores: 4,
      memory: 16483926016,
      hardware_vendor: 'Amazon EC2',
      hardware_model: 'm5.xlarge',
      hardware_serial: 'ec2-serial-1',
      team_id: null,
    });
  });

  it('re-enrolling the same host updates it instead of duplicating it, and the old key dies', async () => {
    const first = (await post('/api/v1/osquery/enroll', osqueryEnrollBody(SECRET, 2))).json() as {
      node_key: string;
    };
    const before = (await api(s.app, token, 'GET', '/api/v1/fleet/hosts/count')).body['count'];
    const second = (await post('/api/v1/osquery/enroll', osqueryEnrollBody(SECRET, 2))).json() as {
      node_key: string;
    };
    expect(second.node_key).not.toBe(first.node_key);
    expect((await api(s.app, token, 'GET', '/api/v1/fleet/hosts/count')).body['count']).toBe(
      before,
    );
    const stale = await post('/api/v1/osquery/distributed/read', { node_key: first.node_key });
    expect(stale.statusCode).toBe(401);
    expect(stale.json()).toMatchObject({ node_invalid: true });
    expect(
      (await post('/api/v1/osquery/distributed/read', { node_key: second.node_key })).statusCode,
    ).toBe(200);
  });

  it('asks for vitals after enroll, ingests the answers, then has nothing to say', async () => {
    const { node_key } = (
      await post('/api/v1/osquery/enroll', osqueryEnrollBody(SECRET, 3))
    ).json() as { node_key: string };
    const read = (
      await post('/api/v1/osquery/distributed/read', {}, { authorization: `NodeKey ${node_key}` })
    ).json() as { queries: Record<string, string> };
    expect(Object.keys(read.queries)).toEqual(
      expect.arrayContaining([
        'fleet_detail_query_system_info',
        'fleet_detail_query_network_interface_unix',
        'fleet_detail_query_disk_space_unix',
        'fleet_detail_query_users',
      ]),
    );
    expect(Object.keys(read.queries)).not.toContain('fleet_detail_query_os_windows');
    const answers = detailAnswers(read.queries, 3);
    // osquery may send statuses as strings and "" for no rows.
    answers.statuses['fleet_detail_query_uptime'] = '0' as unknown as number;
    const w = await post('/api/v1/osquery/distributed/write', { node_key, ...answers });
    expect(w.statusCode).toBe(200);
    const again = (await post('/api/v1/osquery/distributed/read', { node_key })).json();
    expect(again).toEqual({ queries: {} });

    const id = (
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts?query=web-3')).body['hosts'] as Array<{
        id: number;
      }>
    )[0]!.id;
    const { body } = await api(s.app, token, 'GET', `/api/v1/fleet/hosts/${id}`);
    expect(body['host']).toMatchObject({
      primary_ip: '10.0.1.3',
      primary_mac: '0a:1b:2c:3d:4e:5f',
      kernel_version: '6.5.0-1014-aws',
      uptime: 266467e9,
      gigs_disk_space_available: 61.34,
      percent_disk_space_available: 61.5,
      disk_encryption_enabled: true,
      config_tls_refresh: 60,
      distributed_interval: 10,
      status: 'online',
      users: [
        { uid: 0, username: 'root', type: '', groupname: 'root', shell: '/bin/bash' },
        { uid: 1000, username: 'ubuntu', type: '', groupname: 'ubuntu', shell: '/bin/bash' },
      ],
    });
    expect((body['host'] as { detail_updated_at: string }).detail_updated_at).not.toBe(
      '0001-01-01T00:00:00Z',
    );

    // Refetch makes the vitals due again on the next check-in.
    expect((await api(s.app, token, 'POST', `/api/v1/fleet/hosts/${id}/refetch`)).status).toBe(200);
    const refetched = (await post('/api/v1/osquery/distributed/read', { node_key })).json() as {
      queries: Record<string, string>;
    };
    expect(Object.keys(refetched.queries)).toContain('fleet_detail_query_system_info');
  });

  it('refuses a wrong or missing enroll secret, and rate-limits repeated failures', async () => {
    const bad = await post(
      '/api/osquery/enroll',
      osqueryEnrollBody('wrong-secret-000', 9),
      {},
      '192.0.2.9',
    );
    expect(bad.statusCode).toBe(401);
    expect(bad.json()).toMatchObject({ node_invalid: true, code: 'ENROLL_SECRET_INVALID' });
    const missing = await post('/api/osquery/enroll', { host_identifier: 'x' }, {}, '192.0.2.9');
    expect(missing.statusCode).toBe(401);
    let last = 0;
    for (let i = 0; i < 40; i++)
      last = (
        await post('/api/osquery/enroll', osqueryEnrollBody('wrong-secret-000', 9), {}, '192.0.2.9')
      ).statusCode;
    expect(last).toBe(429);
    // Other addresses are unaffected.
    expect(
      (await post('/api/osquery/enroll', osqueryEnrollBody(SECRET, 11), {}, '192.0.2.10'))
        .statusCode,
    ).toBe(200);
    // The host list did not gain a host from any of this.
    const count = (await api(s.app, token, 'GET', '/api/v1/fleet/hosts?query=web-9')).body[
      'hosts'
    ] as unknown[];
    expect(count).toHaveLength(0);
  });

  it('serves agent options as config, with per-platform overrides and team options', async () => {
    const { node_key } = (
      await post('/api/v1/osquery/enroll', osqueryEnrollBody(SECRET, 4))
    ).json() as { node_key: string };
    const cfg = (await post('/api/v1/osquery/config', { node_key })).json() as {
      options: Record<string, unknown>;
      decorators: unknown;
    };
    expect(cfg.options['distributed_interval']).toBe(10);
    expect(cfg.decorators).toBeDefined();
    const patch = await api(s.app, token, 'PATCH', '/api/v1/fleet/config', {
      agent_options: {
        config: { options: { distributed_interval: 30 } },
        overrides: { platforms: { ubuntu: { options: { distributed_interval: 5 } } } },
      },
    });
    expect(patch.status).toBe(200);
    const cfg2 = (await post('/api/v1/osquery/config', { node_key })).json() as {
      options: Record<string, unknown>;
    };
    expect(cfg2.options['distributed_interval']).toBe(5);
    const team = (await api(s.app, token, 'POST', '/api/v1/fleet/teams', { name: 'Servers' })).body[
      'team'
    ] as { id: number };
    await api(s.app, token, 'POST', `/api/v1/fleet/teams/${team.id}/agent_options`, {
      config: { options: { distributed_interval: 42 } },
    });
    await api(s.app, token, 'PATCH', `/api/v1/fleet/teams/${team.id}/secrets`, {
      secrets: [{ secret: 'team-servers-secret' }],
    });
    const t = (
      await post('/api/v1/osquery/enroll', osqueryEnrollBody('team-servers-secret', 5))
    ).json() as { node_key: string };
    const cfg3 = (await post('/api/v1/osquery/config', { node_key: t.node_key })).json() as {
      options: Record<string, unknown>;
    };
    expect(cfg3.options['distributed_interval']).toBe(42);
    const host = (
      (await api(s.app, token, 'GET', `/api/v1/fleet/hosts?team_id=${team.id}`)).body[
        'hosts'
      ] as Array<Record<string, unknown>>
    )[0];
    expect(host).toMatchObject({
      hostname: 'web-5.acme.internal',
      team_id: team.id,
      team_name: 'Servers',
    });
    const invalid = await api(s.app, token, 'PATCH', '/api/v1/fleet/config', {
      agent_options: { config: { options: { distributed_interval: 'soon' } }, bogus: 1 },
    });
    expect(invalid.status).toBe(422);
    expect((invalid.body['errors'] as Array<{ name: string }>).map((e) => e.name)).toEqual(
      expect.arrayContaining(['bogus', 'config.options.distributed_interval']),
    );
  });

  it('accepts gzip bodies and keeps result and status logs', async () => {
    const { node_key } = (
      await post('/api/v1/osquery/enroll', osqueryEnrollBody(SECRET, 6))
    ).json() as { node_key: string };
    const logBody = {
      node_key,
      log_type: 'result',
      data: [
        {
          name: 'pack/Global/procs',
          hostIdentifier: 'web-6',
          calendarTime: 'Mon Nov 24 04:00:00 2026 UTC',
          unixTime: 1795492800,
          epoch: 0,
          counter: 1,
          numerics: false,
          decorations: { host_uuid: 'u' },
          columns: { pid: '1' },
          action: 'added',
        },
      ],
    };
    const r = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/log',
      payload: gzipSync(JSON.stringify(logBody)),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    expect(r.statusCode).toBe(200);
    expect(s.ctx.checkin.logIngest.pipeline.counters.accepted.result).toBeGreaterThanOrEqual(1);
    const bogus = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/log',
      payload: Buffer.from('not gzip at all'),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    expect(bogus.statusCode).toBe(400);
    const wrongType = await post('/api/v1/osquery/log', {
      node_key,
      log_type: 'snapshot',
      data: [],
    });
    expect(wrongType.statusCode).toBe(422);
  });

  it('rejects malformed JSON, gzip bombs and oversized bodies with clear errors', async () => {
    const bad = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/distributed/read',
      payload: '{"node_key": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'MALFORMED_JSON' });
    const bomb = gzipSync(
      Buffer.from(JSON.stringify({ node_key: 'x', pad: 'a'.repeat(2 * 1024 * 1024) })),
    );
    const big = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/distributed/read',
      payload: bomb,
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    expect(big.statusCode).toBe(413);
    const arr = await post('/api/v1/osquery/distributed/read', [1, 2, 3]);
    expect(arr.statusCode).toBe(400);
    // Garbage in a write only affects that host's own results.
    const { node_key } = (
      await post('/api/v1/osquery/enroll', osqueryEnrollBody(SECRET, 7))
    ).json() as { node_key: string };
    const junk = await post('/api/v1/osquery/distributed/write', {
      node_key,
      queries: { fleet_detail_query_system_info: 'garbage', x: [1, null, 'y'] },
      statuses: { fleet_detail_query_system_info: 'NaN' },
    });
    expect(junk.statusCode).toBe(200);
    expect(
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts?query=web-7')).body['hosts'],
    ).toHaveLength(1);
  });

  it('stores file carves and serves them through the API', async () => {
    const { node_key } = (
      await post('/api/v1/osquery/enroll', osqueryEnrollBody(SECRET, 8))
    ).json() as { node_key: string };
    const begin = await post('/api/v1/osquery/carve/begin', {
      node_key,
      block_count: '2',
      block_size: '5',
      carve_size: '9',
      carve_id: 'c-1',
      request_id: 'fleet_distributed_query_1',
    });
    expect(begin.statusCode).toBe(200);
    const { session_id } = begin.json() as { session_id: string };
    expect(
      (
        await post('/api/v1/osquery/carve/block', {
          block_id: '0',
          session_id,
          request_id: 'fleet_distributed_query_1',
          data: Buffer.from('hello').toString('base64'),
        })
      ).statusCode,
    ).toBe(200);
    expect(
      (
        await post('/api/v1/osquery/carve/block', {
          block_id: 1,
          session_id,
          data: Buffer.from('world').toString('base64'),
        })
      ).statusCode,
    ).toBe(200);
    expect(
      (await post('/api/v1/osquery/carve/block', { block_id: 2, session_id, data: '' })).statusCode,
    ).toBe(422);
    expect(
      (await post('/api/v1/osquery/carve/block', { block_id: 0, session_id: 'nope', data: '' }))
        .statusCode,
    ).toBe(404);
    const carves = (await api(s.app, token, 'GET', '/api/v1/fleet/carves')).body[
      'carves'
    ] as Array<{ id: number; max_block: number; carve_size: number }>;
    expect(carves[0]).toMatchObject({ max_block: 1, carve_size: 9 });
    const b1 = await api(s.app, token, 'GET', `/api/v1/fleet/carves/${carves[0]!.id}/block/1`);
    expect(Buffer.from(b1.body['data'] as string, 'base64').toString()).toBe('world');
  });

  it('records seen times in batches, not per request', async () => {
    const { node_key } = (
      await post('/api/v1/osquery/enroll', osqueryEnrollBody(SECRET, 10))
    ).json() as { node_key: string };
    const id = (
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts?query=web-10')).body['hosts'] as Array<{
        id: number;
      }>
    )[0]!.id;
    await s.ds.db
      .updateTable('host_seen_times')
      .set({ seen_time: 1 })
      .where('host_id', '=', id)
      .execute();
    await post('/api/v1/osquery/distributed/read', { node_key });
    // Nothing written synchronously…
    expect((await s.ds.hosts.get(id))!.seen_time).toBe(1);
    // …until the batch is flushed.
    await s.ctx.checkin.writes.flush();
    expect((await s.ds.hosts.get(id))!.seen_time).toBeGreaterThan(1);
  });
});
