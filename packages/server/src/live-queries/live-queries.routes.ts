import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { isFlotillaError, type Actor } from '@flotilla/core';
import { IdParams } from '@flotilla/api';
import type { AppContext } from '../context.js';
import { tokenHash } from '../crypto/secrets.js';
import { actorOf } from '../http/auth.js';
import { iso } from '../http/format.js';
import type { CampaignService } from './campaign.service.js';
import { DEFAULT_SYNC_SECONDS } from './campaign.service.js';
import type { SessionEvent } from './campaign-session.js';

const Ids = Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 100_000 });
const Selected = Type.Object(
  {
    hosts: Type.Optional(Ids),
    labels: Type.Optional(Ids),
    labels_include_all: Type.Optional(Ids),
    labels_exclude: Type.Optional(Ids),
    teams: Type.Optional(Ids),
  },
  { additionalProperties: false },
);

/** Live queries: start a campaign, stream it over a websocket, or wait for the answers. */
export function registerLiveQueryRoutes(
  app: FastifyInstance,
  ctx: AppContext,
  campaigns: CampaignService,
  hide: boolean,
): void {
  const tags = ['live queries'];

  app.post(
    '/queries/run',
    {
      schema: {
        hide,
        tags,
        summary: 'Start a live query campaign; stream its results over /results/websocket',
        body: Type.Object(
          {
            query: Type.Optional(Type.String({ maxLength: 100_000 })),
            query_id: Type.Optional(Type.Integer({ minimum: 1 })),
            selected: Selected,
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const actor = req.skipAuthz(); // the service authorizes against every targeted team
      const body = req.body as {
        query?: string;
        query_id?: number;
        selected: Record<string, number[]>;
      };
      const c = await campaigns.start(actor, {
        query: body.query,
        queryId: body.query_id,
        selected: body.selected,
        streamed: true,
      });
      const s = c.session;
      return {
        campaign: {
          id: c.id,
          query_id: c.queryId,
          query: c.sql,
          status: 0,
          user_id: c.userId,
          created_at: iso(c.createdAt),
          updated_at: iso(c.createdAt),
          Metrics: {
            TotalHosts: s.targets,
            OnlineHosts: s.online,
            OfflineHosts: s.targets - s.online,
            MissingInActionHosts: 0,
            NewHosts: 0,
          },
        },
      };
    },
  );

  app.post(
    '/campaigns/:id/stop',
    { schema: { hide, tags, summary: 'Stop a live query campaign', params: IdParams } },
    async (req) => {
      const actor = req.skipAuthz(); // only the campaign's owner or an admin (checked in the service)
      await campaigns.stop(actor, (req.params as { id: number }).id);
      return {};
    },
  );

  app.post(
    '/queries/:id/run',
    {
      schema: {
        hide,
        tags,
        summary: 'Run a saved query on hosts and wait for the answers',
        params: IdParams,
        body: Type.Object(
          {
            host_ids: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 10_000 }),
            timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const actor = req.skipAuthz();
      const id = (req.params as { id: number }).id;
      const body = req.body as { host_ids: number[]; timeout?: number };
      const c = await campaigns.start(actor, {
        queryId: id,
        selected: { hosts: body.host_ids },
        seconds: body.timeout ?? DEFAULT_SYNC_SECONDS,
      });
      const s = c.session;
      // Wait for every target, online or not, until the deadline.
      await waitAll(s, s.deadline);
      const results = s.results.map((r) => ({ host_id: r.host_id, rows: r.rows, error: r.error }));
      campaigns.registry.stop(c.id);
      return {
        query_id: id,
        targeted_host_count: s.targets,
        responded_host_count: s.responded.size,
        results,
      };
    },
  );

  app.post(
    '/hosts/:id/query',
    {
      schema: {
        hide,
        tags,
        summary: 'Ask one host a question and wait for its answer',
        params: IdParams,
        body: Type.Object(
          {
            query: Type.String({ minLength: 1, maxLength: 100_000 }),
            timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const actor = req.skipAuthz();
      const hostId = (req.params as { id: number }).id;
      const body = req.body as { query: string; timeout?: number };
      const c = await campaigns.start(actor, {
        query: body.query,
        selected: { hosts: [hostId] },
        seconds: body.timeout ?? DEFAULT_SYNC_SECONDS,
      });
      const online = c.session.online > 0;
      await waitAll(c.session, c.session.deadline);
      campaigns.registry.stop(c.id);
      const r = c.session.results[0];
      return {
        host_id: hostId,
        query: body.query,
        status: online ? 'online' : 'offline',
        error: r ? r.error : 'host did not respond before the timeout',
        rows: r?.rows ?? [],
      };
    },
  );

  void ctx;
}

/** Resolves once every target responded (online or not), or at the deadline. */
function waitAll(s: { responded: Set<number>; targets: number }, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const tick = () => {
      if (s.responded.size >= s.targets || Date.now() >= deadline) resolve();
      else setTimeout(tick, 50).unref();
    };
    tick();
  });
}

/**
 * Fleet's results websocket: the client sends `auth` (its API token) then `select_campaign`;
 * the server sends `totals`, `result`, `status` and `error` messages as JSON text frames.
 */
export function registerResultsWebsocket(
  app: FastifyInstance,
  ctx: AppContext,
  campaigns: CampaignService,
): void {
  for (const path of ['/api/v1/fleet/results/websocket', '/api/latest/fleet/results/websocket']) {
    app.get(
      path,
      { websocket: true, config: { public: true }, schema: { hide: true } },
      (socket: WebSocket) => {
        let actor: Actor | undefined;
        let stop: (() => void) | undefined;
        let dispose: (() => void) | undefined;
        const send = (e: SessionEvent | { type: string; data: unknown }) => {
          if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(e));
        };
        // Messages are handled one after another: `select_campaign` must see the result of `auth`.
        let queue: Promise<void> = Promise.resolve();
        socket.on('message', (raw: Buffer) => {
          queue = queue.then(async () => {
            let msg: { type?: unknown; data?: Record<string, unknown> };
            try {
              msg = JSON.parse(raw.toString('utf8')) as typeof msg;
            } catch {
              return send({ type: 'error', data: 'messages must be JSON' });
            }
            try {
              if (msg.type === 'auth') {
                const token = typeof msg.data?.['token'] === 'string' ? msg.data['token'] : '';
                actor = await actorForToken(ctx, token);
                if (!actor) {
                  send({ type: 'error', data: 'authentication failed' });
                  socket.close(4001, 'unauthenticated');
                }
                return;
              }
              if (msg.type === 'select_campaign') {
                if (!actor) return send({ type: 'error', data: 'send auth first' });
                const id = Number(msg.data?.['campaign_id']);
                if (!Number.isInteger(id) || id < 1)
                  return send({ type: 'error', data: 'campaign_id must be a positive integer' });
                stop?.();
                const { session, owned } = await campaigns.watch(actor, id);
                stop = session.listen(send);
                dispose = owned ? () => session.dispose() : undefined;
                return;
              }
              send({ type: 'error', data: `unknown message type ${String(msg.type)}` });
            } catch (e) {
              send({ type: 'error', data: isFlotillaError(e) ? e.message : 'internal error' });
            }
          });
        });
        socket.on('close', () => {
          stop?.();
          dispose?.();
        });
      },
    );
  }
}

async function actorForToken(ctx: AppContext, token: string): Promise<Actor | undefined> {
  if (!token) return undefined;
  const session = await ctx.ds.sessions.findUserId(tokenHash(token));
  const user = session ? await ctx.ds.users.get(session.user_id) : undefined;
  if (!session || !user || !user.enabled) return undefined;
  if (!user.api_only && session.accessed_at + ctx.config.sessionTtlS * 1000 < ctx.clock())
    return undefined;
  return actorOf(user);
}
