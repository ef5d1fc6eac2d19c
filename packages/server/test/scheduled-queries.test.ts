import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '@flotilla/db';
import { api, osqueryEnrollBody, setupAdmin, startTestServer, type TestServer } from './helpers.js';

describe.each(await testDialects())('scheduled queries and query reports on %s', (dialect) => {
  let s: TestServer;
  let token: string;
  const keys: string[] = [];
  const post = (url: string, payload: unknown) =>
    s.app.inject({
      method: 'POST',
      url,
      payload: payload as object,
      headers: { 'content-type': 'application/json' },
    });
  const line = (name: string, action: string, extra: Record<string, unknown>) => ({
    name,
    hostIdentifier: 'h',
    calendarTime: 'Tue Nov 24 04:12:35 2026 UTC',
    unixTime: 1795493555,
    epoch: 0,
    counter: 0,
    numerics: false,
    action,
    ...extra,
  });

  beforeAll(async () => {
    s = await startTestServer(dialect, {
      FLOTILLA_QUERY_REPORT_MAX_ROWS: '6',
      FLOTILLA_EVENT_STORE_MAX_ROWS: '5',
      FLOTILLA_LOG_RESULT_DESTINATIONS: 'none',
      FLOTILLA_LOG_STATUS_DESTINATIONS: 'none',
    });
    token = await setupAdmin(s.app);
    await api(s.app, token, 'POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: 'sched-secret-1' }] },
    });
    const team = (await api(s.app, token, 'POST', '/api/v1/fleet/teams', { name: 'Web' })).body[
      'team'
    ] as { id: number };
    await api(s.app, token, 'PATCH', `/api/v1/fleet/teams/${team.id}/secrets`, {
      secrets: [{ secret: 'sched-team-secret' }],
    });
    keys.push(
      (
        (await post('/api/osquery/enroll', osqueryEnrollBody('sched-secret-1', 1))).json() as {
          node_key: string;
        }
      ).node_key,
    );
    keys.push(
      (
        (await post('/api/osquery/enroll', osqueryEnrollBody('sched-team-secret', 2))).json() as {
          node_key: string;
        }
      ).node_key,
    );
    await api(s.app, token, 'POST', '/api/v1/fleet/queries', {
      name: 'listening',
      query: 'SELECT pid, port FROM listening_ports',
      interval: 300,
      logging: 'differential',
      platform: 'linux',
    });
    await api(s.app, token, 'POST', '/api/v1/fleet/queries', {
      name: 'users',
      query: 'SELECT username FROM users',
      interval: 3600,
      logging: 'snapshot',
    });
    await api(s.app, token, 'POST', '/api/v1/fleet/queries', {
      name: 'no-removals',
      query: 'SELECT name FROM processes',
      interval: 60,
      logging: 'differential_ignore_removals',
      min_osquery_version: '5.10.0',
    });
    await api(s.app, token, 'POST', '/api/v1/fleet/queries', {
      name: 'discarded',
      query: 'SELECT 1 AS one',
      interval: 60,
      discard_data: true,
      automations_enabled: true,
    });
    await api(s.app, token, 'POST', '/api/v1/fleet/queries', {
      name: 'nowhere',
      query: 'SELECT 2 AS two',
      interval: 60,
      discard_data: true,
    });
    await api(s.app, token, 'POST', '/api/v1/fleet/queries', {
      name: 'web only',
      query: 'SELECT 3 AS three',
      interval: 120,
      team_id: team.id,
    });
  });
  afterAll(async () => s.close());

  it('delivers scheduled queries as osquery packs, per team, with the keys and types osquery reads', async () => {
    const global = (await post('/api/v1/osquery/config', { node_key: keys[0] })).json() as {
      options: Record<string, unknown>;
      packs: Record<string, { queries: Record<string, Record<string, unknown>> }>;
    };
    expect(global.options['pack_delimiter']).toBe('/');
    expect(Object.keys(global.packs)).toEqual(['Global']);
    expect(global.packs['Global']!.queries).toEqual({
      listening: {
        query: 'SELECT pid, port FROM listening_ports',
        interval: 300,
        platform: 'linux',
      },
      users: { query: 'SELECT username FROM users', interval: 3600, snapshot: true },
      'no-removals': {
        query: 'SELECT name FROM processes',
        interval: 60,
        removed: false,
        version: '5.10.0',
      },
      discarded: { query: 'SELECT 1 AS one', interval: 60, snapshot: true },
    });
    const team = (await post('/api/v1/osquery/config', { node_key: keys[1] })).json() as {
      packs: Record<string, { queries: Record<string, unknown> }>;
    };
    expect(Object.keys(team.packs).sort()).toEqual(['Global', 'team-1']);
    expect(Object.keys(team.packs['team-1']!.queries)).toEqual(['web only']);
  });

  it('snapshot results replace a host report; differential ones add and remove rows; the cap clips', async () => {
    const host1 = (
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts?query=web-1.')).body['hosts'] as Array<{
        id: number;
      }>
    )[0]!.id;
    const queries = (await api(s.app, token, 'GET', '/api/v1/fleet/queries')).body[
      'queries'
    ] as Array<{ id: number; name: string }>;
    const id = (n: string) => queries.find((q) => q.name === n)!.id;
    const log = (data: unknown[]) =>
      post('/api/v1/osquery/log', { node_key: keys[0], log_type: 'result', data });

    expect(
      (
        await log([
          line('pack/Global/users', 'snapshot', {
            snapshot: [{ username: 'root' }, { username: 'ubuntu' }],
          }),
        ])
      ).statusCode,
    ).toBe(200);
    expect(
      (
        await log([
          line('pack/Global/users', 'snapshot', {
            snapshot: [{ username: 'root' }, { username: 'deploy' }, { username: 'backup' }],
          }),
        ])
      ).statusCode,
    ).toBe(200);
    let report = (await api(s.app, token, 'GET', `/api/v1/fleet/queries/${id('users')}/report`))
      .body;
    expect(
      (report['results'] as Array<{ host_id: number; columns: { username: string } }>)
        .map((r) => r.columns.username)
        .sort(),
    ).toEqual(['backup', 'deploy', 'root']);
    expect(report).toMatchObject({ query_id: id('users'), report_clipped: false });

    await log([
      line('pack/Global/listening', 'added', { columns: { pid: '1', port: '22' } }),
      line('pack/Global/listening', 'added', { columns: { pid: '2', port: '80' } }),
    ]);
    await log([
      line('pack/Global/listening', 'removed', { columns: { pid: '1', port: '22' } }),
      line('pack/Global/listening', 'added', { columns: { pid: '3', port: '443' } }),
    ]);
    const hostReport = (
      await api(s.app, token, 'GET', `/api/v1/fleet/hosts/${host1}/queries/${id('listening')}`)
    ).body;
    expect(
      (hostReport['results'] as Array<{ columns: { port: string } }>)
        .map((r) => r.columns.port)
        .sort(),
    ).toEqual(['443', '80']);
    expect(hostReport).toMatchObject({ host_id: host1, host_name: 'web-1', report_clipped: false });

    // The cap (6 rows per query in this test) clips the report and says so.
    await log(
      Array.from({ length: 10 }, (_, i) =>
        line('pack/Global/listening', 'added', {
          columns: { pid: String(100 + i), port: String(8000 + i) },
        }),
      ),
    );
    report = (await api(s.app, token, 'GET', `/api/v1/fleet/queries/${id('listening')}/report`))
      .body;
    expect(report['results']).toHaveLength(6);
    expect(report['report_clipped']).toBe(true);

    // discard_data keeps no report.
    await log([line('pack/Global/discarded', 'snapshot', { snapshot: [{ one: '1' }] })]);
    expect(
      (await api(s.app, token, 'GET', `/api/v1/fleet/queries/${id('discarded')}/report`)).body[
        'results'
      ],
    ).toEqual([]);
  });

  it('folds event-table results into a bounded, time-ordered store', async () => {
    const { query } = (
      await api(s.app, token, 'POST', '/api/v1/fleet/queries', {
        name: 'execs',
        query: 'SELECT pid, path, cmdline, time FROM process_events',
        interval: 60,
        logging: 'differential',
      })
    ).body as { query: { id: number } };
    const log = (data: unknown[]) =>
      post('/api/v1/osquery/log', { node_key: keys[0], log_type: 'result', data });
    // Out of order on the wire; stored and served by event time.
    const ev = (t: number) =>
      line('pack/Global/execs', 'added', {
        columns: {
          pid: String(t),
          path: '/usr/bin/curl',
          cmdline: 'curl x',
          time: String(1795490000 + t),
        },
      });
    expect((await log([ev(3), ev(1), ev(2)])).statusCode).toBe(200);
    let events = (await api(s.app, token, 'GET', `/api/v1/fleet/queries/${query.id}/events`)).body[
      'events'
    ] as Array<{ time: string; columns: { pid: string } }>;
    expect(events.map((e) => e.columns.pid)).toEqual(['1', '2', '3']);
    expect(events[0]!.time).toBe(
      new Date((1795490000 + 1) * 1000).toISOString().replace('.000Z', 'Z'),
    );
    await log([ev(4), ev(5), ev(6), ev(7)]);
    events = (await api(s.app, token, 'GET', `/api/v1/fleet/queries/${query.id}/events`)).body[
      'events'
    ] as typeof events;
    expect(events.map((e) => e.columns.pid)).toEqual(['3', '4', '5', '6', '7']); // bounded: the oldest went first
    const since = (
      await api(
        s.app,
        token,
        'GET',
        `/api/v1/fleet/queries/${query.id}/events?since=${encodeURIComponent(new Date((1795490000 + 6) * 1000).toISOString())}`,
      )
    ).body['events'] as typeof events;
    expect(since.map((e) => e.columns.pid)).toEqual(['6', '7']);
    // Event queries keep no report.
    expect(
      (await api(s.app, token, 'GET', `/api/v1/fleet/queries/${query.id}/report`)).body['results'],
    ).toEqual([]);
  });

  it('counts malformed, oversized, wrongly typed and unknown lines without losing the rest of the batch', async () => {
    const before = (await api(s.app, token, 'GET', '/api/v1/fleet/logging/status')).body as {
      accepted_lines: { result: number };
      rejected_lines: Record<string, number>;
      unknown_query_lines: number;
    };
    const r = await post('/api/v1/osquery/log', {
      node_key: keys[0],
      log_type: 'result',
      data: [
        '{"name": "pack/Global/users", "action": "snapshot", "snapshot": [], "hostIdentifier": "h"}',
        '{not json',
        42,
        ['an', 'array'],
        { action: 'added' },
        JSON.stringify({ name: 'pack/Global/users', pad: 'x'.repeat(1_100_000) }),
        line('pack/Global/does-not-exist', 'added', { columns: { a: '1' } }),
        line('pack/Global/listening', 'added', { columns: { pid: '9', port: '9' } }),
      ],
    });
    expect(r.statusCode).toBe(200);
    const after = (await api(s.app, token, 'GET', '/api/v1/fleet/logging/status'))
      .body as typeof before;
    expect(after.accepted_lines.result - before.accepted_lines.result).toBe(3);
    expect(after.rejected_lines['malformed']! - before.rejected_lines['malformed']!).toBe(2);
    expect(after.rejected_lines['wrong_type']! - before.rejected_lines['wrong_type']!).toBe(2);
    expect(after.rejected_lines['oversized']! - before.rejected_lines['oversized']!).toBe(1);
    expect(after.unknown_query_lines - before.unknown_query_lines).toBe(1);
    const metrics = await s.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/flotilla_log_lines_rejected_total\{reason="malformed"\} \d+/);
    expect(metrics.body).toMatch(/flotilla_osquery_requests_total\{endpoint="log"\} \d+/);
  });

  it('legacy packs: scheduled queries with shard/denylist/removed, targeted at hosts, labels and teams', async () => {
    const q = (
      (await api(s.app, token, 'GET', '/api/v1/fleet/queries')).body['queries'] as Array<{
        id: number;
        name: string;
      }>
    ).find((x) => x.name === 'users')!;
    const hosts = (await api(s.app, token, 'GET', '/api/v1/fleet/hosts?order_key=id')).body[
      'hosts'
    ] as Array<{ id: number; team_id: number | null }>;
    const created = await api(s.app, token, 'POST', '/api/v1/fleet/packs', {
      name: 'incident-response',
      description: 'IR',
      host_ids: [hosts[0]!.id],
    });
    expect(created.status).toBe(200);
    const pack = created.body['pack'] as { id: number; host_ids: number[]; query_count: number };
    expect(pack).toMatchObject({ host_ids: [hosts[0]!.id], query_count: 0 });
    const sched = await api(s.app, token, 'POST', '/api/v1/fleet/schedule', {
      pack_id: pack.id,
      query_id: q.id,
      interval: 120,
      shard: 25,
      denylist: false,
      removed: false,
      version: '5.0.0',
    });
    expect(sched.status).toBe(200);
    expect(sched.body['scheduled']).toMatchObject({
      name: 'users',
      interval: 120,
      shard: 25,
      denylist: false,
      removed: false,
      snapshot: null,
    });
    const cfg = (await post('/api/v1/osquery/config', { node_key: keys[0] })).json() as {
      packs: Record<string, { queries: Record<string, unknown> }>;
    };
    expect(cfg.packs['incident-response']!.queries['users']).toEqual({
      query: 'SELECT username FROM users',
      interval: 120,
      removed: false,
      version: '5.0.0',
      shard: 25,
      denylist: false,
    });
    expect(cfg.packs['Global']).toBeDefined();
    // The other host is not targeted until its team is.
    const other = (await post('/api/v1/osquery/config', { node_key: keys[1] })).json() as {
      packs: Record<string, unknown>;
    };
    expect(other.packs['incident-response']).toBeUndefined();
    await api(s.app, token, 'PATCH', `/api/v1/fleet/packs/${pack.id}`, {
      team_ids: [hosts[1]!.team_id!],
    });
    const now = (await post('/api/v1/osquery/config', { node_key: keys[1] })).json() as {
      packs: Record<string, unknown>;
    };
    expect(now.packs['incident-response']).toBeDefined();
    expect(
      (
        (await api(s.app, token, 'GET', `/api/v1/fleet/packs/${pack.id}/scheduled`)).body[
          'scheduled'
        ] as unknown[]
      ).length,
    ).toBe(1);
    expect(
      (await api(s.app, token, 'POST', '/api/v1/fleet/packs', { name: 'incident-response' }))
        .status,
    ).toBe(409);
    expect(
      (await api(s.app, token, 'DELETE', `/api/v1/fleet/packs/incident-response`)).status,
    ).toBe(200);
    const gone = (await post('/api/v1/osquery/config', { node_key: keys[0] })).json() as {
      packs: Record<string, unknown>;
    };
    expect(gone.packs['incident-response']).toBeUndefined();
  });

  it('records per-host schedule statistics and attaches status-log errors to their query', async () => {
    const host1 = (
      (await api(s.app, token, 'GET', '/api/v1/fleet/hosts?query=web-1.')).body['hosts'] as Array<{
        id: number;
      }>
    )[0]!.id;
    const read = (await post('/api/v1/osquery/distributed/read', { node_key: keys[0] })).json() as {
      queries: Record<string, string>;
    };
    expect(read.queries['fleet_schedule_stats_query']).toMatch(/FROM osquery_schedule/);
    await post('/api/v1/osquery/distributed/write', {
      node_key: keys[0],
      queries: {
        fleet_schedule_stats_query: [
          {
            name: 'pack/Global/users',
            interval: '3600',
            executions: '4',
            last_executed: '1795493555',
            denylisted: '1',
            output_size: '120',
            wall_time_ms: '35',
            user_time: '20',
            system_time: '5',
            average_memory: '2048',
          },
        ],
      },
      statuses: { fleet_schedule_stats_query: 0 },
    });
    await post('/api/v1/osquery/log', {
      node_key: keys[0],
      log_type: 'status',
      data: [
        {
          hostIdentifier: 'h',
          calendarTime: 'x',
          unixTime: '1795493555',
          severity: '2',
          filename: 'scheduler.cpp',
          line: '83',
          message:
            'Error executing scheduled query pack/Global/listening: no such table: listening_ports',
          version: '5.23.1',
        },
      ],
    });
    await new Promise((r) => setTimeout(r, 700));
    const stats = (
      await api(s.app, token, 'GET', `/api/v1/fleet/hosts/${host1}/scheduled_query_stats`)
    ).body['scheduled_query_stats'] as Array<Record<string, unknown>>;
    expect(stats.find((x) => x['scheduled_query_name'] === 'pack/Global/users')).toMatchObject({
      executions: 4,
      denylisted: true,
      wall_time_ms: 35,
      average_memory: 2048,
    });
    expect(stats.find((x) => x['scheduled_query_name'] === 'pack/Global/listening')).toMatchObject({
      last_error: expect.stringContaining('no such table: listening_ports') as unknown,
    });
  });
});
