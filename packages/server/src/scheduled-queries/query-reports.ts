import type { Datastore, ReportChange } from '@flotilla/db';
import type { Logger } from 'pino';
import type { ScheduleService } from './schedule.js';

type Entry = Record<string, unknown>;

/**
 * Folds result logs into query reports: the latest rows of each saved query per host, capped
 * per query. Snapshot results replace a host's rows; differential results add and remove them.
 * Changes are batched and written in one transaction every 200 ms.
 */
export class QueryReportWriter {
  private queue: ReportChange[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private counts: Map<number, number> | undefined;
  private events: Array<{ queryId: number; hostId: number; time: number; data: string }> = [];
  readonly clipped = new Set<number>();

  constructor(
    private readonly ds: Datastore,
    private readonly schedule: ScheduleService,
    private readonly log: Logger,
    private readonly maxRows: number,
    /** Event rows kept per query (oldest dropped first). */
    private readonly maxEvents = 100_000,
  ) {}

  /** Takes one host's result entries (already validated objects). Returns how many matched no query. */
  ingest(hostId: number, entries: readonly Entry[], now: number): number {
    let unknown = 0;
    for (const e of entries) {
      const name = typeof e['name'] === 'string' ? e['name'] : '';
      const q = this.schedule.lookup(name);
      if (!q) {
        unknown++;
        continue;
      }
      if (q.discardData) continue;
      const action = e['action'];
      if (q.evented) {
        // Event tables: every row is an event; keep them in time order (bounded), not as a report.
        const lineTime = Number(e['unixTime']) * 1000 || now;
        const rows =
          action === 'snapshot' && Array.isArray(e['snapshot'])
            ? (e['snapshot'] as unknown[])
            : action === 'added'
              ? [e['columns']]
              : [];
        for (const r of rows) {
          if (typeof r !== 'object' || r === null) continue;
          const t = Number((r as Record<string, unknown>)['time']);
          this.events.push({
            queryId: q.id,
            hostId,
            time: Number.isFinite(t) && t > 0 ? t * 1000 : lineTime,
            data: JSON.stringify(r),
          });
        }
        continue;
      }
      if (this.maxRows === 0) continue;
      if (action === 'snapshot' && Array.isArray(e['snapshot'])) {
        this.queue.push({
          queryId: q.id,
          hostId,
          replace: (e['snapshot'] as unknown[]).map((r) => JSON.stringify(r)),
          at: now,
        });
      } else if (
        (action === 'added' || action === 'removed') &&
        typeof e['columns'] === 'object' &&
        e['columns'] !== null
      ) {
        const row = JSON.stringify(e['columns']);
        this.queue.push(
          action === 'added'
            ? { queryId: q.id, hostId, add: [row], at: now }
            : { queryId: q.id, hostId, remove: [row], at: now },
        );
      } else if (action === 'snapshot' || Array.isArray(e['diffResults'])) {
        // Batched differential format ({diffResults: {added, removed}}).
        const d = e['diffResults'] as { added?: unknown[]; removed?: unknown[] } | undefined;
        if (d)
          this.queue.push({
            queryId: q.id,
            hostId,
            add: (d.added ?? []).map((r) => JSON.stringify(r)),
            remove: (d.removed ?? []).map((r) => JSON.stringify(r)),
            at: now,
          });
      }
    }
    if (this.queue.length + this.events.length >= 2000) void this.flush();
    else if ((this.queue.length || this.events.length) && !this.timer) {
      this.timer = setTimeout(() => void this.flush(), 200);
      this.timer.unref();
    }
    return unknown;
  }

  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.queue.length && !this.events.length) return this.flushing;
    const batch = this.queue;
    const events = this.events;
    this.queue = [];
    this.events = [];
    this.flushing = this.flushing.then(async () => {
      try {
        await this.ds.queryReports.appendEvents(events, this.maxEvents);
        this.counts ??= await this.ds.queryReports.rowCounts();
        for (const q of await this.ds.queryReports.apply(batch, this.counts, this.maxRows))
          this.clipped.add(q);
      } catch (err) {
        this.counts = undefined;
        this.log.error({ err, changes: batch.length }, 'writing query reports failed');
      }
    });
    return this.flushing;
  }

  /** Forget cached counts (after a query's report is deleted). */
  reset(queryId: number): void {
    this.counts?.delete(queryId);
    this.clipped.delete(queryId);
  }
}
