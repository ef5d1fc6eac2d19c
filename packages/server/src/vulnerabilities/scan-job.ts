import { setTimeout as sleep } from 'node:timers/promises';
import type { Datastore } from '@flotilla/db';
import type { Logger } from 'pino';
import { FeedStore, hasFeedFiles, type FeedStoreStatus } from './feed-store.js';
import { emptyCountReport, emptyReport, type CountReport, type ScanReport } from './scan-core.js';
import { ScanSession, type ScanLog } from './scan-session.js';
import { ThreadClient } from '../util/thread-rpc.js';
import type { FromScanWorker, ScanWorkerData, ToScanWorker } from './scan-worker.js';

export { matchVersion, osReleaseOf, type CountReport, type ScanReport } from './scan-core.js';

/** The feeds as the API sees them: where they are, what loaded, and a way to reload. */
export interface FeedsView {
  readonly dir: string;
  readonly status: FeedStoreStatus;
  /** Re-reads the directory when it changed (or when forced); resolves to whether it did. */
  reload(force?: boolean): Promise<boolean>;
}

export interface VulnScanJobOptions {
  intervalS: number;
  feedsDir: string;
  /** Where a copy of every feed file that loaded is kept, for when its update is refused. */
  goodDir: string;
  feedsUrl?: string | undefined;
  /**
   * Parse feeds and scan in a worker thread with its own database connection (needs a
   * database another connection can open: a file or PostgreSQL). Otherwise the scan runs on
   * the main thread in small steps.
   */
  thread: boolean;
  /** Gap between the scan's write transactions (ms). */
  writeGapMs?: number;
}

/**
 * The background vulnerability scan: hosts whose software list or the feeds changed since their
 * last scan are scanned and their findings stored (see ScanRunner). By default the work happens
 * in a worker thread, so the check-in path on the main thread is not slowed by it; this class
 * schedules runs and relays feed status and reports.
 */
export class VulnScanJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ScanReport> | null = null;
  private counting: Promise<CountReport> | null = null;
  private stopped = false;
  last: ScanReport | null = null;
  readonly feeds: FeedsView;

  private readonly inline: ScanSession | null = null;
  private readonly thread: ThreadClient<ToScanWorker, FromScanWorker> | null = null;
  private remoteStatus: FeedStoreStatus;

  constructor(
    private readonly ds: Datastore,
    private readonly log: Logger,
    private readonly clock: () => number,
    private readonly opts: VulnScanJobOptions,
  ) {
    this.remoteStatus = {
      dir: opts.feedsDir,
      loaded_at: null,
      files: [],
      errors: [],
      version: 'none',
    };
    const forward: ScanLog = (level, fields, msg) => this.log[level](fields, msg);
    if (opts.thread && ds.location) {
      const data: ScanWorkerData = {
        db: ds.location,
        feedsDir: opts.feedsDir,
        goodDir: opts.goodDir,
        feedsUrl: opts.feedsUrl,
        writeGapMs: opts.writeGapMs ?? (ds.dialect === 'sqlite' ? 5 : 0),
        niceness: 10,
      };
      this.thread = new ThreadClient({
        url: new URL('./scan-worker-boot.mjs', import.meta.url),
        workerData: data,
        name: 'vulnerability scan worker',
        log,
        // The scan allocates many short-lived objects: a larger young generation means fewer
        // scavenges (engine time at 20,000 hosts: 4.7 s with the default, 3.8 s with this).
        resourceLimits: { maxYoungGenerationSizeMb: 64 },
      });
      const status = (): FeedStoreStatus => this.remoteStatus;
      this.feeds = {
        dir: opts.feedsDir,
        get status() {
          return status();
        },
        reload: async (force = false) => {
          const m = await this.request({ type: 'reload', id: 0, force });
          return m.type === 'reloaded' && m.changed;
        },
      };
    } else {
      // The scan shares the event loop with check-ins: it yields every ~20 ms of work and
      // after every write.
      let slice = performance.now();
      this.inline = new ScanSession(
        ds,
        new FeedStore(opts.feedsDir, opts.goodDir, clock),
        forward,
        clock,
        {
          writeGapMs: 5,
          cpu: async () => {
            if (performance.now() - slice > 20) {
              await sleep(1);
              slice = performance.now();
            }
          },
        },
        { feedsUrl: opts.feedsUrl, linkChunk: 10 },
      );
      this.feeds = this.inline.feeds;
    }
  }

  /** Whether scans run in a worker thread. */
  get threaded(): boolean {
    return this.inline === null;
  }

  /** Loads the feeds in the background and schedules scans (the first soon after start). */
  start(): Promise<void> {
    if (this.threaded && !hasFeedFiles(this.opts.feedsDir)) {
      // Nothing to parse: no need to start the worker before the first scan.
      this.remoteStatus = { ...this.remoteStatus, loaded_at: this.clock() };
    } else {
      this.feeds
        .reload()
        .catch((err: unknown) => this.log.error({ err }, 'loading vulnerability feeds failed'));
    }
    if (this.opts.intervalS > 0) {
      const first = setTimeout(() => void this.run(), 10_000);
      first.unref();
      this.timer = setInterval(() => void this.run(), this.opts.intervalS * 1000);
      this.timer.unref();
    }
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.inline?.stop();
    // The worker finishes its current write step, closes its connection and exits.
    await this.thread?.stop();
    if (this.running) await this.running.catch(() => undefined);
    if (this.counting) await this.counting.catch(() => undefined);
  }

  /** Runs one scan, which ends with a count pass (or joins the one running). */
  run(): Promise<ScanReport> {
    const counting = this.counting;
    this.running ??= (counting ? counting.then(() => this.scan()) : this.scan()).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /**
   * Runs a count pass alone (or joins the one running): hosts per software version, title and
   * CVE, per team, as the lists show them. Every scan ends with one; this is for when the
   * counts are wanted without a scan (tests, benchmarks, an operator).
   */
  count(): Promise<CountReport> {
    const running = this.running;
    this.counting ??= (running ? running.then(() => this.countNow()) : this.countNow()).finally(
      () => {
        this.counting = null;
      },
    );
    return this.counting;
  }

  private async countNow(): Promise<CountReport> {
    if (this.inline) return this.inline.count();
    try {
      const m = await this.request({ type: 'count', id: 0 });
      if (m.type === 'counted') return m.report;
      throw new Error(`unexpected reply ${m.type}`);
    } catch (err) {
      this.log.error({ err }, 'software host count failed');
      const report = emptyCountReport(this.clock());
      report.error = err instanceof Error ? err.message : String(err);
      report.finished_at = this.clock();
      return report;
    }
  }

  private async scan(): Promise<ScanReport> {
    let report: ScanReport;
    if (this.inline) report = await this.inline.scan();
    else {
      try {
        const m = await this.request({ type: 'scan', id: 0 });
        report = m.type === 'scanned' ? m.report : emptyReport(this.clock());
      } catch (err) {
        this.log.error({ err }, 'vulnerability scan failed');
        report = emptyReport(this.clock());
        report.error = err instanceof Error ? err.message : String(err);
        report.finished_at = this.clock();
      }
    }
    this.last = report;
    return report;
  }

  private async request(m: ToScanWorker): Promise<FromScanWorker> {
    if (this.stopped) throw new Error('the vulnerability scan is stopped');
    if (!this.thread) throw new Error('the scan runs on the main thread');
    const r = await this.thread.request(m);
    if (r.type === 'reloaded' || r.type === 'scanned') this.remoteStatus = r.status;
    return r;
  }
}
