import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { notFound, readableTeams } from '@flotilla/core';
import type { CarveRow } from '@flotilla/db';
import type { AppContext } from '../context.js';
import { iso } from '../http/format.js';

const CARVE_TTL_MS = 24 * 3600 * 1000;

const Carve = Type.Object({
  id: Type.Integer(),
  created_at: Type.String(),
  host_id: Type.Integer(),
  name: Type.String(),
  block_count: Type.Integer(),
  block_size: Type.Integer(),
  carve_size: Type.Number(),
  carve_id: Type.String(),
  request_id: Type.String(),
  session_id: Type.String(),
  expired: Type.Boolean(),
  max_block: Type.Integer(),
  error: Type.Optional(Type.String()),
});

export function registerCarveRoutes(app: FastifyInstance, ctx: AppContext, hide: boolean): void {
  const tags = ['carves'];
  const toApi = (c: CarveRow) => ({
    id: c.id,
    created_at: iso(c.created_at),
    host_id: c.host_id,
    name: c.name,
    block_count: c.block_count,
    block_size: c.block_size,
    carve_size: c.carve_size,
    carve_id: c.carve_id,
    request_id: c.request_id,
    session_id: c.session_id,
    expired: c.created_at + CARVE_TTL_MS < ctx.clock(),
    max_block: c.max_block,
    ...(c.error ? { error: c.error } : {}),
  });
  const load = async (
    req: { authorize: (a: 'read', o: { type: 'carve'; teamId: number | null }) => unknown },
    id: number,
  ) => {
    const c = await ctx.ds.carves.get(id);
    const host = c ? await ctx.ds.hosts.get(c.host_id) : undefined;
    req.authorize('read', { type: 'carve', teamId: host?.team_id ?? null });
    if (!c) throw notFound('carve', 'CARVE_NOT_FOUND');
    return c;
  };

  app.get(
    '/carves',
    {
      schema: {
        hide,
        tags,
        summary: 'List file carves',
        response: { 200: Type.Object({ carves: Type.Array(Carve) }) },
      },
    },
    async (req) => {
      const actor = req.authorize('read', { type: 'carve' });
      const teams = readableTeams(actor, 'carve');
      let hostIds: 'all' | number[] = 'all';
      if (teams !== 'all') {
        const hs = await ctx.ds.hosts.list(
          { visibleTeams: teams, nowMs: ctx.clock() },
          { page: 0, perPage: 1_000_000, orderKey: 'id', orderDirection: 'asc' },
        );
        hostIds = hs.map((h) => h.id);
      }
      return { carves: (await ctx.ds.carves.list(hostIds)).map(toApi) };
    },
  );

  app.get(
    '/carves/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'Get a carve',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        response: { 200: Type.Object({ carve: Carve }) },
      },
    },
    async (req) => {
      return { carve: toApi(await load(req, (req.params as { id: number }).id)) };
    },
  );

  app.get(
    '/carves/:id/block/:block_id',
    {
      schema: {
        hide,
        tags,
        summary: 'One block of carved data (base64)',
        params: Type.Object({
          id: Type.Integer({ minimum: 1 }),
          block_id: Type.Integer({ minimum: 0 }),
        }),
        response: { 200: Type.Object({ data: Type.String() }) },
      },
    },
    async (req) => {
      const { id, block_id } = req.params as { id: number; block_id: number };
      const c = await load(req, id);
      const data = await ctx.ds.carves.block(c.id, block_id);
      if (!data) throw notFound('carve block', 'CARVE_BLOCK_NOT_FOUND');
      return { data: Buffer.from(data).toString('base64') };
    },
  );
}
