import Type from 'typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid, notFound, type Actor } from '@flotilla/core';
import type { HistoryFilter, PolicyRow } from '@flotilla/db';
import { IdParams, PageQuery } from '@flotilla/api';
import type { AppContext } from '../context.js';
import { iso } from '../http/format.js';
import { DEFAULT_WEBHOOK, type FailingPoliciesWebhook } from './automations.js';
import { LIBRARIES, libraryYaml } from './library.js';
import { parseTime, type PolicyBody, type PolicyService } from './policies.service.js';
import { parsePolicyYaml, policiesToYaml } from './policy-yaml.js';

const PolicyFields = {
  name: Type.String({ minLength: 1, maxLength: 255 }),
  query: Type.String({ minLength: 1, maxLength: 100_000 }),
  description: Type.String({ maxLength: 10_000 }),
  resolution: Type.String({ maxLength: 10_000 }),
  platform: Type.String({ maxLength: 64 }),
  critical: Type.Boolean(),
  query_id: Type.Integer({ minimum: 1 }),
  labels_include_any: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 100 }),
  labels_exclude_any: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 100 }),
};
const PolicyBodySchema = Type.Partial(Type.Object(PolicyFields, { additionalProperties: false }));
const TeamParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
const TeamPolicyParams = Type.Object({
  id: Type.Integer({ minimum: 1 }),
  policy_id: Type.Integer({ minimum: 1 }),
});
const DeleteBody = Type.Object(
  { ids: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 1000 }) },
  { additionalProperties: false },
);
const ListQuery = Type.Object({
  ...PageQuery,
  query: Type.Optional(Type.String({ maxLength: 255 })),
});
const Scope = {
  team_id: Type.Optional(Type.Integer({ minimum: 0 })),
  label_id: Type.Optional(Type.Integer({ minimum: 1 })),
};
const HistoryQuery = Type.Object({
  ...Scope,
  policy_id: Type.Optional(Type.Integer({ minimum: 1 })),
  host_id: Type.Optional(Type.Integer({ minimum: 1 })),
  from: Type.Optional(Type.String({ maxLength: 40 })),
  to: Type.Optional(Type.String({ maxLength: 40 })),
  format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
});
const LabelRef = Type.Object({ id: Type.Integer(), name: Type.String() });
/** A policy as Fleet's API shows it, plus its label scope. */
const PolicySchema = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  query: Type.String(),
  description: Type.String(),
  critical: Type.Boolean(),
  author_id: Type.Union([Type.Integer(), Type.Null()]),
  author_name: Type.String(),
  author_email: Type.String(),
  team_id: Type.Union([Type.Integer(), Type.Null()]),
  resolution: Type.String(),
  platform: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
  passing_host_count: Type.Integer(),
  failing_host_count: Type.Integer(),
  labels_include_any: Type.Array(LabelRef),
  labels_exclude_any: Type.Array(LabelRef),
});
const OnePolicy = { 200: Type.Object({ policy: PolicySchema }) };
const PolicyList = { 200: Type.Object({ policies: Type.Array(PolicySchema) }) };
const Count = { 200: Type.Object({ count: Type.Integer() }) };
const Deleted = { 200: Type.Object({ deleted: Type.Integer() }) };
const Applied = { 200: Type.Object({ created: Type.Integer(), updated: Type.Integer() }) };
const WebhookOut = Type.Object({
  enable_failing_policies_webhook: Type.Boolean(),
  destination_url: Type.String(),
  policy_ids: Type.Array(Type.Integer()),
  host_batch_size: Type.Integer(),
});
const ResultLogging = Type.Object(
  { enabled: Type.Boolean() },
  {
    description:
      "Flotilla: append this scope's policies' pass/fail changes to the result log pipeline",
    additionalProperties: false,
  },
);
const Automations = {
  200: Type.Object({
    team_id: Type.Union([Type.Integer(), Type.Null()]),
    webhook_settings: Type.Object({ failing_policies_webhook: WebhookOut }),
    policy_result_logging: ResultLogging,
  }),
};

