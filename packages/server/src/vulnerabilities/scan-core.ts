import {
  ALL_TEAMS,
  type CveMeta,
  type Datastore,
  type FindingInput,
  type ScanCatalogRow,
  type ScanHostRow,
  type SharedFindingInput,
} from '@flotilla/db';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  cveDetails,
  type Finding,
  type HostInventory,
  type InstalledPackage,
  type Scanner,
  type VulnDatabase,
} from '@flotilla/vuln';
import { SoftwareTally, type TitleIndex } from './software-tally.js';

/**
 * Bumped when what a scan stores changes, so every host is scanned again once: `shared2`
 * (NVD publication dates and descriptions, host counts per CVE).
 */
export const STORAGE = 'shared2';

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
export function matchVersion(s: Pick<ScanCatalogRow, 'source' | 'version' | 'release'>): string {
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

const releaseKeyOf = (os: HostInventory['os']): string =>
  `${os.family}:${os.version}:${os.codename ?? ''}`;

export interface ScanReport {
  started_at: number;
  finished_at: number;
  hosts: number;
  /** Hosts whose findings were computed (the rest had the same list, release and kernel). */
  evaluated: number;
  findings: number;
  /** Findings written once per (release, software version, CVE). */
  shared: number;
  /** Host-specific findings inserted (running kernel). */
  inserted: number;
  resolved: number;
  reopened: number;
  feeds_version: string;
  /** Where the time went, in ms (not part of the API). */
  phase_ms?: ScanPhases;
  /** The count pass that ended the scan. */
  counts?: CountReport;
  download?: {
    downloaded: string[];
    unchanged: string[];
    errors: Array<{ file: string; message: string }>;
  };
  error?: string;
}

/** What a count pass stored: host counts per software version, title and CVE, per team. */
export interface CountReport {
  started_at: number;
  finished_at: number;
  /** Hosts whose software was counted. */
  hosts: number;
  /** Rows written (team keys included: every host, each team, no team) and dropped. */
  version_rows: number;
  title_rows: number;
  cve_rows: number;
  dropped_rows: number;
  /** Where the time went, in ms: reading hosts and their software ids, counting, writing. */
  phase_ms: { read: number; tally: number; writes: number };
  error?: string;
}

export function emptyCountReport(startedAt: number): CountReport {
  return {
    started_at: startedAt,
    finished_at: 0,
    hosts: 0,
    version_rows: 0,
    title_rows: 0,
    cve_rows: 0,
    dropped_rows: 0,
    phase_ms: { read: 0, tally: 0, writes: 0 },
  };
}

export function emptyReport(startedAt: number): ScanReport {
  return {
    started_at: startedAt,
    finished_at: 0,
    hosts: 0,
    evaluated: 0,
    findings: 0,
    shared: 0,
    inserted: 0,
    resolved: 0,
    reopened: 0,
    feeds_version: '',
  };
}

/**
 * How the scan gives way to others. SQLite has one writer: each of the scan's write
 * transactions is small, and the next one starts no sooner than `writeGapMs` after the last
 * ended, so the check-in path's batch writers (which wait for the lock synchronously) always
 * get it within a millisecond or two; the scan computes in between. `cpu` is called now and
 * then during long computations (the main-thread scan yields to the event loop there).
 */
export interface ScanPacing {
  writeGapMs: number;
  cpu(): Promise<void>;
}

export interface ScanOptions {
  /** Hosts read per page (their links are read in sub-chunks of `linkChunk`). */
  pageHosts?: number;
  linkChunk?: number;
  /** Shared findings per write transaction. */
  findingsPerWrite?: number;
  /** Hosts per scan-state / kernel-link transaction. */
  hostsPerWrite?: number;
}

/** Milliseconds spent per phase of a scan (reads, engine, writes, waits). */
export type ScanPhases = Record<
  | 'catalog'
  | 'hosts'
  | 'links'
  | 'engine'
  | 'kernels'
  | 'writes'
  | 'write_waits'
  | 'sweep'
  | 'count',
  number
>;

function emptyPhases(): ScanPhases {
  return {
    catalog: 0,
    hosts: 0,
    links: 0,
    engine: 0,
    kernels: 0,
    writes: 0,
    write_waits: 0,
    sweep: 0,
    count: 0,
  };
}

/** Hosts exposed to each CVE per team, counted host by host (each host once per CVE). */
class HostCounts {
  readonly byCve = new Map<string, Map<number, number>>();
  private readonly lastHost = new Map<string, number>();
  /** Hosts already counted. */
  readonly hosts = new Set<number>();

  add(hostId: number, teamId: number | null, cves: Iterable<string>): void {
    const team = teamId ?? 0;
    this.hosts.add(hostId);
    for (const cve of cves) {
      if (this.lastHost.get(cve) === hostId) continue;
      this.lastHost.set(cve, hostId);
      let byTeam = this.byCve.get(cve);
      if (!byTeam) this.byCve.set(cve, (byTeam = new Map()));
      byTeam.set(team, (byTeam.get(team) ?? 0) + 1);
    }
  }
}

/** Write transactions in order, each started only after the gap since the previous one. */
class WriteQueue {
  private readonly queue: Array<() => Promise<void>> = [];
  private lastEnd = 0;

  constructor(
    private readonly gapMs: number,
    private readonly phases: ScanPhases,
  ) {}

  push(write: () => Promise<void>): void {
    this.queue.push(write);
  }

  private async runOne(): Promise<void> {
    const write = this.queue.shift();
    if (!write) return;
    const t = performance.now();
    await write();
    this.lastEnd = performance.now();
    this.phases.writes += this.lastEnd - t;
  }

  /** Is a write waiting whose turn has come? */
  due(): boolean {
    return this.queue.length > 0 && performance.now() - this.lastEnd >= this.gapMs;
  }

  /** Runs the next write if its turn has come (called between steps of other work). */
  async pump(): Promise<void> {
    if (this.due()) await this.runOne();
  }

  /** Runs every queued write, waiting out the gaps. */
  async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const wait = this.gapMs - (performance.now() - this.lastEnd);
      if (wait > 0) {
        const t = performance.now();
        await sleep(wait);
        this.phases.write_waits += performance.now() - t;
      }
      await this.runOne();
    }
  }
}

