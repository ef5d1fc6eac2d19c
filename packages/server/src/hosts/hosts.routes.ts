import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { forbidden, notFound, readableTeams } from '@flotilla/core';
import { Host, HostDetail, HostStatusFilter, IdParams, PageQuery } from '@flotilla/api';
import type { AppContext } from '../context.js';
import type { HostService } from './hosts.service.js';
import { type HostListQuery } from './hosts.service.js';

const HostQuery = Type.Object({
  ...PageQuery,
  order_key: Type.Optional(Type.String({ maxLength: 64 })),
  status: Type.Optional(HostStatusFilter),
  query: Type.Optional(Type.String({ maxLength: 255 })),
  team_id: Type.Optional(Type.Integer({ minimum: 0 })),
  platform: Type.Optional(Type.String({ maxLength: 64 })),
  label_id: Type.Optional(Type.Integer({ minimum: 1 })),
  policy_id: Type.Optional(Type.Integer({ minimum: 1 })),
  policy_response: Type.Optional(Type.Union([Type.Literal('passing'), Type.Literal('failing')])),
  software_version_id: Type.Optional(Type.Integer({ minimum: 1 })),
  software_title_id: Type.Optional(Type.Integer({ minimum: 1 })),
  vulnerability: Type.Optional(Type.String({ pattern: '^[Cc][Vv][Ee]-\\d{4}-\\d{4,}$' })),
});

export function registerHostRoutes(
  app: FastifyInstance,
  ctx: AppContext,
  hosts: HostService,
  hide: boolean,
): void {
  const tags = ['hosts'];

  app.get(
    '/hosts',
    {
      schema: {
        hide,
        tags,
        summary: 'List hosts with filters, ordering and pagination',
        querystring: HostQuery,
        response: { 200: Type.Object({ hosts: Type.Array(Host) }) },
      },
    },
    async (req) => {
      const actor = req.authorize('read', { type: 'host' });
      return { hosts: await hosts.list(actor, req.query as HostListQuery) };
    },
  );

  app.get(
    '/hosts/count',
    {
      schema: {
        hide,
        tags,
        summary: 'Count hosts matching the same filters',
        querystring: HostQuery,
        response: { 200: Type.Object({ count: Type.Integer() }) },
      },
    },
    async (req) => {
      const actor = req.authorize('read', { type: 'host' });
      return { count: await hosts.count(actor, req.query as HostListQuery) };
    },
  );

  app.get(
    '/host_summary',
    {
      schema: {
        hide,
        tags,
        summary: 'Host counts by status and platform',
        querystring: Type.Object({
          team_id: Type.Optional(Type.Integer({ minimum: 0 })),
          platform: Type.Optional(Type.String({ maxLength: 64 })),
        }),
        response: {
          200: Type.Object({
            team_id: Type.Union([Type.Integer(), Type.Null()]),
            totals_hosts_count: Type.Integer(),
            online_count: Type.Integer(),
            offline_count: Type.Integer(),
            mia_count: Type.Integer(),
            missing_30_days_count: Type.Integer(),
            new_count: Type.Integer(),
            all_linux_count: Type.Integer(),
            platforms: Type.Array(
              Type.Object({ platform: Type.String(), hosts_count: Type.Integer() }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const actor = req.authorize('read', { type: 'host' });
      const q = req.query as { team_id?: number; platform?: string };
      await ctx.checkin.writes.flush();
      const rows = await ctx.ds.hosts.summary(hosts.filterFor(actor, q));
      const sum = (k: 'total' | 'online' | 'new' | 'missing') => rows.reduce((a, r) => a + r[k], 0);
      const linux = rows
        .filter((r) => !['darwin', 'windows', 'chrome', ''].includes(r.platform))
        .reduce((a, r) => a + r.total, 0);
      return {
        team_id: q.team_id ?? null,
        totals_hosts_count: sum('total'),
        online_count: sum('online'),
        offline_count: sum('total') - sum('online'),
        mia_count: sum('missing'),
        missing_30_days_count: sum('missing'),
        new_count: sum('new'),
        all_linux_count: linux,
        platforms: rows.map((r) => ({ platform: r.platform, hosts_count: r.total })),
      };
    },
  );

  app.get(
    '/hosts/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'Get a host with its users',
        params: IdParams,
        response: { 200: Type.Object({ host: HostDetail }) },
      },
    },
    async (req) => {
      const { host } = await hosts.authorized(req, 'read', (req.params as { id: number }).id);
      return { host: await hosts.detail(host) };
    },
  );

  app.get(
    '/hosts/identifier/:identifier',
    {
      schema: {
        hide,
        tags,
        summary: 'Get a host by UUID, osquery host id, hostname or node key',
        params: Type.Object({ identifier: Type.String({ minLength: 1, maxLength: 512 }) }),
        response: { 200: Type.Object({ host: HostDetail }) },
      },
    },
    async (req) => {
      const host = await hosts.byIdentifier((req.params as { identifier: string }).identifier);
      req.authorize('read', { type: 'host', teamId: host?.team_id ?? null });
      if (!host) throw notFound('host', 'HOST_NOT_FOUND');
      return { host: await hosts.detail(host) };
    },
  );

  app.delete(
    '/hosts/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'Delete a host (it re-enrolls if its agent is still running)',
        params: IdParams,
      },
    },
    async (req) => {
      const { host, actor } = await hosts.authorized(
        req,
        'write',
        (req.params as { id: number }).id,
      );
      await hosts.delete(actor, [host]);
      return {};
    },
  );

  app.post(
    '/hosts/delete',
    {
      schema: {
        hide,
        tags,
        summary: 'Delete hosts by id',
        body: Type.Object(
          { ids: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 10_000 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const ids = (req.body as { ids: number[] }).ids;
      const rows = [];
      let actor = req.authorize('write', { type: 'host' });
      for (const id of new Set(ids)) {
        const r = await hosts.authorized(req, 'write', id);
        rows.push(r.host);
        actor = r.actor;
      }
      await hosts.delete(actor, rows);
      return {};
    },
  );

  app.post(
    '/hosts/:id/refetch',
    {
      schema: {
        hide,
        tags,
        summary: 'Ask the host for fresh vitals on its next check-in',
        params: IdParams,
      },
    },
    async (req) => {
      const { host, actor } = await hosts.authorized(
        req,
        'refetch',
        (req.params as { id: number }).id,
      );
      await hosts.refetch(actor, host);
      return {};
    },
  );

  app.post(
    '/hosts/transfer',
    {
      schema: {
        hide,
        tags,
        summary: 'Move hosts to a team (or to no team with team_id null)',
        body: Type.Object(
          {
            team_id: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
            hosts: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 10_000 }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const body = req.body as { team_id: number | null; hosts: number[] };
      const actor = req.authorize('transfer', { type: 'host', teamId: body.team_id });
      for (const id of body.hosts) await hosts.authorized(req, 'transfer', id);
      const visible = readableTeams(actor, 'host', 'transfer');
      if (visible !== 'all' && body.team_id === null) throw forbidden();
      await hosts.transfer(actor, body.team_id, body.hosts);
      return {};
    },
  );
}
