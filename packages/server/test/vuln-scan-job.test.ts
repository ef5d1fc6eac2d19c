import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  testDialects,
  type Datastore,
  type DialectName,
  type SoftwareInput,
  type TeamScope,
  type TestDatabase,
} from '@flotilla/db';
import { VulnScanJob } from '../src/vulnerabilities/scan-job.js';

const FIXTURES = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'vuln',
  'test',
  'fixtures',
);

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
const items = (pkgs: Inventory['packages']): SoftwareInput[] =>
  pkgs.map((p) => ({
    name: p.name,
    version: p.version,
    source: 'deb_packages',
    arch: p.arch ?? 'amd64',
    ...(p.source ? { package_source: p.source } : {}),
  }));
const BASE = kinetic.packages.slice(0, 300);
const KERNEL = kinetic.kernel ?? '5.19.0-21-generic';

/** An NVD 2.0 record for a CVE the kinetic OVAL feed reports on libexpat1. */
const NVD_EXPAT = {
  id: 'CVE-2022-43680',
  published: '2022-10-24T14:15:53.323',
  lastModified: '2024-11-21T07:27:00.000',
  descriptions: [
    {
      lang: 'en',
      value:
        'In libexpat through 2.4.9, there is a use-after free caused by overeager destruction of a shared DTD in XML_ExternalEntityParserCreate in out-of-memory situations.',
    },
  ],
  metrics: {},
  configurations: [],
};

interface Fleet {
  db: TestDatabase;
  ds: Datastore;
  dir: string;
  feeds: string;
  hostIds: number[];
  close(): Promise<void>;
}

