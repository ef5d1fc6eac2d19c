import Type from 'typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { conflict, forbidden, invalid, notFound, readableTeams, type Actor } from '@flotilla/core';
import type { QueryRow } from '@flotilla/db';
import { IdParams, PageQuery } from '@flotilla/api';
import type { AppContext } from '../context.js';
import { iso } from '../http/format.js';
import { checkSql } from './sql-check.js';

const LOGGING = ['snapshot', 'differential', 'differential_ignore_removals'] as const;

const QueryFields = {
  name: Type.String({ minLength: 1, maxLength: 255 }),
  description: Type.Optional(Type.String({ maxLength: 10_000 })),
  query: Type.String({ minLength: 1, maxLength: 100_000 }),
  team_id: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  interval: Type.Optional(Type.Integer({ minimum: 0, maximum: 604_800 })),
  platform: Type.Optional(Type.String({ maxLength: 64 })),
  min_osquery_version: Type.Optional(Type.String({ maxLength: 32 })),
  automations_enabled: Type.Optional(Type.Boolean()),
  logging: Type.Optional(Type.Union(LOGGING.map((l) => Type.Literal(l)))),
  observer_can_run: Type.Optional(Type.Boolean()),
  discard_data: Type.Optional(Type.Boolean()),
};
const CreateQuery = Type.Object(QueryFields, { additionalProperties: false });
const UpdateQuery = Type.Object(
  Object.fromEntries(
    Object.entries(QueryFields).map(([k, v]) => [k, k === 'team_id' ? v : Type.Optional(v)]),
  ) as typeof QueryFields,
  { additionalProperties: false },
);

type QueryBody = {
  name?: string;
  description?: string;
  query?: string;
  team_id?: number | null;
  interval?: number;
  platform?: string;
  min_osquery_version?: string;
  automations_enabled?: boolean;
  logging?: string;
  observer_can_run?: boolean;
  discard_data?: boolean;
};

const PLATFORMS = new Set(['', 'darwin', 'linux', 'windows', 'chrome', 'freebsd']);

