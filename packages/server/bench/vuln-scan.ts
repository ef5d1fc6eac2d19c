/**
 * Server-side vulnerability scan benchmark: hosts with real package lists (the synthetic Ubuntu
 * 22.10/23.04/23.10 inventories, 1,107 packages each, mostly patched so each host has a few
 * hundred open findings) stored through the software repository, then one full scan by the
 * background job against OVAL + OSV + NVD + KEV. Probe hosts check in (distributed read, then
 * write) through the real osquery endpoint the whole time; their latency and the main thread's
 * event-loop delay and utilisation are compared between a quiet period and the scan. Then an
 * incremental rescan after 5% of hosts change. Then the software lists: each repository call
 * behind `GET /software/titles` and `/software/versions` (all teams, one team, no team, a query,
 * `vulnerable=true`), the endpoints themselves, hosts by version and title, and the count pass
 * that stores the host counts they read, with check-in latency and event-loop delay during each.
 * A quarter of the hosts are in team A, a quarter in team B, the rest in no team.
 * Usage: node --import tsx packages/server/bench/vuln-scan.ts [--hosts 2000] [--db FILE]
 *   [--inline] [--quiet-seconds 15] [--skip case,case]
 * --db keeps the ingested database for the next run (ingest is skipped when it holds the hosts,
 * and their scan state is reset); --inline runs the scan on the main thread
 * (FLOTILLA_VULN_SCAN_THREAD=false) for comparison; --skip leaves out list cases by name
 * (`count_pass` too).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pino from 'pino';
import { openDatastore, type SoftwareInput } from '@flotilla/db';
import {
  compareDpkg,
  createScanner,
  emptyDatabase,
  parseOval,
  type HostInventory,
} from '@flotilla/vuln';
import { readFeedText } from '../../vuln/src/feeds/load.js';
import { buildApp, loadConfig } from '../src/index.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const FX = join(ROOT, 'packages', 'vuln', 'test', 'fixtures');
const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '2000' },
    db: { type: 'string' },
    inline: { type: 'boolean', default: false },
    'quiet-seconds': { type: 'string', default: '15' },
    probes: { type: 'string', default: '10' },
    skip: { type: 'string', default: '' },
  },
});
const HOSTS = Number(values.hosts);
const DB_FILE = values.db ? resolve(values.db) : undefined;
const QUIET_S = Number(values['quiet-seconds']);
const PROBES = Number(values.probes);
const SKIP = new Set(values.skip.split(',').filter(Boolean));

let seed = 7;
const rand = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};

interface Raw {
  os: { version: string; codename: string };
  kernel: string | null;
  packages: { name: string; version: string; arch?: string; source?: string }[];
}
const releases = ['22.10-kinetic', '23.04-lunar', '23.10-mantic'].map((r) => {
  const raw = JSON.parse(
    readFileSync(join(FX, 'inventories', 'synthetic', `synthetic-ubuntu-${r}.json`), 'utf8'),
  ) as Raw;
  const codename = raw.os.codename;
  // Patch most packages: scan the base list once and move 90% of vulnerable packages to their
  // newest fix, so hosts look like a maintained fleet (a few hundred open findings each).
  const db = emptyDatabase();
  db.oval.push(
    parseOval(
      readFeedText(join(FX, 'ubuntu-oval', `com.ubuntu.${codename}.usn.oval.xml.gz`)),
      codename,
    ),
  );
  const host: HostInventory = {
    os: { family: 'ubuntu', version: raw.os.version, codename },
    packages: raw.packages.map((p) => ({ name: p.name, version: p.version, type: 'deb' })),
  };
  const fix = new Map<string, string>();
  for (const f of createScanner(db).scanHost(host)) {
    const prev = fix.get(f.package);
    if (f.fixed_version && (!prev || compareDpkg(f.fixed_version, prev) > 0))
      fix.set(f.package, f.fixed_version);
  }
  const patched = new Map<string, string>();
  for (const [name, v] of fix) if (rand() < 0.97) patched.set(name, v);
  return { raw, codename, patched };
});

const dir = mkdtempSync(join(tmpdir(), 'flotilla-vuln-bench-'));
const feeds = join(dir, 'feeds');
mkdirSync(feeds, { recursive: true });
for (const c of ['kinetic', 'lunar', 'mantic'])
  copyFileSync(
    join(FX, 'ubuntu-oval', `com.ubuntu.${c}.usn.oval.xml.gz`),
    join(feeds, `com.ubuntu.${c}.usn.oval.xml.gz`),
  );
copyFileSync(join(FX, 'osv-samples', 'ubuntu', 'USN-5614-1.json'), join(feeds, 'osv-usn.json'));
copyFileSync(join(FX, 'nvd', 'vunnel-nvd-api2-full-page.json'), join(feeds, 'nvd-page.json'));
copyFileSync(
  join(FX, 'kev', 'known_exploited_vulnerabilities.json.gz'),
  join(feeds, 'kev.json.gz'),
);

const config = loadConfig({
  env: {
    FLOTILLA_DATA_DIR: dir,
    FLOTILLA_LOG_LEVEL: 'silent',
    FLOTILLA_VULN_FEEDS_DIR: feeds,
    FLOTILLA_VULN_SCAN_INTERVAL: '0',
    FLOTILLA_VULN_SCAN_THREAD: values.inline ? 'false' : 'true',
  },
});
const ds = openDatastore({ sqliteFile: DB_FILE ?? join(dir, 'flotilla.db') });
await ds.migrate();
const existing = await ds.db
  .selectFrom('hosts')
  .select((eb) => eb.fn.countAll<number>().as('n'))
  .executeTakeFirstOrThrow();
const reuse = Number(existing.n) >= HOSTS;
if (reuse) {
  // A kept database: forget the last scan so this one is a full scan again.
  await ds.db.deleteFrom('software_cves').execute();
  await ds.db.deleteFrom('host_vulnerabilities').execute();
  await ds.db.deleteFrom('vulnerabilities').execute();
  await sql`delete from host_software where software_id in
    (select id from software where source = 'kernel')`.execute(ds.db);
  await ds.db
    .updateTable('host_software_state')
    .set({ scanned_checksum: '', release_key: '' })
    .execute();
}
const { app, vulnScan } = await buildApp({
  config,
  ds,
  serverKey: 'bench',
  logger: pino({ level: 'silent' }),
});
await app.ready();

// Hosts and their software, written as the ingestion path writes them (batched diffs).
const t0 = performance.now();
const hostList = (i: number) => {
  const r = releases[i % releases.length]!;
  const items: SoftwareInput[] = [];
  for (const p of r.raw.packages) {
    if (rand() < 0.03) continue;
    const fixed = r.patched.get(p.name);
    const version = fixed && rand() < 0.97 ? fixed : p.version;
    items.push({
      name: p.name,
      version,
      source: 'deb_packages',
      arch: p.arch ?? 'amd64',
      ...(p.source ? { package_source: p.source } : {}),
    });
  }
  return { r, items };
};
let batch: Parameters<typeof ds.software.apply>[0][number][] = [];
for (let i = 0; i < (reuse ? 0 : HOSTS); i++) {
  const { r, items } = hostList(i);
  const { host } = await ds.hosts.enroll({
    osqueryHostId: `bench-${i}`,
    nodeKeyHash: `hash-${i}`,
    teamId: null,
    nowMs: Date.now(),
    details: {
      hostname: `bench-${i}`,
      platform: 'ubuntu',
      os_version: `Ubuntu ${r.raw.os.version}`,
      code_name: r.codename,
      kernel_version: r.raw.kernel ?? '',
    },
  });
  batch.push({ hostId: host.id, checksum: `c${i}`, sources: ['deb_packages'], items });
  if (batch.length === 100) {
    await ds.software.apply(batch, Date.now());
    batch = [];
  }
}
await ds.software.apply(batch, Date.now());
const ingestSeconds = (performance.now() - t0) / 1000;
// Teams: a quarter of the hosts in A, a quarter in B, the rest in no team.
const teamIds: number[] = [];
for (const name of ['Bench A', 'Bench B']) {
  const t = await ds.db
    .selectFrom('teams')
    .select('id')
    .where('name', '=', name)
    .executeTakeFirst();
  teamIds.push(t?.id ?? (await ds.teams.create(name, '', Date.now())));
}
await sql`update hosts set team_id = case when id % 4 = 1 then ${teamIds[0]}
  when id % 4 = 2 then ${teamIds[1]} else null end where hostname like 'bench-%'`.execute(ds.db);

// Probe hosts check in through the real endpoint all along: read, then write, every 50 ms each.
const secret = 'bench-secret-1';
const tryEnroll = (n: number) =>
  app.inject({
    method: 'POST',
    url: '/api/osquery/enroll',
    payload: { enroll_secret: secret, host_identifier: `probe-${n}` },
  });
const login = async (): Promise<string | undefined> => {
  const r = await app.inject({
    method: 'POST',
    url: '/api/v1/fleet/login',
    payload: { email: 'a@example.com', password: 'Bench-password-1!' },
  });
  return r.statusCode === 200 ? (r.json() as { token: string }).token : undefined;
};
let token = await login();
if (!token) {
  await app.inject({
    method: 'POST',
    url: '/api/v1/setup',
    payload: {
      admin: {
        admin: true,
        email: 'a@example.com',
        name: 'A',
        password: 'Bench-password-1!',
        password_confirmation: 'Bench-password-1!',
      },
      org_info: { org_name: 'Bench' },
      server_url: 'https://localhost:8412',
    },
  });
  token = (await login())!;
  await app.inject({
    method: 'POST',
    url: '/api/v1/fleet/spec/enroll_secret',
    headers: { authorization: `Bearer ${token}` },
    payload: { spec: { secrets: [{ secret }] } },
  });
}
const nodeKeys: string[] = [];
for (let n = 0; n < PROBES; n++)
  nodeKeys.push(((await tryEnroll(n)).json() as { node_key: string }).node_key);

/** Check-in latencies and main-thread event-loop figures while `fn` runs. */
interface Window {
  latencies: number[];
  errors: number;
  delay: ReturnType<typeof monitorEventLoopDelay>;
  elu: ReturnType<typeof performance.eventLoopUtilization>;
  cpu: NodeJS.CpuUsage;
  wall: number;
}
let current: Window | null = null;
let probing = true;
const probes = nodeKeys.map(async (nodeKey, n) => {
  await new Promise((r) => setTimeout(r, (n * 50) / PROBES));
  while (probing) {
    for (const url of ['/api/osquery/distributed/read', '/api/osquery/distributed/write']) {
      const w = current;
      const s = performance.now();
      const r = await app.inject({
        method: 'POST',
        url,
        payload: url.endsWith('read')
          ? { node_key: nodeKey }
          : { node_key: nodeKey, queries: {}, statuses: {} },
      });
      if (w && w === current) {
        w.latencies.push(performance.now() - s);
        if (r.statusCode !== 200) w.errors++;
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
});
const measure = async <T>(fn: () => Promise<T>): Promise<{ value: T; window: Window }> => {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const w: Window = {
    latencies: [],
    errors: 0,
    delay,
    elu: performance.eventLoopUtilization(),
    cpu: process.cpuUsage(),
    wall: performance.now(),
  };
  current = w;
  const value = await fn();
  current = null;
  delay.disable();
  w.elu = performance.eventLoopUtilization(w.elu);
  w.cpu = process.cpuUsage(w.cpu);
  w.wall = performance.now() - w.wall;
  return { value, window: w };
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0).toFixed(2));
};
const summary = (w: Window) => ({
  seconds: Number((w.wall / 1000).toFixed(2)),
  checkins: w.latencies.length / 2,
  requests: w.latencies.length,
  request_errors: w.errors,
  request_ms_p50: pct(w.latencies, 50),
  request_ms_p99: pct(w.latencies, 99),
  request_ms_max: pct(w.latencies, 100),
  event_loop_delay_ms_p50: Number((w.delay.percentile(50) / 1e6).toFixed(2)),
  event_loop_delay_ms_p99: Number((w.delay.percentile(99) / 1e6).toFixed(2)),
  event_loop_delay_ms_max: Number((w.delay.max / 1e6).toFixed(2)),
  main_thread_utilisation: Number(w.elu.utilization.toFixed(3)),
  process_cpu_seconds: Number(((w.cpu.user + w.cpu.system) / 1e6).toFixed(2)),
});

// Feeds are parsed when they change (not at every scan); measured apart.
const feedLoad = await measure(() => vulnScan.feeds.reload(true));
// Check-ins with nothing else going on, as the reference.
const quiet = await measure(() => new Promise((r) => setTimeout(r, QUIET_S * 1000)));
const full = await measure(() => vulnScan.run());

// The software lists, case by case: each call's time is also how long it holds the event loop
// when it is synchronous SQLite (better-sqlite3).
type Scope = Parameters<typeof ds.software.listTitles>[0];
const scopes: Record<string, Scope> = {
  all: { visibleTeams: 'all' },
  team: { visibleTeams: 'all', teamId: teamIds[0] },
  no_team: { visibleTeams: 'all', teamId: 0 },
  two_teams: { visibleTeams: teamIds },
};
const page = { page: 0, perPage: 20 };
const byCount = { key: 'hosts_count' as const, direction: 'desc' as const };
// Versions with the most findings (the running kernel first): the heaviest CVE lists.
const cveHeavy = (
  await sql<{ software_id: number }>`select software_id from software_cves
    group by software_id order by count(*) desc limit 20`.execute(ds.db)
).rows.map((r) => r.software_id);
const top = await sql<{ software_id: number; title_id: number }>`
  select hs.software_id, s.title_id from host_software hs join software s on s.id = hs.software_id
  where hs.host_id = 1 and s.source = 'deb_packages' limit 1`.execute(ds.db);
const topVersion = top.rows[0]?.software_id ?? 0;
const topTitle = top.rows[0]?.title_id ?? 0;
const get = async (url: string) => {
  const r = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${r.body.slice(0, 200)}`);
  return r.json() as { count?: number };
};
/** Hosts with a version or title, a page of 2,000 hosts at a time, as the service asks. */
const hostIds = async (scope: Scope, by: { softwareId?: number; titleId?: number }) => {
  const out: number[] = [];
  for (let after: number | null = 0; after !== null;) {
    const page = await ds.software.hostIdsWith(scope, by, after, 2000);
    out.push(...page.hostIds);
    after = page.next;
    await new Promise((r) => setImmediate(r));
  }
  return out;
};
const cases: Array<[string, () => Promise<unknown>]> = [];
for (const [name, scope] of Object.entries(scopes)) {
  cases.push([`titles_${name}`, () => ds.software.listTitles(scope, {}, page, byCount)]);
  cases.push([`versions_${name}`, () => ds.software.listVersions(scope, {}, page, byCount)]);
}
cases.push(
  ['titles_query', () => ds.software.listTitles(scopes.all!, { query: 'lib' }, page, byCount)],
  ['versions_query', () => ds.software.listVersions(scopes.all!, { query: 'ssl' }, page, byCount)],
  [
    'titles_vulnerable',
    () => ds.software.listTitles(scopes.all!, { vulnerable: true }, page, byCount),
  ],
  [
    'versions_vulnerable',
    () => ds.software.listVersions(scopes.all!, { vulnerable: true }, page, byCount),
  ],
  [
    'versions_vulnerable_team',
    () => ds.software.listVersions(scopes.team!, { vulnerable: true }, page, byCount),
  ],
  ['cves_for_20_versions', () => ds.software.cvesFor(scopes.all!, cveHeavy)],
  ['cves_for_20_versions_team', () => ds.software.cvesFor(scopes.team!, cveHeavy)],
  ['host_ids_by_version', () => hostIds(scopes.all!, { softwareId: topVersion })],
  ['host_ids_by_version_team', () => hostIds(scopes.team!, { softwareId: topVersion })],
  ['host_ids_by_title', () => hostIds(scopes.all!, { titleId: topTitle })],
  ['http_titles', () => get('/api/v1/fleet/software/titles')],
  ['http_titles_team', () => get(`/api/v1/fleet/software/titles?team_id=${teamIds[0]}`)],
  ['http_versions', () => get('/api/v1/fleet/software/versions')],
  ['http_versions_vulnerable', () => get('/api/v1/fleet/software/versions?vulnerable=true')],
  ['http_title_detail', () => get(`/api/v1/fleet/software/titles/${topTitle}`)],
  ['http_version_detail', () => get(`/api/v1/fleet/software/versions/${topVersion}`)],
  ['http_hosts_by_version', () => get(`/api/v1/fleet/hosts?software_version_id=${topVersion}`)],
);
const listCases: Record<string, { ms: number; loop_delay_ms_max: number; count?: number }> = {};
const lists = await measure(async () => {
  for (const [name, fn] of cases) {
    if (SKIP.has(name)) continue;
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    // The histogram records from its second tick on: let it start before the call.
    await new Promise((r) => setTimeout(r, 20));
    const s = performance.now();
    const value = (await fn()) as { count?: number } | unknown[];
    const ms = performance.now() - s;
    // A turn of the event loop, so the histogram sees the delay the call caused.
    await new Promise((r) => setTimeout(r, 10));
    delay.disable();
    const count = Array.isArray(value) ? value.length : value.count;
    listCases[name] = {
      ms: Number(ms.toFixed(1)),
      loop_delay_ms_max: Number((delay.max / 1e6).toFixed(1)),
      ...(count !== undefined ? { count } : {}),
    };
    console.error(`${name}: ${ms.toFixed(1)} ms`);
  }
});
// The count pass alone (it also runs after every scan), on the scan worker.
const countPass = SKIP.has('count_pass') ? null : await measure(() => vulnScan.count());

// Incremental: 5% of hosts change their list; only they are rescanned.
const changed: typeof batch = [];
for (let i = 0; i < HOSTS; i += 20) {
  const { items } = hostList(i);
  changed.push({
    hostId: i + 1,
    checksum: `changed-${Date.now()}-${i}`,
    sources: ['deb_packages'],
    items,
  });
}
await ds.software.apply(changed, Date.now());
const incremental = await measure(() => vulnScan.run());
probing = false;
await Promise.all(probes);

const r = full.value;
const result = {
  hosts: HOSTS,
  packages_per_host: Math.round(
    releases.reduce((n, x) => n + x.raw.packages.length, 0) / releases.length,
  ),
  scan_thread: vulnScan.threaded,
  ingest_seconds: reuse ? null : Number(ingestSeconds.toFixed(1)),
  feed_load: {
    ...summary(feedLoad.window),
    files: vulnScan.feeds.status.files.length,
  },
  full_scan: {
    seconds: Number(((r.finished_at - r.started_at) / 1000).toFixed(2)),
    hosts_scanned: r.hosts,
    hosts_evaluated: r.evaluated,
    findings: r.findings,
    findings_per_host: Math.round(r.findings / Math.max(1, r.hosts)),
    rows_written_shared: r.shared,
    rows_written_per_host: r.inserted,
    phase_seconds: Object.fromEntries(
      Object.entries(r.phase_ms ?? {}).map(([k, v]) => [k, Number((v / 1000).toFixed(2))]),
    ),
    error: r.error ?? null,
  },
  quiet: summary(quiet.window),
  during_scan: summary(full.window),
  lists: { cases: listCases, checkins_during: summary(lists.window) },
  count_pass: countPass
    ? { report: countPass.value, checkins_during: summary(countPass.window) }
    : null,
  incremental_scan: {
    ...summary(incremental.window),
    hosts_scanned: incremental.value.hosts,
    findings: incremental.value.findings,
    rows_written: incremental.value.shared + incremental.value.inserted,
    error: incremental.value.error ?? null,
  },
  rss_mb: Math.round(process.memoryUsage().rss / 1_048_576),
};
console.log(JSON.stringify(result, null, 2));
const out = process.env['BENCH_OUT'];
if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
await app.close();
await ds.close();
rmSync(dir, { recursive: true, force: true });