type HistoryQs = {
  team_id?: number;
  label_id?: number;
  policy_id?: number;
  host_id?: number;
  from?: string;
  to?: string;
  format?: 'json' | 'csv';
  limit?: number;
};

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : String(v as string);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const toCsv = (rows: Array<Record<string, unknown>>, columns: string[]): string =>
  [columns.join(','), ...rows.map((r) => columns.map((c) => csvCell(r[c])).join(','))].join('\n') +
  '\n';

/**
 * Policies (Fleet's global and team endpoints), specs and YAML libraries, compliance summary,
 * history and reports, and failing-policy automations.
 */
export function registerPolicyRoutes(
  app: FastifyInstance,
  ctx: AppContext,
  svc: PolicyService,
  hide: boolean,
): void {
  const tags = ['policies'];
  const auth = (req: FastifyRequest) =>
    req.authorize.bind(req) as Parameters<PolicyService['load']>[0];
  const teamExists = async (id: number) => {
    if (!(await ctx.ds.teams.get(id))) throw notFound('team', 'TEAM_NOT_FOUND');
  };

  // ---- global policies ----------------------------------------------------------------
  app.get(
    '/global/policies',
    {
      schema: {
        hide,
        tags,
        summary: 'List global policies with passing and failing host counts',
        response: PolicyList,
        querystring: ListQuery,
      },
    },
    async (req) => {
      req.authorize('read', { type: 'policy', teamId: null });
      const q = req.query as { page?: number; per_page?: number; query?: string };
      return {
        policies: await svc.toApi(
          await ctx.ds.policies.list({
            teamId: null,
            query: q.query,
            page: q.page,
            perPage: q.per_page,
          }),
        ),
      };
    },
  );
  for (const path of ['/policies/count', '/global/policies/count']) {
    app.get(
      path,
      {
        schema: {
          hide,
          tags,
          summary: 'Count global policies',
          response: Count,
          querystring: Type.Object({ query: Type.Optional(Type.String({ maxLength: 255 })) }),
        },
      },
      async (req) => {
        req.authorize('read', { type: 'policy', teamId: null });
        return {
          count: await ctx.ds.policies.count(null, (req.query as { query?: string }).query),
        };
      },
    );
  }
  app.get(
    '/global/policies/:id',
    {
      schema: { hide, tags, summary: 'Get a global policy', params: IdParams, response: OnePolicy },
    },
    async (req) => {
      const { p } = await svc.load(auth(req), 'read', (req.params as { id: number }).id, null);
      return { policy: await svc.one(p.id) };
    },
  );
  app.post(
    '/global/policies',
    {
      schema: {
        hide,
        tags,
        summary: 'Add a global policy (SQL checked against its platforms)',
        response: OnePolicy,
        body: PolicyBodySchema,
      },
    },
    async (req) => {
      const actor = req.authorize('write', { type: 'policy', teamId: null });
      const id = await svc.create(actor, null, req.body as PolicyBody);
      return { policy: await svc.one(id) };
    },
  );
  app.patch(
    '/global/policies/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'Edit a global policy',
        response: OnePolicy,
        params: IdParams,
        body: PolicyBodySchema,
      },
    },
    async (req) => {
      const { p, actor } = await svc.load(
        auth(req),
        'write',
        (req.params as { id: number }).id,
        null,
      );
      await svc.update(actor, p, req.body as PolicyBody);
      return { policy: await svc.one(p.id) };
    },
  );
  app.post(
    '/global/policies/delete',
    {
      schema: {
        hide,
        tags,
        summary: 'Delete global policies (their history stays)',
        response: Deleted,
        body: DeleteBody,
      },
    },
    async (req) => {
      const ids = [...new Set((req.body as { ids: number[] }).ids)];
      let actor: Actor | undefined;
      const rows: PolicyRow[] = [];
      for (const id of ids) {
        const r = await svc.load(auth(req), 'write', id, null);
        actor = r.actor;
        rows.push(r.p);
      }
      return { deleted: await svc.delete(actor!, rows) };
    },
  );

  // ---- team policies ------------------------------------------------------------------
  app.get(
    '/teams/:id/policies',
    {
      schema: {
        hide,
        tags,
        summary: "List a team's policies and the global policies it inherits",
        response: {
          200: Type.Object({
            policies: Type.Array(PolicySchema),
            inherited_policies: Type.Array(PolicySchema),
          }),
        },
        params: TeamParams,
        querystring: ListQuery,
      },
    },
    async (req) => {
      const teamId = (req.params as { id: number }).id;
      req.authorize('read', { type: 'policy', teamId });
      await teamExists(teamId);
      const q = req.query as { page?: number; per_page?: number; query?: string };
      return {
        policies: await svc.toApi(
          await ctx.ds.policies.list({ teamId, query: q.query, page: q.page, perPage: q.per_page }),
        ),
        inherited_policies: await svc.toApi(await ctx.ds.policies.list({ teamId: null })),
      };
    },
  );
  for (const path of ['/team/:id/policies/count', '/teams/:id/policies/count']) {
    app.get(
      path,
      {
        schema: {
          hide,
          tags,
          summary: "Count a team's policies",
          response: Count,
          params: TeamParams,
          querystring: Type.Object({ query: Type.Optional(Type.String({ maxLength: 255 })) }),
        },
      },
      async (req) => {
        const teamId = (req.params as { id: number }).id;
        req.authorize('read', { type: 'policy', teamId });
        return {
          count: await ctx.ds.policies.count(teamId, (req.query as { query?: string }).query),
        };
      },
    );
  }
  app.get(
    '/teams/:id/policies/:policy_id',
    {
      schema: {
        hide,
        tags,
        summary: 'Get a team policy',
        params: TeamPolicyParams,
        response: OnePolicy,
      },
    },
    async (req) => {
      const { id, policy_id } = req.params as { id: number; policy_id: number };
      const { p } = await svc.load(auth(req), 'read', policy_id, id);
      return { policy: await svc.one(p.id) };
    },
  );
  app.post(
    '/teams/:id/policies',
    {
      schema: {
        hide,
        tags,
        summary: 'Add a team policy',
        response: OnePolicy,
        params: TeamParams,
        body: PolicyBodySchema,
      },
    },
    async (req) => {
      const teamId = (req.params as { id: number }).id;
      const actor = req.authorize('write', { type: 'policy', teamId });
      const id = await svc.create(actor, teamId, req.body as PolicyBody);
      return { policy: await svc.one(id) };
    },
  );
  app.patch(
    '/teams/:id/policies/:policy_id',
    {
      schema: {
        hide,
        tags,
        summary: 'Edit a team policy',
        response: OnePolicy,
        params: TeamPolicyParams,
        body: PolicyBodySchema,
      },
    },
    async (req) => {
      const { id, policy_id } = req.params as { id: number; policy_id: number };
      const { p, actor } = await svc.load(auth(req), 'write', policy_id, id);
      await svc.update(actor, p, req.body as PolicyBody);
      return { policy: await svc.one(p.id) };
    },
  );
  app.post(
    '/teams/:id/policies/delete',
    {
      schema: {
        hide,
        tags,
        summary: 'Delete team policies (their history stays)',
        response: Deleted,
        params: TeamParams,
        body: DeleteBody,
      },
    },
    async (req) => {
      const teamId = (req.params as { id: number }).id;
      const ids = [...new Set((req.body as { ids: number[] }).ids)];
      let actor: Actor | undefined;
      const rows: PolicyRow[] = [];
      for (const id of ids) {
        const r = await svc.load(auth(req), 'write', id, teamId);
        actor = r.actor;
        rows.push(r.p);
      }
      return { deleted: await svc.delete(actor!, rows) };
    },
  );

  // ---- specs, YAML and libraries ------------------------------------------------------
  app.post(
    '/spec/policies',
    {
      schema: {
        hide,
        tags,
        summary: 'Apply policy specs: create by name or update (Fleet apply)',
        response: Applied,
        body: Type.Object({
          specs: Type.Array(Type.Object({}, { additionalProperties: true }), { maxItems: 5000 }),
        }),
      },
    },
    async (req) => {
      return await svc.applySpecs(auth(req), (req.body as { specs: unknown[] }).specs);
    },
  );
  app.post(
    '/policies/import',
    {
      schema: {
        hide,
        tags,
        summary:
          'Import policies from YAML (kind: policy documents); text/plain body, or JSON {yaml, team_id}',
        querystring: Type.Object({ team_id: Type.Optional(Type.Integer({ minimum: 1 })) }),
      },
    },
    async (req) => {
      const body = req.body as unknown;
      const yaml =
        typeof body === 'string'
          ? body
          : typeof (body as { yaml?: unknown } | null)?.yaml === 'string'
            ? (body as { yaml: string }).yaml
            : undefined;
      const bodyTeam = (body as { team_id?: unknown } | null)?.team_id;
      if (
        bodyTeam !== undefined &&
        bodyTeam !== null &&
        !(Number.isInteger(bodyTeam) && (bodyTeam as number) > 0)
      )
        throw invalid('team_id must be a team id', [
          { name: 'team_id', reason: 'must be a positive integer' },
        ]);
      const teamId =
        (req.query as { team_id?: number }).team_id ??
        (bodyTeam as number | null | undefined) ??
        null;
      req.authorize('write', { type: 'policy', teamId });
      if (yaml === undefined)
        throw invalid('send YAML as a text/plain body or as {"yaml": "..."}', [
          { name: 'yaml', reason: 'required' },
        ]);
      return await svc.applySpecs(auth(req), parsePolicyYaml(yaml), teamId);
    },
  );
  app.get(
    '/policies/export',
    {
      schema: {
        hide,
        tags,
        summary: "Export global (or a team's) policies as YAML",
        querystring: Type.Object({ team_id: Type.Optional(Type.Integer({ minimum: 1 })) }),
      },
    },
    async (req, reply) => {
      const teamId = (req.query as { team_id?: number }).team_id ?? null;
      req.authorize('read', { type: 'policy', teamId });
      void reply.header('content-type', 'application/yaml; charset=utf-8');
      return policiesToYaml(await svc.specs(teamId));
    },
  );
  app.get(
    '/policies/library',
    { schema: { hide, tags, summary: 'Policy libraries shipped with Flotilla' } },
    async (req) => {
      req.authorize('read', { type: 'policy' });
      return {
        libraries: LIBRARIES.map((l) => ({
          name: l.name,
          description: l.description,
          policies_count: parsePolicyYaml(libraryYaml(l.name)).length,
        })),
      };
    },
  );
  app.get(
    '/policies/library/:name',
    {
      schema: {
        hide,
        tags,
        summary: "A library's policies as YAML",
        params: Type.Object({ name: Type.String({ maxLength: 64 }) }),
      },
    },
    async (req, reply) => {
      req.authorize('read', { type: 'policy' });
      void reply.header('content-type', 'application/yaml; charset=utf-8');
      return libraryYaml((req.params as { name: string }).name);
    },
  );
  app.post(
    '/policies/library/:name/import',
    {
      schema: {
        hide,
        tags,
        summary: 'Import a shipped library as global or team policies',
        response: Applied,
        params: Type.Object({ name: Type.String({ maxLength: 64 }) }),
        body: Type.Optional(
          Type.Object(
            { team_id: Type.Optional(Type.Integer({ minimum: 1 })) },
            { additionalProperties: false },
          ),
        ),
      },
    },
    async (req) => {
      const teamId = (req.body as { team_id?: number } | undefined)?.team_id ?? null;
      req.authorize('write', { type: 'policy', teamId });
      return await svc.applySpecs(
        auth(req),
        parsePolicyYaml(libraryYaml((req.params as { name: string }).name)),
        teamId,
      );
    },
  );

  // ---- compliance ---------------------------------------------------------------------
  app.get(
    '/policies/compliance',
    {
      schema: {
        hide,
        tags,
        summary: 'Share of hosts passing every critical policy (global, a team or a label)',
        querystring: Type.Object(Scope),
      },
    },
    async (req) => {
      const q = req.query as { team_id?: number; label_id?: number };
      const actor = req.authorize('read', {
        type: 'policy',
        ...(q.team_id ? { teamId: q.team_id } : {}),
      });
      const visible = svc.visibleTeams(actor, q.team_id);
      await svc.source.flush();
      const c = await ctx.ds.policies.compliance({
        visibleTeams: visible,
        ...(q.team_id !== undefined ? { teamId: q.team_id } : {}),
        ...(q.label_id !== undefined ? { labelId: q.label_id } : {}),
      });
      return {
        compliance: {
          team_id: q.team_id ?? null,
          label_id: q.label_id ?? null,
          hosts_count: c.hosts,
          evaluated_hosts_count: c.evaluated,
          compliant_hosts_count: c.compliant,
          non_compliant_hosts_count: c.evaluated - c.compliant,
          compliance_percent: c.evaluated
            ? Math.round((c.compliant / c.evaluated) * 10_000) / 100
            : null,
        },
      };
    },
  );

  const historyFilter = async (
    req: FastifyRequest,
  ): Promise<{ f: HistoryFilter; q: HistoryQs }> => {
    const q = req.query as HistoryQs;
    let policyTeam: number | null | undefined;
    if (q.policy_id !== undefined) {
      const p = await ctx.ds.policies.get(q.policy_id);
      // A deleted policy keeps its history: its team comes from the history itself.
      policyTeam = p
        ? p.team_id
        : ((
            await ctx.ds.db
              .selectFrom('policy_history')
              .select('team_id')
              .where('policy_id', '=', q.policy_id)
              .limit(1)
              .executeTakeFirst()
          )?.team_id ?? null);
    }
    const teamId = q.team_id || policyTeam || undefined;
    const actor = req.authorize('read', { type: 'policy', ...(teamId ? { teamId } : {}) });
    if (q.host_id !== undefined) {
      const h = await ctx.ds.hosts.get(q.host_id);
      if (h) req.authorize('read', { type: 'host', teamId: h.team_id });
    }
    const now = ctx.clock();
    const to = parseTime(q.to, 'to', now);
    const from = parseTime(q.from, 'from', to - 30 * 86_400_000);
    if (from > to)
      throw invalid('from must not be after to', [{ name: 'from', reason: 'after to' }]);
    await svc.source.flush();
    return {
      q,
      f: {
        visibleTeams: svc.visibleTeams(actor, q.team_id),
        from,
        to,
        limit: q.limit ?? 100_000,
        ...(q.policy_id !== undefined ? { policyIds: [q.policy_id] } : {}),
        ...(q.host_id !== undefined ? { hostId: q.host_id } : {}),
        ...(q.team_id !== undefined ? { teamId: q.team_id } : {}),
        ...(q.label_id !== undefined ? { labelId: q.label_id } : {}),
      },
    };
  };

  app.get(
    '/policies/compliance/history',
    {
      schema: {
        hide,
        tags,
        summary: 'Every pass/fail change in a period (JSON or CSV)',
        querystring: HistoryQuery,
      },
    },
    async (req, reply) => {
      const { f, q } = await historyFilter(req);
      const rows = (await ctx.ds.policies.history(f)).map((r) => ({
        time: iso(r.at),
        policy_id: r.policy_id,
        policy_name: r.policy_name,
        policy_team_id: r.team_id,
        host_id: r.host_id,
        hostname: r.hostname,
        host_team_id: r.host_team_id,
        response: r.passes === 1 ? 'pass' : 'fail',
      }));
      if (q.format === 'csv') {
        void reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="policy-history.csv"');
        return toCsv(rows, [
          'time',
          'policy_id',
          'policy_name',
          'policy_team_id',
          'host_id',
          'hostname',
          'host_team_id',
          'response',
        ]);
      }
      return { from: iso(f.from), to: iso(f.to), history: rows };
    },
  );

  app.get(
    '/policies/compliance/report',
    {
      schema: {
        hide,
        tags,
        summary:
          'Per policy: hosts passing and failing at the start and end of a period, and changes in it (JSON or CSV)',
        querystring: HistoryQuery,
      },
    },
    async (req, reply) => {
      const { f, q } = await historyFilter(req);
      const { from: _from, to: _to, limit: _limit, ...scope } = f;
      const [start, end, changes] = await Promise.all([
        ctx.ds.policies.statesAt(scope, f.from),
        ctx.ds.policies.statesAt(scope, f.to),
        ctx.ds.policies.history({ ...f, limit: 10_000_000 }),
      ]);
      const per = new Map<
        number,
        {
          policy_id: number;
          policy_name: string;
          passing_at_start: number;
          failing_at_start: number;
          passing_at_end: number;
          failing_at_end: number;
          became_failing: number;
          became_passing: number;
        }
      >();
      const row = (id: number) => {
        let r = per.get(id);
        if (!r)
          per.set(
            id,
            (r = {
              policy_id: id,
              policy_name: '',
              passing_at_start: 0,
              failing_at_start: 0,
              passing_at_end: 0,
              failing_at_end: 0,
              became_failing: 0,
              became_passing: 0,
            }),
          );
        return r;
      };
      for (const s of start)
        row(s.policy_id)[s.passes === 1 ? 'passing_at_start' : 'failing_at_start']++;
      for (const s of end) row(s.policy_id)[s.passes === 1 ? 'passing_at_end' : 'failing_at_end']++;
      for (const c of changes) {
        const r = row(c.policy_id);
        r.policy_name = c.policy_name;
        r[c.passes === 1 ? 'became_passing' : 'became_failing']++;
      }
      const missing = [...per.values()].filter((r) => !r.policy_name).map((r) => r.policy_id);
      if (missing.length) {
        const names = await ctx.ds.db
          .selectFrom('policy_history')
          .select(['policy_id', 'policy_name'])
          .where('policy_id', 'in', missing)
          .orderBy('id', 'desc')
          .execute();
        for (const n of names) {
          const r = per.get(n.policy_id);
          if (r && !r.policy_name) r.policy_name = n.policy_name;
        }
      }
      const rows = [...per.values()].sort((a, b) => a.policy_id - b.policy_id);
      if (q.format === 'csv') {
        void reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="policy-report.csv"');
        return toCsv(rows, [
          'policy_id',
          'policy_name',
          'passing_at_start',
          'failing_at_start',
          'passing_at_end',
          'failing_at_end',
          'became_failing',
          'became_passing',
        ]);
      }
      return {
        from: iso(f.from),
        to: iso(f.to),
        team_id: q.team_id ?? null,
        label_id: q.label_id ?? null,
        policies: rows,
      };
    },
  );

  app.get(
    '/hosts/:id/policies/:policy_id/compliance',
    {
      schema: {
        hide,
        tags,
        summary: 'Was this host passing this policy at a given time?',
        params: Type.Object({
          id: Type.Integer({ minimum: 1 }),
          policy_id: Type.Integer({ minimum: 1 }),
        }),
        querystring: Type.Object({ at: Type.Optional(Type.String({ maxLength: 40 })) }),
      },
    },
    async (req) => {
      const { id, policy_id } = req.params as { id: number; policy_id: number };
      const host = await ctx.ds.hosts.get(id);
      const teamId =
        host?.team_id ??
        (
          await ctx.ds.db
            .selectFrom('policy_history')
            .select('host_team_id')
            .where('host_id', '=', id)
            .orderBy('id', 'desc')
            .limit(1)
            .executeTakeFirst()
        )?.host_team_id ??
        null;
      req.authorize('read', { type: 'host', teamId });
      req.authorize('read', { type: 'policy', teamId });
      const at = parseTime((req.query as { at?: string }).at, 'at', ctx.clock());
      await svc.source.flush();
      const s = await ctx.ds.policies.stateAt(id, policy_id, at);
      return {
        host_id: id,
        policy_id,
        at: iso(at),
        compliant: s ? s.passes === 1 : null,
        response: s ? (s.passes === 1 ? 'pass' : 'fail') : '',
        since: s ? iso(s.since) : null,
      };
    },
  );

  app.post(
    '/automations/reset',
    {
      schema: {
        hide,
        tags,
        summary:
          "Run failing-policy automations again for every host failing the policies (or the teams' policies)",
        body: Type.Object(
          {
            team_ids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 1000 })),
            policy_ids: Type.Optional(
              Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 10_000 }),
            ),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const b = req.body as { team_ids?: number[]; policy_ids?: number[] };
      const ids = new Set<number>();
      for (const teamId of b.team_ids ?? []) {
        req.authorize('write', { type: 'policy', teamId });
        for (const p of await ctx.ds.policies.list({ teamId })) ids.add(p.id);
      }
      for (const id of b.policy_ids ?? []) {
        const p = await ctx.ds.policies.get(id);
        req.authorize('write', { type: 'policy', teamId: p?.team_id ?? null });
        if (!p) throw notFound('policy', 'POLICY_NOT_FOUND');
        ids.add(id);
      }
      if (!ids.size) req.authorize('write', { type: 'policy', teamId: null });
      await svc.resetAutomations([...ids]);
      return {};
    },
  );

  // ---- automations --------------------------------------------------------------------
  const WebhookSchema = Type.Object(
    {
      enable_failing_policies_webhook: Type.Optional(Type.Boolean()),
      destination_url: Type.Optional(Type.String({ maxLength: 2048 })),
      policy_ids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 10_000 })),
      host_batch_size: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
    },
    { additionalProperties: false },
  );
  const automationScope = Type.Object({ team_id: Type.Optional(Type.Integer({ minimum: 1 })) });
  const stored = async (teamId: number) => (await ctx.ds.policies.automation(teamId)) ?? {};
  const current = async (teamId: number): Promise<FailingPoliciesWebhook> => ({
    ...DEFAULT_WEBHOOK,
    ...((await stored(teamId))['failing_policies_webhook'] as
      Partial<FailingPoliciesWebhook> | undefined),
  });
  const logging = async (teamId: number): Promise<{ enabled: boolean }> => ({
    enabled:
      ((await stored(teamId))['policy_result_logging'] as { enabled?: boolean } | undefined)
        ?.enabled === true,
  });
  app.get(
    '/policies/automations',
    {
      schema: {
        hide,
        tags,
        summary: 'Failing-policy automations (webhook) of the global scope or a team',
        response: Automations,
        querystring: automationScope,
      },
    },
    async (req) => {
      const teamId = (req.query as { team_id?: number }).team_id ?? null;
      req.authorize('read', { type: 'policy', teamId });
      return {
        team_id: teamId,
        webhook_settings: { failing_policies_webhook: await current(teamId ?? 0) },
        policy_result_logging: await logging(teamId ?? 0),
      };
    },
  );
  app.patch(
    '/policies/automations',
    {
      schema: {
        hide,
        tags,
        summary: 'Configure the failing-policy webhook (and result logging of policy changes)',
        response: Automations,
        querystring: automationScope,
        body: Type.Object(
          {
            webhook_settings: Type.Optional(
              Type.Object(
                { failing_policies_webhook: WebhookSchema },
                { additionalProperties: false },
              ),
            ),
            policy_result_logging: Type.Optional(ResultLogging),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const teamId = (req.query as { team_id?: number }).team_id ?? null;
      const actor = req.authorize('write', { type: 'policy', teamId });
      const body = req.body as {
        webhook_settings?: { failing_policies_webhook: Partial<FailingPoliciesWebhook> };
        policy_result_logging?: { enabled: boolean };
      };
      const patch = body.webhook_settings?.failing_policies_webhook ?? {};
      const next = { ...(await current(teamId ?? 0)), ...patch };
      const resultLogging = body.policy_result_logging ?? (await logging(teamId ?? 0));
      if (body.webhook_settings && next.enable_failing_policies_webhook) {
        let url: URL | undefined;
        try {
          url = new URL(next.destination_url);
        } catch {
          url = undefined;
        }
        if (!url || !['http:', 'https:'].includes(url.protocol))
          throw invalid('destination_url must be an http(s) URL', [
            { name: 'destination_url', reason: 'not an http(s) URL' },
          ]);
        for (const id of next.policy_ids) {
          const p = await ctx.ds.policies.get(id);
          if (!p || p.team_id !== teamId)
            throw invalid(
              `policy ${id} is not a ${teamId === null ? 'global' : 'team'} policy of this scope`,
              [{ name: 'policy_ids', reason: `unknown policy ${id}` }],
            );
        }
      }
      await ctx.ds.policies.putAutomation(
        teamId ?? 0,
        { failing_policies_webhook: next, policy_result_logging: resultLogging },
        ctx.clock(),
      );
      await svc.automationsChanged();
      await ctx.activities.record(actor, 'edited_policy_automations', {
        team_id: teamId,
        automation: 'webhook',
        enabled: next.enable_failing_policies_webhook,
        policy_ids: next.policy_ids,
        policy_result_logging: resultLogging.enabled,
      });
      return {
        team_id: teamId,
        webhook_settings: { failing_policies_webhook: next },
        policy_result_logging: resultLogging,
      };
    },
  );
}