const EMPTY_IDS = new Int32Array(0);

/** Binary search in `a` (sorted ascending): is `x` in it? */
function has(a: ArrayLike<number>, x: number): boolean {
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = a[mid]!;
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

interface HostFindings {
  host: ScanHostRow;
  releaseKey: string;
  /** Host-specific findings (no software row), the same for every host of the group. */
  own: FindingInput[];
  count: number;
}

/**
 * The scan itself, independent of the thread it runs on: pages through hosts whose software
 * list or the feeds changed since their last scan (by id, host-major), evaluates one host per
 * distinct (software list, release, kernel), and stores each finding once per (release,
 * software version, CVE). Keeps its software catalogue between runs (rows never change).
 */
export class ScanRunner {
  /** Software id → the package the engine sees (null: not a package type it matches). */
  private readonly packages: Array<InstalledPackage | null | undefined> = [];
  /** `name\0version` → software ids, for turning a finding back into its software row. */
  private readonly byKey = new Map<string, number[]>();
  private readonly kernelIds = new Map<string, number>();
  /** Software id → title id, for the count pass. */
  private readonly titles: TitleIndex = { titleOf: new Int32Array(0), maxTitleId: 0 };
  private loadedUpTo = 0;

  constructor(
    private readonly ds: Datastore,
    private readonly clock: () => number,
    private readonly pacing: ScanPacing,
    private readonly opts: ScanOptions = {},
  ) {}

  /** Reads software rows added since the last call. */
  private async refreshCatalog(): Promise<void> {
    for (;;) {
      const rows = await this.ds.vulnerabilities.catalog(this.loadedUpTo, 20_000);
      if (rows.length === 0) return;
      const last = rows[rows.length - 1]!.id;
      if (last >= this.titles.titleOf.length) {
        const grown = new Int32Array(Math.max(last + 1, this.titles.titleOf.length * 2));
        grown.set(this.titles.titleOf);
        this.titles.titleOf = grown;
      }
      for (const s of rows) {
        this.loadedUpTo = Math.max(this.loadedUpTo, s.id);
        this.titles.titleOf[s.id] = s.title_id;
        if (s.title_id > this.titles.maxTitleId) this.titles.maxTitleId = s.title_id;
        if (s.source === 'kernel') {
          this.kernelIds.set(s.version, s.id);
          this.packages[s.id] = null;
          continue;
        }
        const type = PACKAGE_TYPES[s.source];
        if (!type) {
          this.packages[s.id] = null;
          continue;
        }
        const version = matchVersion(s);
        this.packages[s.id] = {
          name: s.name,
          version,
          type,
          ...(s.arch ? { arch: s.arch } : {}),
          ...(s.package_source ? { source: s.package_source.replace(/\s*\(.*\)$/, '') } : {}),
          ...(s.vendor ? { vendor: s.vendor } : {}),
        };
        const k = `${s.name}\u0000${version}`;
        const list = this.byKey.get(k);
        if (list) list.push(s.id);
        else this.byKey.set(k, [s.id]);
      }
      await this.pacing.cpu();
    }
  }

  /** Scans every host that needs it under `feedKey` (errors are thrown). */
  async run(
    scanner: Scanner,
    db: VulnDatabase,
    feedKey: string,
    report: ScanReport,
    stopped: () => boolean,
  ): Promise<void> {
    const page = this.opts.pageHosts ?? 1000;
    const linkChunk = this.opts.linkChunk ?? 250;
    const perWrite = this.opts.findingsPerWrite ?? 100;
    const hostsPerWrite = this.opts.hostsPerWrite ?? 100;
    const phases = emptyPhases();
    report.phase_ms = phases;
    const timed = async <T>(phase: keyof ScanPhases, fn: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      try {
        return await fn();
      } finally {
        phases[phase] += performance.now() - t;
      }
    };
    const writes = new WriteQueue(this.pacing.writeGapMs, phases);
    await timed('catalog', () => this.refreshCatalog());

    // Per scan: what has been written, so each shared finding and CVE is written once.
    const sharedSeen = new Set<string>();
    const groupCandidates = new WeakMap<readonly Finding[], readonly number[] | null>();
    const groupsDone = new WeakMap<readonly Finding[], Map<string, number>>();
    const cvesWritten = new Set<string>();
    // Hosts with the same list, release and kernel have the same findings.
    const groups = new Map<
      string,
      { own: FindingInput[]; count: number; cves: readonly string[] | null }
    >();
    // Hosts scanned now are counted from their findings as they are evaluated.
    const counts = new HostCounts();

    let cursor = 0;
    while (!stopped()) {
      const hosts = await timed('hosts', () =>
        this.ds.vulnerabilities.hostsToScan(feedKey, page, cursor),
      );
      if (hosts.length === 0) break;
      cursor = hosts[hosts.length - 1]?.id ?? cursor;

      const keyOf = new Map<number, string>();
      const reps: ScanHostRow[] = [];
      const repKeys = new Set<string>();
      for (const h of hosts) {
        const k = `${h.checksum}\u0000${releaseKeyOf(osReleaseOf(h))}\u0000${h.kernel_version}`;
        keyOf.set(h.id, k);
        if (!groups.has(k) && !repKeys.has(k)) {
          repKeys.add(k);
          reps.push(h);
        }
      }

      const kernelOf = await timed('kernels', () => this.linkKernels(hosts, writes, hostsPerWrite));

      for (let i = 0; i < reps.length && !stopped(); i += linkChunk) {
        const chunk = reps.slice(i, i + linkChunk);
        const links = await timed('links', () =>
          this.ds.vulnerabilities.softwareIdsOf(chunk.map((h) => h.id)),
        );
        if (links.maxId > this.loadedUpTo) await timed('catalog', () => this.refreshCatalog());
        const shared: SharedFindingInput[] = [];
        const metas = new Map<string, CveMeta>();
        let t = performance.now();
        for (let j = 0; j < chunk.length; j++) {
          const h = chunk[j]!;
          const found = this.evaluate(
            scanner,
            h,
            links.byHost.get(h.id) ?? EMPTY_IDS,
            kernelOf.get(h.id),
            { sharedSeen, groupCandidates, groupsDone, shared },
          );
          for (const f of found.metas) {
            if (cvesWritten.has(f.cve)) continue;
            cvesWritten.add(f.cve);
            const d = cveDetails(db, f.cve);
            metas.set(f.cve, {
              cve: f.cve,
              severity: f.severity,
              cvss_score: f.cvss3_score,
              epss_probability: f.epss,
              cisa_known_exploit: f.known_exploited ? 1 : 0,
              kev_date_added: f.kev_date_added,
              cve_published: d?.published ?? null,
              cve_description: d?.description ?? null,
            });
          }
          groups.set(keyOf.get(h.id)!, { own: found.own, count: found.count, cves: found.cves });
          report.evaluated++;
          if (writes.due() || j % 25 === 24) {
            // Queued writes go in between hosts, once the gap since the last one has passed.
            phases.engine += performance.now() - t;
            await writes.pump();
            await this.pacing.cpu();
            t = performance.now();
          }
        }
        phases.engine += performance.now() - t;
        // Shared findings (and the CVEs they name), in small transactions.
        const metaList = [...metas.values()];
        for (let k = 0; k < Math.max(shared.length, metaList.length); k += perWrite) {
          const rows = shared.slice(k, k + perWrite);
          const cves = metaList.slice(k, k + perWrite);
          writes.push(async () => {
            await this.ds.vulnerabilities.applyScan([], rows, cves, feedKey, this.clock());
          });
        }
        report.shared += shared.length;
      }
      if (stopped()) break;

      // Host-specific findings and each host's "scanned at this checksum and feed", after the
      // shared findings they rely on (the queue keeps order).
      const perHost: HostFindings[] = [];
      for (const h of hosts) {
        const g = groups.get(keyOf.get(h.id)!)!;
        if (g.cves) counts.add(h.id, h.team_id, g.cves);
        perHost.push({
          host: h,
          releaseKey: releaseKeyOf(osReleaseOf(h)),
          own: g.own,
          count: g.count,
        });
        report.findings += g.count;
      }
      for (const part of groupHosts(perHost, perWrite * 5, hostsPerWrite)) {
        writes.push(async () => {
          const r = await this.ds.vulnerabilities.applyScan(
            part.map((p) => ({
              id: p.host.id,
              checksum: p.host.checksum,
              releaseKey: p.releaseKey,
              findings: p.own,
            })),
            [],
            [],
            feedKey,
            this.clock(),
          );
          report.inserted += r.inserted;
          report.resolved += r.resolved;
          report.reopened += r.reopened;
        });
      }
      report.hosts += hosts.length;
      // Later pages' hosts with a list seen here are counted in the count pass (memory).
      for (const k of repKeys) {
        const g = groups.get(k);
        if (g) g.cves = null;
      }
      await writes.pump();
    }
    // What is queued is consistent (shared findings before the hosts marked scanned).
    await writes.drain();
    if (!stopped()) await timed('sweep', () => this.sweep(feedKey, writes, report, stopped));
    // Host counts per CVE, software version and title, after every scan: findings, software,
    // hosts and their teams change between.
    if (!stopped()) {
      const counted = emptyCountReport(this.clock());
      await timed('count', () => this.countHosts(counts, writes, stopped, counted));
      counted.finished_at = this.clock();
      report.counts = counted;
    }
  }

  /** A count pass alone (no scan): host counts per CVE, software version and title, per team. */
  async count(stopped: () => boolean): Promise<CountReport> {
    const report = emptyCountReport(this.clock());
    await this.countHosts(
      new HostCounts(),
      new WriteQueue(this.pacing.writeGapMs, emptyPhases()),
      stopped,
      report,
    );
    report.finished_at = this.clock();
    return report;
  }

  /**
   * The count pass: every host's software ids, read host-major (`host_software` has no index by
   * software) team by team, give the hosts per software version and per title of that team and
   * of every host, and (for hosts the scan did not count from their findings) the hosts exposed
   * to each CVE, against the shared findings of the host's release plus its host-specific ones.
   * Writes what the software and vulnerability lists read, in small transactions, then drops
   * the counts no host has any more.
   */
  private async countHosts(
    counts: HostCounts,
    writes: WriteQueue,
    stopped: () => boolean,
    report: CountReport,
  ): Promise<void> {
    const phases = report.phase_ms;
    const t0 = performance.now();
    await this.refreshCatalog();
    // release → software id → CVEs, and which software ids are in any (most are not).
    const shared = new Map<string, Map<number, string[]>>();
    let exposedIds = new Uint8Array(this.loadedUpTo + 1);
    for (const r of await this.ds.vulnerabilities.sharedIndex()) {
      let bySoftware = shared.get(r.release_key);
      if (!bySoftware) shared.set(r.release_key, (bySoftware = new Map()));
      const list = bySoftware.get(r.software_id);
      if (list) list.push(r.cve);
      else bySoftware.set(r.software_id, [r.cve]);
      if (r.software_id >= exposedIds.length) {
        const grown = new Uint8Array(r.software_id * 2 + 1);
        grown.set(exposedIds);
        exposedIds = grown;
      }
      exposedIds[r.software_id] = 1;
    }
    const own = new Map<number, string[]>();
    for (const r of await this.ds.vulnerabilities.openHostSpecific()) {
      const list = own.get(r.host_id);
      if (list) list.push(r.cve);
      else own.set(r.host_id, [r.cve]);
    }
    phases.read += performance.now() - t0;

    const now = this.clock();
    const written = new Set<string>();
    const store = (rows: ReturnType<SoftwareTally['rows']>): void => {
      for (const r of rows.versions) written.add(`v${r.team_id}:${r.software_id}`);
      for (const r of rows.titles) written.add(`t${r.team_id}:${r.title_id}`);
      report.version_rows += rows.versions.length;
      report.title_rows += rows.titles.length;
      for (let i = 0; i < Math.max(rows.versions.length, rows.titles.length); i += 200) {
        const v = rows.versions.slice(i, i + 200);
        const t = rows.titles.slice(i, i + 200);
        writes.push(() => this.ds.software.writeHostCounts(v, t, now));
      }
    };
    const all = new SoftwareTally();
    const team = new SoftwareTally();
    // Hosts per read: as many as the scan reads links for at once (fewer on the main thread).
    const pageHosts = this.opts.linkChunk ?? 250;
    for (const teamId of await this.ds.vulnerabilities.hostTeams()) {
      let after = 0;
      for (;;) {
        if (stopped()) return;
        let t = performance.now();
        const page = await this.ds.vulnerabilities.hostsForCount(teamId, after, pageHosts);
        if (page.length === 0) break;
        after = page[page.length - 1]!.host_id;
        const links = await this.ds.vulnerabilities.softwareIdsOf(page.map((h) => h.host_id));
        if (links.maxId > this.loadedUpTo) await this.refreshCatalog();
        phases.read += performance.now() - t;
        t = performance.now();
        for (const h of page) {
          const ids = links.byHost.get(h.host_id) ?? EMPTY_IDS;
          const bySoftware = shared.get(h.release_key);
          const exposed =
            bySoftware === undefined
              ? null
              : (id: number) =>
                  id < exposedIds.length && exposedIds[id] === 1 && bySoftware.has(id);
          team.addHost(h.host_id, ids, this.titles, exposed);
          if (counts.hosts.has(h.host_id)) continue;
          const cves: string[] = [];
          if (exposed) {
            for (let i = 0; i < ids.length; i++) {
              const id = ids[i]!;
              if (exposed(id)) for (const c of bySoftware!.get(id)!) cves.push(c);
            }
          }
          for (const c of own.get(h.host_id) ?? []) cves.push(c);
          counts.add(h.host_id, teamId, cves);
        }
        report.hosts += page.length;
        phases.tally += performance.now() - t;
        t = performance.now();
        await writes.pump();
        phases.writes += performance.now() - t;
        await this.pacing.cpu();
      }
      store(team.rows(teamId ?? 0, this.titles));
      team.addTo(all);
      team.reset();
    }
    store(all.rows(ALL_TEAMS, this.titles));

    const rows: Array<{ cve: string; team_id: number; hosts_count: number }> = [];
    for (const [cve, byTeam] of counts.byCve)
      for (const [t, n] of byTeam) rows.push({ cve, team_id: t, hosts_count: n });
    report.cve_rows = rows.length;
    const keep = new Set(rows.map((r) => `${r.cve}\u0000${r.team_id}`));
    const gone = (await this.ds.vulnerabilities.hostCounts()).filter(
      (r) => !keep.has(`${r.cve}\u0000${r.team_id}`),
    );
    for (let i = 0; i < Math.max(rows.length, gone.length); i += 200) {
      const part = rows.slice(i, i + 200);
      const drop = gone.slice(i, i + 200);
      writes.push(() => this.ds.vulnerabilities.writeHostCounts(part, drop, now));
    }
    report.dropped_rows += gone.length;
    const w = performance.now();
    await writes.drain();
    // Counts no host of that team has any more (written before this pass, not by it).
    const stored = await this.ds.software.hostCountKeys();
    const goneVersions = stored.versions.filter((k) => !written.has(`v${k.team_id}:${k.id}`));
    const goneTitles = stored.titles.filter((k) => !written.has(`t${k.team_id}:${k.id}`));
    report.dropped_rows += goneVersions.length + goneTitles.length;
    for (let i = 0; i < Math.max(goneVersions.length, goneTitles.length); i += 500) {
      const v = goneVersions.slice(i, i + 500);
      const t = goneTitles.slice(i, i + 500);
      writes.push(() => this.ds.software.dropHostCounts(v, t));
    }
    await writes.drain();
    phases.writes += performance.now() - w;
  }

  /**
   * After a complete scan under new feeds: shared findings those feeds no longer produce are
   * resolved on every host that had them (host by host, written in small transactions), then
   * dropped. When the feeds did not change, one look at the shared findings finds nothing.
   */
  private async sweep(
    feedKey: string,
    writes: WriteQueue,
    report: ScanReport,
    stopped: () => boolean,
  ): Promise<void> {
    if (!(await this.ds.vulnerabilities.hasStaleShared(feedKey))) return;
    let after = 0;
    while (!stopped()) {
      const { rows, lastHostId } = await this.ds.vulnerabilities.staleFindings(feedKey, after, 200);
      if (lastHostId === null) break;
      after = lastHostId;
      for (let i = 0; i < rows.length; i += 200) {
        const part = rows.slice(i, i + 200);
        writes.push(async () => {
          report.resolved += await this.ds.vulnerabilities.resolve(part, this.clock());
        });
      }
      await writes.drain();
      await this.pacing.cpu();
    }
    let dropped = 1;
    while (dropped > 0 && !stopped()) {
      writes.push(async () => {
        dropped = await this.ds.vulnerabilities.dropStaleShared(feedKey, 500);
      });
      await writes.drain();
    }
  }

  /**
   * Each host's running kernel, recorded as software (source "kernel") so kernel findings are
   * shared like any package's. Links that are missing or stale are queued; a kernel never seen
   * is created first (with its first host's link). Returns host → kernel software id.
   */
  private async linkKernels(
    hosts: readonly ScanHostRow[],
    writes: WriteQueue,
    perWrite: number,
  ): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    const withKernel = hosts.filter((h) => h.kernel_version !== '');
    if (withKernel.length === 0) return out;
    for (const h of withKernel) {
      if (this.kernelIds.has(h.kernel_version)) continue;
      const ids = await this.ds.software.linkKernels(
        [{ hostId: h.id, kernel: h.kernel_version }],
        this.clock(),
      );
      for (const [kernel, id] of ids) {
        this.kernelIds.set(kernel, id);
        this.packages[id] = null;
      }
    }
    const linked = await this.ds.vulnerabilities.kernelLinksOf(
      withKernel.map((h) => h.id),
      [...this.kernelIds.values()],
    );
    const add: Array<{ hostId: number; softwareId: number }> = [];
    const remove: Array<{ hostId: number; softwareId: number }> = [];
    for (const h of withKernel) {
      const want = this.kernelIds.get(h.kernel_version);
      if (want === undefined) continue;
      out.set(h.id, want);
      const have = linked.get(h.id) ?? [];
      if (!have.includes(want)) add.push({ hostId: h.id, softwareId: want });
      for (const id of have) if (id !== want) remove.push({ hostId: h.id, softwareId: id });
    }
    for (let i = 0; i < Math.max(add.length, remove.length); i += perWrite) {
      const a = add.slice(i, i + perWrite);
      const r = remove.slice(i, i + perWrite);
      writes.push(() => this.ds.vulnerabilities.setKernelLinks(a, r, this.clock()));
    }
    return out;
  }

  /** One host's findings: shared ones are appended to `acc.shared` the first time they occur. */
  private evaluate(
    scanner: Scanner,
    h: ScanHostRow,
    ids: ArrayLike<number>,
    kernelId: number | undefined,
    acc: EvalState,
  ): { own: FindingInput[]; count: number; metas: Finding[]; cves: string[] } {
    const packages: InstalledPackage[] = [];
    for (let i = 0; i < ids.length; i++) {
      const p = this.packages[ids[i]!];
      if (p) packages.push(p);
    }
    const os = osReleaseOf(h);
    const releaseKey = releaseKeyOf(os);
    const kernel = h.kernel_version;
    const kernelPackage = kernel ? `linux-image-${kernel}` : '';
    const out = {
      own: [] as FindingInput[],
      count: 0,
      metas: [] as Finding[],
      cves: [] as string[],
    };
    for (const group of scanner.scanHostGrouped({
      os,
      ...(kernel ? { kernel } : {}),
      packages,
    })) {
      out.count += group.length;
      for (const f of group) out.cves.push(f.cve); // (duplicates are counted once)
      // Groups are shared, frozen arrays (one per release and package version): most name one
      // package version, so its software row is found once and a group already written for
      // this release and row is skipped whole.
      let cands = acc.groupCandidates.get(group);
      if (cands === undefined) {
        cands = this.candidatesOf(group);
        acc.groupCandidates.set(group, cands);
      }
      if (cands === null) {
        for (const f of group)
          this.emit(
            f,
            this.softwareIdOf(f, this.candidatesOfFinding(f), ids, kernelPackage, kernelId),
            releaseKey,
            acc,
            out,
          );
        continue;
      }
      const softwareId = this.softwareIdOf(group[0]!, cands, ids, kernelPackage, kernelId);
      if (softwareId !== null) {
        let done = acc.groupsDone.get(group);
        if (done?.get(releaseKey) === softwareId) continue;
        if (!done) acc.groupsDone.set(group, (done = new Map()));
        done.set(releaseKey, softwareId);
      }
      for (const f of group) this.emit(f, softwareId, releaseKey, acc, out);
    }
    return out;
  }

  /** The candidate software rows of a group whose findings all name one package version. */
  private candidatesOf(group: readonly Finding[]): readonly number[] | null {
    const first = group[0];
    if (!first) return null;
    for (const f of group)
      if (f.package !== first.package || f.installed_version !== first.installed_version)
        return null;
    return this.candidatesOfFinding(first);
  }

  /** Which of this host's software rows a finding is about (null: none, host-specific). */
  private softwareIdOf(
    f: Finding,
    cands: readonly number[],
    ids: ArrayLike<number>,
    kernelPackage: string,
    kernelId: number | undefined,
  ): number | null {
    for (const c of cands) if (has(ids, c)) return c;
    if (f.package === kernelPackage && kernelId !== undefined) return kernelId;
    return null;
  }

  private candidatesOfFinding(f: Finding): readonly number[] {
    return this.byKey.get(`${f.package}\u0000${f.installed_version}`) ?? [];
  }

  private emit(
    f: Finding,
    softwareId: number | null,
    releaseKey: string,
    acc: EvalState,
    out: { own: FindingInput[]; metas: Finding[] },
  ): void {
    if (softwareId === null) {
      out.own.push(toInput(f, null));
      out.metas.push(f);
      return;
    }
    const k = `${releaseKey}\u0000${softwareId}\u0000${f.cve}`;
    if (acc.sharedSeen.has(k)) return;
    acc.sharedSeen.add(k);
    acc.shared.push({
      ...toInput(f, softwareId),
      software_id: softwareId,
      release_key: releaseKey,
    });
    out.metas.push(f);
  }
}