/** Five Ubuntu 22.10 hosts: 1–3 with the same list (one checksum), 4 and 5 with their own. */
async function fleet(dialect: DialectName): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-scanjob-'));
  const feeds = join(dir, 'feeds');
  mkdirSync(feeds, { recursive: true });
  copyFileSync(
    join(FIXTURES, 'ubuntu-oval', 'com.ubuntu.kinetic.usn.oval.xml.gz'),
    join(feeds, 'com.ubuntu.kinetic.usn.oval.xml.gz'),
  );
  writeFileSync(join(feeds, 'nvd-expat.json'), JSON.stringify(NVD_EXPAT));
  const db = await createTestDatabase(dialect);
  const ds = db.open();
  await ds.migrate();
  const hostIds: number[] = [];
  const lists = [BASE, BASE, BASE, BASE.slice(0, 200), BASE.slice(100)];
  for (const [i, list] of lists.entries()) {
    const { host } = await ds.hosts.enroll({
      osqueryHostId: `scan-${i}`,
      nodeKeyHash: `hash-${i}`,
      teamId: null,
      nowMs: Date.now(),
      details: {
        hostname: `scan-${i}`,
        platform: 'ubuntu',
        os_version: 'Ubuntu 22.10',
        code_name: 'kinetic',
        kernel_version: KERNEL,
      },
    });
    hostIds.push(host.id);
    await ds.software.apply(
      [
        {
          hostId: host.id,
          checksum: i < 3 ? 'same-list' : `list-${i}`,
          sources: ['deb_packages'],
          items: items([...list, { name: 'libexpat1', version: '2.4.8-2', source: 'expat' }]),
        },
      ],
      Date.now(),
    );
  }
  return {
    db,
    ds,
    dir,
    feeds,
    hostIds,
    close: async () => {
      await ds.close();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const job = (f: Fleet, thread: boolean) =>
  new VulnScanJob(f.ds, pino({ level: 'silent' }), Date.now, {
    intervalS: 0,
    feedsDir: f.feeds,
    goodDir: join(f.dir, 'last-good'),
    thread,
  });

/** Every open finding, as comparable text. */
async function openFindings(ds: Datastore): Promise<string[]> {
  const rows = await ds.db
    .selectFrom('open_host_vulnerabilities' as 'host_vulnerabilities')
    .select(['host_id', 'cve', 'package', 'installed_version', 'fixed_version', 'source'])
    .execute();
  return rows
    .map(
      (r) =>
        `${r.host_id} ${r.cve} ${r.package} ${r.installed_version} ${r.fixed_version} ${r.source}`,
    )
    .sort();
}

/**
 * What the software lists should show for hosts of `teams` (null: no team), counted from the
 * links one by one: hosts per version and per title, versions per title, versions and titles
 * with an open finding on one of those hosts, and each version's open CVEs.
 */
async function liveSoftwareCounts(ds: Datastore, teams: 'all' | Array<number | null>) {
  const links = await ds.db
    .selectFrom('host_software as hs')
    .innerJoin('hosts as h', 'h.id', 'hs.host_id')
    .innerJoin('software as s', 's.id', 'hs.software_id')
    .select(['hs.host_id', 'hs.software_id', 'h.team_id', 's.title_id'])
    .execute();
  const open = await ds.db
    .selectFrom('open_host_vulnerabilities as hv' as 'host_vulnerabilities as hv')
    .innerJoin('hosts as h', 'h.id', 'hv.host_id')
    .select(['hv.host_id', 'hv.software_id', 'hv.cve', 'h.team_id'])
    .execute();
  const inScope = (t: number | null) => teams === 'all' || teams.includes(t);
  const add = <K, V>(m: Map<K, Set<V>>, k: K, v: V) => {
    const set = m.get(k);
    if (set) set.add(v);
    else m.set(k, new Set([v]));
  };
  const versions = new Map<number, Set<number>>();
  const titles = new Map<number, Set<number>>();
  const titleVersions = new Map<number, Set<number>>();
  const titleOf = new Map<number, number>();
  for (const l of links) {
    titleOf.set(l.software_id, l.title_id);
    if (!inScope(l.team_id)) continue;
    add(versions, l.software_id, l.host_id);
    add(titles, l.title_id, l.host_id);
    add(titleVersions, l.title_id, l.software_id);
  }
  const cves = new Map<number, Set<string>>();
  for (const o of open)
    if (o.software_id !== null && inScope(o.team_id)) add(cves, o.software_id, o.cve);
  return {
    versions: new Map([...versions].map(([id, hosts]) => [id, hosts.size])),
    titles: new Map(
      [...titles].map(([id, hosts]) => [
        id,
        { hosts_count: hosts.size, versions_count: titleVersions.get(id)!.size },
      ]),
    ),
    vulnerableVersions: [...cves.keys()].sort((a, b) => a - b),
    vulnerableTitles: [...new Set([...cves.keys()].map((id) => titleOf.get(id)!))].sort(
      (a, b) => a - b,
    ),
    cves: new Map([...cves].map(([id, set]) => [id, [...set].sort()])),
    hostsWith: (softwareId: number) =>
      [
        ...new Set(
          links
            .filter((l) => l.software_id === softwareId && inScope(l.team_id))
            .map((l) => l.host_id),
        ),
      ].sort((a, b) => a - b),
  };
}

describe.each(await testDialects())('vulnerability scan job on %s', (dialect) => {
  let f: Fleet;
  let threaded: VulnScanJob;
  beforeAll(async () => {
    f = await fleet(dialect);
    threaded = job(f, true);
  });
  afterAll(async () => {
    await threaded?.stop();
    await f?.close();
  });

  it('scans in a worker thread, once per distinct list, release and kernel', async () => {
    expect(threaded.threaded).toBe(true);
    const r = await threaded.run();
    expect(r.error).toBeUndefined();
    expect(r.hosts).toBe(5);
    expect(r.evaluated).toBe(3); // hosts 1–3 share one evaluation
    expect(threaded.feeds.status.files.map((x) => x.kind).sort()).toEqual(['nvd', 'oval']);
    const open = await openFindings(f.ds);
    const perHost = (id: number) => open.filter((l) => l.startsWith(`${id} `)).length;
    expect(perHost(f.hostIds[0]!)).toBeGreaterThan(50);
    expect(perHost(f.hostIds[1]!)).toBe(perHost(f.hostIds[0]!));
    expect(perHost(f.hostIds[2]!)).toBe(perHost(f.hostIds[0]!));
    // Every host's running kernel is linked as software, once.
    const kernels = await f.ds.db
      .selectFrom('host_software as hs')
      .innerJoin('software as s', 's.id', 'hs.software_id')
      .select(['hs.host_id', 's.version'])
      .where('s.source', '=', 'kernel')
      .execute();
    expect(kernels.map((k) => k.version)).toEqual(Array(5).fill(KERNEL));
    // Nothing changed: nothing to do.
    expect((await threaded.run()).hosts).toBe(0);
  });

  it('counts exposed hosts per CVE and team after the scan (what the list shows)', async () => {
    const teamId = await f.ds.teams.create('Blue', '', Date.now());
    await f.ds.db
      .updateTable('hosts')
      .set({ team_id: teamId })
      .where('id', 'in', [f.hostIds[3]!, f.hostIds[4]!])
      .execute();
    const before = Date.now();
    await threaded.run(); // counts even when no host needs scanning (teams change too)
    const page = { page: 0, perPage: 500 };
    const order = { key: 'hosts_count' as const, direction: 'desc' as const };
    const all = await f.ds.vulnerabilities.list({ visibleTeams: 'all' }, {}, page, order);
    const expat = (l: typeof all) => l.rows.find((r) => r.cve === 'CVE-2022-43680');
    expect(expat(all)).toMatchObject({
      hosts_count: 5,
      cve_published: '2022-10-24T14:15:53.323Z',
    });
    expect(expat(all)!.hosts_count_updated_at).toBeGreaterThanOrEqual(before);
    expect(all.countsUpdatedAt).toBeGreaterThanOrEqual(before);
    // The same as counting the open findings one by one.
    const open = await openFindings(f.ds);
    for (const r of all.rows.slice(0, 20)) {
      const hosts = new Set(
        open.filter((l) => l.split(' ')[1] === r.cve).map((l) => l.split(' ')[0]),
      );
      expect(r.hosts_count, r.cve).toBe(hosts.size);
    }
    expect(all.count).toBe(new Set(open.map((l) => l.split(' ')[1])).size);
    const blue = await f.ds.vulnerabilities.list({ visibleTeams: [teamId] }, {}, page, order);
    expect(expat(blue)?.hosts_count).toBe(2);
    const noTeam = await f.ds.vulnerabilities.list(
      { visibleTeams: 'all', teamId: 0 },
      { cve: 'CVE-2022-43680' },
      page,
      order,
    );
    expect(noTeam.rows.map((r) => r.hosts_count)).toEqual([3]);
    expect(noTeam.count).toBe(1);
    const none = await f.ds.vulnerabilities.list({ visibleTeams: [] }, {}, page, order);
    expect(none.count).toBe(0);
  });

  it('counts hosts per software version and title, per team, as the links say', async () => {
    // Hosts 1–3 in no team, 4 in Blue (the test above), 5 moves to Red.
    const [blue] = (await f.ds.db.selectFrom('teams').select('id').execute()).map((t) => t.id);
    const red = await f.ds.teams.create('Red', '', Date.now());
    await f.ds.db
      .updateTable('hosts')
      .set({ team_id: red })
      .where('id', '=', f.hostIds[4]!)
      .execute();
    const before = Date.now();
    const report = await threaded.count();
    expect(report.error).toBeUndefined();
    expect(report.hosts).toBe(5);
    // Blue's rows for software only host 5 has are gone (host 5 left Blue).
    expect(report.dropped_rows).toBeGreaterThan(0);

    const scopes: Array<[string, TeamScope, 'all' | Array<number | null>]> = [
      ['every host', { visibleTeams: 'all' }, 'all'],
      ['Blue', { visibleTeams: 'all', teamId: blue! }, [blue!]],
      ['no team', { visibleTeams: 'all', teamId: 0 }, [null]],
      ['a user of Blue and Red', { visibleTeams: [blue!, red] }, [blue!, red]],
      ['a user of Red asking for Red', { visibleTeams: [red], teamId: red }, [red]],
      ['a user of Red asking for Blue', { visibleTeams: [red], teamId: blue! }, []],
      ['a user of no team', { visibleTeams: [] }, []],
    ];
    const byId = { key: 'id' as const, direction: 'asc' as const };
    for (const [name, scope, teams] of scopes) {
      const live = await liveSoftwareCounts(f.ds, teams);
      // Not vacuous: every scope with hosts has vulnerable versions.
      if (teams === 'all' || teams.length > 0)
        expect(live.vulnerableVersions.length, name).toBeGreaterThan(10);
      const versions = await f.ds.software.listVersions(scope, {}, null, byId);
      expect(new Map(versions.rows.map((r) => [r.id, r.hosts_count])), name).toEqual(live.versions);
      expect(versions.count, name).toBe(live.versions.size);
      if (live.versions.size > 0)
        expect(versions.countsUpdatedAt!, name).toBeGreaterThanOrEqual(before);
      else expect(versions.countsUpdatedAt, name).toBeNull();
      const titles = await f.ds.software.listTitles(scope, {}, null, byId);
      expect(
        new Map(
          titles.rows.map((r) => [
            r.id,
            { hosts_count: r.hosts_count, versions_count: r.versions_count },
          ]),
        ),
        name,
      ).toEqual(live.titles);
      expect(titles.count, name).toBe(live.titles.size);
      // vulnerable=true: versions (titles) with an open finding on a host of the scope.
      const vulnerable = await f.ds.software.listVersions(scope, { vulnerable: true }, null, byId);
      expect(
        vulnerable.rows.map((r) => r.id),
        name,
      ).toEqual(live.vulnerableVersions);
      const vulnerableTitles = await f.ds.software.listTitles(
        scope,
        { vulnerable: true },
        null,
        byId,
      );
      expect(
        vulnerableTitles.rows.map((r) => r.id),
        name,
      ).toEqual(live.vulnerableTitles);
      // Their CVEs, and the hosts that have them (paged: two hosts at a time).
      const cves = await f.ds.software.cvesFor(scope, [...live.versions.keys()]);
      expect(
        new Map([...cves].map(([id, list]) => [id, list.map((c) => c.cve).sort()])),
        name,
      ).toEqual(live.cves);
      for (const id of live.vulnerableVersions.slice(0, 3)) {
        const hosts: number[] = [];
        for (let after: number | null = 0; after !== null;) {
          const page = await f.ds.software.hostIdsWith(scope, { softwareId: id }, after, 2);
          hosts.push(...page.hostIds);
          after = page.next;
        }
        expect(hosts, name).toEqual(live.hostsWith(id));
      }
    }

    // A version with findings on two releases: only the release its hosts run counts.
    const expat = (
      await f.ds.software.listVersions({ visibleTeams: 'all' }, { query: 'libexpat1' }, null, byId)
    ).rows[0]!;
    const real = (await f.ds.software.cvesFor({ visibleTeams: 'all' }, [expat.id])).get(expat.id)!;
    await f.ds.db
      .insertInto('software_cves')
      .values({
        release_key: 'ubuntu:23.04:lunar',
        software_id: expat.id,
        cve: 'CVE-2099-0001',
        package: 'libexpat1',
        installed_version: expat.version,
        fixed_version: null,
        source: 'oval',
        advisory: '',
        feeds_version: 'test',
        created_at: Date.now(),
      })
      .execute();
    const both = (await f.ds.software.cvesFor({ visibleTeams: 'all' }, [expat.id])).get(expat.id)!;
    expect(real.map((c) => c.cve)).toContain('CVE-2022-43680');
    expect(both).toEqual(real);
    await f.ds.db.deleteFrom('software_cves').where('cve', '=', 'CVE-2099-0001').execute();

    // Ordered and paged on the stored counts.
    const top = await f.ds.software.listVersions(
      { visibleTeams: 'all' },
      {},
      { page: 0, perPage: 3 },
      { key: 'hosts_count', direction: 'desc' },
    );
    expect(top.rows.map((r) => r.hosts_count)).toEqual([5, 5, 5]);
    const query = await f.ds.software.listTitles(
      { visibleTeams: 'all' },
      { query: 'LIBEXPAT' },
      { page: 0, perPage: 10 },
      { key: 'name', direction: 'asc' },
    );
    expect(query.rows.map((r) => [r.name, r.hosts_count, r.versions_count])).toEqual([
      ['libexpat1', 5, 1],
    ]);
  });

  it('counts are as of the last pass; the main-thread pass stores what the worker stored', async () => {
    const stored = async () => {
      const v = await f.ds.db
        .selectFrom('software_host_counts')
        .select(['software_id', 'team_id', 'hosts_count', 'vulnerable_hosts_count'])
        .orderBy('software_id')
        .orderBy('team_id')
        .execute();
      const t = await f.ds.db
        .selectFrom('software_title_host_counts')
        .select(['title_id', 'team_id', 'hosts_count', 'versions_count', 'vulnerable_hosts_count'])
        .orderBy('title_id')
        .orderBy('team_id')
        .execute();
      return JSON.stringify([v, t]);
    };
    const worker = await stored();
    const inline = job(f, false);
    expect((await inline.count()).error).toBeUndefined();
    expect(await stored()).toBe(worker);

    // A version new since the last pass is listed once a pass has counted it.
    await f.ds.software.apply(
      [
        {
          hostId: f.hostIds[0]!,
          checksum: 'with-new-tool',
          sources: ['python_packages'],
          items: [{ name: 'brand-new-tool', version: '1.0', source: 'python_packages' }],
        },
      ],
      Date.now(),
    );
    const find = () =>
      f.ds.software.listVersions({ visibleTeams: 'all' }, { query: 'brand-new-tool' }, null, {
        key: 'id',
        direction: 'asc',
      });
    expect((await find()).count).toBe(0);
    await inline.count();
    await inline.stop();
    expect((await find()).rows).toEqual([
      expect.objectContaining({ name: 'brand-new-tool', hosts_count: 1 }),
    ]);
    // The worker's pass sees it too (its catalogue learns new software as it goes).
    await threaded.count();
    expect((await find()).rows).toEqual([
      expect.objectContaining({ name: 'brand-new-tool', hosts_count: 1 }),
    ]);
  });

  it('fills the CVE’s publication date and description from the NVD feed', async () => {
    const meta = await f.ds.vulnerabilities.meta('CVE-2022-43680');
    expect(meta).toMatchObject({
      cve_published: '2022-10-24T14:15:53.323Z',
      cve_description: expect.stringMatching(/^In libexpat through 2\.4\.9/),
    });
    // CVEs the NVD file does not have keep nulls.
    const other = await f.ds.db
      .selectFrom('vulnerabilities')
      .select(['cve', 'cve_published'])
      .where('cve', '<>', 'CVE-2022-43680')
      .limit(1)
      .executeTakeFirstOrThrow();
    expect(other.cve_published).toBeNull();
  });

  it('the main-thread scan stores exactly what the worker stored', async () => {
    const before = await openFindings(f.ds);
    await f.ds.db
      .updateTable('host_software_state')
      .set({ scanned_checksum: '', release_key: '' })
      .execute();
    await f.ds.db.deleteFrom('software_cves').execute();
    const inline = job(f, false);
    expect(inline.threaded).toBe(false);
    const r = await inline.run();
    await inline.stop();
    expect(r.error).toBeUndefined();
    expect(r.hosts).toBe(5);
    expect(await openFindings(f.ds)).toEqual(before);
  });

  it('a kernel upgrade moves the host’s kernel link', async () => {
    const id = f.hostIds[4]!;
    await f.ds.db
      .updateTable('hosts')
      .set({ kernel_version: '5.19.0-99-generic' })
      .where('id', '=', id)
      .execute();
    // The scan looks at hosts whose list changed: mark this one changed.
    await f.ds.db
      .updateTable('host_software_state')
      .set({ scanned_checksum: '' })
      .where('host_id', '=', id)
      .execute();
    expect((await threaded.run()).hosts).toBe(1);
    const kernels = await f.ds.db
      .selectFrom('host_software as hs')
      .innerJoin('software as s', 's.id', 'hs.software_id')
      .select('s.version')
      .where('s.source', '=', 'kernel')
      .where('hs.host_id', '=', id)
      .execute();
    expect(kernels.map((k) => k.version)).toEqual(['5.19.0-99-generic']);
  });

  it('when the feeds change, findings they no longer produce are resolved on every host', async () => {
    rmSync(join(f.feeds, 'com.ubuntu.kinetic.usn.oval.xml.gz'));
    const r = await threaded.run();
    expect(r.error).toBeUndefined();
    expect(r.hosts).toBe(5); // the feed version is part of every host's scan key
    expect(r.resolved).toBeGreaterThan(100);
    expect(await openFindings(f.ds)).toEqual([]);
    // …and no longer counted.
    const list = await f.ds.vulnerabilities.list(
      { visibleTeams: 'all' },
      {},
      { page: 0, perPage: 10 },
      { key: 'cve', direction: 'asc' },
    );
    expect(list.count).toBe(0);
    const resolved = await f.ds.db
      .selectFrom('host_vulnerabilities')
      .select(['host_id', 'resolved_at'])
      .where('cve', '=', 'CVE-2022-43680')
      .execute();
    expect(resolved.map((x) => x.host_id).sort((a, b) => a - b)).toEqual(f.hostIds);
    for (const x of resolved) expect(x.resolved_at).toEqual(expect.any(Number));
    expect(
      await f.ds.db.selectFrom('software_cves').select('id').executeTakeFirst(),
    ).toBeUndefined();
  });

  it('stop() ends the worker; later runs are refused, not hung', async () => {
    await threaded.stop();
    const r = await threaded.run();
    expect(r.error).toMatch(/stopped/);
  });
});
