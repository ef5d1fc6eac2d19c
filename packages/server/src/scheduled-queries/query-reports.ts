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
  readonly clipped = new Set<number>();

  constructor(
    private readonly ds: Datastore,
    private readonly schedule: ScheduleService,
    private readonly log: Logger,
    private readonly maxRows: number,
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
      if (q.discardData || this.maxRows === 0) continue;
      const action = e['action'];
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
    if (this.queue.length >= 2000) void this.flush();
    else if (this.queue.length && !this.timer) {
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
    if (!this.queue.length) return this.flushing;
    const batch = this.queue;
    this.queue = [];
    this.flushing = this.flushing.then(async () => {
      try {
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
