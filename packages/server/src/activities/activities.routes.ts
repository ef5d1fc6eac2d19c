import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { Activity, Meta, PageQuery } from '@flotilla/api';
import type { AppContext } from '../context.js';
import { iso } from '../http/format.js';

export function registerActivityRoutes(app: FastifyInstance, ctx: AppContext, hide: boolean): void {
  app.get(
    '/activities',
    {
      schema: {
        hide,
        tags: ['activities'],
        summary: 'The audit log: who did what, when',
        querystring: Type.Object({
          ...PageQuery,
          order_key: Type.Optional(
            Type.Union([Type.Literal('id'), Type.Literal('created_at'), Type.Literal('type')]),
          ),
          type: Type.Optional(Type.String({ maxLength: 128 })),
        }),
        response: { 200: Type.Object({ activities: Type.Array(Activity), meta: Meta }) },
      },
    },
    async (req) => {
      req.authorize('read', { type: 'activity', teamId: null });
      const q = req.query as {
        page?: number;
        per_page?: number;
        order_key?: 'id' | 'created_at' | 'type';
        order_direction?: 'asc' | 'desc';
        type?: string;
      };
      const page = q.page ?? 0;
      const { rows, hasNext } = await ctx.ds.activities.list({
        orderKey: q.order_key ?? 'created_at',
        orderDirection: q.order_direction ?? (q.order_key ? 'asc' : 'desc'),
        page,
        perPage: q.per_page ?? 100,
        ...(q.type ? { type: q.type } : {}),
      });
      return {
        activities: rows.map((a) => ({
          id: a.id,
          created_at: iso(a.created_at),
          actor_id: a.actor_id,
          actor_full_name: a.actor_full_name,
          actor_email: a.actor_email,
          actor_gravatar: '',
          type: a.type,
          details: JSON.parse(a.details) as Record<string, unknown>,
        })),
        meta: { has_next_results: hasNext, has_previous_results: page > 0 },
      };
    },
  );
}
