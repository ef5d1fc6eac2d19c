import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

export interface ReportChange {
  queryId: number;
  hostId: number;
  /** Snapshot: replace the host's rows with these. */
  replace?: string[];
  add?: string[];
  /** Differential removals: one stored row equal to each is removed. */
  remove?: string[];
  at: number;
}

export interface ScheduleStatInput {
  hostId: number;
  name: string;
  queryId: number | null;
  interval: number;
  executions: number;
  lastExecuted: number;
  wallTimeMs: number;
  userTime: number;
  systemTime: number;
  averageMemory: number;
  outputSize: number;
  denylisted: boolean;
}

/** Query reports and the per-host statistics of scheduled queries. */
export class QueryReportRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async rowCounts(): Promise<Map<number, number>> {
    const rows = await this.db
      .selectFrom('query_results')
      .select((eb) => ['query_id', eb.fn.countAll<number>().as('n')])
      .groupBy('query_id')
      .execute();
    return new Map(rows.map((r) => [r.query_id, Number(r.n)]));
  }

  /**
   * Applies report changes in one transaction, keeping at most `maxRows` rows per query:
   * `counts` (rows per query) is read and updated in place; returns the queries that hit the cap.
   */
  async apply(
    changes: readonly ReportChange[],
    counts: Map<number, number>,
    maxRows: number,
  ): Promise<Set<number>> {
    const clipped = new Set<number>();
    if (!changes.length) return clipped;
    const local = new Map(counts);
    const insert = async (trx: Kysely<Database>, c: ReportChange, rows: readonly string[]) => {
      const have = local.get(c.queryId) ?? 0;
      const room = Math.max(0, maxRows - have);
      const take = rows.slice(0, room);
      if (take.length < rows.length) clipped.add(c.queryId);
      for (let i = 0; i < take.length; i += 200) {
        const chunk = take.slice(i, i + 200);
        await trx
          .insertInto('query_results')
          .values(
            chunk.map((data) => ({
              query_id: c.queryId,
              host_id: c.hostId,
              data,
              last_fetched: c.at,
            })),
          )
          .execute();
      }
      local.set(c.queryId, have + take.length);
    };
    await this.db.transaction().execute(async (trx) => {
      for (const c of changes) {
        if (c.replace) {
          const r = await trx
            .deleteFrom('query_results')
            .where('query_id', '=', c.queryId)
            .where('host_id', '=', c.hostId)
            .executeTakeFirst();
          local.set(c.queryId, (local.get(c.queryId) ?? 0) - Number(r.numDeletedRows));
          await insert(trx, c, c.replace);
        }
        for (const data of c.remove ?? []) {
          const one = await trx
            .selectFrom('query_results')
            .select('id')
            .where('query_id', '=', c.queryId)
            .where('host_id', '=', c.hostId)
            .where('data', '=', data)
            .limit(1)
            .executeTakeFirst();
          if (one) {
            await trx.deleteFrom('query_results').where('id', '=', one.id).execute();
            local.set(c.queryId, (local.get(c.queryId) ?? 0) - 1);
          }
        }
        if (c.add?.length) await insert(trx, c, c.add);
        if (c.remove?.length || c.add?.length) {
          await trx
            .updateTable('query_results')
            .set({ last_fetched: c.at })
            .where('query_id', '=', c.queryId)
            .where('host_id', '=', c.hostId)
            .execute();
        }
      }
    });
    for (const [k, v] of local) counts.set(k, v);
    return clipped;
  }

  /** Appends event rows and trims each touched query to its newest `maxPerQuery` rows. */
  async appendEvents(
    rows: ReadonlyArray<{ queryId: number; hostId: number; time: number; data: string }>,
    maxPerQuery: number,
  ): Promise<void> {
    if (!rows.length) return;
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += 200) {
        await trx
          .insertInto('event_results')
          .values(
            rows
              .slice(i, i + 200)
              .map((r) => ({ query_id: r.queryId, host_id: r.hostId, time: r.time, data: r.data })),
          )
          .execute();
      }
      for (const q of new Set(rows.map((r) => r.queryId))) {
        // Drop the oldest events by event time (ties by arrival) beyond the newest `maxPerQuery`.
        const edge = await trx
          .selectFrom('event_results')
          .select(['id', 'time'])
          .where('query_id', '=', q)
          .orderBy('time', 'desc')
          .orderBy('id', 'desc')
          .offset(maxPerQuery)
          .limit(1)
          .executeTakeFirst();
        if (edge) {
          await trx
            .deleteFrom('event_results')
            .where('query_id', '=', q)
            .where((eb) =>
              eb.or([
                eb('time', '<', edge.time),
                eb.and([eb('time', '=', edge.time), eb('id', '<=', edge.id)]),
              ]),
            )
            .execute();
        }
      }
    });
  }

  async events(queryId: number, opts: { since: number; hostIds: 'all' | number[]; limit: number }) {
    let q = this.db
      .selectFrom('event_results')
      .innerJoin('hosts', 'hosts.id', 'event_results.host_id')
      .select([
        'event_results.host_id',
        'hosts.hostname',
        'event_results.time',
        'event_results.data',
      ])
      .where('event_results.query_id', '=', queryId)
      .where('event_results.time', '>=', opts.since);
    if (opts.hostIds !== 'all')
      q = q.where('event_results.host_id', 'in', opts.hostIds.length ? opts.hostIds : [-1]);
    return q.orderBy('event_results.time').orderBy('event_results.id').limit(opts.limit).execute();
  }

  async report(queryId: number, hostIds: 'all' | number[], limit: number) {
    let q = this.db
      .selectFrom('query_results')
      .innerJoin('hosts', 'hosts.id', 'query_results.host_id')
      .select([
        'query_results.host_id',
        'hosts.hostname',
        'hosts.computer_name',
        'query_results.data',
        'query_results.last_fetched',
      ])
      .where('query_results.query_id', '=', queryId);
    if (hostIds !== 'all')
      q = q.where('query_results.host_id', 'in', hostIds.length ? hostIds : [-1]);
    return q.orderBy('query_results.host_id').orderBy('query_results.id').limit(limit).execute();
  }

  async deleteForQuery(queryId: number): Promise<void> {
    await this.db.deleteFrom('query_results').where('query_id', '=', queryId).execute();
  }

  async upsertStats(stats: readonly ScheduleStatInput[], nowMs: number): Promise<void> {
    if (!stats.length) return;
    await this.db.transaction().execute(async (trx) => {
      for (const s of stats) {
        const values = {
          host_id: s.hostId,
          name: s.name,
          query_id: s.queryId,
          interval: s.interval,
          executions: s.executions,
          last_executed: s.lastExecuted,
          wall_time_ms: s.wallTimeMs,
          user_time: s.userTime,
          system_time: s.systemTime,
          average_memory: s.averageMemory,
          output_size: s.outputSize,
          denylisted: s.denylisted ? 1 : 0,
          updated_at: nowMs,
        };
        const { host_id: _h, name: _n, ...rest } = values;
        await trx
          .insertInto('host_schedule_stats')
          .values(values)
          .onConflict((oc) => oc.columns(['host_id', 'name']).doUpdateSet(rest))
          .execute();
      }
    });
  }

  async recordError(
    hostId: number,
    name: string,
    queryId: number | null,
    message: string,
    at: number,
  ): Promise<void> {
    await this.db
      .insertInto('host_schedule_stats')
      .values({
        host_id: hostId,
        name,
        query_id: queryId,
        last_error: message.slice(0, 4096),
        last_error_at: at,
        updated_at: at,
      })
      .onConflict((oc) =>
        oc
          .columns(['host_id', 'name'])
          .doUpdateSet({ last_error: message.slice(0, 4096), last_error_at: at, updated_at: at }),
      )
      .execute();
  }

  async statsForHost(hostId: number) {
    return this.db
      .selectFrom('host_schedule_stats')
      .selectAll()
      .where('host_id', '=', hostId)
      .orderBy('name')
      .execute();
  }

  /** Per-query totals across hosts (executions, average wall time, hosts denylisting it). */
  async statsForQuery(queryId: number) {
    return this.db
      .selectFrom('host_schedule_stats')
      .select((eb) => [
        eb.fn.countAll<number>().as('hosts'),
        eb.fn.sum<number>('executions').as('executions'),
        eb.fn.sum<number>('wall_time_ms').as('wall_time_ms'),
        eb.fn.sum<number>('user_time').as('user_time'),
        eb.fn.sum<number>('system_time').as('system_time'),
        eb.fn.sum<number>(sql`CASE WHEN denylisted = 1 THEN 1 ELSE 0 END`).as('denylisted_hosts'),
        eb.fn
          .sum<number>(sql`CASE WHEN last_error IS NOT NULL THEN 1 ELSE 0 END`)
          .as('hosts_with_errors'),
      ])
      .where('query_id', '=', queryId)
      .executeTakeFirstOrThrow();
  }
}
