import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDialects, type DialectName } from '@flotilla/db';
import { buildApp, loadConfig } from '../src/index.js';
import { api, detailAnswers, osqueryEnrollBody, setupAdmin } from './helpers.js';

const FIXTURES = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'vuln',
  'test',
  'fixtures',
);
const PASSWORD = 'correct-Horse-42!';

interface Inventory {
  os: { version: string; codename: string };
  kernel: string | null;
  packages: { name: string; version: string; arch?: string; source?: string }[];
}
const kinetic = JSON.parse(
  readFileSync(
    join(FIXTURES, 'inventories', 'synthetic', 'synthetic-ubuntu-22.10-kinetic.json'),
    'utf8',
  ),
) as Inventory;
// A slice keeps the test quick; it still holds hundreds of vulnerable packages (and libexpat1).
const BASE = kinetic.packages.slice(0, 400);
BASE.push({ name: 'libexpat1', version: '2.4.8-2', arch: 'amd64', source: 'expat' });

type Pkg = (typeof BASE)[number];
const debRows = (pkgs: readonly Pkg[]) =>
  pkgs.map((p) => ({
    name: p.name,
    version: p.version,
    source: p.source ?? '',
    arch: p.arch ?? 'amd64',
  }));

async function start(dialect: DialectName) {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-sw-'));
  const feeds = join(dir, 'feeds');
  mkdirSync(join(feeds, 'ubuntu'), { recursive: true });
  copyFileSync(
    join(FIXTURES, 'ubuntu-oval', 'com.ubuntu.kinetic.usn.oval.xml.gz'),
    join(feeds, 'ubuntu', 'com.ubuntu.kinetic.usn.oval.xml.gz'),
  );
  copyFileSync(
    join(FIXTURES, 'kev', 'known_exploited_vulnerabilities.json.gz'),
    join(feeds, 'kev.json.gz'),
  );
  // NVD's record of a CVE the OVAL feed reports (its description and publication date).
  writeFileSync(
    join(feeds, 'nvd-CVE-2022-43680.json'),
    JSON.stringify({
      id: 'CVE-2022-43680',
      published: '2022-10-24T14:15:53.323',
      descriptions: [
        {
          lang: 'en',
          value:
            'In libexpat through 2.4.9, there is a use-after free caused by overeager destruction of a shared DTD in XML_ExternalEntityParserCreate in out-of-memory situations.',
        },
      ],
      metrics: {},
      configurations: [],
    }),
  );
  const config = loadConfig({
    env: {
      FLOTILLA_DATA_DIR: dir,
      FLOTILLA_LOG_LEVEL: 'silent',
      FLOTILLA_SEEN_FLUSH_INTERVAL_MS: '50',
      FLOTILLA_VULN_FEEDS_DIR: feeds,
      FLOTILLA_VULN_SCAN_INTERVAL: '0',
    },
  });
  const db = await createTestDatabase(dialect);
  const ds = db.open();
  await ds.migrate();
  const built = await buildApp({ config, ds, serverKey: 'k', logger: pino({ level: 'silent' }) });
  await built.app.ready();
  return {
    ...built,
    ds,
    feeds,
    close: async () => {
      await built.app.close();
      await ds.close();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.each(await testDialects())('software inventory and vulnerabilities on %s', (dialect) => {
  let s: Awaited<ReturnType<typeof start>>;
  let admin: string;
  let teamObserver: string;
  let teamId: number;
  const keys = new Map<number, string>();
  const ids = new Map<number, number>();

  const post = (url: string, payload: unknown) =>
    s.app.inject({ method: 'POST', url, payload: payload as object });

  /** One check-in: read the questions, answer vitals (Ubuntu 22.10) and the given software. */
  const checkIn = async (
    n: number,
    software: Record<string, unknown>,
    statuses: Record<string, number> = {},
  ) => {
    const nodeKey = keys.get(n)!;
    const read = await post('/api/osquery/distributed/read', { node_key: nodeKey });
    const queries = (read.json() as { queries: Record<string, string> }).queries;
    const answers = detailAnswers(queries, n);
    answers.queries['fleet_detail_query_os_unix_like'] = [
      {
        name: 'Ubuntu',
        version: '22.10 (Kinetic Kudu)',
        major: '22',
        minor: '10',
        patch: '0',
        build: '',
        platform: 'ubuntu',
        platform_like: 'debian',
        codename: 'kinetic',
        kernel_version: kinetic.kernel ?? '',
      },
    ];
    for (const [k, v] of Object.entries(software)) {
      answers.queries[k] = v;
      answers.statuses[k] = statuses[k] ?? 0;
    }
    for (const [k, v] of Object.entries(statuses)) answers.statuses[k] = v;
    const w = await post('/api/osquery/distributed/write', { node_key: nodeKey, ...answers });
    expect(w.statusCode).toBe(200);
    await s.software.flush();
    return queries;
  };

  beforeAll(async () => {
    s = await start(dialect);
    admin = await setupAdmin(s.app);
    teamId = (
      (await api(s.app, admin, 'POST', '/api/v1/fleet/teams', { name: 'Blue' })).body['team'] as {
        id: number;
      }
    ).id;
    await api(s.app, admin, 'POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: 'global-secret-1' }] },
    });
    await api(s.app, admin, 'PATCH', `/api/v1/fleet/teams/${teamId}/secrets`, {
      secrets: [{ secret: 'team-blue-secret-1' }],
    });
    await api(s.app, admin, 'POST', '/api/v1/fleet/users/admin', {
      name: 'Obs',
      email: 'obs@example.com',
      password: PASSWORD,
      teams: [{ id: teamId, role: 'observer' }],
    });
    teamObserver = (
      (
        await api(s.app, undefined, 'POST', '/api/v1/fleet/login', {
          email: 'obs@example.com',
          password: PASSWORD,
        })
      ).body as { token: string }
    ).token;
    // Hosts 1 and 2 have no team; host 3 is in team Blue.
    for (const n of [1, 2, 3]) {
      const secret = n === 3 ? 'team-blue-secret-1' : 'global-secret-1';
      const r = await post(
        '/api/osquery/enroll',
        osqueryEnrollBody(secret, n, {
          version: '22.10 (Kinetic Kudu)',
          codename: 'kinetic',
          minor: '10',
        }),
      );
      keys.set(n, (r.json() as { node_key: string }).node_key);
      const hosts = (await api(s.app, admin, 'GET', `/api/v1/fleet/hosts?query=web-${n}.`)).body[
        'hosts'
      ] as Array<{ id: number }>;
      ids.set(n, hosts[0]!.id);
    }
  });
  afterAll(async () => s?.close());

  it('asks the platform’s software questions and stores each distinct version once', async () => {
    const q = await checkIn(1, {
      fleet_detail_query_software_deb: debRows(BASE),
      fleet_detail_query_software_python: [{ name: 'requests', version: '2.28.1' }],
    });
    expect(Object.keys(q)).toEqual(
      expect.arrayContaining([
        'fleet_detail_query_software_deb',
        'fleet_detail_query_software_rpm',
        'fleet_detail_query_software_python',
        'fleet_detail_query_software_npm',
        'fleet_detail_query_software_chrome_extensions',
      ]),
    );
    expect(Object.keys(q)).not.toContain('fleet_detail_query_software_apps');
    expect(q['fleet_detail_query_software_deb']).toContain("status LIKE '% ok installed'");
    await checkIn(2, { fleet_detail_query_software_deb: debRows(BASE) });
    await checkIn(3, { fleet_detail_query_software_deb: debRows(BASE.slice(0, 50)) });

    const distinct = await s.ds.db
      .selectFrom('software')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(distinct.n)).toBe(new Set(BASE.map((p) => `${p.name}@${p.version}`)).size + 1);

    // Host counts are stored by the scan job's count pass (after every scan, or alone): none yet.
    const uncounted = await api(s.app, admin, 'GET', '/api/v1/fleet/software/versions');
    expect(uncounted.body).toMatchObject({ counts_updated_at: null, count: 0, software: [] });
    const before = Date.now();
    const counted = await s.vulnScan.count();
    expect(counted.error).toBeUndefined();
    expect(counted.hosts).toBe(3);

    const r = await api(
      s.app,
      admin,
      'GET',
      '/api/v1/fleet/software/versions?query=libexpat1&per_page=5',
    );
    expect(r.status).toBe(200);
    const sw = (r.body['software'] as Array<Record<string, unknown>>).find(
      (x) => x['name'] === 'libexpat1',
    )!;
    expect(sw).toMatchObject({ version: '2.4.8-2', source: 'deb_packages', hosts_count: 2 });
    expect(Date.parse(r.body['counts_updated_at'] as string)).toBeGreaterThanOrEqual(before - 1000);

    const host = await api(
      s.app,
      admin,
      'GET',
      `/api/v1/fleet/hosts/${ids.get(1)}/software?per_page=1000`,
    );
    expect(host.status).toBe(200);
    expect(host.body['count']).toBe(new Set(BASE.map((p) => p.name)).size + 1);
    const titles = await api(s.app, admin, 'GET', '/api/v1/fleet/software/titles?query=requests');
    expect(titles.body['software_titles']).toEqual([
      expect.objectContaining({
        name: 'requests',
        source: 'python_packages',
        hosts_count: 1,
        versions_count: 1,
      }),
    ]);
  });

  it('skips the write when the list is unchanged, applies only the difference when it changes', async () => {
    const before = { ...s.software.counters };
    // Unchanged list (different row order): no write.
    await checkIn(2, { fleet_detail_query_software_deb: debRows([...BASE].reverse()) }).catch(
      () => undefined,
    );
    // The host is not due again yet; refetch asks now.
    await api(s.app, admin, 'POST', `/api/v1/fleet/hosts/${ids.get(2)}/refetch`);
    await checkIn(2, { fleet_detail_query_software_deb: debRows([...BASE].reverse()) });
    expect(s.software.counters.unchanged).toBeGreaterThan(before.unchanged);
    expect(s.software.counters.writes).toBe(before.writes);

    const firstSeen = await s.ds.db
      .selectFrom('host_software')
      .select(['software_id', 'first_seen_at'])
      .where('host_id', '=', ids.get(2)!)
      .execute();
    // Upgrade libexpat1 to the fixed version and remove the first package.
    const upgraded = BASE.slice(1).map((p) =>
      p.name === 'libexpat1' ? { ...p, version: '2.4.8-2ubuntu0.22.10.1' } : p,
    );
    await api(s.app, admin, 'POST', `/api/v1/fleet/hosts/${ids.get(2)}/refetch`);
    await checkIn(2, { fleet_detail_query_software_deb: debRows(upgraded) });
    expect(s.software.counters.writes).toBe(before.writes + 1);
    const after = await s.ds.db
      .selectFrom('host_software')
      .select(['software_id', 'first_seen_at'])
      .where('host_id', '=', ids.get(2)!)
      .execute();
    expect(after.length).toBe(firstSeen.length - 1);
    const kept = new Map(firstSeen.map((r) => [r.software_id, r.first_seen_at]));
    const unchanged = after.filter((r) => kept.get(r.software_id) === r.first_seen_at);
    expect(unchanged.length).toBe(after.length - 1); // only the upgraded package is new
    // Put the vulnerable version back for the scan tests below.
    await api(s.app, admin, 'POST', `/api/v1/fleet/hosts/${ids.get(2)}/refetch`);
    await checkIn(2, { fleet_detail_query_software_deb: debRows(BASE) });
  });

  it('a failed source keeps its rows; odd names and versions are stored safely', async () => {
    await api(s.app, admin, 'POST', `/api/v1/fleet/hosts/${ids.get(1)}/refetch`);
    await checkIn(
      1,
      {
        fleet_detail_query_software_deb: debRows([
          ...BASE,
          { name: `weird\u0000name'; DROP TABLE software;--`, version: '' },
          { name: 'x'.repeat(5000), version: '1'.repeat(5000) },
          { name: 'émoji-📦', version: '1:2~rc1+dfsg-3' },
          { name: '', version: '1.0' },
        ]),
        fleet_detail_query_software_python: [],
      },
      { fleet_detail_query_software_python: 1 },
    );
    const host = await api(
      s.app,
      admin,
      'GET',
      `/api/v1/fleet/hosts/${ids.get(1)}/software?per_page=2000`,
    );
    const names = (host.body['software'] as Array<{ name: string; source: string }>).map(
      (x) => x.name,
    );
    expect(names).toContain('requests'); // python query failed: previous rows kept
    expect(names).toContain("weirdname'; DROP TABLE software;--");
    expect(names).toContain('émoji-📦');
    expect(names.some((n) => n.length === 512)).toBe(true);
    expect(names).not.toContain('');
  });

  it('scans in the background and links findings to hosts, software and feeds', async () => {
    expect(s.vulnScan.threaded).toBe(true); // a worker thread with its own connection
    const report = await s.vulnScan.run();
    expect(report.error).toBeUndefined();
    expect(report.hosts).toBe(3);
    expect(report.findings).toBeGreaterThan(100);
    expect(report.shared).toBeLessThan(report.findings); // hosts 1 and 2 share their findings

    const list = await api(s.app, admin, 'GET', '/api/v1/fleet/vulnerabilities?per_page=5');
    expect(list.status).toBe(200);
    expect(list.body['count'] as number).toBeGreaterThan(10);
    const first = (list.body['vulnerabilities'] as Array<Record<string, unknown>>)[0]!;
    expect(first).toMatchObject({
      cve: expect.stringMatching(/^CVE-/),
      hosts_count: expect.any(Number),
      details_link: expect.stringContaining('nvd.nist.gov'),
    });

    const d = await api(s.app, admin, 'GET', '/api/v1/fleet/vulnerabilities/CVE-2022-43680');
    expect(d.status).toBe(200);
    const vuln = d.body['vulnerability'] as Record<string, unknown>;
    expect(vuln['hosts_count']).toBe(2);
    // Fleet's NVD fields, from the NVD feed.
    const nvd = {
      cve_published: '2022-10-24T14:15:53.323Z',
      cve_description: expect.stringMatching(/^In libexpat through 2\.4\.9, there is a use-after/),
    };
    expect(vuln).toMatchObject(nvd);
    const byPublished = await api(
      s.app,
      admin,
      'GET',
      '/api/v1/fleet/vulnerabilities?order_key=cve_published&order_direction=desc&per_page=2',
    );
    expect(byPublished.status).toBe(200);
    const [newest, next] = byPublished.body['vulnerabilities'] as Array<Record<string, unknown>>;
    expect(newest).toMatchObject({ cve: 'CVE-2022-43680', ...nvd });
    expect(next?.['cve_published']).toBeNull(); // not in the NVD file
    expect(d.body['software']).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: 'libexpat1',
          version: '2.4.8-2',
          source: 'deb_packages',
          hosts_count: 2,
          resolved_in_version: '2.4.8-2ubuntu0.22.10.1',
        }),
      ]),
    );
    const hosts = d.body['hosts'] as Array<Record<string, unknown>>;
    expect([...new Set(hosts.map((h) => h['id']))].sort()).toEqual([ids.get(1), ids.get(2)].sort());
    expect(hosts[0]).toMatchObject({
      package: 'libexpat1',
      resolved_in_version: '2.4.8-2ubuntu0.22.10.1',
      source: 'oval',
      advisory: 'USN-5638-3',
    });

    const hv = await api(s.app, admin, 'GET', `/api/v1/fleet/hosts/${ids.get(1)}/vulnerabilities`);
    const upgrades = hv.body['upgrades'] as Array<Record<string, unknown>>;
    expect(upgrades.find((u) => u['package'] === 'libexpat1')).toMatchObject({
      upgrade_to: '2.4.8-2ubuntu0.22.10.1',
      source: 'deb_packages',
    });

    const detail = await api(s.app, admin, 'GET', `/api/v1/fleet/hosts/${ids.get(1)}`);
    const h = detail.body['host'] as {
      vulnerabilities: unknown[];
      upgrades: Array<Record<string, unknown>>;
    };
    expect(h.vulnerabilities.length).toBe((hv.body['vulnerabilities'] as unknown[]).length);
    expect(h.upgrades.find((u) => u['package'] === 'libexpat1')?.['upgrade_to']).toBe(
      '2.4.8-2ubuntu0.22.10.1',
    );

    const vulnerable = await api(
      s.app,
      admin,
      'GET',
      '/api/v1/fleet/software/versions?vulnerable=true&query=libexpat1',
    );
    const v = (vulnerable.body['software'] as Array<Record<string, unknown>>)[0]!;
    expect(v['vulnerabilities']).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          cve: 'CVE-2022-43680',
          resolved_in_version: '2.4.8-2ubuntu0.22.10.1',
          ...nvd,
        }),
      ]),
    );
    expect(
      (hv.body['vulnerabilities'] as Array<Record<string, unknown>>).find(
        (x) => x['cve'] === 'CVE-2022-43680',
      ),
    ).toMatchObject(nvd);

    // The running kernel is recorded as software, and its findings are shared like any package's.
    const kernel = await api(
      s.app,
      admin,
      'GET',
      '/api/v1/fleet/software/versions?query=linux&per_page=500',
    );
    const k = (kernel.body['software'] as Array<Record<string, unknown>>).find(
      (x) => x['source'] === 'kernel',
    );
    expect(k).toMatchObject({ name: 'linux', version: kinetic.kernel, hosts_count: 3 });
    expect((k?.['vulnerabilities'] as unknown[]).length).toBeGreaterThan(0);

    // A second scan with nothing changed does no work.
    const again = await s.vulnScan.run();
    expect(again.hosts).toBe(0);
  });

  it('filters: severity, known exploited, EPSS, CVE id; garbage is a 4xx', async () => {
    const high = await api(
      s.app,
      admin,
      'GET',
      '/api/v1/fleet/vulnerabilities?severity=high,critical&per_page=500',
    );
    expect(high.status).toBe(200);
    const all = await api(s.app, admin, 'GET', '/api/v1/fleet/vulnerabilities?per_page=500');
    expect(high.body['count'] as number).toBeLessThan(all.body['count'] as number);
    const kev = await api(
      s.app,
      admin,
      'GET',
      '/api/v1/fleet/vulnerabilities?exploit=true&per_page=500',
    );
    expect(kev.status).toBe(200);
    for (const v of kev.body['vulnerabilities'] as Array<Record<string, unknown>>)
      expect(v['cisa_known_exploit']).toBe(true);
    const epss = await api(s.app, admin, 'GET', '/api/v1/fleet/vulnerabilities?min_epss=0.5');
    expect(epss.status).toBe(200);
    const one = await api(s.app, admin, 'GET', '/api/v1/fleet/vulnerabilities?cve=cve-2022-43680');
    expect(one.body['count']).toBe(1);
    for (const bad of [
      'severity=urgent',
      'min_epss=2',
      'min_epss=abc',
      'cve=42',
      'order_key=nope',
      'exploit=maybe',
    ]) {
      const r = await api(s.app, admin, 'GET', `/api/v1/fleet/vulnerabilities?${bad}`);
      // 400 when the query string fails its schema, 422 when a value is well-formed but invalid.
      expect([400, 422], bad).toContain(r.status);
    }
    expect((await api(s.app, admin, 'GET', '/api/v1/fleet/vulnerabilities/not-a-cve')).status).toBe(
      422,
    );
    expect(
      (await api(s.app, admin, 'GET', '/api/v1/fleet/vulnerabilities/CVE-1999-0001')).status,
    ).toBe(404);
  });

  it('marks a CVE resolved after the upgrade, with its time, and reports time to resolve', async () => {
    const upgraded = BASE.map((p) =>
      p.name.startsWith('libexpat1') ? { ...p, version: '2.4.8-2ubuntu0.22.10.1' } : p,
    );
    await api(s.app, admin, 'POST', `/api/v1/fleet/hosts/${ids.get(2)}/refetch`);
    await checkIn(2, { fleet_detail_query_software_deb: debRows(upgraded) });
    // The upgrade itself resolves (at ingestion); the scan then has only host 2 to look at.
    const report = await s.vulnScan.run();
    expect(report.hosts).toBe(1);
    const d = await api(s.app, admin, 'GET', '/api/v1/fleet/vulnerabilities/CVE-2022-43680');
    const vuln = d.body['vulnerability'] as Record<string, unknown>;
    expect(vuln).toMatchObject({ hosts_count: 1, resolved_hosts_count: 1 });
    expect(vuln['mean_time_to_resolve_seconds']).toEqual(expect.any(Number));
    const hv = await api(
      s.app,
      admin,
      'GET',
      `/api/v1/fleet/hosts/${ids.get(2)}/vulnerabilities?include_resolved=true`,
    );
    const row = (hv.body['vulnerabilities'] as Array<Record<string, unknown>>).find(
      (r) => r['cve'] === 'CVE-2022-43680',
    )!;
    expect(row['resolved_at']).toEqual(expect.any(String));

    // Hosts by CVE, by software version and by title (the host list's filters).
    const exposed = await api(
      s.app,
      admin,
      'GET',
      '/api/v1/fleet/hosts?vulnerability=cve-2022-43680',
    );
    expect((exposed.body['hosts'] as Array<{ id: number }>).map((h) => h.id)).toEqual([ids.get(1)]);
    const libexpat = (
      await api(s.app, admin, 'GET', '/api/v1/fleet/software/versions?query=libexpat1&per_page=50')
    ).body['software'] as Array<{ id: number; name: string; version: string; title_id: number }>;
    const old = libexpat.find((v) => v.name === 'libexpat1' && v.version === '2.4.8-2')!;
    const byVersion = await api(
      s.app,
      admin,
      'GET',
      `/api/v1/fleet/hosts?software_version_id=${old.id}`,
    );
    expect((byVersion.body['hosts'] as Array<{ id: number }>).map((h) => h.id)).toEqual([
      ids.get(1),
    ]);
    const byTitle = await api(
      s.app,
      admin,
      'GET',
      `/api/v1/fleet/hosts?software_title_id=${old.title_id}`,
    );
    expect((byTitle.body['hosts'] as Array<{ id: number }>).map((h) => h.id).sort()).toEqual(
      [ids.get(1), ids.get(2)].sort(),
    );
    const title = await api(s.app, admin, 'GET', `/api/v1/fleet/software/titles/${old.title_id}`);
    expect(title.body['software_title']).toMatchObject({
      name: 'libexpat1',
      versions_count: 2,
      hosts_count: 2,
    });
    expect((await api(s.app, admin, 'GET', '/api/v1/fleet/hosts?vulnerability=nope')).status).toBe(
      400,
    );
  });

  it('a corrupt feed update is refused and the previous good feed stays in use', async () => {
    const before = await api(s.app, admin, 'GET', '/api/v1/fleet/vulnerabilities?per_page=1');
    const oval = join(s.feeds, 'ubuntu', 'com.ubuntu.kinetic.usn.oval.xml.gz');
    writeFileSync(oval, readFileSync(oval).subarray(0, 5000)); // truncated download
    writeFileSync(join(s.feeds, 'mystery.json'), '{"hello": "world"}');
    const report = await s.vulnScan.run();
    expect(report.error).toBeUndefined();
    expect(report.resolved).toBe(0);
    const status = await api(s.app, admin, 'GET', '/api/v1/fleet/vulnerabilities/feeds');
    expect(status.status).toBe(200);
    const feeds = status.body['feeds'] as {
      files: Array<{ file: string; using: string }>;
      errors: Array<{ file: string; reason: string; kept_previous: boolean }>;
    };
    expect(feeds.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          file: join('ubuntu', 'com.ubuntu.kinetic.usn.oval.xml.gz'),
          reason: 'truncated',
          kept_previous: true,
        }),
        expect.objectContaining({
          file: 'mystery.json',
          reason: 'unknown_format',
          kept_previous: false,
        }),
      ]),
    );
    expect(feeds.files.find((f) => f.file.endsWith('.oval.xml.gz'))?.using).toBe('last_good');
    const after = await api(s.app, admin, 'GET', '/api/v1/fleet/vulnerabilities?per_page=1');
    expect(after.body['count']).toBe(before.body['count']);
  });

  it('team users see only their teams’ hosts’ software and vulnerabilities', async () => {
    const sw = await api(
      s.app,
      teamObserver,
      'GET',
      '/api/v1/fleet/software/versions?query=libexpat1',
    );
    expect(sw.status).toBe(200);
    expect(sw.body['software']).toEqual([]); // host 3 (Blue) has only the first 50 packages
    const mine = await api(
      s.app,
      teamObserver,
      'GET',
      '/api/v1/fleet/software/versions?per_page=100',
    );
    expect(mine.body['count']).toBe(51); // its 50 packages and its running kernel (recorded by the scan)
    for (const v of mine.body['software'] as Array<{ hosts_count: number }>)
      expect(v.hosts_count).toBe(1);
    expect(
      (await api(s.app, teamObserver, 'GET', `/api/v1/fleet/hosts/${ids.get(1)}/software`)).status,
    ).toBe(403);
    expect(
      (await api(s.app, teamObserver, 'GET', `/api/v1/fleet/hosts/${ids.get(3)}/software`)).status,
    ).toBe(200);
    expect(
      (await api(s.app, teamObserver, 'GET', '/api/v1/fleet/vulnerabilities?team_id=0')).status,
    ).toBe(403);
    const d = await api(s.app, teamObserver, 'GET', '/api/v1/fleet/vulnerabilities/CVE-2022-43680');
    expect(d.status).toBe(404); // exists, but not on any host they may see
    expect((await api(s.app, undefined, 'GET', '/api/v1/fleet/software/titles')).status).toBe(401);
    const byTeam = await api(
      s.app,
      admin,
      'GET',
      `/api/v1/fleet/software/versions?team_id=${teamId}&per_page=1`,
    );
    expect(byTeam.body['count']).toBe(51);
  });
});
