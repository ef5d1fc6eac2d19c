import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { notFound, readableTeams } from '@flotilla/core';
import type { AppContext } from '../context.js';
import { iso } from '../http/format.js';
import type { QueryReportWriter } from './query-reports.js';

const Params = Type.Object({
  id: Type.Integer({ minimum: 1 }),
  query_id: Type.Integer({ minimum: 1 }),
});

/** Query reports (Fleet's stored results of scheduled queries) and scheduled query statistics. */
export function registerReportRoutes(
  app: FastifyInstance,
  ctx: AppContext,
  reports: QueryReportWriter,
  hide: boolean,
): void {
  const tags = ['queries'];
  const visibleHosts = async (teams: 'all' | number[]): Promise<'all' | number[]> => {
    if (teams === 'all') return 'all';
    const rows = teams.length
      ? await ctx.ds.db.selectFrom('hosts').select('id').where('team_id', 'in', teams).execute()
      : [];
    return rows.map((r) => r.id);
  };

  app.get(
    '/queries/:id/report',
    {
      schema: {
        hide,
        tags,
        summary: "A scheduled query's latest results from every host (capped)",
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      const q = await ctx.ds.queries.get(id);
      const actor = req.authorize('read', { type: 'query', teamId: q?.team_id ?? null });
      if (!q) throw notFound('query', 'QUERY_NOT_FOUND');
      await reports.flush();
      const rows = await ctx.ds.queryReports.report(
        id,
        await visibleHosts(readableTeams(actor, 'host')),
        ctx.config.queryReportMaxRows || 1000,
      );
      return {
        query_id: id,
        report_clipped: reports.clipped.has(id),
        results: rows.map((r) => ({
          host_id: r.host_id,
          host_name: r.computer_name || r.hostname,
          last_fetched: iso(r.last_fetched),
          columns: JSON.parse(r.data) as Record<string, string>,
        })),
      };
    },
  );

  app.get(
    '/queries/:id/events',
    {
      schema: {
        hide,
        tags,
        summary: 'Time-ordered results of a scheduled query over event tables (bounded store)',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        querystring: Type.Object({
          since: Type.Optional(Type.String({ format: 'date-time' })),
          host_id: Type.Optional(Type.Integer({ minimum: 1 })),
          per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
        }),
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      const q = await ctx.ds.queries.get(id);
      const actor = req.authorize('read', { type: 'query', teamId: q?.team_id ?? null });
      if (!q) throw notFound('query', 'QUERY_NOT_FOUND');
      const qs = req.query as { since?: string; host_id?: number; per_page?: number };
      await reports.flush();
      let hosts = await visibleHosts(readableTeams(actor, 'host'));
      if (qs.host_id !== undefined)
        hosts = hosts === 'all' || hosts.includes(qs.host_id) ? [qs.host_id] : [];
      const rows = await ctx.ds.queryReports.events(id, {
        since: qs.since ? Date.parse(qs.since) : 0,
        hostIds: hosts,
        limit: qs.per_page ?? 1000,
      });
      return {
        query_id: id,
        events: rows.map((r) => ({
          host_id: r.host_id,
          host_name: r.hostname,
          time: iso(r.time),
          columns: JSON.parse(r.data) as Record<string, string>,
        })),
      };
    },
  );

  app.get(
    '/hosts/:id/queries/:query_id',
    {
      schema: {
        hide,
        tags,
        summary: "One host's latest results for a scheduled query",
        params: Params,
      },
    },
    async (req) => {
      const { id, query_id } = req.params as { id: number; query_id: number };
      const host = await ctx.ds.hosts.get(id);
      req.authorize('read', { type: 'host', teamId: host?.team_id ?? null });
      if (!host) throw notFound('host', 'HOST_NOT_FOUND');
      const q = await ctx.ds.queries.get(query_id);
      if (!q) throw notFound('query', 'QUERY_NOT_FOUND');
      await reports.flush();
      const rows = await ctx.ds.queryReports.report(
        query_id,
        [id],
        ctx.config.queryReportMaxRows || 1000,
      );
      return {
        query_id,
        host_id: id,
        host_name: host.computer_name || host.hostname,
        last_fetched: rows[0] ? iso(rows[0].last_fetched) : null,
        report_clipped: reports.clipped.has(query_id),
        results: rows.map((r) => ({ columns: JSON.parse(r.data) as Record<string, string> })),
      };
    },
  );

  app.get(
    '/hosts/:id/scheduled_query_stats',
    {
      schema: {
        hide,
        tags,
        summary:
          'How each scheduled query performs on a host (from osquery_schedule) and its last error',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      const host = await ctx.ds.hosts.get(id);
      req.authorize('read', { type: 'host', teamId: host?.team_id ?? null });
      if (!host) throw notFound('host', 'HOST_NOT_FOUND');
      const rows = await ctx.ds.queryReports.statsForHost(id);
      return {
        host_id: id,
        scheduled_query_stats: rows.map((r) => ({
          scheduled_query_name: r.name,
          query_id: r.query_id,
          interval: r.interval,
          executions: r.executions,
          last_executed: iso(r.last_executed),
          wall_time_ms: r.wall_time_ms,
          user_time: r.user_time,
          system_time: r.system_time,
          average_memory: r.average_memory,
          output_size: r.output_size,
          denylisted: r.denylisted === 1,
          last_error: r.last_error,
          last_error_at: r.last_error_at ? iso(r.last_error_at) : null,
        })),
      };
    },
  );

  app.get(
    '/queries/:id/stats',
    {
      schema: {
        hide,
        tags,
        summary: 'A scheduled query across hosts: executions, time, denylisting, errors',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      const q = await ctx.ds.queries.get(id);
      req.authorize('read', { type: 'query', teamId: q?.team_id ?? null });
      if (!q) throw notFound('query', 'QUERY_NOT_FOUND');
      const s = await ctx.ds.queryReports.statsForQuery(id);
      const n = (v: unknown) => Number(v ?? 0);
      return {
        query_id: id,
        stats: {
          hosts_reporting: n(s.hosts),
          total_executions: n(s.executions),
          wall_time_ms: n(s.wall_time_ms),
          user_time: n(s.user_time),
          system_time: n(s.system_time),
          denylisted_hosts: n(s.denylisted_hosts),
          hosts_with_errors: n(s.hosts_with_errors),
        },
      };
    },
  );
}
