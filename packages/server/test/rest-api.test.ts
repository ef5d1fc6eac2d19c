import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '@flotilla/db';
import {
  ADMIN,
  api,
  osqueryEnrollBody,
  setupAdmin,
  startTestServer,
  type TestServer,
} from './helpers.js';

describe.each(await testDialects())('REST API on %s', (dialect) => {
  let s: TestServer;
  let token: string;

  beforeAll(async () => {
    s = await startTestServer(dialect, { FLOTILLA_LOGIN_RATE_PER_MINUTE: '5' });
    token = await setupAdmin(s.app);
    await api(s.app, token, 'POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: 'rest-secret-123' }] },
    });
    for (let n = 1; n <= 12; n++)
      await s.app.inject({
        method: 'POST',
        url: '/api/osquery/enroll',
        payload: osqueryEnrollBody('rest-secret-123', n),
      });
  });
  afterAll(async () => s.close());

  it('setup runs once; login, me and logout work; a logged-out token is dead', async () => {
    const again = await s.app.inject({
      method: 'POST',
      url: '/api/v1/setup',
      payload: { admin: { email: 'b@example.com', name: 'B', password: ADMIN.password } },
    });
    expect(again.statusCode).toBe(409);
    const login = await api(s.app, undefined, 'POST', '/api/v1/fleet/login', {
      email: ADMIN.email,
      password: ADMIN.password,
    });
    expect(login.status).toBe(200);
    const t = login.body['token'] as string;
    expect((await api(s.app, t, 'GET', '/api/latest/fleet/me')).body['user']).toMatchObject({
      email: ADMIN.email,
      global_role: 'admin',
      teams: [],
    });
    expect((await api(s.app, t, 'POST', '/api/v1/fleet/logout')).status).toBe(200);
    expect((await api(s.app, t, 'GET', '/api/v1/fleet/me')).status).toBe(401);
  });

  it('rate-limits failed logins and never says whether the account exists', async () => {
    const wrong = await api(s.app, undefined, 'POST', '/api/v1/fleet/login', {
      email: 'nobody@example.com',
      password: 'x',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body['message']).toBe('Authentication failed');
    let status = 0;
    for (let i = 0; i < 6; i++)
      status = (
        await s.app.inject({
          method: 'POST',
          url: '/api/v1/fleet/login',
          remoteAddress: '198.51.100.7',
          payload: { email: ADMIN.email, password: 'wrong-password-1!' },
        })
      ).statusCode;
    expect(status).toBe(429);
    const blocked = await s.app.inject({
      method: 'POST',
      url: '/api/v1/fleet/login',
      remoteAddress: '198.51.100.7',
      payload: { email: ADMIN.email, password: ADMIN.password },
    });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toBeDefined();
  });

  it('enforces password strength and stores only scrypt hashes', async () => {
    const weak = await api(s.app, token, 'POST', '/api/v1/fleet/users/admin', {
      name: 'W',
      email: 'weak@example.com',
      password: 'short',
      global_role: 'observer',
    });
    expect(weak.status).toBe(422);
    expect((weak.body['errors'] as Array<{ reason: string }>).map((e) => e.reason)).toEqual(
      expect.arrayContaining([
        'must be at least 12 characters',
        'must contain a number',
        'must contain a symbol',
      ]),
    );
    const ok = await api(s.app, token, 'POST', '/api/v1/fleet/users/admin', {
      name: 'Obs',
      email: 'obs@example.com',
      password: 'Observer-pass-99',
      global_role: 'observer',
    });
    expect(ok.status).toBe(200);
    const row = await s.ds.db
      .selectFrom('users')
      .select('password_hash')
      .where('email', '=', 'obs@example.com')
      .executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^scrypt\$/);
    expect(row.password_hash).not.toContain('Observer-pass-99');
  });

  it('API-only users get a token that works and cannot log in with a password', async () => {
    const r = await api(s.app, token, 'POST', '/api/v1/fleet/users/admin', {
      name: 'CI bot',
      email: 'bot@example.com',
      global_role: 'observer',
      api_only: true,
    });
    expect(r.status).toBe(200);
    const apiToken = r.body['token'] as string;
    expect((await api(s.app, apiToken, 'GET', '/api/v1/fleet/hosts')).status).toBe(200);
    expect(
      (
        await api(s.app, undefined, 'POST', '/api/v1/fleet/login', {
          email: 'bot@example.com',
          password: 'anything-1!',
        })
      ).status,
    ).toBe(401);
  });

  it('edits roles and deletes users, writing an activity for each', async () => {
    const u = (
      await api(s.app, token, 'POST', '/api/v1/fleet/users/admin', {
        name: 'Role',
        email: 'role@example.com',
        password: 'Role-change-1234',
        global_role: 'observer',
      })
    ).body['user'] as { id: number };
    const team = (await api(s.app, token, 'POST', '/api/v1/fleet/teams', { name: 'Ops' })).body[
      'team'
    ] as { id: number };
    const edit = await api(s.app, token, 'PATCH', `/api/v1/fleet/users/${u.id}`, {
      global_role: null,
      teams: [{ id: team.id, role: 'maintainer' }],
    });
    expect(edit.status).toBe(200);
    expect(edit.body['user']).toMatchObject({
      global_role: null,
      teams: [{ id: team.id, name: 'Ops', role: 'maintainer' }],
    });
    expect(
      (
        await api(s.app, token, 'PATCH', `/api/v1/fleet/users/${u.id}`, {
          global_role: 'superuser',
        })
      ).status,
    ).toBe(400);
    expect((await api(s.app, token, 'DELETE', `/api/v1/fleet/users/${u.id}`)).status).toBe(200);
    expect((await api(s.app, token, 'GET', `/api/v1/fleet/users/${u.id}`)).status).toBe(404);
    const acts = (await api(s.app, token, 'GET', '/api/v1/fleet/activities?per_page=50')).body;
    const types = (acts['activities'] as Array<{ type: string; actor_email: string }>).map(
      (a) => a.type,
    );
    expect(types).toEqual(
      expect.arrayContaining([
        'created_user',
        'changed_user_role',
        'deleted_user',
        'created_team',
        'edited_enroll_secrets',
        'user_logged_in',
      ]),
    );
    expect((acts['activities'] as Array<{ actor_email: string }>)[0]!.actor_email).toBe(
      ADMIN.email,
    );
    expect(acts['meta']).toMatchObject({ has_previous_results: false });
  });

  it('lists hosts with filters, ordering, pagination and count', async () => {
    const page0 = (
      await api(
        s.app,
        token,
        'GET',
        '/api/v1/fleet/hosts?per_page=5&page=0&order_key=hostname&order_direction=desc',
      )
    ).body['hosts'] as Array<{ hostname: string }>;
    const page1 = (
      await api(
        s.app,
        token,
        'GET',
        '/api/v1/fleet/hosts?per_page=5&page=1&order_key=hostname&order_direction=desc',
      )
    ).body['hosts'] as Array<{ hostname: string }>;
    expect(page0).toHaveLength(5);
    expect(page1).toHaveLength(5);
    const names = [...page0, ...page1].map((h) => h.hostname);
    expect(names).toEqual([...names].sort().reverse());
    expect(new Set(names).size).toBe(10);
    expect((await api(s.app, token, 'GET', '/api/v1/fleet/hosts/count')).body['count']).toBe(12);
    expect(
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts/count?query=WEB-1')).body['count'],
    ).toBe(4); // web-1, web-10, web-11, web-12
    expect(
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts/count?query=ec2-serial-7')).body[
        'count'
      ],
    ).toBe(1);
    expect(
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts/count?query=%25')).body['count'],
    ).toBe(0);
    expect(
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts/count?status=online')).body['count'],
    ).toBe(12);
    expect(
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts/count?status=new')).body['count'],
    ).toBe(12);
    expect(
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts/count?status=missing')).body['count'],
    ).toBe(0);
    // A host last seen long ago is offline.
    const first = (await api(s.app, token, 'GET', '/api/v1/fleet/hosts?query=web-2.')).body[
      'hosts'
    ] as Array<{ id: number }>;
    await s.ctx.checkin.writes.flush();
    await s.ds.db
      .updateTable('host_seen_times')
      .set({ seen_time: Date.now() - 3600_000 })
      .where('host_id', '=', first[0]!.id)
      .execute();
    expect(
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts/count?status=offline')).body['count'],
    ).toBe(1);
    const summary = (await api(s.app, token, 'GET', '/api/v1/fleet/host_summary')).body;
    expect(summary).toMatchObject({
      totals_hosts_count: 12,
      online_count: 11,
      offline_count: 1,
      all_linux_count: 12,
      platforms: [{ platform: 'ubuntu', hosts_count: 12 }],
    });
    const byUuid = await api(
      s.app,
      token,
      'GET',
      '/api/v1/fleet/hosts/identifier/4c4c4544-0046-5a10-8052-000000000004',
    );
    expect(byUuid.body['host']).toMatchObject({ hostname: 'web-4.acme.internal' });
  });

  it('rejects garbage filters and unknown fields with clear 4xx errors', async () => {
    for (const q of [
      'page=-1',
      'per_page=abc',
      'status=sleeping',
      'order_direction=sideways',
      'order_key=password_hash',
      'team_id=x',
    ]) {
      const r = await api(s.app, token, 'GET', `/api/v1/fleet/hosts?${q}`);
      expect(r.status, q).toBeGreaterThanOrEqual(400);
      expect(r.status, q).toBeLessThan(500);
      expect(r.body['code'], q).toMatch(/BAD_REQUEST|INVALID_ARGUMENT/);
    }
    const unknown = await api(s.app, token, 'POST', '/api/v1/fleet/teams', {
      name: 'X',
      colour: 'red',
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body['errors']).toEqual([{ name: 'colour', reason: 'unknown field' }]);
    const notJson = await s.app.inject({
      method: 'POST',
      url: '/api/v1/fleet/teams',
      payload: '{oops',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    expect(notJson.statusCode).toBe(400);
    const huge = await s.app.inject({
      method: 'POST',
      url: '/api/v1/fleet/teams',
      payload: JSON.stringify({ name: 'a'.repeat(2 * 1024 * 1024) }),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    expect(huge.statusCode).toBe(413);
    expect((await api(s.app, token, 'GET', '/api/v1/fleet/hosts/999999')).status).toBe(404);
    expect((await api(s.app, token, 'GET', '/api/v1/fleet/no-such-thing')).status).toBe(404);
  });

  it('transfers hosts between teams and deletes hosts; a deleted host must re-enroll', async () => {
    const team = (await api(s.app, token, 'POST', '/api/v1/fleet/teams', { name: 'Web' })).body[
      'team'
    ] as { id: number };
    const hosts = (await api(s.app, token, 'GET', '/api/v1/fleet/hosts?query=web-5.')).body[
      'hosts'
    ] as Array<{ id: number }>;
    expect(
      (
        await api(s.app, token, 'POST', '/api/v1/fleet/hosts/transfer', {
          team_id: team.id,
          hosts: [hosts[0]!.id],
        })
      ).status,
    ).toBe(200);
    expect(
      (await api(s.app, token, 'GET', `/api/v1/fleet/hosts/${hosts[0]!.id}`)).body['host'],
    ).toMatchObject({ team_id: team.id, team_name: 'Web' });
    expect(
      (await api(s.app, token, 'GET', `/api/v1/fleet/teams/${team.id}`)).body['team'],
    ).toMatchObject({ host_count: 1 });

    const enrolled = await s.app.inject({
      method: 'POST',
      url: '/api/osquery/enroll',
      payload: osqueryEnrollBody('rest-secret-123', 40),
    });
    const nodeKey = (enrolled.json() as { node_key: string }).node_key;
    const h = (
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts?query=web-40')).body['hosts'] as Array<{
        id: number;
      }>
    )[0]!;
    expect((await api(s.app, token, 'DELETE', `/api/v1/fleet/hosts/${h.id}`)).status).toBe(200);
    const read = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/distributed/read',
      payload: { node_key: nodeKey },
    });
    expect(read.statusCode).toBe(401);
    expect(read.json()).toMatchObject({ node_invalid: true });
  });
});
