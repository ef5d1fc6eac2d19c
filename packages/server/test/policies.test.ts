import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { testDialects } from '@flotilla/db';
import {
  api,
  detailAnswers,
  osqueryEnrollBody,
  setupAdmin,
  startTestServer,
  waitUntil,
  type TestServer,
} from './helpers.js';

const SECRET = 'policy-secret-abcdef';
const P = 'fleet_policy_query_';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Policy {
  id: number;
  name: string;
  critical: boolean;
  passing_host_count: number;
  failing_host_count: number;
  team_id: number | null;
}

describe.each(await testDialects())(
  'policies through the osquery endpoints and the REST API on %s',
  (dialect) => {
    let s: TestServer;
    let token: string;
    const keys: string[] = [];
    const ids: number[] = [];
    let rootShell: Policy;
    let sshKeys: Policy;
    let t1 = 0;
    let t2 = 0;

    const post = (url: string, payload: unknown) =>
      s.app.inject({
        method: 'POST',
        url,
        payload: payload as object,
        headers: { 'content-type': 'application/json' },
      });
    const read = async (i: number) =>
      (
        (await post('/api/osquery/distributed/read', { node_key: keys[i] })).json() as {
          queries: Record<string, string>;
        }
      ).queries;
    const write = async (
      i: number,
      queries: Record<string, unknown>,
      statuses: Record<string, unknown> = {},
      messages: Record<string, string> = {},
    ) => {
      const st: Record<string, unknown> = {};
      for (const k of Object.keys(queries)) st[k] = statuses[k] ?? 0;
      const r = await post('/api/osquery/distributed/write', {
        node_key: keys[i],
        queries,
        statuses: st,
        messages,
      });
      expect(r.statusCode).toBe(200);
    };
    /** Answers everything a host was asked: details canned, policies from `answer`. */
    const answer = async (
      i: number,
      policyAnswer: (
        name: string,
      ) => { rows?: unknown; status?: number; message?: string } | undefined,
    ) => {
      const qs = await read(i);
      const d = detailAnswers(
        Object.fromEntries(Object.entries(qs).filter(([k]) => k.startsWith('fleet_detail_query_'))),
        i + 1,
      );
      const queries: Record<string, unknown> = { ...d.queries };
      const statuses: Record<string, unknown> = { ...d.statuses };
      const messages: Record<string, string> = {};
      for (const name of Object.keys(qs)) {
        if (name.startsWith('fleet_label_query_')) {
          queries[name] = [{ '1': '1' }];
          continue;
        }
        if (!name.startsWith(P)) continue;
        const a = policyAnswer(name);
        if (!a) continue;
        queries[name] = a.rows ?? '';
        statuses[name] = a.status ?? 0;
        if (a.message) messages[name] = a.message;
      }
      await write(i, queries, statuses, messages);
      return qs;
    };
    const policy = async (id: number, team?: number) =>
      (
        await api(
          s.app,
          token,
          'GET',
          team
            ? `/api/v1/fleet/teams/${team}/policies/${id}`
            : `/api/v1/fleet/global/policies/${id}`,
        )
      ).body['policy'] as Policy;

    beforeAll(async () => {
      s = await startTestServer(dialect);
      token = await setupAdmin(s.app);
      await api(s.app, token, 'POST', '/api/v1/fleet/spec/enroll_secret', {
        spec: { secrets: [{ secret: SECRET }] },
      });
      for (let n = 1; n <= 3; n++) {
        keys.push(
          (
            (await post('/api/osquery/enroll', osqueryEnrollBody(SECRET, n))).json() as {
              node_key: string;
            }
          ).node_key,
        );
        await answer(n - 1, () => undefined);
      }
      const hosts = (await api(s.app, token, 'GET', '/api/v1/fleet/hosts?order_key=id')).body[
        'hosts'
      ] as Array<{ id: number }>;
      ids.push(...hosts.map((h) => h.id));
      // Global policies' pass/fail changes go to the result log (off by default).
      const on = await api(s.app, token, 'PATCH', '/api/v1/fleet/policies/automations', {
        policy_result_logging: { enabled: true },
      });
      expect(on.body['policy_result_logging']).toEqual({ enabled: true });
    });
    afterAll(async () => s.close());

    it('refuses SQL that does not parse, or that uses tables absent from the policy platform', async () => {
      const bad = await api(s.app, token, 'POST', '/api/v1/fleet/global/policies', {
        name: 'bad',
        query: 'SELEC 1 FROM users',
      });
      expect(bad.status).toBe(422);
      expect(JSON.stringify(bad.body)).toMatch(/syntax error/);
      const wrongPlatform = await api(s.app, token, 'POST', '/api/v1/fleet/global/policies', {
        name: 'bitlocker on linux',
        query: 'SELECT 1 FROM bitlocker_info WHERE protection_status = 1',
        platform: 'linux',
      });
      expect(wrongPlatform.status).toBe(422);
      expect(wrongPlatform.body['code']).toBe('SQL_UNSUPPORTED_PLATFORM');
      expect(JSON.stringify(wrongPlatform.body)).toMatch(/bitlocker_info/);
      const unknownPlatform = await api(s.app, token, 'POST', '/api/v1/fleet/global/policies', {
        name: 'x',
        query: 'SELECT 1',
        platform: 'amiga',
      });
      expect(unknownPlatform.status).toBe(422);
      expect((await api(s.app, token, 'GET', '/api/v1/fleet/policies/count')).body['count']).toBe(
        0,
      );
    });

    it('creates, lists, edits and counts global policies with Fleet fields', async () => {
      const a = await api(s.app, token, 'POST', '/api/v1/fleet/global/policies', {
        name: 'Root has a shell',
        query: "SELECT 1 FROM users WHERE username = 'root' AND shell LIKE '%sh'",
        description: 'root exists',
        resolution: 'none',
        platform: 'linux',
        critical: true,
      });
      expect(a.status).toBe(200);
      rootShell = a.body['policy'] as Policy;
      expect(rootShell).toMatchObject({
        name: 'Root has a shell',
        critical: true,
        platform: 'linux',
        team_id: null,
        resolution: 'none',
        author_email: 'admin@example.com',
        passing_host_count: 0,
        failing_host_count: 0,
      });
      sshKeys = (
        await api(s.app, token, 'POST', '/api/v1/fleet/global/policies', {
          name: 'Has ubuntu user',
          query: "SELECT 1 FROM users WHERE username = 'ubuntu'",
        })
      ).body['policy'] as Policy;
      expect(
        (
          await api(s.app, token, 'POST', '/api/v1/fleet/global/policies', {
            name: 'Has ubuntu user',
            query: 'SELECT 1',
          })
        ).status,
      ).toBe(409);
      const list = (await api(s.app, token, 'GET', '/api/v1/fleet/global/policies')).body[
        'policies'
      ] as Policy[];
      expect(list.map((p) => p.name)).toEqual(['Root has a shell', 'Has ubuntu user']);
      expect(
        (await api(s.app, token, 'GET', '/api/v1/fleet/policies/count?query=ubuntu')).body['count'],
      ).toBe(1);
      const edited = await api(
        s.app,
        token,
        'PATCH',
        `/api/v1/fleet/global/policies/${sshKeys.id}`,
        { description: 'the cloud user' },
      );
      expect(edited.body['policy']).toMatchObject({ description: 'the cloud user' });
    });

    it('hosts evaluate policies; rows pass, no rows fail, an error did not run, malformed rows change nothing else', async () => {
      const asked = await answer(0, (n) =>
        n === P + rootShell.id ? { rows: [{ '1': '1' }] } : { rows: { not: 'a list' } },
      );
      expect(asked[P + rootShell.id]).toBe(
        "SELECT 1 FROM users WHERE username = 'root' AND shell LIKE '%sh'",
      );
      await answer(1, (n) => (n === P + rootShell.id ? { rows: '' } : { rows: [{ '1': '1' }] }));
      await answer(2, (n) =>
        n === P + rootShell.id
          ? { status: 1, message: 'no such table: users' }
          : { rows: [{ '1': '1' }] },
      );
      t1 = Date.now();
      await sleep(5);
      expect(await policy(rootShell.id)).toMatchObject({
        passing_host_count: 1,
        failing_host_count: 1,
      });
      expect(await policy(sshKeys.id)).toMatchObject({
        passing_host_count: 2,
        failing_host_count: 0,
      });
      const failing = (
        await api(
          s.app,
          token,
          'GET',
          `/api/v1/fleet/hosts?policy_id=${rootShell.id}&policy_response=failing`,
        )
      ).body['hosts'] as Array<{ id: number; issues: { failing_policies_count: number } }>;
      expect(failing.map((h) => h.id)).toEqual([ids[1]]);
      expect(failing[0]!.issues.failing_policies_count).toBe(1);
      expect(
        (
          await api(
            s.app,
            token,
            'GET',
            `/api/v1/fleet/hosts/count?policy_id=${rootShell.id}&policy_response=passing`,
          )
        ).body['count'],
      ).toBe(1);
      const detail = (await api(s.app, token, 'GET', `/api/v1/fleet/hosts/${ids[2]}`)).body[
        'host'
      ] as { policies: Array<{ id: number; response: string }> };
      expect(detail.policies.map((p) => [p.id, p.response])).toEqual([
        [rootShell.id, ''],
        [sshKeys.id, 'pass'],
      ]);
      // Not asked again until the interval passes.
      expect(Object.keys(await read(0)).filter((k) => k.startsWith(P))).toEqual([]);
    });

    it('compliance summary: share of hosts passing every critical policy', async () => {
      const c = (await api(s.app, token, 'GET', '/api/v1/fleet/policies/compliance')).body[
        'compliance'
      ];
      expect(c).toMatchObject({
        hosts_count: 3,
        evaluated_hosts_count: 3,
        compliant_hosts_count: 2,
        non_compliant_hosts_count: 1,
        compliance_percent: 66.67,
      });
    });

    it('a refetch re-asks policies; a fail→pass transition moves counts and is recorded in history', async () => {
      expect(
        (await api(s.app, token, 'POST', `/api/v1/fleet/hosts/${ids[1]}/refetch`)).status,
      ).toBe(200);
      const qs = await answer(1, () => ({ rows: [{ '1': '1' }] }));
      expect(Object.keys(qs)).toEqual(expect.arrayContaining([P + rootShell.id, P + sshKeys.id]));
      t2 = Date.now();
      await sleep(5);
      expect(await policy(rootShell.id)).toMatchObject({
        passing_host_count: 2,
        failing_host_count: 0,
      });
      const at = async (when: number) =>
        (
          await api(
            s.app,
            token,
            'GET',
            `/api/v1/fleet/hosts/${ids[1]}/policies/${rootShell.id}/compliance?at=${new Date(when).toISOString()}`,
          )
        ).body;
      expect(await at(t1 - 60_000)).toMatchObject({ compliant: null, response: '' });
      expect(await at(t1 + 1)).toMatchObject({ compliant: false, response: 'fail' });
      expect(await at(t2 + 1)).toMatchObject({ compliant: true, response: 'pass' });
      const c = (await api(s.app, token, 'GET', '/api/v1/fleet/policies/compliance')).body[
        'compliance'
      ];
      expect(c).toMatchObject({ compliant_hosts_count: 3, compliance_percent: 100 });
    });

    it('history and reports over a period, as JSON and CSV', async () => {
      const from = new Date(t1 - 60_000).toISOString();
      const h = await api(
        s.app,
        token,
        'GET',
        `/api/v1/fleet/policies/compliance/history?policy_id=${rootShell.id}&from=${from}`,
      );
      expect(
        (h.body['history'] as Array<{ host_id: number; response: string }>).map((r) => [
          r.host_id,
          r.response,
        ]),
      ).toEqual([
        [ids[0], 'pass'],
        [ids[1], 'fail'],
        [ids[1], 'pass'],
      ]);
      const csv = await s.app.inject({
        method: 'GET',
        url: `/api/v1/fleet/policies/compliance/history?policy_id=${rootShell.id}&from=${from}&format=csv`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(csv.headers['content-type']).toMatch(/text\/csv/);
      const lines = csv.body.trim().split('\n');
      expect(lines[0]).toBe(
        'time,policy_id,policy_name,policy_team_id,host_id,hostname,host_team_id,response',
      );
      expect(lines).toHaveLength(4);
      expect(lines[2]).toContain(',Root has a shell,,');
      const report = (
        await api(s.app, token, 'GET', `/api/v1/fleet/policies/compliance/report?from=${from}`)
      ).body['policies'] as Array<Record<string, unknown>>;
      expect(report.find((r) => r['policy_id'] === rootShell.id)).toEqual({
        policy_id: rootShell.id,
        policy_name: 'Root has a shell',
        passing_at_start: 0,
        failing_at_start: 0,
        passing_at_end: 2,
        failing_at_end: 0,
        became_failing: 1,
        became_passing: 2,
      });
      // Mid-period: host 2 was failing at t1.
      const mid = (
        await api(
          s.app,
          token,
          'GET',
          `/api/v1/fleet/policies/compliance/report?from=${new Date(t1).toISOString()}&to=${new Date(t1 + 3).toISOString()}&policy_id=${rootShell.id}`,
        )
      ).body['policies'] as Array<Record<string, unknown>>;
      expect(mid[0]).toMatchObject({
        passing_at_start: 1,
        failing_at_start: 1,
        passing_at_end: 1,
        failing_at_end: 1,
      });
      const reportCsv = await s.app.inject({
        method: 'GET',
        url: `/api/v1/fleet/policies/compliance/report?from=${from}&format=csv`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(reportCsv.body.split('\n')[0]).toBe(
        'policy_id,policy_name,passing_at_start,failing_at_start,passing_at_end,failing_at_end,became_failing,became_passing',
      );
    });

    it('pass/fail changes also reach the result log destinations as osquery events', async () => {
      const file = join(s.config.logging.filesystemDir, 'osquery_result.log');
      const events = async () =>
        existsSync(file)
          ? readFileSync(file, 'utf8')
              .trim()
              .split('\n')
              .map(
                (l) =>
                  JSON.parse(l) as {
                    name: string;
                    columns: Record<string, string>;
                    host_id: number;
                  },
              )
              .filter((e) => e.name.startsWith('pack/flotilla_policies/'))
          : [];
      const mineNow = async () =>
        (await events()).filter((e) => e.columns['policy_id'] === String(rootShell.id));
      await waitUntil(
        'policy events in the result log',
        async () => (await mineNow()).length >= 3,
        10_000,
      ).catch(async (e: unknown) => {
        throw new Error(`${String(e)}: ${JSON.stringify(await events())}`);
      });
      const mine = await mineNow();
      expect(mine.map((e) => [e.host_id, e.columns['response'], e.columns['previous']])).toEqual([
        [ids[0], 'pass', ''],
        [ids[1], 'fail', ''],
        [ids[1], 'pass', 'fail'],
      ]);
      expect(mine[0]!.name).toBe('pack/flotilla_policies/Root has a shell');
    });

    it('YAML: export, import (create by name or update), round trip; bad documents are refused whole', async () => {
      const exported = await s.app.inject({
        method: 'GET',
        url: '/api/v1/fleet/policies/export',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(exported.headers['content-type']).toMatch(/yaml/);
      const docs = parseAllDocuments(exported.body).map(
        (d) => d.toJS() as { apiVersion: string; kind: string; spec: Record<string, unknown> },
      );
      expect(docs.map((d) => [d.apiVersion, d.kind, d.spec['name']])).toEqual([
        ['v1', 'policy', 'Root has a shell'],
        ['v1', 'policy', 'Has ubuntu user'],
      ]);
      expect(docs[0]!.spec).toMatchObject({
        critical: true,
        platform: 'linux',
        resolution: 'none',
      });

      const yaml = `${exported.body}---\napiVersion: v1\nkind: policy\nspec:\n  name: Ubuntu only\n  query: SELECT 1 FROM os_version WHERE platform = 'ubuntu'\n  platform: linux\n  labels_include_any: [Ubuntu Linux]\n`;
      const edited = yaml.replace('description: the cloud user', 'description: changed by YAML');
      const imported = await s.app.inject({
        method: 'POST',
        url: '/api/v1/fleet/policies/import',
        payload: edited,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      });
      expect(imported.statusCode).toBe(200);
      expect(imported.json()).toEqual({ created: 1, updated: 2 });
      expect((await policy(sshKeys.id)) as unknown).toMatchObject({
        description: 'changed by YAML',
      });
      const again = await s.app.inject({
        method: 'GET',
        url: '/api/v1/fleet/policies/export',
        headers: { authorization: `Bearer ${token}` },
      });
      const reparsed = parseAllDocuments(again.body).map(
        (d) => (d.toJS() as { spec: Record<string, unknown> }).spec,
      );
      expect(reparsed[2]).toMatchObject({
        name: 'Ubuntu only',
        labels_include_any: ['Ubuntu Linux'],
        critical: false,
      });
      // Round trip: importing the export changes nothing.
      const same = await api(s.app, token, 'POST', '/api/v1/fleet/policies/import', {
        yaml: again.body,
      });
      expect(same.body).toEqual({ created: 0, updated: 3 });
      expect(
        (
          await s.app.inject({
            method: 'GET',
            url: '/api/v1/fleet/policies/export',
            headers: { authorization: `Bearer ${token}` },
          })
        ).body,
      ).toBe(again.body);

      const broken = await api(s.app, token, 'POST', '/api/v1/fleet/policies/import', {
        yaml: 'apiVersion: v1\nkind: policy\nspec:\n  name: [unclosed',
      });
      expect(broken.status).toBe(422);
      const wrongKind = await api(s.app, token, 'POST', '/api/v1/fleet/policies/import', {
        yaml: 'apiVersion: v1\nkind: query\nspec:\n  name: q\n  query: SELECT 1\n',
      });
      expect(wrongKind.status).toBe(422);
      const badSql = await api(s.app, token, 'POST', '/api/v1/fleet/policies/import', {
        yaml: 'apiVersion: v1\nkind: policy\nspec:\n  name: fine\n  query: SELECT 1\n---\napiVersion: v1\nkind: policy\nspec:\n  name: broken\n  query: SELECT * FROM nope\n',
      });
      expect(badSql.status).toBe(422);
      expect(String(badSql.body['message'])).toMatch(/policy "broken".*no such table: nope/);
      expect(
        (await api(s.app, token, 'GET', '/api/v1/fleet/policies/count?query=fine')).body['count'],
      ).toBe(0);
      expect(parseYaml('a: 1')).toEqual({ a: 1 });
    });

    it('team policies are asked only of the team hosts and listed with inherited global ones', async () => {
      const team = (await api(s.app, token, 'POST', '/api/v1/fleet/teams', { name: 'Ops' })).body[
        'team'
      ] as { id: number };
      expect(
        (
          await api(s.app, token, 'POST', '/api/v1/fleet/hosts/transfer', {
            team_id: team.id,
            hosts: [ids[2]],
          })
        ).status,
      ).toBe(200);
      const tp = (
        await api(s.app, token, 'POST', `/api/v1/fleet/teams/${team.id}/policies`, {
          name: 'Ops check',
          query: 'SELECT 1 FROM osquery_info',
          critical: true,
        })
      ).body['policy'] as Policy;
      expect(tp.team_id).toBe(team.id);
      expect(Object.keys(await read(0))).not.toContain(P + tp.id);
      // Host detail lists a policy the host is asked but has not answered yet, with response "".
      const pendingDetail = (await api(s.app, token, 'GET', `/api/v1/fleet/hosts/${ids[2]}`)).body[
        'host'
      ] as { policies: Array<{ id: number; response: string }> };
      expect(pendingDetail.policies).toContainEqual(
        expect.objectContaining({ id: tp.id, response: '' }),
      );
      await answer(2, (n) => (n === P + tp.id ? { rows: '' } : { rows: [{ '1': '1' }] }));
      expect(await policy(tp.id, team.id)).toMatchObject({
        passing_host_count: 0,
        failing_host_count: 1,
      });
      const list = (await api(s.app, token, 'GET', `/api/v1/fleet/teams/${team.id}/policies`)).body;
      expect((list['policies'] as Policy[]).map((p) => p.name)).toEqual(['Ops check']);
      expect((list['inherited_policies'] as Policy[]).length).toBe(3);
      expect(
        (await api(s.app, token, 'GET', `/api/v1/fleet/team/${team.id}/policies/count`)).body[
          'count'
        ],
      ).toBe(1);
      const teamCompliance = (
        await api(s.app, token, 'GET', `/api/v1/fleet/policies/compliance?team_id=${team.id}`)
      ).body['compliance'];
      expect(teamCompliance).toMatchObject({
        hosts_count: 1,
        compliant_hosts_count: 0,
        compliance_percent: 0,
      });
      // A team policy is not reachable through the global endpoint.
      expect(
        (await api(s.app, token, 'GET', `/api/v1/fleet/global/policies/${tp.id}`)).status,
      ).toBe(404);
      // Team history: changes on the team's hosts while they were in the team.
      const history = (
        await api(
          s.app,
          token,
          'GET',
          `/api/v1/fleet/policies/compliance/history?team_id=${team.id}&from=0`,
        )
      ).body['history'] as Array<{ policy_id: number; host_id: number; host_team_id: number }>;
      expect(history.map((h) => h.policy_id)).toContain(tp.id);
      expect(history.every((h) => h.host_id === ids[2] && h.host_team_id === team.id)).toBe(true);
    });

    it('deleting a policy removes its results and counts but keeps its history', async () => {
      const before = (await api(s.app, token, 'GET', `/api/v1/fleet/hosts/${ids[2]}`)).body[
        'host'
      ] as { issues: { failing_policies_count: number } };
      expect(before.issues.failing_policies_count).toBe(1);
      const teamId = (await api(s.app, token, 'GET', `/api/v1/fleet/hosts/${ids[2]}`)).body[
        'host'
      ] as { team_id: number };
      const tp = (
        (await api(s.app, token, 'GET', `/api/v1/fleet/teams/${teamId.team_id}/policies`)).body[
          'policies'
        ] as Policy[]
      )[0]!;
      expect(
        (
          await api(s.app, token, 'POST', `/api/v1/fleet/teams/${teamId.team_id}/policies/delete`, {
            ids: [tp.id],
          })
        ).body,
      ).toEqual({ deleted: 1 });
      const after = (await api(s.app, token, 'GET', `/api/v1/fleet/hosts/${ids[2]}`)).body[
        'host'
      ] as { issues: { failing_policies_count: number }; policies: Array<{ id: number }> };
      expect(after.issues.failing_policies_count).toBe(0);
      expect(after.policies.map((p) => p.id)).not.toContain(tp.id);
      const kept = (
        await api(
          s.app,
          token,
          'GET',
          `/api/v1/fleet/policies/compliance/history?policy_id=${tp.id}&from=0`,
        )
      ).body['history'] as Array<{ policy_name: string }>;
      expect(kept).toEqual([
        expect.objectContaining({ policy_name: 'Ops check', response: 'fail' }),
      ]);
      const acts = (await api(s.app, token, 'GET', '/api/v1/fleet/activities?per_page=50')).body[
        'activities'
      ] as Array<{ type: string }>;
      expect(acts.map((a) => a.type)).toEqual(
        expect.arrayContaining([
          'created_policy',
          'edited_policy',
          'deleted_policy',
          'applied_spec_policy',
        ]),
      );
    });

    it('the failing-policy webhook is batched, retried after the receiver fails once, and recorded', async () => {
      const received: Array<{ body: Record<string, unknown>; status: number }> = [];
      let calls = 0;
      const receiver: Server = createServer((req: IncomingMessage, res) => {
        let data = '';
        req.on('data', (c: Buffer) => (data += c.toString()));
        req.on('end', () => {
          calls++;
          const status = calls === 1 ? 503 : 200;
          received.push({ body: JSON.parse(data) as Record<string, unknown>, status });
          res.writeHead(status).end();
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      try {
        const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
        const bad = await api(s.app, token, 'PATCH', '/api/v1/fleet/policies/automations', {
          webhook_settings: {
            failing_policies_webhook: {
              enable_failing_policies_webhook: true,
              destination_url: 'ftp://x',
              policy_ids: [rootShell.id],
            },
          },
        });
        expect(bad.status).toBe(422);
        // While the webhook is off, host 2 fails the policy and passes again: nothing of that
        // may be sent once it is on (the old in-memory queue sent it, a duplicate).
        for (const rows of ['', [{ '1': '1' }]]) {
          await api(s.app, token, 'POST', `/api/v1/fleet/hosts/${ids[1]}/refetch`);
          await answer(1, (n) => (n === P + rootShell.id ? { rows } : { rows: [{ '1': '1' }] }));
          await policy(rootShell.id); // results written
        }
        const set = await api(s.app, token, 'PATCH', '/api/v1/fleet/policies/automations', {
          webhook_settings: {
            failing_policies_webhook: {
              enable_failing_policies_webhook: true,
              destination_url: url,
              policy_ids: [rootShell.id],
              host_batch_size: 0,
            },
          },
        });
        expect(set.status).toBe(200);
        // Hosts 1 and 2 start failing the policy in the same window: one POST with both (a
        // loaded machine may split them into two batches).
        for (const i of [0, 1])
          await api(s.app, token, 'POST', `/api/v1/fleet/hosts/${ids[i]}/refetch`);
        for (const i of [0, 1]) {
          await answer(i, (n) =>
            n === P + rootShell.id ? { rows: '' } : { rows: [{ '1': '1' }] },
          );
        }
        const delivered = () =>
          received
            .filter((r) => r.status === 200)
            .flatMap((r) => (r.body['hosts'] as Array<{ id: number }>).map((h) => h.id));
        await waitUntil(
          'webhook delivered after one failure',
          async () => delivered().length >= 2,
          20_000,
        ).catch(async (e: unknown) => {
          const p = await policy(rootShell.id);
          throw new Error(
            `${String(e)}; received ${JSON.stringify(received.map((r) => [r.status, r.body['hosts']]))}; counts ${p.passing_host_count}/${p.failing_host_count}`,
          );
        });
        await sleep(1500);
        // Exactly one delivery per failing-host batch: every host once, one failed attempt.
        expect(delivered().sort()).toEqual([ids[0], ids[1]].sort());
        expect(received[0]!.status).toBe(503);
        expect(received.filter((r) => r.status !== 200)).toHaveLength(1);
        const body = received.filter((r) => r.status === 200).at(-1)!.body as {
          timestamp: string;
          policy: Record<string, unknown>;
          hosts: Array<{ id: number; hostname: string; url: string }>;
        };
        expect(body.policy).toMatchObject({
          id: rootShell.id,
          name: 'Root has a shell',
          critical: true,
          failing_host_count: 2,
        });
        expect(body.hosts[0]!.url).toMatch(/\/hosts\/\d+$/);
        expect(Date.parse(body.timestamp)).toBeGreaterThan(0);
        await waitUntil(
          'automation activity',
          async () =>
            (
              (await api(s.app, token, 'GET', '/api/v1/fleet/activities?per_page=50')).body[
                'activities'
              ] as Array<{ type: string }>
            ).some((a) => a.type === 'ran_policy_automation'),
          5_000,
        );
        const acts = (await api(s.app, token, 'GET', '/api/v1/fleet/activities?per_page=50')).body[
          'activities'
        ] as Array<{ type: string; details: Record<string, unknown> }>;
        // The retried delivery is recorded with its two attempts.
        expect(
          acts.filter((a) => a.type === 'ran_policy_automation').map((a) => a.details),
        ).toContainEqual(
          expect.objectContaining({
            automation: 'webhook',
            policy_id: rootShell.id,
            status: 'delivered',
            attempts: 2,
          }),
        );
        // Still failing: no new transition, no new POST.
        await api(s.app, token, 'POST', `/api/v1/fleet/hosts/${ids[0]}/refetch`);
        await answer(0, (n) => (n === P + rootShell.id ? { rows: '' } : { rows: [{ '1': '1' }] }));
        const sent = calls;
        await sleep(1500);
        expect(calls).toBe(sent);
        // Fleet's automations reset sends every currently failing host again.
        expect(
          (
            await api(s.app, token, 'POST', '/api/v1/fleet/automations/reset', {
              policy_ids: [rootShell.id],
            })
          ).status,
        ).toBe(200);
        await waitUntil('webhook after reset', async () => calls === sent + 1, 10_000);
        expect(
          (received[sent]!.body['hosts'] as Array<{ id: number }>).map((h) => h.id).sort(),
        ).toEqual([ids[0], ids[1]].sort());
      } finally {
        receiver.close();
      }
    });

    it('permissions: observers read, maintainers write, team members reach only their team', async () => {
      const team = (
        (await api(s.app, token, 'GET', '/api/v1/fleet/teams')).body['teams'] as Array<{
          id: number;
        }>
      )[0]!;
      const mk = async (email: string, role: Record<string, unknown>) => {
        await api(s.app, token, 'POST', '/api/v1/fleet/users/admin', {
          name: email,
          email,
          password: 'Policy-perms-123!',
          ...role,
        });
        return (
          await api(s.app, undefined, 'POST', '/api/v1/fleet/login', {
            email,
            password: 'Policy-perms-123!',
          })
        ).body['token'] as string;
      };
      const observer = await mk('obs@example.com', { global_role: 'observer' });
      const maintainer = await mk('maint@example.com', { global_role: 'maintainer' });
      const teamMaint = await mk('tm@example.com', {
        teams: [{ id: team.id, role: 'maintainer' }],
      });
      const teamObs = await mk('to@example.com', { teams: [{ id: team.id, role: 'observer' }] });
      const body = { name: `p-${Math.random()}`, query: 'SELECT 1' };
      expect((await api(s.app, observer, 'GET', '/api/v1/fleet/global/policies')).status).toBe(200);
      expect(
        (await api(s.app, observer, 'POST', '/api/v1/fleet/global/policies', body)).status,
      ).toBe(403);
      expect(
        (
          await api(s.app, observer, 'PATCH', '/api/v1/fleet/policies/automations', {
            webhook_settings: {
              failing_policies_webhook: { enable_failing_policies_webhook: false },
            },
          })
        ).status,
      ).toBe(403);
      expect(
        (await api(s.app, maintainer, 'POST', '/api/v1/fleet/global/policies', body)).status,
      ).toBe(200);
      expect(
        (
          await api(s.app, teamMaint, 'POST', '/api/v1/fleet/global/policies', {
            ...body,
            name: 'x2',
          })
        ).status,
      ).toBe(403);
      expect(
        (
          await api(s.app, teamMaint, 'POST', `/api/v1/fleet/teams/${team.id}/policies`, {
            ...body,
            name: 'x3',
          })
        ).status,
      ).toBe(200);
      expect(
        (
          await api(s.app, teamObs, 'POST', `/api/v1/fleet/teams/${team.id}/policies`, {
            ...body,
            name: 'x4',
          })
        ).status,
      ).toBe(403);
      expect(
        (await api(s.app, teamObs, 'GET', `/api/v1/fleet/teams/${team.id}/policies`)).status,
      ).toBe(200);
      expect((await api(s.app, teamObs, 'GET', '/api/v1/fleet/global/policies')).status).toBe(403);
      expect(
        (
          await api(
            s.app,
            teamObs,
            'POST',
            '/api/v1/fleet/policies/library/linux-hardening/import',
            {},
          )
        ).status,
      ).toBe(403);
      // A team observer's history holds only its team's hosts.
      const h = (
        await api(s.app, teamObs, 'GET', '/api/v1/fleet/policies/compliance/history?from=0')
      ).body['history'] as Array<{ host_team_id: number }>;
      expect(h.every((r) => r.host_team_id === team.id)).toBe(true);
      const status = async (
        t: string | undefined,
        method: 'GET' | 'POST',
        url: string,
        b?: object,
      ) =>
        (
          await s.app.inject({
            method,
            url,
            ...(b ? { payload: b } : {}),
            headers: t ? { authorization: `Bearer ${t}` } : {},
          })
        ).statusCode;
      // Reading: a team's people see their team only; nobody anonymous sees anything.
      expect(
        await status(teamObs, 'GET', `/api/v1/fleet/policies/compliance?team_id=${team.id}`),
      ).toBe(200);
      const other = (await api(s.app, token, 'POST', '/api/v1/fleet/teams', { name: 'Elsewhere' }))
        .body['team'] as { id: number };
      expect(
        await status(teamObs, 'GET', `/api/v1/fleet/policies/compliance?team_id=${other.id}`),
      ).toBe(403);
      expect(await status(teamObs, 'GET', `/api/v1/fleet/teams/${other.id}/policies`)).toBe(403);
      expect(await status(teamObs, 'GET', '/api/v1/fleet/policies/export')).toBe(403);
      expect(await status(teamObs, 'GET', `/api/v1/fleet/policies/export?team_id=${team.id}`)).toBe(
        200,
      );
      expect(
        await status(
          teamObs,
          'GET',
          `/api/v1/fleet/hosts/${ids[0]}/policies/${rootShell.id}/compliance`,
        ),
      ).toBe(403);
      expect(
        await status(
          observer,
          'GET',
          `/api/v1/fleet/hosts/${ids[0]}/policies/${rootShell.id}/compliance`,
        ),
      ).toBe(200);
      // Writing: observers never; team maintainers only their team's automations.
      expect(
        await status(observer, 'POST', '/api/v1/fleet/automations/reset', {
          policy_ids: [rootShell.id],
        }),
      ).toBe(403);
      expect(
        await status(teamMaint, 'POST', '/api/v1/fleet/automations/reset', {
          policy_ids: [rootShell.id],
        }),
      ).toBe(403);
      expect(
        await status(teamMaint, 'POST', '/api/v1/fleet/automations/reset', { team_ids: [team.id] }),
      ).toBe(200);
      expect(
        (
          await api(
            s.app,
            teamMaint,
            'PATCH',
            `/api/v1/fleet/policies/automations?team_id=${team.id}`,
            {
              policy_result_logging: { enabled: false },
            },
          )
        ).status,
      ).toBe(200);
      expect(
        (
          await api(s.app, teamMaint, 'PATCH', '/api/v1/fleet/policies/automations', {
            policy_result_logging: { enabled: false },
          })
        ).status,
      ).toBe(403);
      expect(await status(observer, 'POST', '/api/v1/fleet/spec/policies', { specs: [] })).toBe(
        403,
      );
      for (const url of [
        '/api/v1/fleet/global/policies',
        '/api/v1/fleet/policies/compliance',
        '/api/v1/fleet/policies/compliance/history',
        '/api/v1/fleet/policies/automations',
      ])
        expect(await status(undefined, 'GET', url)).toBe(401);
    });

    it('imports the shipped Linux hardening library (every query valid against osquery 5.23.1)', async () => {
      const libs = (await api(s.app, token, 'GET', '/api/v1/fleet/policies/library')).body[
        'libraries'
      ] as Array<{ name: string; policies_count: number }>;
      expect(libs).toEqual([expect.objectContaining({ name: 'linux-hardening' })]);
      const r = await api(
        s.app,
        token,
        'POST',
        '/api/v1/fleet/policies/library/linux-hardening/import',
        {},
      );
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ created: libs[0]!.policies_count, updated: 0 });
    });

    it('results for a policy deleted elsewhere (e.g. with its team) do not cost the host its other results', async () => {
      const gone = (
        await api(s.app, token, 'POST', '/api/v1/fleet/global/policies', {
          name: 'Soon gone',
          query: 'SELECT 1',
        })
      ).body['policy'] as Policy;
      // Deleted behind this process's back: its in-memory copy still knows the policy.
      await s.ds.db.deleteFrom('policies').where('id', '=', gone.id).execute();
      const before = await policy(sshKeys.id);
      await write(0, { [P + gone.id]: [{ '1': '1' }], [P + sshKeys.id]: '' });
      const after = await policy(sshKeys.id);
      expect(after.failing_host_count).toBe(before.failing_host_count + 1);
    });
  },
);
