import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import type { LogPipeline } from './pipeline.js';

/** Where logs stand: per destination delivered lines, errors, backlog and lag; rejected lines. */
export function registerLoggingRoutes(
  app: FastifyInstance,
  _ctx: AppContext,
  pipeline: LogPipeline,
  hide: boolean,
): void {
  app.get(
    '/logging/status',
    {
      schema: {
        hide,
        tags: ['logging'],
        summary: 'Log pipeline status: destinations, backlog, lag, rejected lines',
      },
    },
    async (req) => {
      req.authorize('read', { type: 'app_config', teamId: null });
      const c = pipeline.counters;
      return {
        accepted_lines: c.accepted,
        rejected_lines: {
          malformed: c.malformed,
          oversized: c.oversized,
          wrong_type: c.wrong_type,
        },
        unknown_query_lines: c.unknown_query,
        destinations: pipeline.status(),
      };
    },
  );
}
