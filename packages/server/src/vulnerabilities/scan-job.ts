import { setTimeout as sleep } from 'node:timers/promises';
import type {
  CveMeta,
  Datastore,
  FindingInput,
  ScanHostRow,
  ScanSoftwareRow,
  SharedFindingInput,
} from '@flotilla/db';
import {
  createScanner,
  type HostInventory,
  type InstalledPackage,
  type Scanner,
} from '@flotilla/vuln';
import type { Logger } from 'pino';
import { downloadFeeds, type DownloadResult, type FeedStore } from './feed-store.js';

/** Bumped when the way findings are stored changes, so every host is scanned again. */
const STORAGE = 'shared1';

/** osquery table (software source) → the package type the engine matches on. */
const PACKAGE_TYPES: Record<string, string> = {
  deb_packages: 'deb',
  rpm_packages: 'rpm',
  python_packages: 'python',
  npm_packages: 'npm',
  apps: 'app',
  programs: 'program',
  homebrew_packages: 'homebrew',
  chrome_extensions: 'chrome_extension',
  firefox_addons: 'firefox_addon',
};

/** The version string the feeds compare: rpm's `[epoch:]version-release`, others as stored. */
export function matchVersion(s: Pick<ScanSoftwareRow, 'source' | 'version' | 'release'>): string {
  return s.source === 'rpm_packages' && s.release ? `${s.version}-${s.release}` : s.version;
}

/** The OS release the engine needs, from the host's vitals ("Ubuntu 22.10" → 22.10). */
export function osReleaseOf(
  h: Pick<ScanHostRow, 'platform' | 'os_version' | 'code_name'>,
): HostInventory['os'] {
  const version = /(\d+(?:\.\d+)*)/.exec(h.os_version)?.[1] ?? '';
  return {
    family: h.platform,
    version,
    ...(h.code_name ? { codename: h.code_name.toLowerCase() } : {}),
  };
}

export interface ScanReport {
  started_at: number;
  finished_at: number;
  hosts: number;
  findings: number;
  /** Findings written once per (release, software version, CVE). */
  shared: number;
  /** Host-specific findings inserted (running kernel). */
  inserted: number;
  resolved: number;
  reopened: number;
  feeds_version: string;
  download?: DownloadResult;
  error?: string;
}

/**
 * The background vulnerability scan: hosts whose software list or the feeds changed since
 * their last scan are scanned in small chunks (yielding to the event loop between chunks, so
 * check-ins keep flowing), and their findings are diffed into host_vulnerabilities.
 */
export class VulnScanJob {
  private scanner: Scanner | null = null;
  private scannerVersion = '';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ScanReport> | null = null;
  private stopped = false;
  last: ScanReport | null = null;

  constructor(
    private readonly ds: Datastore,
    readonly feeds: FeedStore,
    private readonly log: Logger,
    private readonly clock: () => number,
    private readonly opts: {
      intervalS: number;
      feedsUrl?: string | undefined;
      chunkHosts?: number;
      /** Findings per write transaction (a host is never split). */
      findingsPerWrite?: number;
      fetchImpl?: typeof fetch;
    },
  ) {}

  /** Loads the feeds in the background and schedules scans (the first soon after start). */
  start(): Promise<void> {
    void this.feeds
      .reload()
      .then(() => this.logFeedErrors())
      .catch((err: unknown) => this.log.error({ err }, 'loading vulnerability feeds failed'));
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
    if (this.running) await this.running.catch(() => undefined);
  }

  private logFeedErrors(): void {
    for (const e of this.feeds.status.errors) {
      this.log.warn(
        { file: e.file, reason: e.reason, kept_previous: e.kept_previous, detail: e.message },
        'vulnerability feed refused',
      );
    }
  }

