// 20,000 synthetic hosts drawn from the real package lists, scanned against OVAL + OSV + NVD.
// Run: node --import tsx packages/vuln/bench/scan-bench.ts
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScanner, emptyDatabase, parseNvd, parseOsv, parseOval } from '../src/index.js';
import type { HostInventory, InstalledPackage } from '../src/index.js';
import { readFeedText } from '../src/feeds/load.js';

const HOSTS = Number(process.env.BENCH_HOSTS ?? 20_000);
const fx = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures');

const t0 = performance.now();
const db = emptyDatabase();
for (const c of ['kinetic', 'lunar', 'mantic']) {
  db.oval.push(
    parseOval(readFeedText(join(fx, 'ubuntu-oval', `com.ubuntu.${c}.usn.oval.xml.gz`)), c),
  );
}
let osv = parseOsv(readFileSync(join(fx, 'osv-samples', 'ubuntu', 'USN-5614-1.json'), 'utf8'));
osv = parseOsv(
  JSON.stringify({
    id: 'BENCH-PYPI',
    aliases: ['CVE-2099-0001'],
    modified: 'x',
    affected: [
      {
        package: { ecosystem: 'PyPI', name: 'requests' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '2.31.0' }] }],
      },
    ],
  }),
  'bench',
  osv,
);
db.osv = osv;
const nvd = parseNvd(readFileSync(join(fx, 'nvd', 'vuls-data-update-CVE-2021-44228.json'), 'utf8'));
db.nvd = parseNvd(
  readFileSync(join(fx, 'nvd', 'vunnel-nvd-api2-full-page.json'), 'utf8'),
  'page',
  nvd,
);
const loadSeconds = (performance.now() - t0) / 1000;

interface Raw {
  os: { version: string; codename: string };
  kernel: string | null;
  packages: { name: string; version: string; source?: string }[];
}
const bases = ['22.10-kinetic', '23.04-lunar', '23.10-mantic'].map(
  (r) =>
    JSON.parse(
      readFileSync(join(fx, 'inventories', 'synthetic', `synthetic-ubuntu-${r}.json`), 'utf8'),
    ) as Raw,
);

// Deterministic PRNG so runs are comparable.
let seed = 42;
const rand = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};

// Per-host variation: each package keeps its version (most hosts are patched alike), or takes
// one of a few per-package variants (a later point release, or an older build).
const variants = new Map<string, string[]>();
const variantOf = (name: string, version: string): string => {
  let list = variants.get(`${name}\0${version}`);
  if (!list) {
    list = [
      version,
      `${version}.1`,
      version.replace(/(\d+)$/, (d) => String(Math.max(0, Number(d) - 1))),
    ];
    variants.set(`${name}\0${version}`, list);
  }
  const r = rand();
  return r < 0.8 ? version : (list[r < 0.9 ? 1 : 2] ?? version);
};
const languagePackages = (): InstalledPackage[] => [
  { name: 'requests', version: rand() < 0.5 ? '2.28.1' : '2.31.0', type: 'python' },
  {
    name: 'org.apache.logging.log4j:log4j-core',
    version: rand() < 0.3 ? '2.14.1' : '2.17.2',
    type: 'maven',
  },
];

const hosts: HostInventory[] = [];
for (let i = 0; i < HOSTS; i++) {
  const base = bases[i % bases.length];
  if (!base) continue;
  const packages: InstalledPackage[] = [];
  for (const p of base.packages) {
    if (rand() < 0.03) continue; // not every host has every package
    packages.push({
      name: p.name,
      version: variantOf(p.name, p.version),
      type: 'deb',
      ...(p.source ? { source: p.source } : {}),
    });
  }
  packages.push(...languagePackages());
  hosts.push({
    os: { family: 'ubuntu', version: base.os.version, codename: base.os.codename },
    ...(base.kernel ? { kernel: base.kernel } : {}),
    packages,
  });
}
const totalPackages = hosts.reduce((n, h) => n + h.packages.length, 0);

// The server's path: findings grouped per installed package, shared across hosts.
const scanner = createScanner(db);
const t1 = performance.now();
let findings = 0;
for (const h of hosts) for (const g of scanner.scanHostGrouped(h)) findings += g.length;
const scanSeconds = (performance.now() - t1) / 1000;
const stats = scanner.stats();

// The flat, sorted per-host list (CLI and single-host callers), on a sample of hosts.
const FLAT_SAMPLE = Math.min(hosts.length, Number(process.env.BENCH_FLAT_HOSTS ?? 1000));
const flatScanner = createScanner(db);
const t2 = performance.now();
for (let i = 0; i < FLAT_SAMPLE; i++) {
  const h = hosts[i];
  if (h) flatScanner.scanHost(h);
}
const flatSeconds = (performance.now() - t2) / 1000;

console.log(
  JSON.stringify(
    {
      hosts: stats.hosts,
      packages_per_host: Math.round(totalPackages / hosts.length),
      package_rows: totalPackages,
      distinct_evaluations: stats.evaluations,
      findings,
      feed_load_seconds: Number(loadSeconds.toFixed(2)),
      scan_seconds: Number(scanSeconds.toFixed(2)),
      hosts_per_second: Math.round(stats.hosts / scanSeconds),
      flat_sorted_sample_hosts: FLAT_SAMPLE,
      flat_sorted_hosts_per_second: Math.round(FLAT_SAMPLE / flatSeconds),
      rss_mb: Math.round(process.memoryUsage().rss / 1_048_576),
    },
    null,
    2,
  ),
);
