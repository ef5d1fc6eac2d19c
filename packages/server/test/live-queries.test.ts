import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ApiError } from '@flotilla/api';
import { FlotillaClient } from '@flotilla/api';
import { runFleet } from '@flotilla/simulator';
import { loadConfig, startServer, type RunningServer } from '../src/index.js';
import { streamCampaign, waitUntil } from './helpers.js';

const HOSTS = 24;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('live queries, saved queries and labels on simulated hosts (in-process bus)', () => {
  let dir: string;
  let server: RunningServer;
  let admin: FlotillaClient;
  let ca: string;
  let wsUrl: string;
  const abort = new AbortController();
  let fleet: Promise<unknown>;
  let labelId: (name: string) => Promise<number>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-live-'));
    server = await startServer(
      loadConfig({
        env: {
          FLOTILLA_DATA_DIR: dir,
          FLOTILLA_PORT: '0',
          FLOTILLA_HOST: '127.0.0.1',
          FLOTILLA_LOG_LEVEL: 'warn',
          FLOTILLA_SEEN_FLUSH_INTERVAL_MS: '200',
          // Low enough for one test to reach; the other campaigns here stay under it.
          FLOTILLA_LIVE_QUERY_MAX_ROWS: '100',
        },
      }),
    );
    ca = readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8');
    const url = server.url.replace('localhost', '127.0.0.1');
    wsUrl = `${url.replace('https', 'wss')}/api/v1/fleet/results/websocket`;
    admin = new FlotillaClient({ serverUrl: url, ca });
    await admin.setup({ email: 'admin@example.com', name: 'Admin', password: 'Live-queries-1!' });
    await admin.request('POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: 'live-secret-123' }] },
    });
    await admin.request('PATCH', '/api/v1/fleet/config', {
      agent_options: {
        config: { options: { distributed_interval: 1, config_refresh: 5, logger_tls_period: 5 } },
      },
    });
    fleet = runFleet({
      hosts: HOSTS,
      server: url,
      enrollSecret: 'live-secret-123',
      caPem: ca,
      workers: 0,
      signal: abort.signal,
      startSpreadSeconds: 1,
      profiles: { 'ubuntu-22.04': 2, 'rhel-9': 1, 'debian-12': 1 },
    });
    labelId = async (name) =>
      (
        await admin.request<{ labels: Array<{ id: number; name: string }> }>(
          'GET',
          '/api/v1/fleet/labels',
        )
      ).labels.find((l) => l.name === name)!.id;
    const all = await labelId('All Hosts');
    await waitUntil(
      'all hosts in the All Hosts label',
      async () =>
        (
          await admin.request<{ label: { host_count: number } }>(
            'GET',
            `/api/v1/fleet/labels/${all}`,
          )
        ).label.host_count === HOSTS,
    );
  }, 120_000);

  afterAll(async () => {
    abort.abort();
    await fleet;
    admin.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('built-in labels reflect each host platform', async () => {
    const { labels } = await admin.request<{
      labels: Array<{ name: string; host_count: number; label_type: string }>;
    }>('GET', '/api/v1/fleet/labels');
    const count = (n: string) => labels.find((l) => l.name === n)!.host_count;
    expect(count('Ubuntu Linux')).toBe(12);
    expect(count('Red Hat Linux')).toBe(6);
    expect(count('Debian Linux')).toBe(6);
    expect(count('All Linux')).toBe(HOSTS);
    expect(count('macOS')).toBe(0);
    const { hosts } = await admin.request<{ hosts: Array<{ platform: string }> }>(
      'GET',
      `/api/v1/fleet/labels/${await labelId('Ubuntu Linux')}/hosts`,
    );
    expect(hosts.every((h) => h.platform === 'ubuntu')).toBe(true);
  });

  it('a new dynamic label is evaluated at once; manual labels hold listed hosts; both filter the host list', async () => {
    const { label } = await admin.request<{ label: { id: number } }>(
      'POST',
      '/api/v1/fleet/labels',
      {
        name: 'Has root shell',
        query: "SELECT 1 FROM users WHERE username = 'root' AND shell LIKE '%sh'",
      },
    );
    await waitUntil(
      'dynamic label evaluated',
      async () =>
        (
          await admin.request<{ label: { host_count: number } }>(
            'GET',
            `/api/v1/fleet/labels/${label.id}`,
          )
        ).label.host_count === HOSTS,
    );
    const ubuntu = (
      await admin.request<{ hosts: Array<{ id: number; hostname: string }> }>(
        'GET',
        `/api/v1/fleet/labels/${await labelId('Ubuntu Linux')}/hosts`,
      )
    ).hosts;
    const staging = await admin.request<{
      label: { id: number; host_count: number; label_membership_type: string };
    }>('POST', '/api/v1/fleet/labels', {
      name: 'staging',
      hosts: [ubuntu[0]!.hostname],
      host_ids: [ubuntu[1]!.id],
    });
    expect(staging.label).toMatchObject({ host_count: 2, label_membership_type: 'manual' });
    const filtered = await admin.listHosts({ label_id: staging.label.id });
    expect(filtered.hosts.map((h) => h['id']).sort()).toEqual(
      [ubuntu[0]!.id, ubuntu[1]!.id].sort(),
    );
    const detail = await admin.getHost(ubuntu[0]!.id);
    expect((detail.host['labels'] as Array<{ name: string }>).map((l) => l.name)).toEqual(
      expect.arrayContaining(['All Hosts', 'Ubuntu Linux', 'staging', 'Has root shell']),
    );
  });

  it('a campaign on "Ubuntu and not staging" streams every answer over the websocket', async () => {
    const ubuntu = await labelId('Ubuntu Linux');
    const staging = await labelId('staging');
    const { campaign } = await admin.request<{
      campaign: { id: number; Metrics: { TotalHosts: number; OnlineHosts: number } };
    }>('POST', '/api/v1/fleet/queries/run', {
      query: 'SELECT hostname, cpu_brand FROM system_info',
      selected: { labels: [ubuntu], labels_exclude: [staging] },
    });
    expect(campaign.Metrics.TotalHosts).toBe(10);
    const { results, totals } = await streamCampaign(wsUrl, ca, admin.token!, campaign.id);
    expect(totals).toMatchObject({ count: 10, online: 10 });
    expect(results).toHaveLength(10);
    for (const r of results) {
      expect(r.error).toBeNull();
      expect(r.rows).toHaveLength(1);
      expect(r.rows[0]!['hostname']).toBe(r.host.hostname);
    }
    const stagingHosts = (await admin.listHosts({ label_id: staging })).hosts.map((h) => h['id']);
    expect(results.some((r) => stagingHosts.includes(r.host.id))).toBe(false);
    const acts = await admin.request<{
      activities: Array<{ type: string; details: Record<string, unknown> }>;
    }>('GET', '/api/v1/fleet/activities?type=live_query');
    expect(acts.activities[0]!.details).toMatchObject({
      targets_count: 10,
      query_sql: 'SELECT hostname, cpu_brand FROM system_info',
    });
  });

  it('a campaign stops collecting rows at the configured cap, says so, and still counts every host', async () => {
    const { campaign } = await admin.request<{ campaign: { id: number } }>(
      'POST',
      '/api/v1/fleet/queries/run',
      {
        // 7 rows from each of 24 hosts: 168, over the cap of 100 set for this server.
        query:
          'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 7) SELECT x FROM n',
        selected: { labels: [await labelId('All Hosts')] },
      },
    );
    const notice =
      'result limit of 100 rows reached: further rows are dropped (hosts are still counted)';
    const live = await streamCampaign(wsUrl, ca, admin.token!, campaign.id);
    expect(live.results).toHaveLength(HOSTS);
    expect(live.results.reduce((n, r) => n + r.rows.length, 0)).toBe(100);
    expect(live.results.filter((r) => r.rows.length === 0)).toHaveLength(HOSTS - 15);
    expect(live.messages.filter((m) => m.type === 'error').map((m) => m.data)).toEqual([notice]);
    expect(live.messages.at(-1)).toMatchObject({
      type: 'status',
      data: { expected_results: HOSTS, actual_results: HOSTS, status: 'finished' },
    });
    // A client that joins after the fact is told too, where it happened (live clients get
    // progress statuses while results arrive; a replay gives one at the end).
    const late = await streamCampaign(wsUrl, ca, admin.token!, campaign.id);
    const kinds = (ms: Array<{ type: string }>) =>
      ms.map((m) => m.type).filter((t) => t !== 'status');
    expect(kinds(late.messages)).toEqual(kinds(live.messages));
    expect(late.results.reduce((n, r) => n + r.rows.length, 0)).toBe(100);
  });

  it('per-host errors come back as osquery reports them', async () => {
    const rhel = await labelId('Red Hat Linux');
    const { campaign } = await admin.request<{ campaign: { id: number } }>(
      'POST',
      '/api/v1/fleet/queries/run',
      { query: 'SELECT name, bundle_version FROM apps', selected: { labels: [rhel] } },
    );
    const { results } = await streamCampaign(wsUrl, ca, admin.token!, campaign.id);
    expect(results).toHaveLength(6);
    // Linux hosts have no macOS `apps` table: osquery answers with an error, not rows.
    expect(results.every((r) => r.error === 'no such table: apps' && r.rows.length === 0)).toBe(
      true,
    );
  });

  it('refuses bad SQL before anything reaches a host, with positions', async () => {
    const run = async (query: string) => {
      try {
        await admin.request('POST', '/api/v1/fleet/queries/run', {
          query,
          selected: { labels: [await labelId('All Hosts')] },
        });
        return undefined;
      } catch (e) {
        return e as ApiError;
      }
    };
    const syntax = await run('SELEC * FROM users');
    expect(syntax?.status).toBe(422);
    expect(JSON.stringify(syntax?.body)).toMatch(/syntax error.*line 1, column 1/);
    const table = await run('SELECT * FROM no_such_table');
    expect(JSON.stringify(table?.body)).toMatch(/no such table: no_such_table/);
    const write = await run("DELETE FROM users WHERE username = 'root'");
    expect(write?.status).toBe(422);
    const none = await run('SELECT 1');
    expect(none).toBeUndefined(); // a good query passes
  });

  it('saved queries: create, run synchronously, ask one host, update, delete', async () => {
    const { query } = await admin.request<{
      query: { id: number; observer_can_run: boolean; author_email: string };
    }>('POST', '/api/v1/fleet/queries', {
      name: 'kernel',
      query: 'SELECT version FROM kernel_info',
      observer_can_run: true,
      description: 'kernel version',
    });
    expect(query).toMatchObject({ observer_can_run: true, author_email: 'admin@example.com' });
    const dup = await admin
      .request('POST', '/api/v1/fleet/queries', { name: 'kernel', query: 'SELECT 1' })
      .catch((e: ApiError) => e.status);
    expect(dup).toBe(409);
    const ids = (await admin.listHosts({ per_page: 3 })).hosts.map((h) => h['id'] as number);
    const sync = await admin.request<{
      targeted_host_count: number;
      responded_host_count: number;
      results: Array<{ host_id: number; rows: Array<{ version: string }> }>;
    }>('POST', `/api/latest/fleet/queries/${query.id}/run`, { host_ids: ids, timeout: 20 });
    expect(sync).toMatchObject({ targeted_host_count: 3, responded_host_count: 3 });
    expect(sync.results.every((r) => r.rows[0]!.version.length > 0)).toBe(true);
    const one = await admin.request<{
      status: string;
      rows: Array<{ n: string }>;
      error: string | null;
    }>('POST', `/api/v1/fleet/hosts/${ids[0]}/query`, { query: 'SELECT count(*) AS n FROM users' });
    expect(one.status).toBe('online');
    expect(one.error).toBeNull();
    expect(Number(one.rows[0]!.n)).toBeGreaterThan(0);
    await admin.request('PATCH', `/api/v1/fleet/queries/${query.id}`, { description: 'changed' });
    expect(
      (
        await admin.request<{ query: { description: string } }>(
          'GET',
          `/api/v1/fleet/queries/${query.id}`,
        )
      ).query.description,
    ).toBe('changed');
    await admin.request('DELETE', `/api/v1/fleet/queries/id/${query.id}`);
    expect(
      await admin
        .request('GET', `/api/v1/fleet/queries/${query.id}`)
        .catch((e: ApiError) => e.status),
    ).toBe(404);
  });

  it('observers may run only saved queries marked observer_can_run; teams bound what can be targeted', async () => {
    await admin.request('POST', '/api/v1/fleet/users/admin', {
      name: 'Obs',
      email: 'obs@example.com',
      password: 'Observer-pass-1!',
      global_role: 'observer',
    });
    const obs = new FlotillaClient({ serverUrl: server.url.replace('localhost', '127.0.0.1'), ca });
    await obs.login('obs@example.com', 'Observer-pass-1!');
    const all = await labelId('All Hosts');
    expect(
      await obs
        .request('POST', '/api/v1/fleet/queries/run', {
          query: 'SELECT 1',
          selected: { labels: [all] },
        })
        .catch((e: ApiError) => e.status),
    ).toBe(403);
    const { query: allowed } = await admin.request<{ query: { id: number } }>(
      'POST',
      '/api/v1/fleet/queries',
      { name: 'uptime', query: 'SELECT total_seconds FROM uptime', observer_can_run: true },
    );
    const { query: denied } = await admin.request<{ query: { id: number } }>(
      'POST',
      '/api/v1/fleet/queries',
      { name: 'shadow', query: 'SELECT username FROM users', observer_can_run: false },
    );
    expect(
      (
        await obs.request<{ campaign: { id: number } }>('POST', '/api/v1/fleet/queries/run', {
          query_id: allowed.id,
          selected: { labels: [all] },
        })
      ).campaign.id,
    ).toBeGreaterThan(0);
    expect(
      await obs
        .request('POST', '/api/v1/fleet/queries/run', {
          query_id: denied.id,
          selected: { labels: [all] },
        })
        .catch((e: ApiError) => e.status),
    ).toBe(403);
    expect(
      await obs
        .request('POST', '/api/v1/fleet/queries', { name: 'mine', query: 'SELECT 1' })
        .catch((e: ApiError) => e.status),
    ).toBe(403);

    const { team } = await admin.request<{ team: { id: number } }>('POST', '/api/v1/fleet/teams', {
      name: 'Edge',
    });
    const host = (await admin.listHosts({ per_page: 1 })).hosts[0]!;
    await admin.request('POST', '/api/v1/fleet/hosts/transfer', {
      team_id: team.id,
      hosts: [host['id']],
    });
    await admin.request('POST', '/api/v1/fleet/users/admin', {
      name: 'Edge ops',
      email: 'edge@example.com',
      password: 'Edge-ops-pass-1!',
      teams: [{ id: team.id, role: 'maintainer' }],
    });
    const edge = new FlotillaClient({
      serverUrl: server.url.replace('localhost', '127.0.0.1'),
      ca,
    });
    await edge.login('edge@example.com', 'Edge-ops-pass-1!');
    const other = (await admin.listHosts({ per_page: 5 })).hosts.find(
      (h) => h['team_id'] === null,
    )!;
    expect(
      await edge
        .request('POST', '/api/v1/fleet/queries/run', {
          query: 'SELECT 1',
          selected: { hosts: [other['id']] },
        })
        .catch((e: ApiError) => e.status),
    ).toBe(403);
    const mine = await edge.request<{ campaign: { Metrics: { TotalHosts: number } } }>(
      'POST',
      '/api/v1/fleet/queries/run',
      { query: 'SELECT 1', selected: { labels: [all] } },
    );
    expect(mine.campaign.Metrics.TotalHosts).toBe(1); // label members narrowed to the team's hosts
    obs.close();
    edge.close();
  });

  it('the `flotilla query` command streams a campaign to the terminal and exits when it is done', async () => {
    const { execFile } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
    const cliConfig = join(dir, 'cli.json');
    writeFileSync(
      cliConfig,
      JSON.stringify({
        server_url: server.url.replace('localhost', '127.0.0.1'),
        ca_file: join(dir, 'tls', 'ca.pem'),
        token: admin.token,
      }),
    );
    const run = (args: string[]) =>
      new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
        execFile(
          process.execPath,
          ['--import', 'tsx', join(import.meta.dirname, '../../cli/src/main.ts'), ...args],
          { env: { ...process.env, FLOTILLA_CLI_CONFIG: cliConfig }, timeout: 60_000 },
          (err, stdout, stderr) =>
            err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }),
        ),
      );
    const json = await run([
      'query',
      '--labels',
      'Debian Linux',
      '--query',
      'SELECT hostname, version FROM os_version, system_info',
      '--json',
    ]);
    const lines = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { host: string; hostname: string; version: string });
    expect(lines).toHaveLength(6);
    for (const l of lines) expect(l.host).toBe(l.hostname);
    expect(json.stderr).toMatch(/responded 6 \/ online 6 \/ targeted 6/);
    const table = await run([
      'query',
      '--labels',
      'Red Hat Linux',
      '--query',
      "SELECT 'ok' AS answer",
      '--quiet',
    ]);
    expect(table.stdout.split('\n')[0]).toMatch(/^HOST\s+ANSWER$/);
    expect(table.stdout.trim().split('\n')).toHaveLength(7);
  });

  it('a websocket client that goes away leaves no subscription behind', async () => {
    const { campaign } = await admin.request<{ campaign: { id: number } }>(
      'POST',
      '/api/v1/fleet/queries/run',
      { query: 'SELECT 1', selected: { labels: [await labelId('All Hosts')] } },
    );
    const ws = new WebSocket(wsUrl, { ca });
    await new Promise((r) => ws.on('open', r));
    ws.send(JSON.stringify({ type: 'auth', data: { token: admin.token } }));
    ws.send(JSON.stringify({ type: 'select_campaign', data: { campaign_id: campaign.id } }));
    await sleep(200);
    ws.terminate();
    await admin.request('POST', `/api/v1/fleet/campaigns/${campaign.id}/stop`);
    const bad = new WebSocket(wsUrl, { ca });
    const err = await new Promise<string>((resolve) => {
      bad.on('open', () => bad.send(JSON.stringify({ type: 'auth', data: { token: 'nope' } })));
      bad.on('message', (raw: Buffer) => resolve(raw.toString()));
    });
    expect(err).toMatch(/authentication failed/);
    bad.close();
  });
});
