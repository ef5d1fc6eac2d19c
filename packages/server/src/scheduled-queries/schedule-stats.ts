import type { Datastore, ScheduleStatInput } from '@flotilla/db';
import type { Logger } from 'pino';
import type { QuerySource } from '../osquery/checkin.service.js';
import { BatchQueue } from '../util/batch-queue.js';
import { jitterMs, type HostRuntime } from '../osquery/host-cache.js';
import type { ScheduleService } from './schedule.js';

export const STATS_QUERY_NAME = 'fleet_schedule_stats_query';
const SQL =
  'SELECT name, interval, executions, last_executed, denylisted, output_size, wall_time_ms, user_time, system_time, average_memory FROM osquery_schedule';

const int = (v: string | undefined) => {
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
};

/**
 * How each scheduled query behaves on each host (executions, wall time, CPU, memory, output,
 * denylisting), read from `osquery_schedule` at the vitals interval; and query errors reported
 * in status logs, attached to their query.
 */
export class ScheduleStatsSource implements QuerySource {
  readonly prefix = STATS_QUERY_NAME;
  private readonly askedAt = new Map<number, number>();
  private readonly queue = new BatchQueue<ScheduleStatInput>(
    (batch) =>
      this.ds.queryReports
        .upsertStats(batch, Date.now())
        .catch((err: unknown) => this.log.error({ err }, 'writing schedule stats failed')),
    500,
  );

  constructor(
    private readonly ds: Datastore,
    private readonly schedule: ScheduleService,
    private readonly log: Logger,
    private readonly intervalS: number,
  ) {}

  pending(host: HostRuntime, now: number): Record<string, string> | undefined {
    if (!this.schedule.all.length) return undefined;
    const last = this.askedAt.get(host.id);
    if (
      last !== undefined &&
      now - last < this.intervalS * 1000 + jitterMs(host.id, this.intervalS)
    )
      return undefined;
    // First sight after a restart: wait a jittered while instead of asking every host at once.
    if (last === undefined && host.detailDueAt !== 0) {
      this.askedAt.set(host.id, now - this.intervalS * 1000 + jitterMs(host.id, 60) + 60_000);
      return undefined;
    }
    this.askedAt.set(host.id, now);
    return { [STATS_QUERY_NAME]: SQL };
  }

  ingest(
    host: HostRuntime,
    _name: string,
    rows: Array<Record<string, string>>,
    status: number,
  ): void {
    if (status !== 0) return;
    for (const r of rows) {
      const name = r['name'] ?? '';
      const q = this.schedule.lookup(name);
      this.queue.push({
        hostId: host.id,
        name: name.slice(0, 512),
        queryId: q?.id ?? null,
        interval: int(r['interval']),
        executions: int(r['executions']),
        lastExecuted: int(r['last_executed']) * 1000,
        wallTimeMs: int(r['wall_time_ms']),
        userTime: int(r['user_time']),
        systemTime: int(r['system_time']),
        averageMemory: int(r['average_memory']),
        outputSize: int(r['output_size']),
        denylisted: r['denylisted'] === '1',
      });
    }
  }

  /** Status log lines naming a scheduled query (osquery reports query failures this way). */
  statuses(host: HostRuntime, entries: Array<Record<string, unknown>>, now: number): void {
    for (const e of entries) {
      const msg = typeof e['message'] === 'string' ? e['message'] : '';
      if (!msg || Number(e['severity'] ?? 0) < 1) continue;
      const m = /(pack[/:][^/:\s]+[/:][^:]+?)(?::|\s+failed|\s*$)/.exec(msg);
      if (!m) continue;
      const q = this.schedule.lookup(m[1]!.trim());
      if (!q) continue;
      void this.ds.queryReports
        .recordError(host.id, m[1]!.trim(), q.id, msg, now)
        .catch((err: unknown) => this.log.warn({ err }, 'recording a query error failed'));
    }
  }

  flush(): Promise<void> {
    return this.queue.flush();
  }
}
