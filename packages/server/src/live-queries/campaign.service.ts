import { authorize, forbidden, hostStatus, invalid, notFound, type Actor } from '@flotilla/core';
import type { AppContext } from '../context.js';
import { checkSql } from '../queries/sql-check.js';
import type { CampaignRegistry } from './campaign-registry.js';
import { CampaignSession, REPLAY_MAX_ROWS, type HostInfo } from './campaign-session.js';
import { resolveTargets, type TargetSelection } from './targets.js';

export const DEFAULT_CAMPAIGN_SECONDS = 300;
export const DEFAULT_SYNC_SECONDS = 25;

export interface StartedCampaign {
  id: number;
  queryId: number | null;
  sql: string;
  userId: number;
  createdAt: number;
  session: CampaignSession;
}

/** Live queries: resolve targets once, start the campaign everywhere, watch the answers. */
export class CampaignService {
  /** Sessions opened by this process, so a websocket here can replay what already arrived. */
  private readonly origin = new Map<number, StartedCampaign>();

  constructor(
    private readonly ctx: AppContext,
    readonly registry: CampaignRegistry,
  ) {}

  async start(
    actor: Actor,
    input: {
      query?: string | undefined;
      queryId?: number | undefined;
      selected: TargetSelection;
      seconds?: number;
      keepResults?: boolean;
      /** Streamed to websockets: keep only REPLAY_MAX_ROWS rows for late clients. */
      streamed?: boolean;
    },
  ): Promise<StartedCampaign> {
    let sql = input.query?.trim();
    let queryId: number | null = null;
    let observerCanRun = false;
    let queryTeam: number | null = null;
    let queryName: string | undefined;
    if (input.queryId !== undefined) {
      const q = await this.ctx.ds.queries.get(input.queryId);
      if (!q) throw notFound('query', 'QUERY_NOT_FOUND');
      sql = q.query;
      queryId = q.id;
      observerCanRun = q.observer_can_run === 1;
      queryTeam = q.team_id;
      queryName = q.name;
    }
    if (!sql)
      throw invalid('a query or query_id is required', [{ name: 'query', reason: 'required' }]);
    checkSql(sql);
    const hostIds = await resolveTargets(this.ctx.ds, actor, input.selected);
    if (!hostIds.length)
      throw invalid(
        'no hosts match the selected targets',
        [{ name: 'selected', reason: 'no targets' }],
        'NO_TARGETS',
      );
    const rows = await this.ctx.ds.hosts.targetInfo(hostIds);
    // Permission to run on every team the targets belong to.
    const action = queryId === null ? 'run_new' : 'run';
    for (const team of new Set(rows.map((r) => r.team_id))) {
      const ok = authorize(actor, action, {
        type: 'query',
        teamId: team,
        observerCanRun: observerCanRun && (queryTeam === null || queryTeam === team),
      });
      if (!ok)
        throw forbidden(
          queryId === null
            ? 'you may not run new queries on these hosts'
            : 'you may not run this query on these hosts',
        );
    }
    const now = this.ctx.clock();
    const hosts = new Map<number, HostInfo>();
    for (const r of rows) {
      const cached = this.ctx.checkin.cache.getById(r.id);
      const seen = Math.max(r.seen_time, cached?.seenAt ?? 0);
      hosts.set(r.id, {
        id: r.id,
        hostname: r.hostname,
        display_name: r.computer_name || r.hostname,
        online:
          hostStatus(seen, r.distributed_interval || 10, r.config_tls_refresh || 10, now) ===
          'online',
      });
    }
    const id = await this.ctx.ds.campaigns.create({
      queryId,
      sql,
      userId: actor.id,
      targets: hosts.size,
      nowMs: now,
    });
    const deadline = now + (input.seconds ?? DEFAULT_CAMPAIGN_SECONDS) * 1000;
    const session = new CampaignSession(
      id,
      hosts,
      this.ctx.bus,
      deadline,
      input.keepResults ?? true,
      this.ctx.config.liveQueryMaxRows,
      input.streamed ? REPLAY_MAX_ROWS : Infinity,
    );
    this.registry.start(id, sql, [...hosts.keys()], deadline);
    const started: StartedCampaign = {
      id,
      queryId,
      sql,
      userId: actor.id,
      createdAt: now,
      session,
    };
    this.origin.set(id, started);
    const cleanup = setTimeout(() => this.end(id), deadline - now + 1000);
    cleanup.unref();
    await this.ctx.activities.record(actor, 'live_query', {
      targets_count: hosts.size,
      query_sql: sql,
      ...(queryName ? { query_name: queryName, query_id: queryId } : {}),
    });
    return started;
  }

  /** A session for a websocket: this process's own (with replay), or a fresh live one. */
  async watch(
    actor: Actor,
    campaignId: number,
  ): Promise<{ session: CampaignSession; owned: boolean }> {
    const mine = this.origin.get(campaignId);
    if (mine) {
      if (mine.userId !== actor.id && actor.globalRole !== 'admin')
        throw forbidden('this campaign belongs to someone else');
      return { session: mine.session, owned: false };
    }
    const c = await this.ctx.ds.campaigns.get(campaignId);
    if (!c) throw notFound('campaign', 'CAMPAIGN_NOT_FOUND');
    if (c.user_id !== actor.id && actor.globalRole !== 'admin')
      throw forbidden('this campaign belongs to someone else');
    if (!this.registry.isActive(campaignId))
      throw invalid('this campaign has ended', [], 'CAMPAIGN_ENDED');
    // Started on another process: watch it live from here.
    const targets = await this.ctx.ds.db
      .selectFrom('hosts')
      .select(['id', 'hostname', 'computer_name'])
      .where('id', 'in', await this.targetIds(campaignId))
      .execute();
    const hosts = new Map(
      targets.map((t) => [
        t.id,
        {
          id: t.id,
          hostname: t.hostname,
          display_name: t.computer_name || t.hostname,
          online: true,
        },
      ]),
    );
    return {
      session: new CampaignSession(
        campaignId,
        hosts,
        this.ctx.bus,
        this.ctx.clock() + DEFAULT_CAMPAIGN_SECONDS * 1000,
        false,
        this.ctx.config.liveQueryMaxRows,
      ),
      owned: true,
    };
  }

  private targetIds(_campaignId: number): Promise<number[]> {
    // Target sets are mirrored in memory by the registry on every process.
    return Promise.resolve(this.registry.targetsOf(_campaignId));
  }

  async stop(actor: Actor, campaignId: number): Promise<void> {
    const c = await this.ctx.ds.campaigns.get(campaignId);
    if (!c) throw notFound('campaign', 'CAMPAIGN_NOT_FOUND');
    if (c.user_id !== actor.id && actor.globalRole !== 'admin')
      throw forbidden('this campaign belongs to someone else');
    this.end(campaignId);
    await this.ctx.ds.campaigns.setStatus(campaignId, 'stopped', this.ctx.clock());
  }

  private end(id: number): void {
    this.registry.stop(id);
    const mine = this.origin.get(id);
    if (mine) {
      mine.session.dispose();
      this.origin.delete(id);
      void this.ctx.ds.campaigns.setStatus(id, 'finished', this.ctx.clock()).catch(() => undefined);
    }
  }

  close(): void {
    for (const id of [...this.origin.keys()]) this.end(id);
  }
}