/** What evaluating hosts accumulates during one scan. */
interface EvalState {
  /** `release\0software\0cve` of every shared finding written. */
  sharedSeen: Set<string>;
  /** Per finding group: the software rows it may be about (null: it names several). */
  groupCandidates: WeakMap<readonly Finding[], readonly number[] | null>;
  /** Per finding group: release → the software row it was written for. */
  groupsDone: WeakMap<readonly Finding[], Map<string, number>>;
  shared: SharedFindingInput[];
}

function toInput(f: Finding, softwareId: number | null): FindingInput {
  return {
    software_id: softwareId,
    cve: f.cve,
    package: f.package,
    installed_version: f.installed_version,
    fixed_version: f.fixed_version,
    source: f.source_feed,
    advisory: f.advisory,
  };
}

/** Splits hosts into write groups of at most `maxFindings` own findings and `maxHosts` hosts. */
function groupHosts<T extends { own: readonly unknown[] }>(
  hosts: readonly T[],
  maxFindings: number,
  maxHosts: number,
): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let n = 0;
  for (const h of hosts) {
    if (cur.length > 0 && (n + h.own.length > maxFindings || cur.length >= maxHosts)) {
      out.push(cur);
      cur = [];
      n = 0;
    }
    cur.push(h);
    n += h.own.length;
  }
  if (cur.length) out.push(cur);
  return out;
}
