import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, osqueryEnrollBody, setupAdmin, startTestServer, type TestServer } from './helpers.js';

type Who =
  | 'admin'
  | 'maintainer'
  | 'observer'
  | 'observer_plus'
  | 'gitops'
  | 'teamA_admin'
  | 'teamA_maintainer'
  | 'teamA_observer'
  | 'anonymous';
const PASSWORD = 'Sufficiently-long-1!';

describe('authorization: every role against every endpoint group', () => {
  let s: TestServer;
  const tokens = {} as Record<Who, string | undefined>;
  const hostIn = {} as Record<'A' | 'B' | 'none', number>;
  let teamA = 0;
  let teamB = 0;

  beforeAll(async () => {
    s = await startTestServer('sqlite');
    tokens.admin = await setupAdmin(s.app);
    teamA = (
      (await api(s.app, tokens.admin, 'POST', '/api/v1/fleet/teams', { name: 'A' })).body[
        'team'
      ] as { id: number }
    ).id;
    teamB = (
      (await api(s.app, tokens.admin, 'POST', '/api/v1/fleet/teams', { name: 'B' })).body[
        'team'
      ] as { id: number }
    ).id;
    const mk = async (who: Who, body: Record<string, unknown>) => {
      const email = `${who}@example.com`;
      const r = await api(s.app, tokens.admin, 'POST', '/api/v1/fleet/users/admin', {
        name: who,
        email,
        password: PASSWORD,
        ...body,
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      tokens[who] = (
        (await api(s.app, undefined, 'POST', '/api/v1/fleet/login', { email, password: PASSWORD }))
          .body as { token: string }
      ).token;
    };
    for (const r of ['maintainer', 'observer', 'observer_plus', 'gitops'] as const)
      await mk(r, { global_role: r });
    await mk('teamA_admin', { teams: [{ id: teamA, role: 'admin' }] });
    await mk('teamA_maintainer', { teams: [{ id: teamA, role: 'maintainer' }] });
    await mk('teamA_observer', { teams: [{ id: teamA, role: 'observer' }] });
    tokens.anonymous = undefined;
    await api(s.app, tokens.admin, 'POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: 'global-secret-1' }] },
    });
    await api(s.app, tokens.admin, 'PATCH', `/api/v1/fleet/teams/${teamA}/secrets`, {
      secrets: [{ secret: 'team-a-secret-1' }],
    });
    await api(s.app, tokens.admin, 'PATCH', `/api/v1/fleet/teams/${teamB}/secrets`, {
      secrets: [{ secret: 'team-b-secret-1' }],
    });
    const enroll = async (secret: string, n: number) => {
      await s.app.inject({
        method: 'POST',
        url: '/api/osquery/enroll',
        payload: osqueryEnrollBody(secret, n),
      });
      return (
        (await api(s.app, tokens.admin, 'GET', `/api/v1/fleet/hosts?query=web-${n}.`)).body[
          'hosts'
        ] as Array<{ id: number }>
      )[0]!.id;
    };
    hostIn.A = await enroll('team-a-secret-1', 1);
    hostIn.B = await enroll('team-b-secret-1', 2);
    hostIn.none = await enroll('global-secret-1', 3);
  });
  afterAll(async () => s.close());

  const everyone: Who[] = [
    'admin',
    'maintainer',
    'observer',
    'observer_plus',
    'gitops',
    'teamA_admin',
    'teamA_maintainer',
    'teamA_observer',
    'anonymous',
  ];
  const expectations: Array<{
    what: string;
    allowed: Who[];
    call: () => [method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown];
  }> = [
    {
      what: 'list hosts',
      allowed: [
        'admin',
        'maintainer',
        'observer',
        'observer_plus',
        'teamA_admin',
        'teamA_maintainer',
        'teamA_observer',
      ],
      call: () => ['GET', '/api/v1/fleet/hosts'],
    },
    {
      what: 'read a team A host',
      allowed: [
        'admin',
        'maintainer',
        'observer',
        'observer_plus',
        'teamA_admin',
        'teamA_maintainer',
        'teamA_observer',
      ],
      call: () => ['GET', `/api/v1/fleet/hosts/${hostIn.A}`],
    },
    {
      what: 'read a team B host',
      allowed: ['admin', 'maintainer', 'observer', 'observer_plus'],
      call: () => ['GET', `/api/v1/fleet/hosts/${hostIn.B}`],
    },
    {
      what: 'read a host in no team',
      allowed: ['admin', 'maintainer', 'observer', 'observer_plus'],
      call: () => ['GET', `/api/v1/fleet/hosts/${hostIn.none}`],
    },
    {
      what: 'refetch a team A host',
      allowed: [
        'admin',
        'maintainer',
        'observer',
        'observer_plus',
        'teamA_admin',
        'teamA_maintainer',
        'teamA_observer',
      ],
      call: () => ['POST', `/api/v1/fleet/hosts/${hostIn.A}/refetch`],
    },
    {
      what: 'transfer a team A host to team A',
      allowed: ['admin', 'maintainer', 'teamA_admin', 'teamA_maintainer'],
      call: () => ['POST', '/api/v1/fleet/hosts/transfer', { team_id: teamA, hosts: [hostIn.A] }],
    },
    {
      what: 'list users',
      allowed: ['admin', 'teamA_admin'],
      call: () => ['GET', '/api/v1/fleet/users'],
    },
    {
      what: 'create a global user',
      allowed: ['admin'],
      call: () => [
        'POST',
        '/api/v1/fleet/users/admin',
        {
          name: 'x',
          email: `x${Math.random()}@example.com`,
          password: PASSWORD,
          global_role: 'observer',
        },
      ],
    },
    {
      what: 'create a team A user',
      allowed: ['admin', 'teamA_admin'],
      call: () => [
        'POST',
        '/api/v1/fleet/users/admin',
        {
          name: 'y',
          email: `y${Math.random()}@example.com`,
          password: PASSWORD,
          teams: [{ id: teamA, role: 'observer' }],
        },
      ],
    },
    {
      what: 'read team B',
      allowed: ['admin', 'maintainer', 'observer', 'observer_plus', 'gitops'],
      call: () => ['GET', `/api/v1/fleet/teams/${teamB}`],
    },
    {
      what: 'create a team',
      allowed: ['admin', 'gitops'],
      call: () => ['POST', '/api/v1/fleet/teams', { name: `T${Math.random()}` }],
    },
    {
      what: 'read global enroll secrets',
      allowed: ['admin', 'maintainer', 'gitops'],
      call: () => ['GET', '/api/v1/fleet/spec/enroll_secret'],
    },
    {
      what: 'read team A enroll secrets',
      allowed: ['admin', 'maintainer', 'gitops', 'teamA_admin', 'teamA_maintainer'],
      call: () => ['GET', `/api/v1/fleet/teams/${teamA}/secrets`],
    },
    {
      what: 'modify global enroll secrets',
      allowed: ['admin', 'maintainer', 'gitops'],
      call: () => [
        'POST',
        '/api/v1/fleet/spec/enroll_secret',
        { spec: { secrets: [{ secret: 'global-secret-1' }] } },
      ],
    },
    {
      what: 'team A agent options',
      allowed: ['admin', 'gitops', 'teamA_admin'],
      call: () => [
        'POST',
        `/api/v1/fleet/teams/${teamA}/agent_options`,
        { config: { options: { distributed_interval: 10 } } },
      ],
    },
    {
      what: 'list activities',
      allowed: ['admin', 'maintainer', 'observer', 'observer_plus'],
      call: () => ['GET', '/api/v1/fleet/activities'],
    },
    {
      what: 'read settings',
      allowed: ['admin', 'maintainer', 'observer', 'observer_plus', 'gitops'],
      call: () => ['GET', '/api/v1/fleet/config'],
    },
    {
      what: 'modify settings',
      allowed: ['admin', 'gitops'],
      call: () => ['PATCH', '/api/v1/fleet/config', { org_info: { org_name: 'Acme' } }],
    },
    {
      what: 'list carves',
      allowed: ['admin', 'maintainer', 'teamA_admin', 'teamA_maintainer'],
      call: () => ['GET', '/api/v1/fleet/carves'],
    },
    {
      what: 'read own account (me)',
      allowed: [
        'admin',
        'maintainer',
        'observer',
        'observer_plus',
        'gitops',
        'teamA_admin',
        'teamA_maintainer',
        'teamA_observer',
      ],
      call: () => ['GET', '/api/v1/fleet/me'],
    },
  ];

  for (const e of expectations) {
    it(`${e.what}: allowed for ${e.allowed.join(', ')}; denied for the rest`, async () => {
      for (const who of everyone) {
        const [method, url, body] = e.call();
        const r = await api(s.app, tokens[who], method, url, body);
        const expected = e.allowed.includes(who) ? 200 : who === 'anonymous' ? 401 : 403;
        expect(r.status, `${who} ${method} ${url}: ${JSON.stringify(r.body)}`).toBe(expected);
      }
    });
  }

  it('a team user sees only their team hosts, and filtering another team is refused', async () => {
    const seen = (await api(s.app, tokens.teamA_observer, 'GET', '/api/v1/fleet/hosts')).body[
      'hosts'
    ] as Array<{ id: number }>;
    expect(seen.map((h) => h.id)).toEqual([hostIn.A]);
    expect(
      (await api(s.app, tokens.teamA_observer, 'GET', '/api/v1/fleet/hosts/count')).body['count'],
    ).toBe(1);
    expect(
      (await api(s.app, tokens.teamA_observer, 'GET', `/api/v1/fleet/hosts?team_id=${teamB}`))
        .status,
    ).toBe(403);
    expect(
      (await api(s.app, tokens.teamA_observer, 'GET', `/api/v1/fleet/host_summary`)).body[
        'totals_hosts_count'
      ],
    ).toBe(1);
    const global = (await api(s.app, tokens.observer, 'GET', '/api/v1/fleet/hosts')).body[
      'hosts'
    ] as unknown[];
    expect(global).toHaveLength(3);
  });
});

describe('the authorization backstop', () => {
  it('fails a route that forgot its permission check, and lets checked routes through', async () => {
    const s = await startTestServer('sqlite', {}, (app) => {
      app.get('/api/v1/fleet/forgot-check', async () => ({ secret: 'data' }));
      app.get('/api/v1/fleet/checked', async (req) => {
        req.authorize('read', { type: 'host' });
        return { ok: true };
      });
    });
    try {
      const token = await setupAdmin(s.app);
      const forgot = await api(s.app, token, 'GET', '/api/v1/fleet/forgot-check');
      expect(forgot.status).toBe(500);
      expect(forgot.body).toMatchObject({ code: 'AUTHZ_CHECK_MISSING' });
      expect(JSON.stringify(forgot.body)).not.toContain('data');
      expect((await api(s.app, token, 'GET', '/api/v1/fleet/checked')).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});
