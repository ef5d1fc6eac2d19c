import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Destination, LogType } from './destinations/destination.js';
import { loadCursor, saveCursor, saveCursorAsync, WriteAheadLog, type Cursor } from './wal.js';

export const LOG_TYPES: readonly LogType[] = ['result', 'status', 'audit'];

const BATCH_BYTES = 1024 * 1024;
const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;

export interface DeliveryStatus {
  log_type: LogType;
  destination: string;
  delivered_lines: number;
  delivered_batches: number;
  errors: number;
  last_error: string | null;
  backlog_bytes: number;
  /** Seconds since this destination was last fully caught up (0 when it is). */
  lag_seconds: number;
  healthy: boolean;
}

/** Delivers one log type to one destination from the WAL, in order, at least once. */
class Delivery {
  private cursor: Cursor;
  private readonly cursorFile: string;
  private running = false;
  private wake: (() => void) | undefined;
  private stopped = false;
  private backoff = MIN_BACKOFF_MS;
  private caughtUpAt = Date.now();
  readonly stats = {
    delivered_lines: 0,
    delivered_batches: 0,
    errors: 0,
    last_error: null as string | null,
  };
  loop: Promise<void> = Promise.resolve();

  constructor(
    readonly type: LogType,
    readonly dest: Destination,
    private readonly wal: WriteAheadLog,
    cursorDir: string,
    private readonly log: Logger,
  ) {
    this.cursorFile = join(cursorDir, `${type}-${dest.kind}.json`);
    // A new destination starts at the end: it receives what arrives from now on.
    this.cursor = loadCursor(this.cursorFile) ?? wal.head();
    saveCursor(this.cursorFile, this.cursor);
    wal.onAppend(() => this.wake?.());
  }

  get position(): Cursor {
    return this.cursor;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const { lines, next } = this.wal.read(this.cursor, BATCH_BYTES);
      if (!lines.length) {
        this.caughtUpAt = Date.now();
        await new Promise<void>((r) => {
          this.wake = r;
          setTimeout(r, 1000).unref();
        });
        this.wake = undefined;
        continue;
      }
      try {
        await this.dest.deliver(this.type, lines);
        this.cursor = next;
        // Synced off the event loop: a sync here held every check-in for the disk's latency.
        await saveCursorAsync(this.cursorFile, next);
        this.stats.delivered_lines += lines.length;
        this.stats.delivered_batches++;
        this.backoff = MIN_BACKOFF_MS;
      } catch (e) {
        this.stats.errors++;
        this.stats.last_error = e instanceof Error ? e.message : String(e);
        this.log.warn(
          {
            destination: this.dest.kind,
            logType: this.type,
            err: this.stats.last_error,
            retryInMs: this.backoff,
          },
          'log delivery failed; will retry',
        );
        await new Promise((r) => setTimeout(r, this.backoff).unref());
        this.backoff = Math.min(MAX_BACKOFF_MS, this.backoff * 2);
      }
    }
    this.running = false;
  }

  status(): DeliveryStatus {
    const backlog = this.wal.backlogBytes(this.cursor);
    return {
      log_type: this.type,
      destination: this.dest.kind,
      ...this.stats,
      backlog_bytes: backlog,
      lag_seconds: backlog > 0 ? Math.round((Date.now() - this.caughtUpAt) / 1000) : 0,
      healthy: this.stats.errors === 0 || this.backoff === MIN_BACKOFF_MS,
    };
  }

  /** Waits up to `ms` for the backlog to drain, then stops the loop. */
  async stop(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (this.running && this.wal.backlogBytes(this.cursor) > 0 && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }
}

/**
 * The log pipeline: every accepted line is appended to a per-type write-ahead log on disk (the
 * durability point an agent's 200 waits for) and then delivered to each configured destination
 * from there, with its own cursor. A slow or dead destination only grows its backlog.
 */
export class LogPipeline {
  private readonly wals = new Map<LogType, WriteAheadLog>();
  private readonly deliveries: Delivery[] = [];
  readonly counters = {
    accepted: { result: 0, status: 0, audit: 0 },
    malformed: 0,
    oversized: 0,
    unknown_query: 0,
    wrong_type: 0,
  };

  constructor(
    dataDir: string,
    routes: ReadonlyArray<{ type: LogType; destination: Destination }>,
    private readonly log: Logger,
  ) {
    const cursorDir = join(dataDir, 'logs', 'cursors');
    mkdirSync(cursorDir, { recursive: true });
    for (const t of LOG_TYPES) this.wals.set(t, new WriteAheadLog(join(dataDir, 'logs', 'wal', t)));
    for (const r of routes)
      this.deliveries.push(
        new Delivery(r.type, r.destination, this.wals.get(r.type)!, cursorDir, log),
      );
  }

  start(): void {
    for (const d of this.deliveries) d.start();
    const t = setInterval(() => this.compact(), 60_000);
    t.unref();
  }

  /** Resolves once the lines are on disk; rejects if they cannot be stored durably. */
  async append(type: LogType, lines: readonly string[]): Promise<void> {
    if (!lines.length) return;
    await this.wals.get(type)!.append(lines);
    this.counters.accepted[type] += lines.length;
  }

  status(): DeliveryStatus[] {
    return this.deliveries.map((d) => d.status());
  }

  private compact(): void {
    for (const [type, wal] of this.wals) {
      const mine = this.deliveries.filter((d) => d.type === type).map((d) => d.position);
      const oldest = mine.length
        ? mine.reduce((a, b) =>
            a.segment < b.segment || (a.segment === b.segment && a.offset < b.offset) ? a : b,
          )
        : wal.head();
      try {
        wal.compact(oldest);
      } catch (e) {
        this.log.warn({ err: e }, 'WAL compaction failed');
      }
    }
  }

  /** Graceful stop: give destinations a moment to catch up; the rest stays in the WAL. */
  async stop(drainMs = 5000): Promise<void> {
    await Promise.all(this.deliveries.map((d) => d.stop(drainMs)));
    for (const d of this.deliveries) await d.dest.close?.();
    for (const w of this.wals.values()) await w.close();
  }
}
