import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { conflict, invalid, notFound } from '@flotilla/core';
import { IdParams } from '@flotilla/api';
import type { AppContext } from '../context.js';
import { iso } from '../http/format.js';
import type { PackService } from './packs.service.js';

const Ids = Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 100_000 });
const PackBody = {
  name: Type.String({ minLength: 1, maxLength: 255, pattern: '^[^/:]+$' }),
  description: Type.Optional(Type.String({ maxLength: 10_000 })),
  platform: Type.Optional(Type.String({ maxLength: 64 })),
  disabled: Type.Optional(Type.Boolean()),
  host_ids: Type.Optional(Ids),
  label_ids: Type.Optional(Ids),
  team_ids: Type.Optional(Ids),
};
const ScheduleBody = {
  pack_id: Type.Integer({ minimum: 1 }),
  query_id: Type.Integer({ minimum: 1 }),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  interval: Type.Integer({ minimum: 1, maximum: 604_800 }),
  snapshot: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  removed: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  platform: Type.Optional(Type.String({ maxLength: 64 })),
  version: Type.Optional(Type.String({ maxLength: 32 })),
  shard: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 100 }), Type.Null()])),
  denylist: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
};

type PackIn = {
  name?: string;
  description?: string;
  platform?: string;
  disabled?: boolean;
  host_ids?: number[];
  label_ids?: number[];
  team_ids?: number[];
};
type SchedIn = {
  pack_id?: number;
  query_id?: number;
  name?: string;
  interval?: number;
  snapshot?: boolean | null;
  removed?: boolean | null;
  platform?: string;
  version?: string;
  shard?: number | null;
  denylist?: boolean | null;
};
const b01 = (v: boolean | null | undefined) => (v === undefined || v === null ? null : v ? 1 : 0);

/**
 * Fleet's legacy packs API (`/packs`, `/packs/{id}/scheduled`, `/schedule`): packs of scheduled
 * queries targeted at hosts, labels and teams, with osquery's shard/denylist/removed/snapshot
 * options. Global admins and maintainers manage them.
 */
