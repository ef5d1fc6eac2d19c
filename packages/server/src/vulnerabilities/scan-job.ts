import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { Datastore } from '@flotilla/db';
import type { Logger } from 'pino';
import { FeedStore, hasFeedFiles, type FeedStoreStatus } from './feed-store.js';
import { emptyCountReport, emptyReport, type CountReport, type ScanReport } from './scan-core.js';
import { ScanSession, type ScanLog } from './scan-session.js';
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

interface Pending {
  resolve(m: FromScanWorker): void;
  reject(e: Error): void;
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
  private worker: Worker | null = null;
  private workerExit: Promise<void> = Promise.resolve();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
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
    const w = this.worker;
    if (w) {
      w.postMessage({ type: 'stop' } satisfies ToScanWorker);
      // The worker finishes its current write step, closes its connection and exits.
      const done = await Promise.race([
        this.workerExit.then(() => true),
        sleep(30_000, undefined, { ref: false }).then(() => false),
      ]);
      if (!done) await w.terminate();
    }
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

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const location = this.ds.location;
    if (!location) throw new Error('the scan worker needs a database another connection can open');
    const data: ScanWorkerData = {
      db: location,
      feedsDir: this.opts.feedsDir,
      goodDir: this.opts.goodDir,
      feedsUrl: this.opts.feedsUrl,
      writeGapMs: this.opts.writeGapMs ?? (this.ds.dialect === 'sqlite' ? 5 : 0),
      niceness: 10,
    };
    const w = new Worker(new URL('./scan-worker-boot.mjs', import.meta.url), {
      workerData: data,
      // The scan allocates many short-lived objects: a larger young generation means fewer
      // scavenges (engine time at 20,000 hosts: 4.7 s with the default, 3.8 s with this).
      resourceLimits: { maxYoungGenerationSizeMb: 64 },
    });
    // A scan in progress must not keep the process alive on its own.
    w.unref();
    w.on('message', (m: FromScanWorker) => this.onMessage(m));
    w.on('error', (err) => this.log.error({ err }, 'vulnerability scan worker failed'));
    this.workerExit = new Promise((resolve) => {
      w.once('exit', (code) => {
        this.worker = null;
        const err = new Error(`vulnerability scan worker exited (code ${code})`);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        resolve();
      });
    });
    this.worker = w;
    return w;
  }

  private onMessage(m: FromScanWorker): void {
    switch (m.type) {
      case 'log':
        this.log[m.level](m.fields, m.msg);
        return;
      case 'reloaded':
      case 'scanned':
        this.remoteStatus = m.status;
        break;
      case 'counted':
      case 'failed':
      case 'stopped':
        break;
    }
    if (m.type === 'stopped') return;
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    if (m.type === 'failed') p?.reject(new Error(m.message));
    else p?.resolve(m);
  }

  private request(m: Exclude<ToScanWorker, { type: 'stop' }>): Promise<FromScanWorker> {
    if (this.stopped) return Promise.reject(new Error('the vulnerability scan is stopped'));
    const w = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...m, id } satisfies ToScanWorker);
    });
  }
}
