import type { Datastore } from '@flotilla/db';
import type { Logger } from 'pino';
import { CHANNELS, type Bus } from '../bus/bus.js';
import type { HostRuntime } from '../osquery/host-cache.js';

interface LivePack {
  id: number;
  name: string;
  platform: string;
  hosts: Set<number>;
  labels: number[];
  teams: Set<number>;
  queries: Record<string, Record<string, unknown>>;
}

/**
 * Fleet's legacy packs in memory: which enabled packs apply to a host (by host, label or team)
 * and their osquery pack definitions. Label membership of the labels packs target is kept as
 * sets, refreshed every minute and whenever packs change, so config requests never scan.
 */
export class PackService {
  private packs: LivePack[] = [];
  private labelMembers = new Map<number, Set<number>>();
  private names = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ds: Datastore,
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {
    bus.subscribe(CHANNELS.packsChanged, () => void this.reload());
  }

  start(): void {
    this.timer = setInterval(() => void this.refreshLabels(), 60_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Packs or their targets changed: this process has reloaded them when the promise resolves
   * (so the next config it serves has the change); the others reload on the bus message.
   */
  async changed(): Promise<void> {
    this.bus.publish(CHANNELS.packsChanged, {});
    await this.reload();
  }

  async reload(): Promise<void> {
    try {
      const packs = await this.ds.db
        .selectFrom('packs')
        .selectAll()
        .where('disabled', '=', 0)
        .orderBy('id')
        .execute();
      const targets = await this.ds.db.selectFrom('pack_targets').selectAll().execute();
      const scheduled = await this.ds.db
        .selectFrom('scheduled_queries')
        .innerJoin('queries', 'queries.id', 'scheduled_queries.query_id')
        .select([
          'scheduled_queries.pack_id',
          'scheduled_queries.name',
          'scheduled_queries.interval',
          'scheduled_queries.snapshot',
          'scheduled_queries.removed',
          'scheduled_queries.platform',
          'scheduled_queries.version',
          'scheduled_queries.shard',
          'scheduled_queries.denylist',
          'queries.query',
        ])
        .execute();
      this.packs = packs.map((p) => {
        const mine = targets.filter((t) => t.pack_id === p.id);
        const queries: Record<string, Record<string, unknown>> = {};
        for (const s of scheduled.filter((q) => q.pack_id === p.id)) {
          queries[s.name] = {
            query: s.query,
            interval: s.interval,
            ...(s.snapshot !== null ? { snapshot: s.snapshot === 1 } : {}),
            ...(s.removed !== null ? { removed: s.removed === 1 } : {}),
            ...(s.platform ? { platform: s.platform } : {}),
            ...(s.version ? { version: s.version } : {}),
            ...(s.shard !== null ? { shard: s.shard } : {}),
            ...(s.denylist !== null ? { denylist: s.denylist === 1 } : {}),
          };
        }
        return {
          id: p.id,
          name: p.name,
          platform: p.platform,
          hosts: new Set(mine.filter((t) => t.type === 'host').map((t) => t.target_id)),
          labels: mine.filter((t) => t.type === 'label').map((t) => t.target_id),
          teams: new Set(mine.filter((t) => t.type === 'team').map((t) => t.target_id)),
          queries,
        };
      });
      this.names = new Set(
        this.packs.flatMap((p) => Object.keys(p.queries).map((q) => `pack/${p.name}/${q}`)),
      );
      await this.refreshLabels();
    } catch (err) {
      this.log.error({ err }, 'loading packs failed');
    }
  }

  private async refreshLabels(): Promise<void> {
    const ids = [...new Set(this.packs.flatMap((p) => p.labels))];
    const next = new Map<number, Set<number>>();
    if (ids.length) {
      const rows = await this.ds.db
        .selectFrom('label_membership')
        .select(['label_id', 'host_id'])
        .where('label_id', 'in', ids)
        .execute();
      for (const r of rows) {
        let s = next.get(r.label_id);
        if (!s) next.set(r.label_id, (s = new Set()));
        s.add(r.host_id);
      }
    }
    this.labelMembers = next;
  }

  /** Whether a result log name belongs to a legacy pack (so it is not "unknown"). */
  isKnown(name: string): boolean {
    return this.names.has(name);
  }

  /** The packs for this host, or undefined (the usual case: the shared config is used as is). */
  packsFor(
    host: HostRuntime,
  ): Record<string, { queries: Record<string, unknown>; platform?: string }> | undefined {
    if (!this.packs.length) return undefined;
    let out: Record<string, { queries: Record<string, unknown>; platform?: string }> | undefined;
    for (const p of this.packs) {
      if (!Object.keys(p.queries).length) continue;
      const hit =
        p.hosts.has(host.id) ||
        (host.teamId !== null && p.teams.has(host.teamId)) ||
        p.labels.some((l) => this.labelMembers.get(l)?.has(host.id));
      if (hit)
        (out ??= {})[p.name] = {
          queries: p.queries,
          ...(p.platform ? { platform: p.platform } : {}),
        };
    }
    return out;
  }
}
