import type { Datastore } from '@flotilla/db';
import { createScanner, type Scanner } from '@flotilla/vuln';
import { downloadFeeds, type FeedStore } from './feed-store.js';
import {
  emptyCountReport,
  emptyReport,
  ScanRunner,
  STORAGE,
  type CountReport,
  type ScanOptions,
  type ScanPacing,
  type ScanReport,
} from './scan-core.js';

/** Where the session's log lines go (pino on the main thread, a message from a worker). */
export type ScanLog = (
  level: 'info' | 'warn' | 'error',
  fields: Record<string, unknown>,
  msg: string,
) => void;

/**
 * Everything one scan needs, kept between scans: the feed store (parsed here), the engine
 * built over the current feeds, and the runner's software catalogue. Runs wherever it is
 * created: in the scan worker thread, or on the main thread when no worker can be used.
 */
export class ScanSession {
  private scanner: Scanner | null = null;
  private scannerVersion = '';
  private readonly runner: ScanRunner;
  private stopped = false;

  constructor(
    ds: Datastore,
    readonly feeds: FeedStore,
    private readonly log: ScanLog,
    private readonly clock: () => number,
    pacing: ScanPacing,
    private readonly opts: ScanOptions & {
      feedsUrl?: string | undefined;
      fetchImpl?: typeof fetch;
    } = {},
  ) {
    this.runner = new ScanRunner(ds, clock, pacing, opts);
  }

  stop(): void {
    this.stopped = true;
  }

  /** Re-reads the feeds directory when it changed; refused files are logged. */
  async reload(force = false): Promise<boolean> {
    const changed = await this.feeds.reload(force);
    if (changed) this.logFeedErrors();
    return changed;
  }

  private logFeedErrors(): void {
    for (const e of this.feeds.status.errors) {
      this.log(
        'warn',
        { file: e.file, reason: e.reason, kept_previous: e.kept_previous, detail: e.message },
        'vulnerability feed refused',
      );
    }
  }

  /** Downloads (when a mirror is set), reloads feeds, and scans the hosts that need it. */
  async scan(): Promise<ScanReport> {
    const report = emptyReport(this.clock());
    try {
      if (this.opts.feedsUrl) {
        report.download = await downloadFeeds(
          this.opts.feedsUrl,
          this.feeds.dir,
          this.opts.fetchImpl,
        );
        for (const e of report.download.errors)
          this.log('warn', { file: e.file, detail: e.message }, 'feed download refused');
      }
      await this.reload();
      // The storage layout is part of the key: hosts scanned before findings were shared
      // (migration 0008) are rescanned once.
      const version = `${STORAGE}:${this.feeds.status.version}`;
      report.feeds_version = this.feeds.status.version;
      if (!this.scanner || this.scannerVersion !== version) {
        this.scanner = createScanner(this.feeds.database);
        this.scannerVersion = version;
      }
      await this.runner.run(this.scanner, this.feeds.database, version, report, () => this.stopped);
    } catch (err) {
      report.error = err instanceof Error ? err.message : String(err);
      this.log('error', { err }, 'vulnerability scan failed');
    }
    report.finished_at = this.clock();
    this.log(
      'info',
      {
        hosts: report.hosts,
        evaluated: report.evaluated,
        shared: report.shared,
        inserted: report.inserted,
        resolved: report.resolved,
        seconds: (report.finished_at - report.started_at) / 1000,
      },
      'vulnerability scan finished',
    );
    return report;
  }

  /** A count pass alone: host counts per software version, title and CVE, per team. */
  async count(): Promise<CountReport> {
    let report: CountReport;
    try {
      report = await this.runner.count(() => this.stopped);
    } catch (err) {
      report = emptyCountReport(this.clock());
      report.error = err instanceof Error ? err.message : String(err);
      report.finished_at = this.clock();
      this.log('error', { err }, 'software host count failed');
      return report;
    }
    this.log(
      'info',
      {
        hosts: report.hosts,
        version_rows: report.version_rows,
        title_rows: report.title_rows,
        seconds: (report.finished_at - report.started_at) / 1000,
      },
      'software host counts stored',
    );
    return report;
  }
}