export function registerPackRoutes(
  app: FastifyInstance,
  ctx: AppContext,
  packs: PackService,
  hide: boolean,
): void {
  const tags = ['packs'];
  const db = ctx.ds.db;
  const load = async (id: number) => {
    const p = await db.selectFrom('packs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!p) throw notFound('pack', 'PACK_NOT_FOUND');
    return p;
  };
  const toApi = async (p: Awaited<ReturnType<typeof load>>) => {
    const t = await db.selectFrom('pack_targets').selectAll().where('pack_id', '=', p.id).execute();
    const count = await db
      .selectFrom('scheduled_queries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('pack_id', '=', p.id)
      .executeTakeFirstOrThrow();
    const of = (type: string) => t.filter((x) => x.type === type).map((x) => x.target_id);
    return {
      id: p.id,
      name: p.name,
      description: p.description,
      platform: p.platform,
      disabled: p.disabled === 1,
      type: null,
      query_count: Number(count.n),
      host_ids: of('host'),
      label_ids: of('label'),
      team_ids: of('team'),
      created_at: iso(p.created_at),
      updated_at: iso(p.updated_at),
    };
  };
  const setTargets = async (packId: number, b: PackIn) => {
    for (const [type, ids] of [
      ['host', b.host_ids],
      ['label', b.label_ids],
      ['team', b.team_ids],
    ] as const) {
      if (!ids) continue;
      await db
        .deleteFrom('pack_targets')
        .where('pack_id', '=', packId)
        .where('type', '=', type)
        .execute();
      const unique = [...new Set(ids)];
      if (unique.length)
        await db
          .insertInto('pack_targets')
          .values(unique.map((target_id) => ({ pack_id: packId, type, target_id })))
          .execute();
    }
  };
  const schedToApi = (s: {
    id: number;
    pack_id: number;
    query_id: number;
    name: string;
    interval: number;
    snapshot: number | null;
    removed: number | null;
    platform: string;
    version: string;
    shard: number | null;
    denylist: number | null;
    created_at: number;
    updated_at: number;
    query: string;
    query_name: string;
  }) => ({
    id: s.id,
    pack_id: s.pack_id,
    query_id: s.query_id,
    name: s.name,
    query_name: s.query_name,
    query: s.query,
    interval: s.interval,
    snapshot: s.snapshot === null ? null : s.snapshot === 1,
    removed: s.removed === null ? null : s.removed === 1,
    platform: s.platform,
    version: s.version,
    shard: s.shard,
    denylist: s.denylist === null ? null : s.denylist === 1,
    created_at: iso(s.created_at),
    updated_at: iso(s.updated_at),
  });
  const scheduled = (where: { packId?: number; id?: number }) => {
    let q = db
      .selectFrom('scheduled_queries')
      .innerJoin('queries', 'queries.id', 'scheduled_queries.query_id')
      .selectAll('scheduled_queries')
      .select(['queries.query', 'queries.name as query_name']);
    if (where.packId !== undefined) q = q.where('scheduled_queries.pack_id', '=', where.packId);
    if (where.id !== undefined) q = q.where('scheduled_queries.id', '=', where.id);
    return q.orderBy('scheduled_queries.id').execute();
  };

  app.get('/packs', { schema: { hide, tags, summary: 'List packs' } }, async (req) => {
    req.authorize('read', { type: 'query', teamId: null });
    const rows = await db.selectFrom('packs').selectAll().orderBy('name').execute();
    return { packs: await Promise.all(rows.map(toApi)) };
  });

  app.get(
    '/packs/:id',
    { schema: { hide, tags, summary: 'Get a pack', params: IdParams } },
    async (req) => {
      req.authorize('read', { type: 'query', teamId: null });
      return { pack: await toApi(await load((req.params as { id: number }).id)) };
    },
  );

  app.post(
    '/packs',
    {
      schema: {
        hide,
        tags,
        summary: 'Create a pack',
        body: Type.Object(PackBody, { additionalProperties: false }),
      },
    },
    async (req) => {
      const actor = req.authorize('write', { type: 'query', teamId: null });
      const b = req.body as PackIn & { name: string };
      if (await db.selectFrom('packs').select('id').where('name', '=', b.name).executeTakeFirst())
        throw conflict(`a pack named "${b.name}" already exists`, 'PACK_NAME_TAKEN');
      const now = ctx.clock();
      const { id } = await db
        .insertInto('packs')
        .values({
          name: b.name,
          description: b.description ?? '',
          platform: b.platform ?? '',
          disabled: b.disabled ? 1 : 0,
          created_at: now,
          updated_at: now,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await setTargets(id, b);
      await packs.changed();
      await ctx.activities.record(actor, 'created_pack', { pack_id: id, pack_name: b.name });
      return { pack: await toApi(await load(id)) };
    },
  );

  app.patch(
    '/packs/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'Modify a pack (targets are replaced when given)',
        params: IdParams,
        body: Type.Partial(Type.Object(PackBody, { additionalProperties: false })),
      },
    },
    async (req) => {
      const actor = req.authorize('write', { type: 'query', teamId: null });
      const p = await load((req.params as { id: number }).id);
      const b = req.body as PackIn;
      if (
        b.name &&
        b.name !== p.name &&
        (await db.selectFrom('packs').select('id').where('name', '=', b.name).executeTakeFirst())
      )
        throw conflict(`a pack named "${b.name}" already exists`, 'PACK_NAME_TAKEN');
      await db
        .updateTable('packs')
        .set({
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(b.description !== undefined ? { description: b.description } : {}),
          ...(b.platform !== undefined ? { platform: b.platform } : {}),
          ...(b.disabled !== undefined ? { disabled: b.disabled ? 1 : 0 } : {}),
          updated_at: ctx.clock(),
        })
        .where('id', '=', p.id)
        .execute();
      await setTargets(p.id, b);
      await packs.changed();
      await ctx.activities.record(actor, 'edited_pack', {
        pack_id: p.id,
        pack_name: b.name ?? p.name,
      });
      return { pack: await toApi(await load(p.id)) };
    },
  );

  const remove = async (
    actor: Parameters<typeof ctx.activities.record>[0],
    p: Awaited<ReturnType<typeof load>>,
  ) => {
    await db.deleteFrom('packs').where('id', '=', p.id).execute();
    await packs.changed();
    await ctx.activities.record(actor, 'deleted_pack', { pack_name: p.name });
  };
  app.delete(
    '/packs/id/:id',
    { schema: { hide, tags, summary: 'Delete a pack by id', params: IdParams } },
    async (req) => {
      const actor = req.authorize('write', { type: 'query', teamId: null });
      await remove(actor, await load((req.params as { id: number }).id));
      return {};
    },
  );
  app.delete(
    '/packs/:name',
    {
      schema: {
        hide,
        tags,
        summary: 'Delete a pack by name',
        params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }),
      },
    },
    async (req) => {
      const actor = req.authorize('write', { type: 'query', teamId: null });
      const p = await db
        .selectFrom('packs')
        .selectAll()
        .where('name', '=', (req.params as { name: string }).name)
        .executeTakeFirst();
      if (!p) throw notFound('pack', 'PACK_NOT_FOUND');
      await remove(actor, p);
      return {};
    },
  );

  app.get(
    '/packs/:id/scheduled',
    { schema: { hide, tags, summary: "A pack's scheduled queries", params: IdParams } },
    async (req) => {
      req.authorize('read', { type: 'query', teamId: null });
      await load((req.params as { id: number }).id);
      return {
        scheduled: (await scheduled({ packId: (req.params as { id: number }).id })).map(schedToApi),
      };
    },
  );

  app.post(
    '/schedule',
    {
      schema: {
        hide,
        tags,
        summary: 'Add a query to a pack',
        body: Type.Object(ScheduleBody, { additionalProperties: false }),
      },
    },
    async (req) => {
      const actor = req.authorize('write', { type: 'query', teamId: null });
      const b = req.body as SchedIn & { pack_id: number; query_id: number; interval: number };
      const pack = await load(b.pack_id);
      const q = await ctx.ds.queries.get(b.query_id);
      if (!q) throw notFound('query', 'QUERY_NOT_FOUND');
      const name = b.name ?? q.name;
      if (/[/:]/.test(name))
        throw invalid('Validation Failed', [
          { name: 'name', reason: 'must not contain "/" or ":"' },
        ]);
      const now = ctx.clock();
      const { id } = await db
        .insertInto('scheduled_queries')
        .values({
          pack_id: pack.id,
          query_id: q.id,
          name,
          interval: b.interval,
          snapshot: b01(b.snapshot),
          removed: b01(b.removed),
          platform: b.platform ?? '',
          version: b.version ?? '',
          shard: b.shard ?? null,
          denylist: b01(b.denylist),
          created_at: now,
          updated_at: now,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await packs.changed();
      await ctx.activities.record(actor, 'added_scheduled_query_to_pack', {
        pack_id: pack.id,
        pack_name: pack.name,
        query_id: q.id,
        query_name: q.name,
      });
      return { scheduled: schedToApi((await scheduled({ id }))[0]!) };
    },
  );

  app.patch(
    '/schedule/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'Modify a scheduled query in a pack',
        params: IdParams,
        body: Type.Partial(Type.Object(ScheduleBody, { additionalProperties: false })),
      },
    },
    async (req) => {
      const actor = req.authorize('write', { type: 'query', teamId: null });
      const id = (req.params as { id: number }).id;
      const cur = (await scheduled({ id }))[0];
      if (!cur) throw notFound('scheduled query', 'SCHEDULED_QUERY_NOT_FOUND');
      const b = req.body as SchedIn;
      await db
        .updateTable('scheduled_queries')
        .set({
          ...(b.interval !== undefined ? { interval: b.interval } : {}),
          ...(b.snapshot !== undefined ? { snapshot: b01(b.snapshot) } : {}),
          ...(b.removed !== undefined ? { removed: b01(b.removed) } : {}),
          ...(b.platform !== undefined ? { platform: b.platform } : {}),
          ...(b.version !== undefined ? { version: b.version } : {}),
          ...(b.shard !== undefined ? { shard: b.shard } : {}),
          ...(b.denylist !== undefined ? { denylist: b01(b.denylist) } : {}),
          updated_at: ctx.clock(),
        })
        .where('id', '=', id)
        .execute();
      await packs.changed();
      await ctx.activities.record(actor, 'edited_scheduled_query', {
        scheduled_query_id: id,
        pack_id: cur.pack_id,
      });
      return { scheduled: schedToApi((await scheduled({ id }))[0]!) };
    },
  );

  app.delete(
    '/schedule/:id',
    { schema: { hide, tags, summary: 'Remove a scheduled query from its pack', params: IdParams } },
    async (req) => {
      const actor = req.authorize('write', { type: 'query', teamId: null });
      const id = (req.params as { id: number }).id;
      const cur = (await scheduled({ id }))[0];
      if (!cur) throw notFound('scheduled query', 'SCHEDULED_QUERY_NOT_FOUND');
      await db.deleteFrom('scheduled_queries').where('id', '=', id).execute();
      await packs.changed();
      await ctx.activities.record(actor, 'deleted_scheduled_query', {
        scheduled_query_id: id,
        pack_id: cur.pack_id,
      });
      return {};
    },
  );
}