/** Saved queries (Fleet's /queries), global or per team, with Fleet's authorship rules. */
export function registerQueryRoutes(app: FastifyInstance, ctx: AppContext, hide: boolean): void {
  const tags = ['queries'];
  const authors = async (rows: QueryRow[]) => {
    const ids = [...new Set(rows.map((r) => r.author_id).filter((a): a is number => a !== null))];
    const users = ids.length
      ? await ctx.ds.db
          .selectFrom('users')
          .select(['id', 'name', 'email'])
          .where('id', 'in', ids)
          .execute()
      : [];
    return new Map(users.map((u) => [u.id, u]));
  };
  const toApi = (q: QueryRow, by: Map<number, { name: string; email: string }>) => ({
    id: q.id,
    name: q.name,
    description: q.description,
    query: q.query,
    team_id: q.team_id,
    interval: q.interval,
    platform: q.platform,
    min_osquery_version: q.min_osquery_version,
    automations_enabled: q.automations_enabled === 1,
    logging: q.logging,
    saved: true,
    observer_can_run: q.observer_can_run === 1,
    discard_data: q.discard_data === 1,
    author_id: q.author_id,
    author_name: q.author_id !== null ? (by.get(q.author_id)?.name ?? '') : '',
    author_email: q.author_id !== null ? (by.get(q.author_id)?.email ?? '') : '',
    packs: [],
    created_at: iso(q.created_at),
    updated_at: iso(q.updated_at),
  });
  const one = async (q: QueryRow) => toApi(q, await authors([q]));
  const validate = (b: QueryBody) => {
    if (b.platform !== undefined) {
      const bad = b.platform
        .split(',')
        .map((p) => p.trim())
        .filter((p) => !PLATFORMS.has(p));
      if (bad.length)
        throw invalid('Validation Failed', [
          { name: 'platform', reason: `unknown platform ${bad.join(', ')}` },
        ]);
    }
    if (b.query !== undefined) checkSql(b.query);
  };
  const load = async (
    req: FastifyRequest,
    action: 'read' | 'write',
    id: number,
  ): Promise<{ q: QueryRow; actor: Actor }> => {
    const q = await ctx.ds.queries.get(id);
    const actor = req.authorize(action, {
      type: 'query',
      teamId: q?.team_id ?? null,
      authorId: q?.author_id ?? null,
    });
    if (!q) throw notFound('query', 'QUERY_NOT_FOUND');
    return { q, actor };
  };

  app.get(
    '/queries',
    {
      schema: {
        hide,
        tags,
        summary: 'List saved queries (global, or a team with its inherited global ones)',
        querystring: Type.Object({
          ...PageQuery,
          order_key: Type.Optional(
            Type.Union(['id', 'name', 'created_at', 'updated_at'].map((k) => Type.Literal(k))),
          ),
          query: Type.Optional(Type.String({ maxLength: 255 })),
          team_id: Type.Optional(Type.Integer({ minimum: 1 })),
          merge_inherited: Type.Optional(Type.Boolean()),
        }),
      },
    },
    async (req) => {
      const actor = req.authorize('read', { type: 'query' });
      const q = req.query as {
        page?: number;
        per_page?: number;
        order_key?: 'id' | 'name' | 'created_at' | 'updated_at';
        order_direction?: 'asc' | 'desc';
        query?: string;
        team_id?: number;
        merge_inherited?: boolean;
      };
      const visible = readableTeams(actor, 'query');
      if (q.team_id !== undefined && visible !== 'all' && !visible.includes(q.team_id))
        throw forbidden();
      const rows = await ctx.ds.queries.list({
        teamIds: q.team_id !== undefined ? [q.team_id] : visible,
        includeGlobal: q.team_id === undefined || q.merge_inherited === true,
        onlyTeam:
          q.team_id === undefined
            ? visible === 'all'
              ? null
              : undefined
            : q.merge_inherited
              ? undefined
              : q.team_id,
        query: q.query,
        orderKey: q.order_key ?? 'name',
        orderDirection: q.order_direction ?? 'asc',
        page: q.page ?? 0,
        perPage: q.per_page ?? 100,
      });
      const by = await authors(rows);
      return { queries: rows.map((r) => toApi(r, by)) };
    },
  );

  app.get(
    '/queries/:id',
    { schema: { hide, tags, summary: 'Get a saved query', params: IdParams } },
    async (req) => {
      const { q } = await load(req, 'read', (req.params as { id: number }).id);
      return { query: await one(q) };
    },
  );

  app.post(
    '/queries',
    {
      schema: {
        hide,
        tags,
        summary: 'Save a query (checked against the osquery schema)',
        body: CreateQuery,
      },
    },
    async (req) => {
      const b = req.body as QueryBody & { name: string; query: string };
      const teamId = b.team_id ?? null;
      const actor = req.authorize('write', { type: 'query', teamId });
      validate(b);
      if (await ctx.ds.queries.getByName(b.name, teamId))
        throw conflict(`a query named "${b.name}" already exists`, 'QUERY_NAME_TAKEN');
      if (teamId !== null && !(await ctx.ds.teams.get(teamId)))
        throw notFound('team', 'TEAM_NOT_FOUND');
      const now = ctx.clock();
      const id = await ctx.ds.queries.create({
        name: b.name,
        description: b.description ?? '',
        query: b.query,
        team_id: teamId,
        interval: b.interval ?? 0,
        platform: b.platform ?? '',
        min_osquery_version: b.min_osquery_version ?? '',
        automations_enabled: b.automations_enabled ? 1 : 0,
        logging: b.logging ?? 'snapshot',
        observer_can_run: b.observer_can_run ? 1 : 0,
        discard_data: b.discard_data ? 1 : 0,
        author_id: actor.id,
        created_at: now,
        updated_at: now,
      });
      await ctx.activities.record(actor, 'created_saved_query', {
        query_id: id,
        query_name: b.name,
        team_id: teamId,
      });
      if ((b.interval ?? 0) > 0) ctx.checkin.agentOptionsChanged();
      return { query: await one((await ctx.ds.queries.get(id))!) };
    },
  );

  app.patch(
    '/queries/:id',
    {
      schema: { hide, tags, summary: 'Modify a saved query', params: IdParams, body: UpdateQuery },
    },
    async (req) => {
      const { q, actor } = await load(req, 'write', (req.params as { id: number }).id);
      const b = req.body as QueryBody;
      if (b.team_id !== undefined && b.team_id !== q.team_id)
        throw invalid('a query cannot move between teams', [
          { name: 'team_id', reason: 'cannot change' },
        ]);
      validate(b);
      if (b.name && b.name !== q.name && (await ctx.ds.queries.getByName(b.name, q.team_id)))
        throw conflict(`a query named "${b.name}" already exists`, 'QUERY_NAME_TAKEN');
      const set: Record<string, unknown> = { updated_at: ctx.clock() };
      for (const [k, v] of Object.entries(b)) {
        if (k === 'team_id' || v === undefined) continue;
        set[k] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
      }
      await ctx.ds.queries.update(q.id, set);
      await ctx.activities.record(actor, 'edited_saved_query', {
        query_id: q.id,
        query_name: b.name ?? q.name,
        team_id: q.team_id,
      });
      ctx.checkin.agentOptionsChanged();
      return { query: await one((await ctx.ds.queries.get(q.id))!) };
    },
  );

  app.delete(
    '/queries/id/:id',
    { schema: { hide, tags, summary: 'Delete a saved query by id', params: IdParams } },
    async (req) => {
      const { q, actor } = await load(req, 'write', (req.params as { id: number }).id);
      await ctx.ds.queries.delete([q.id]);
      await ctx.activities.record(actor, 'deleted_saved_query', {
        query_id: q.id,
        query_name: q.name,
        team_id: q.team_id,
      });
      ctx.checkin.agentOptionsChanged();
      return {};
    },
  );

  app.post(
    '/queries/delete',
    {
      schema: {
        hide,
        tags,
        summary: 'Delete saved queries by id',
        body: Type.Object(
          { ids: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 1000 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const ids = [...new Set((req.body as { ids: number[] }).ids)];
      let actor: Actor | undefined;
      for (const id of ids) actor = (await load(req, 'write', id)).actor;
      const n = await ctx.ds.queries.delete(ids);
      await ctx.activities.record(actor!, 'deleted_multiple_saved_query', { query_ids: ids });
      ctx.checkin.agentOptionsChanged();
      return { deleted: n };
    },
  );
}
