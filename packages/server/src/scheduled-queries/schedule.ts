import type { Datastore } from '@flotilla/db';
import { table, validateQuery } from '@flotilla/osquery';
import type { Logger } from 'pino';
import { CHANNELS, type Bus } from '../bus/bus.js';

export interface ScheduledQuery {
  id: number;
  name: string;
  teamId: number | null;
  query: string;
  interval: number;
  platform: string;
  minOsqueryVersion: string;
  logging: string;
  discardData: boolean;
  automations: boolean;
  /** Reads an event table (process_events…): results go to the time-ordered event store. */
  evented: boolean;
}

/** Whether a query reads one of osquery's event tables. */
export function readsEvents(sql: string): boolean {
  const r = validateQuery(sql);
  return r.ok && r.tables.some((t) => table(t)?.evented === true);
}

/** The pack a query lives in, as osquery names it: `Global` or `team-<id>`. */
export const packName = (teamId: number | null) => (teamId === null ? 'Global' : `team-${teamId}`);

/** osquery's result name for a scheduled query with pack_delimiter "/". */
export const resultName = (q: Pick<ScheduledQuery, 'teamId' | 'name'>) =>
  `pack/${packName(q.teamId)}/${q.name}`;

/**
 * Saved queries with an interval, delivered to hosts as osquery packs in their config (Global
 * for everyone, `team-<id>` for that team's hosts), and the reverse lookup from a result log's
 * `name` back to the query. Kept in memory; reloaded when queries change.
 */
export class ScheduleService {
  private queries: ScheduledQuery[] = [];
  private byName = new Map<string, ScheduledQuery>();

  constructor(
    private readonly ds: Datastore,
    bus: Bus,
    private readonly log: Logger,
  ) {
    bus.subscribe(CHANNELS.agentOptionsChanged, () => void this.reload());
  }

  async reload(): Promise<void> {
    try {
      const rows = await this.ds.db
        .selectFrom('queries')
        .selectAll()
        .where('interval', '>', 0)
        .orderBy('id')
        .execute();
      const all = rows.map((r) => ({
        id: r.id,
        name: r.name,
        teamId: r.team_id,
        query: r.query,
        interval: r.interval,
        platform: r.platform,
        minOsqueryVersion: r.min_osquery_version,
        logging: r.logging,
        discardData: r.discard_data === 1,
        automations: r.automations_enabled === 1,
        evented: readsEvents(r.query),
      }));
      // Fleet's rule: a query is scheduled when its results go somewhere (a report or automations).
      this.queries = all.filter((q) => q.automations || !q.discardData);
      this.byName = new Map(all.map((q) => [resultName(q), q]));
    } catch (err) {
      this.log.error({ err }, 'loading scheduled queries failed');
    }
  }

  /** Resolves a result log name (`pack/Global/x`, `pack/team-3/x`, or `:`-delimited) to its query. */
  lookup(name: string): ScheduledQuery | undefined {
    return (
      this.byName.get(name) ??
      (name.includes(':') ? this.byName.get(name.replace(/^pack:([^:]+):/, 'pack/$1/')) : undefined)
    );
  }

  get all(): readonly ScheduledQuery[] {
    return this.queries;
  }

  /** Adds the host's packs to its osquery config (a config contributor). */
  contribute = (
    teamId: number | null,
    _platform: string,
    config: Record<string, unknown>,
  ): void => {
    const mine = this.queries.filter((q) => q.teamId === null || q.teamId === teamId);
    if (!mine.length) return;
    const packs = (
      typeof config['packs'] === 'object' && config['packs'] !== null ? config['packs'] : {}
    ) as Record<string, unknown>;
    for (const q of mine) {
      const pack = packName(q.teamId);
      const entry = (packs[pack] ??= { queries: {} }) as { queries: Record<string, unknown> };
      entry.queries[q.name] = {
        query: q.query,
        interval: q.interval,
        ...(q.platform ? { platform: q.platform } : {}),
        ...(q.minOsqueryVersion ? { version: q.minOsqueryVersion } : {}),
        ...(q.logging === 'snapshot' ? { snapshot: true } : {}),
        ...(q.logging === 'differential_ignore_removals' ? { removed: false } : {}),
      };
    }
    config['packs'] = packs;
  };
}