  /** Runs one scan (or joins the one running). */
  run(): Promise<ScanReport> {
    this.running ??= this.scan().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async scan(): Promise<ScanReport> {
    const report: ScanReport = {
      started_at: this.clock(),
      finished_at: 0,
      hosts: 0,
      findings: 0,
      shared: 0,
      inserted: 0,
      resolved: 0,
      reopened: 0,
      feeds_version: '',
    };
    try {
      if (this.opts.feedsUrl) {
        report.download = await downloadFeeds(
          this.opts.feedsUrl,
          this.feeds.dir,
          this.opts.fetchImpl,
        );
        for (const e of report.download.errors)
          this.log.warn({ file: e.file, detail: e.message }, 'feed download refused');
      }
      if (await this.feeds.reload()) this.logFeedErrors();
      // The storage layout is part of the key: hosts scanned before findings were shared
      // (migration 0008) are rescanned once.
      const version = `${STORAGE}:${this.feeds.status.version}`;
      report.feeds_version = this.feeds.status.version;
      if (!this.scanner || this.scannerVersion !== version) {
        this.scanner = createScanner(this.feeds.database);
        this.scannerVersion = version;
      }
      const chunk = this.opts.chunkHosts ?? 10;
      let cursor = 0;
      const written = new Set<string>();
      const sharedSeen = new Set<string>();
      for (;;) {
        if (this.stopped) break;
        const hosts = await this.ds.vulnerabilities.hostsToScan(version, chunk, cursor);
        if (hosts.length === 0) break;
        cursor = hosts[hosts.length - 1]?.id ?? cursor;
        const software = await this.ds.vulnerabilities.software(hosts.map((h) => h.id));
        const { perHost, cves } = await this.scanChunk(this.scanner, hosts, software);
        // Findings of the running kernel are shared too, through a "kernel" software row.
        const kernels = hosts
          .filter((h) => h.kernel_version !== '')
          .map((h) => ({ hostId: h.id, kernel: h.kernel_version }));
        const kernelIds = await this.ds.software.linkKernels(kernels, this.clock());
        const kernelOf = new Map(hosts.map((h) => [h.id, h.kernel_version]));
        for (const h of perHost) {
          const kernel = kernelOf.get(h.id) ?? '';
          const id = kernelIds.get(kernel);
          if (id === undefined) continue;
          for (const f of h.findings)
            if (f.software_id === null && f.package === `linux-image-${kernel}`) f.software_id = id;
        }
        const cveByName = new Map(cves.map((c) => [c.cve, c]));
        const metaFor = (fs: Iterable<FindingInput>): CveMeta[] => {
          const out: CveMeta[] = [];
          for (const f of fs) {
            const c = cveByName.get(f.cve);
            if (c && !written.has(f.cve)) {
              written.add(f.cve);
              out.push(c);
            }
          }
          return out;
        };
        // Findings for a software version hold for every host of the release that has it: each
        // is written once per scan. Only host-specific ones (the running kernel's) are per host.
        const shared: SharedFindingInput[] = [];
        const own: Array<{
          id: number;
          checksum: string;
          releaseKey: string;
          findings: FindingInput[];
        }> = [];
        for (const h of perHost) {
          const mine: FindingInput[] = [];
          for (const f of h.findings) {
            if (f.software_id === null) {
              mine.push(f);
              continue;
            }
            const k = `${h.releaseKey}\u0000${f.software_id}\u0000${f.cve}`;
            if (sharedSeen.has(k)) continue;
            sharedSeen.add(k);
            shared.push({ ...f, software_id: f.software_id, release_key: h.releaseKey });
          }
          own.push({ id: h.id, checksum: h.checksum, releaseKey: h.releaseKey, findings: mine });
        }
        // SQLite calls are synchronous: keep each transaction small and give the event loop a
        // turn between them, so check-ins never wait long.
        const size = this.opts.findingsPerWrite ?? 500;
        for (let i = 0; i < shared.length; i += size) {
          const part = shared.slice(i, i + size);
          await this.ds.vulnerabilities.applyScan([], part, metaFor(part), version, this.clock());
          await pause();
        }
        for (const group of groupByFindings(own, size)) {
          const r = await this.ds.vulnerabilities.applyScan(
            group,
            [],
            metaFor(group.flatMap((h) => h.findings)),
            version,
            this.clock(),
          );
          report.inserted += r.inserted;
          report.resolved += r.resolved;
          report.reopened += r.reopened;
          await pause();
        }
        report.shared += shared.length;
        report.hosts += hosts.length;
        report.findings += perHost.reduce((n, h) => n + h.findings.length, 0);
      }
      if (!this.stopped)
        report.resolved += await this.ds.vulnerabilities.sweep(version, this.clock());
    } catch (err) {
      report.error = err instanceof Error ? err.message : String(err);
      this.log.error({ err }, 'vulnerability scan failed');
    }
    report.finished_at = this.clock();
    this.last = report;
    this.log.info(
      { hosts: report.hosts, inserted: report.inserted, resolved: report.resolved },
      'vulnerability scan finished',
    );
    return report;
  }

  private async scanChunk(
    scanner: Scanner,
    hosts: readonly ScanHostRow[],
    software: readonly ScanSoftwareRow[],
  ): Promise<{
    perHost: Array<{ id: number; checksum: string; releaseKey: string; findings: FindingInput[] }>;
    cves: CveMeta[];
  }> {
    const byHost = new Map<number, ScanSoftwareRow[]>();
    for (const s of software) {
      let list = byHost.get(s.host_id);
      if (!list) byHost.set(s.host_id, (list = []));
      list.push(s);
    }
    const cves = new Map<string, CveMeta>();
    const perHost: Array<{
      id: number;
      checksum: string;
      releaseKey: string;
      findings: FindingInput[];
    }> = [];
    let slice = performance.now();
    for (const h of hosts) {
      // A fresh scanner evaluates every distinct package once: give check-ins a turn often.
      if (performance.now() - slice > 20) {
        await pause();
        slice = performance.now();
      }
      const rows = byHost.get(h.id) ?? [];
      const ids = new Map<string, number>();
      const packages: InstalledPackage[] = [];
      for (const s of rows) {
        const type = PACKAGE_TYPES[s.source];
        if (!type) continue;
        const version = matchVersion(s);
        ids.set(`${s.name}\u0000${version}`, s.software_id);
        packages.push({
          name: s.name,
          version,
          type,
          ...(s.arch ? { arch: s.arch } : {}),
          ...(s.package_source ? { source: s.package_source.replace(/\s*\(.*\)$/, '') } : {}),
          ...(s.vendor ? { vendor: s.vendor } : {}),
        });
      }
      const findings: FindingInput[] = [];
      const host: HostInventory = {
        os: osReleaseOf(h),
        ...(h.kernel_version ? { kernel: h.kernel_version } : {}),
        packages,
      };
      for (const group of scanner.scanHostGrouped(host)) {
        for (const f of group) {
          findings.push({
            software_id: ids.get(`${f.package}\u0000${f.installed_version}`) ?? null,
            cve: f.cve,
            package: f.package,
            installed_version: f.installed_version,
            fixed_version: f.fixed_version,
            source: f.source_feed,
            advisory: f.advisory,
          });
          if (!cves.has(f.cve)) {
            cves.set(f.cve, {
              cve: f.cve,
              severity: f.severity,
              cvss_score: f.cvss3_score,
              epss_probability: f.epss,
              cisa_known_exploit: f.known_exploited ? 1 : 0,
              kev_date_added: f.kev_date_added,
            });
          }
        }
      }
      const os = host.os;
      perHost.push({
        id: h.id,
        checksum: h.checksum,
        releaseKey: `${os.family}:${os.version}:${os.codename ?? ''}`,
        findings,
      });
    }
    return { perHost, cves: [...cves.values()] };
  }
}

/**
 * Lets the event loop run a full cycle (timers, I/O, immediates): with SQLite every query is
 * synchronous, so a check-in only progresses between our steps.
 */
const pause = (): Promise<unknown> => sleep(1);

/** Splits hosts into groups of at most `max` findings each (one host per group at least). */
function groupByFindings<T extends { findings: readonly unknown[] }>(
  hosts: readonly T[],
  max: number,
): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let n = 0;
  for (const h of hosts) {
    if (cur.length > 0 && n + h.findings.length > max) {
      out.push(cur);
      cur = [];
      n = 0;
    }
    cur.push(h);
    n += h.findings.length;
  }
  if (cur.length) out.push(cur);
  return out;
}
