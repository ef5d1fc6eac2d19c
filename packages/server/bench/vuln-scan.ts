/**
 * Server-side vulnerability scan benchmark: hosts with real package lists (the synthetic Ubuntu
 * 22.10/23.04/23.10 inventories, 1,107 packages each, mostly patched so each host has a few
 * hundred open findings) stored through the software repository, then one full scan by the
 * background job against OVAL + OSV + NVD + KEV, while a host checks in every 20 ms through
 * the real osquery endpoint. Reports scan time, findings written, and check-in latency and
 * event-loop delay during the scan; then an incremental rescan after 5% of hosts change.
 * Usage: node --import tsx packages/server/bench/vuln-scan.ts [--hosts 2000]
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
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
const { values } = parseArgs({ options: { hosts: { type: 'string', default: '2000' } } });
const HOSTS = Number(values.hosts);

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
  },
});
const ds = openDatastore({ sqliteFile: join(dir, 'flotilla.db') });
await ds.migrate();
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
for (let i = 0; i < HOSTS; i++) {
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

// One host checking in through the real endpoint while the scan runs.
const enroll = await app.inject({
  method: 'POST',
  url: '/api/osquery/enroll',
  payload: { enroll_secret: 'x', host_identifier: 'probe' },
});
let nodeKey = '';
if (enroll.statusCode !== 200) {
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
  const login = await app.inject({
    method: 'POST',
    url: '/api/v1/fleet/login',
    payload: { email: 'a@example.com', password: 'Bench-password-1!' },
  });
  const token = (login.json() as { token: string }).token;
  await app.inject({
    method: 'POST',
    url: '/api/v1/fleet/spec/enroll_secret',
    headers: { authorization: `Bearer ${token}` },
    payload: { spec: { secrets: [{ secret: 'bench-secret-1' }] } },
  });
  const e = await app.inject({
    method: 'POST',
    url: '/api/osquery/enroll',
    payload: { enroll_secret: 'bench-secret-1', host_identifier: 'probe' },
  });
  nodeKey = (e.json() as { node_key: string }).node_key;
}
const latencies: number[] = [];
let probing = true;
const probe = (async () => {
  while (probing) {
    const s = performance.now();
    await app.inject({
      method: 'POST',
      url: '/api/osquery/distributed/read',
      payload: { node_key: nodeKey },
    });
    latencies.push(performance.now() - s);
    await new Promise((r) => setTimeout(r, 20));
  }
})();

// Feeds are parsed when they change (not at every scan); measure that apart.
const lagDuring = async (fn: () => Promise<unknown>): Promise<number> => {
  let worst = 0;
  let prev = performance.now();
  const t = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - prev - 5);
    prev = now;
  }, 5);
  await fn();
  clearInterval(t);
  return Math.max(worst, performance.now() - prev - 5);
};
const tf = performance.now();
const feedLoadLag = await lagDuring(() => vulnScan.feeds.reload());
const feedLoadSeconds = (performance.now() - tf) / 1000;

// Event-loop lag: how late a 5 ms timer fires.
const lags: number[] = [];
let last = performance.now();
const lagTimer = setInterval(() => {
  const now = performance.now();
  lags.push(Math.max(0, now - last - 5));
  last = now;
}, 5);
const t1 = performance.now();
const full = await vulnScan.run();
const scanSeconds = (performance.now() - t1) / 1000;
clearInterval(lagTimer);
probing = false;
await probe;

// Incremental: 5% of hosts change one package; only they are rescanned.
const changed: typeof batch = [];
for (let i = 0; i < HOSTS; i += 20) {
  const { items } = hostList(i);
  changed.push({ hostId: i + 1, checksum: `changed-${i}`, sources: ['deb_packages'], items });
}
await ds.software.apply(changed, Date.now());
const t2 = performance.now();
const incremental = await vulnScan.run();
const incrementalSeconds = (performance.now() - t2) / 1000;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0).toFixed(2));
};
const result = {
  hosts: HOSTS,
  packages_per_host: Math.round(
    releases.reduce((n, r) => n + r.raw.packages.length, 0) / releases.length,
  ),
  ingest_seconds: Number(ingestSeconds.toFixed(1)),
  feed_load: {
    seconds: Number(feedLoadSeconds.toFixed(2)),
    files: vulnScan.feeds.status.files.length,
    event_loop_lag_ms_max: Number(feedLoadLag.toFixed(1)),
  },
  full_scan: {
    seconds: Number(scanSeconds.toFixed(2)),
    hosts_scanned: full.hosts,
    findings: full.findings,
    findings_per_host: Math.round(full.findings / Math.max(1, full.hosts)),
    rows_written_shared: full.shared,
    rows_written_per_host: full.inserted,
    error: full.error ?? null,
  },
  during_scan: {
    checkins: latencies.length,
    checkin_ms_p50: pct(latencies, 50),
    checkin_ms_p99: pct(latencies, 99),
    checkin_ms_max: pct(latencies, 100),
    event_loop_lag_ms_p99: pct(lags, 99),
    event_loop_lag_ms_max: pct(lags, 100),
  },
  incremental_scan: {
    seconds: Number(incrementalSeconds.toFixed(2)),
    hosts_scanned: incremental.hosts,
    findings: incremental.findings,
    rows_written: incremental.shared + incremental.inserted,
  },
  rss_mb: Math.round(process.memoryUsage().rss / 1_048_576),
};
console.log(JSON.stringify(result, null, 2));
const out = process.env['BENCH_OUT'];
if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
await app.close();
await ds.close();
rmSync(dir, { recursive: true, force: true });
