import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../schema.js';
import {
  firstDetected,
  likeAny,
  teamCondition,
  type PageSpec,
  type TeamScope,
} from './software.js';

/** What the scanner needs to know about a host. */
export interface ScanHostRow {
  id: number;
  team_id: number | null;
  platform: string;
  os_version: string;
  code_name: string;
  kernel_version: string;
  checksum: string;
}

/** A software version as the scanner needs it (rows never change once written). */
export interface ScanCatalogRow {
  id: number;
  title_id: number;
  name: string;
  version: string;
  source: string;
  release: string;
  arch: string;
  vendor: string;
  package_source: string;
}

export interface HostVulnRow {
  id: number;
  host_id: number;
  software_id: number | null;
  cve: string;
  package: string;
  installed_version: string;
  fixed_version: string | null;
  source: string;
  advisory: string;
  first_detected_at: number;
  resolved_at: number | null;
}

/** A shared finding that no longer holds for a host: written as resolved, with its time. */
export interface ResolutionRow {
  host_id: number;
  software_id: number;
  cve: string;
  package: string;
  installed_version: string;
  fixed_version: string | null;
  source: string;
  advisory: string;
  first_detected_at: number;
}

/** A finding as the scan job wants it stored. */
export interface FindingInput {
  software_id: number | null;
  cve: string;
  package: string;
  installed_version: string;
  fixed_version: string | null;
  source: string;
  advisory: string;
}

/** A finding that holds for every host of a release with this software version. */
export interface SharedFindingInput extends FindingInput {
  release_key: string;
  software_id: number;
}

export interface CveMeta {
  cve: string;
  severity: string;
  cvss_score: number | null;
  epss_probability: number | null;
  cisa_known_exploit: number;
  kev_date_added: string | null;
  /** From NVD when its feed has the CVE: publication date (ISO 8601 UTC) and description. */
  cve_published: string | null;
  cve_description: string | null;
}

export interface VulnFilter {
  severity?: string[] | undefined;
  knownExploited?: boolean | undefined;
  minEpss?: number | undefined;
  cve?: string | undefined;
  query?: string | undefined;
}

export type VulnOrderKey =
  | 'cve'
  | 'cvss_score'
  | 'epss_probability'
  | 'cisa_known_exploit'
  | 'cve_published'
  | 'hosts_count'
  | 'created_at';
export const VULN_ORDER_KEYS: readonly VulnOrderKey[] = [
  'cve',
  'cvss_score',
  'epss_probability',
  'cisa_known_exploit',
  'cve_published',
  'hosts_count',
  'created_at',
];

export interface VulnListRow extends CveMeta {
  hosts_count: number;
  created_at: number;
  hosts_count_updated_at: number;
}

const CHUNK = 400;
function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** SQL condition on a counts alias `c` for a team scope (team 0: hosts in no team). */
function countScope(scope: TeamScope): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  if (scope.visibleTeams !== 'all') {
    parts.push(
      scope.visibleTeams.length ? sql`c.team_id in (${sql.join(scope.visibleTeams)})` : sql`1 = 0`,
    );
  }
  if (scope.teamId !== undefined) parts.push(sql`c.team_id = ${scope.teamId}`);
  return parts.length ? sql.join(parts, sql` and `) : sql`1 = 1`;
}

/** `"3,1,2"` → sorted ids, without an intermediate array of strings. */
function parseIdList(s: string): Int32Array {
  const out = new Int32Array((s.length + 1) >> 1);
  let k = 0;
  let v = 0;
  let digits = 0;
  let sorted = true;
  let prev = -1;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 44;
    if (c === 44) {
      if (digits > 0) {
        if (v < prev) sorted = false;
        prev = v;
        out[k++] = v;
      }
      v = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      v = v * 10 + c - 48;
      digits++;
    }
  }
  const ids = out.subarray(0, k);
  return sorted ? ids : ids.sort();
}

const key = (hostId: number, cve: string, pkg: string): string =>
  `${hostId}\u0000${cve}\u0000${pkg}`;

/** Vulnerability findings per host, their lifecycle, and the CVE metadata the feeds give. */
export class VulnerabilityRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Hosts whose software list (or the feeds, via `feedKey`) changed since their last scan, in
   * id order after `afterId` (a cursor, so a scan never re-reads the hosts it has done).
   */
  async hostsToScan(feedKey: string, limit: number, afterId = 0): Promise<ScanHostRow[]> {
    const rows = await sql<ScanHostRow>`
      select h.id, h.team_id, h.platform, h.os_version, h.code_name, h.kernel_version, st.checksum
      from host_software_state st join hosts h on h.id = st.host_id
      where st.host_id > ${afterId} and st.scanned_checksum <> st.checksum || ${`:${feedKey}`}
      order by st.host_id limit ${limit}`.execute(this.db);
    return rows.rows;
  }

  /** Software versions with an id above `afterId`, in id order (the scanner's catalogue). */
  async catalog(afterId: number, limit: number): Promise<ScanCatalogRow[]> {
    return this.db
      .selectFrom('software')
      .select([
        'id',
        'title_id',
        'name',
        'version',
        'source',
        'release',
        'arch',
        'vendor',
        'package_source',
      ])
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /**
   * The software ids of each host, sorted, read host-major through the (host_id, software_id)
   * key. One row per host with its ids joined into a string: a row per link costs ~7× more
   * (22 M links: 19 s as objects, 2.8 s this way on SQLite). `string_agg` is in SQLite ≥ 3.44.
   */
  async softwareIdsOf(
    hostIds: readonly number[],
  ): Promise<{ byHost: Map<number, Int32Array>; maxId: number }> {
    const byHost = new Map<number, Int32Array>();
    let maxId = 0;
    for (const part of chunks(hostIds)) {
      const rows = await sql<{ host_id: number; ids: string | null }>`
        select host_id, string_agg(cast(software_id as text), ',') as ids
        from host_software where host_id in (${sql.join(part)}) group by host_id`.execute(this.db);
      for (const r of rows.rows) {
        const ids = parseIdList(r.ids ?? '');
        if (ids.length > 0) maxId = Math.max(maxId, ids[ids.length - 1]!);
        byHost.set(Number(r.host_id), ids);
      }
    }
    return { byHost, maxId };
  }

  /** Which of these kernel software rows each host links to (probes the primary key). */
  async kernelLinksOf(
    hostIds: readonly number[],
    kernelIds: readonly number[],
  ): Promise<Map<number, number[]>> {
    const out = new Map<number, number[]>();
    if (kernelIds.length === 0) return out;
    for (const part of chunks(hostIds)) {
      for (const kparts of chunks(kernelIds)) {
        const rows = await this.db
          .selectFrom('host_software')
          .select(['host_id', 'software_id'])
          .where('host_id', 'in', part)
          .where('software_id', 'in', kparts)
          .execute();
        for (const r of rows) {
          const list = out.get(r.host_id);
          if (list) list.push(r.software_id);
          else out.set(r.host_id, [r.software_id]);
        }
      }
    }
    return out;
  }

  /**
   * Running-kernel links (the scan records each host's kernel as software): adds these links and
   * removes the stale ones, in one transaction.
   */
  async setKernelLinks(
    add: ReadonlyArray<{ hostId: number; softwareId: number }>,
    remove: ReadonlyArray<{ hostId: number; softwareId: number }>,
    nowMs: number,
  ): Promise<void> {
    if (add.length === 0 && remove.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const r of remove) {
        await trx
          .deleteFrom('host_software')
          .where('host_id', '=', r.hostId)
          .where('software_id', '=', r.softwareId)
          .execute();
      }
      for (const part of chunks(add, 300)) {
        await trx
          .insertInto('host_software')
          .values(
            part.map((a) => ({
              host_id: a.hostId,
              software_id: a.softwareId,
              first_seen_at: nowMs,
            })),
          )
          .onConflict((oc) => oc.columns(['host_id', 'software_id']).doNothing())
          .execute();
      }
    });
  }

  /**
   * Stores one scan of these hosts: new findings are inserted, findings no longer present are
   * resolved (with the time), resolved findings that return are reopened, and each host is
   * marked scanned at its checksum. Returns counts of each.
   */
  async applyScan(
    hosts: ReadonlyArray<{
      id: number;
      checksum: string;
      releaseKey: string;
      findings: readonly FindingInput[];
    }>,
    shared: readonly SharedFindingInput[],
    cves: readonly CveMeta[],
    feedKey: string,
    nowMs: number,
  ): Promise<{ inserted: number; resolved: number; reopened: number }> {
    const counts = { inserted: 0, resolved: 0, reopened: 0 };
    if (hosts.length === 0 && shared.length === 0) return counts;
    await this.db.transaction().execute(async (trx) => {
      for (const part of chunks(shared, 200)) {
        await trx
          .insertInto('software_cves')
          .values(
            part.map((f) => ({
              release_key: f.release_key,
              software_id: f.software_id,
              cve: f.cve,
              package: f.package,
              installed_version: f.installed_version,
              fixed_version: f.fixed_version,
              source: f.source,
              advisory: f.advisory,
              feeds_version: feedKey,
              created_at: nowMs,
            })),
          )
          .onConflict((oc) =>
            oc.columns(['software_id', 'release_key', 'cve']).doUpdateSet((eb) => ({
              fixed_version: eb.ref('excluded.fixed_version'),
              source: eb.ref('excluded.source'),
              advisory: eb.ref('excluded.advisory'),
              feeds_version: eb.ref('excluded.feeds_version'),
            })),
          )
          .execute();
      }
      // Host-specific findings (the running kernel's): per-host rows with their own lifecycle.
      const existing = new Map<string, HostVulnRow>();
      for (const part of chunks(hosts.map((h) => h.id))) {
        const rows = await trx
          .selectFrom('host_vulnerabilities')
          .selectAll()
          .where('host_id', 'in', part)
          .where('software_id', 'is', null)
          .execute();
        for (const r of rows) existing.set(key(r.host_id, r.cve, r.package), r);
      }
      const inserts: Array<FindingInput & { host_id: number }> = [];
      const reopen: number[] = [];
      const changed: Array<{ id: number; f: FindingInput }> = [];
      const seen = new Set<string>();
      for (const h of hosts) {
        for (const f of h.findings) {
          const k = key(h.id, f.cve, f.package);
          if (seen.has(k)) continue;
          seen.add(k);
          const prev = existing.get(k);
          if (!prev) inserts.push({ ...f, host_id: h.id });
          else {
            if (prev.resolved_at !== null) reopen.push(prev.id);
            if (
              prev.installed_version !== f.installed_version ||
              prev.fixed_version !== f.fixed_version ||
              prev.software_id !== f.software_id ||
              prev.source !== f.source
            )
              changed.push({ id: prev.id, f });
          }
        }
      }
      const resolve = [...existing]
        .filter(([k, r]) => r.resolved_at === null && !seen.has(k))
        .map(([, r]) => r.id);
      for (const part of chunks(inserts, 200)) {
        await trx
          .insertInto('host_vulnerabilities')
          .values(
            part.map((f) => ({
              host_id: f.host_id,
              software_id: f.software_id,
              cve: f.cve,
              package: f.package,
              installed_version: f.installed_version,
              fixed_version: f.fixed_version,
              source: f.source,
              advisory: f.advisory,
              first_detected_at: nowMs,
              resolved_at: null,
              updated_at: nowMs,
            })),
          )
          // Another process scanning the same host at the same moment wrote the same row.
          .onConflict((oc) => oc.columns(['host_id', 'cve', 'package']).doNothing())
          .execute();
      }
      for (const part of chunks(resolve)) {
        await trx
          .updateTable('host_vulnerabilities')
          .set({ resolved_at: nowMs, updated_at: nowMs })
          .where('id', 'in', part)
          .execute();
      }
      // A finding that comes back is a new exposure: its clock starts again.
      for (const part of chunks(reopen)) {
        await trx
          .updateTable('host_vulnerabilities')
          .set({ resolved_at: null, first_detected_at: nowMs, updated_at: nowMs })
          .where('id', 'in', part)
          .execute();
      }
      for (const c of changed) {
        await trx
          .updateTable('host_vulnerabilities')
          .set({
            installed_version: c.f.installed_version,
            fixed_version: c.f.fixed_version,
            software_id: c.f.software_id,
            source: c.f.source,
            advisory: c.f.advisory,
            updated_at: nowMs,
          })
          .where('id', '=', c.id)
          .execute();
      }
      for (const part of chunks(cves, 200)) {
        await trx
          .insertInto('vulnerabilities')
          .values(part.map((c) => ({ ...c, created_at: nowMs, updated_at: nowMs })))
          .onConflict((oc) =>
            oc.column('cve').doUpdateSet((eb) => ({
              severity: eb.ref('excluded.severity'),
              cvss_score: eb.ref('excluded.cvss_score'),
              epss_probability: eb.ref('excluded.epss_probability'),
              cisa_known_exploit: eb.ref('excluded.cisa_known_exploit'),
              kev_date_added: eb.ref('excluded.kev_date_added'),
              cve_published: eb.ref('excluded.cve_published'),
              cve_description: eb.ref('excluded.cve_description'),
              updated_at: nowMs,
            })),
          )
          .execute();
      }
      for (const h of hosts) {
        await trx
          .updateTable('host_software_state')
          .set({ scanned_checksum: `${h.checksum}:${feedKey}`, release_key: h.releaseKey })
          .where('host_id', '=', h.id)
          .execute();
      }
      counts.inserted = inserts.length;
      counts.resolved = resolve.length;
      counts.reopened = reopen.length;
    });
    return counts;
  }

  /** Whether shared findings from other feeds than `feedKey` remain (a scan under new feeds). */
  async hasStaleShared(feedKey: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('software_cves')
      .select('id')
      .where('feeds_version', '<>', feedKey)
      .limit(1)
      .executeTakeFirst();
    return r !== undefined;
  }

  /**
   * After a completed scan under new feeds, the stale shared findings of the next `limit` hosts
   * after `afterHostId` (with software and release that still match), as resolution rows to
   * write. A read: the caller writes them in small transactions. Host-major: each host's links
   * are walked by the (host_id, software_id) key.
   */
  async staleFindings(
    feedKey: string,
    afterHostId: number,
    limit: number,
  ): Promise<{ rows: ResolutionRow[]; lastHostId: number | null }> {
    const ids = await this.db
      .selectFrom('host_software_state')
      .select('host_id')
      .where('host_id', '>', afterHostId)
      .orderBy('host_id')
      .limit(limit)
      .execute();
    const first = ids[0]?.host_id;
    const last = ids[ids.length - 1]?.host_id;
    if (first === undefined || last === undefined) return { rows: [], lastHostId: null };
    const rows = await sql<ResolutionRow>`
      select hs.host_id, sc.software_id, sc.cve, sc.package, sc.installed_version,
        sc.fixed_version, sc.source, sc.advisory, ${firstDetected} as first_detected_at
      from host_software hs
      join host_software_state st on st.host_id = hs.host_id
      join software_cves sc on sc.software_id = hs.software_id and sc.release_key = st.release_key
      where hs.host_id between ${first} and ${last} and sc.feeds_version <> ${feedKey}`.execute(
      this.db,
    );
    return {
      rows: rows.rows.map((r) => ({ ...r, first_detected_at: Number(r.first_detected_at) })),
      lastHostId: last,
    };
  }

  /** Writes resolution rows (one per host, CVE and package keeps the latest). */
  async resolve(rows: readonly ResolutionRow[], nowMs: number): Promise<number> {
    if (rows.length === 0) return 0;
    await this.db.transaction().execute(async (trx) => {
      for (const part of chunks(rows, 200)) {
        await trx
          .insertInto('host_vulnerabilities')
          .values(part.map((r) => ({ ...r, resolved_at: nowMs, updated_at: nowMs })))
          .onConflict((oc) =>
            oc.columns(['host_id', 'cve', 'package']).doUpdateSet((eb) => ({
              software_id: eb.ref('excluded.software_id'),
              installed_version: eb.ref('excluded.installed_version'),
              fixed_version: eb.ref('excluded.fixed_version'),
              source: eb.ref('excluded.source'),
              advisory: eb.ref('excluded.advisory'),
              first_detected_at: eb.ref('excluded.first_detected_at'),
              resolved_at: eb.ref('excluded.resolved_at'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
    });
    return rows.length;
  }

  /**
   * Drops up to `limit` shared findings the feeds `feedKey` no longer produce (after their
   * resolution); returns how many, so the caller repeats in small transactions.
   */
  async dropStaleShared(feedKey: string, limit: number): Promise<number> {
    const r = await this.db
      .deleteFrom('software_cves')
      .where('id', 'in', (sub) =>
        sub
          .selectFrom('software_cves')
          .select('id')
          .where('feeds_version', '<>', feedKey)
          .limit(limit),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  private conditions(scope: TeamScope, f: VulnFilter): RawBuilder<unknown> {
    const conds: RawBuilder<unknown>[] = [countScope(scope)];
    if (f.severity?.length) conds.push(sql`v.severity in (${sql.join(f.severity)})`);
    if (f.knownExploited) conds.push(sql`v.cisa_known_exploit = 1`);
    if (f.minEpss !== undefined) conds.push(sql`v.epss_probability >= ${f.minEpss}`);
    if (f.cve) conds.push(sql`c.cve = ${f.cve}`);
    if (f.query) conds.push(likeAny(sql.ref('c.cve'), f.query));
    return sql.join(conds, sql` and `);
  }

  /**
   * CVEs open on visible hosts, with host counts for that scope as of the last count (the scan
   * job counts after each scan: counting live joins every host's software).
   */
  async list(
    scope: TeamScope,
    f: VulnFilter,
    page: PageSpec,
    order: { key: VulnOrderKey; direction: 'asc' | 'desc' },
  ): Promise<{ rows: VulnListRow[]; count: number; countsUpdatedAt: number | null }> {
    const where = this.conditions(scope, f);
    const base = sql`from vulnerability_host_counts c join vulnerabilities v on v.cve = c.cve where ${where}`;
    const dir = order.direction === 'desc' ? sql`desc` : sql`asc`;
    const nulls = order.direction === 'desc' ? sql`nulls last` : sql`nulls first`;
    const col =
      order.key === 'hosts_count'
        ? sql`hosts_count`
        : order.key === 'cve'
          ? sql`v.cve`
          : sql.ref(`v.${order.key}`);
    const rows = await sql<VulnListRow>`
      select v.cve, v.severity, v.cvss_score, v.epss_probability, v.cisa_known_exploit,
        v.kev_date_added, v.cve_published, v.cve_description, v.created_at,
        max(c.updated_at) as hosts_count_updated_at, sum(c.hosts_count) as hosts_count
      ${base}
      group by v.cve, v.severity, v.cvss_score, v.epss_probability, v.cisa_known_exploit,
        v.kev_date_added, v.cve_published, v.cve_description, v.created_at
      order by ${col} ${dir} ${nulls}, v.cve asc
      limit ${page.perPage} offset ${page.page * page.perPage}`.execute(this.db);
    const count = await sql<{ n: number; at: number | null }>`
      select count(distinct c.cve) as n, max(c.updated_at) as at ${base}`.execute(this.db);
    const at = count.rows[0]?.at;
    return {
      rows: rows.rows.map((r) => ({
        ...r,
        hosts_count: Number(r.hosts_count),
        hosts_count_updated_at: Number(r.hosts_count_updated_at),
      })),
      count: Number(count.rows[0]?.n ?? 0),
      countsUpdatedAt: at === null || at === undefined ? null : Number(at),
    };
  }

  /** Every shared finding's (release, software version, CVE): what the host count needs. */
  async sharedIndex(): Promise<Array<{ release_key: string; software_id: number; cve: string }>> {
    return this.db
      .selectFrom('software_cves')
      .select(['release_key', 'software_id', 'cve'])
      .execute();
  }

  /** Open host-specific findings (those not tied to a software version: the running kernel). */
  async openHostSpecific(): Promise<Array<{ host_id: number; cve: string }>> {
    return this.db
      .selectFrom('host_vulnerabilities')
      .select(['host_id', 'cve'])
      .where('resolved_at', 'is', null)
      .where('software_id', 'is', null)
      .execute();
  }

  /** The teams hosts are in (null: hosts in no team), for counting team by team. */
  async hostTeams(): Promise<Array<number | null>> {
    const rows = await this.db.selectFrom('hosts').select('team_id').distinct().execute();
    return rows.map((r) => r.team_id);
  }

  /**
   * Hosts of one team (null: no team) with a software inventory, after `afterId`, in id order,
   * with their release.
   */
  async hostsForCount(
    teamId: number | null,
    afterId: number,
    limit: number,
  ): Promise<Array<{ host_id: number; release_key: string }>> {
    return this.db
      .selectFrom('hosts as h')
      .innerJoin('host_software_state as st', 'st.host_id', 'h.id')
      .select(['h.id as host_id', 'st.release_key'])
      .where('h.team_id', teamId === null ? 'is' : '=', teamId)
      .where('h.id', '>', afterId)
      .orderBy('h.id')
      .limit(limit)
      .execute();
  }

  /** The stored host counts (CVE, team → hosts). */
  async hostCounts(): Promise<Array<{ cve: string; team_id: number; hosts_count: number }>> {
    return this.db
      .selectFrom('vulnerability_host_counts')
      .select(['cve', 'team_id', 'hosts_count'])
      .execute();
  }

  /** Writes host counts counted at `nowMs`, and drops those now zero. */
  async writeHostCounts(
    counts: ReadonlyArray<{ cve: string; team_id: number; hosts_count: number }>,
    gone: ReadonlyArray<{ cve: string; team_id: number }>,
    nowMs: number,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const part of chunks(counts, 200)) {
        await trx
          .insertInto('vulnerability_host_counts')
          .values(part.map((c) => ({ ...c, updated_at: nowMs })))
          .onConflict((oc) =>
            oc.columns(['cve', 'team_id']).doUpdateSet((eb) => ({
              hosts_count: eb.ref('excluded.hosts_count'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
      for (const g of gone) {
        await trx
          .deleteFrom('vulnerability_host_counts')
          .where('cve', '=', g.cve)
          .where('team_id', '=', g.team_id)
          .execute();
      }
    });
  }

  async meta(
    cve: string,
  ): Promise<(CveMeta & { created_at: number; hosts_count_updated_at: number }) | undefined> {
    return this.db
      .selectFrom('vulnerabilities')
      .select([
        'cve',
        'severity',
        'cvss_score',
        'epss_probability',
        'cisa_known_exploit',
        'kev_date_added',
        'cve_published',
        'cve_description',
        'created_at',
        'hosts_count_updated_at',
      ])
      .where('cve', '=', cve)
      .executeTakeFirst();
  }

  /** Stored metadata of these CVEs (scores, KEV, NVD details), by CVE id. */
  async metaOf(cves: readonly string[]): Promise<Map<string, CveMeta>> {
    const out = new Map<string, CveMeta>();
    for (const part of chunks([...new Set(cves)])) {
      const rows = await this.db
        .selectFrom('vulnerabilities')
        .select([
          'cve',
          'severity',
          'cvss_score',
          'epss_probability',
          'cisa_known_exploit',
          'kev_date_added',
          'cve_published',
          'cve_description',
        ])
        .where('cve', 'in', part)
        .execute();
      for (const r of rows) out.set(r.cve, r);
    }
    return out;
  }

  /** Every finding of a CVE on visible hosts (open and resolved), with the host's name. */
  async findingsForCve(
    scope: TeamScope,
    cve: string,
  ): Promise<
    Array<
      HostVulnRow & {
        hostname: string;
        display_name: string;
        team_id: number | null;
        os_version: string;
      }
    >
  > {
    const rows = await sql<
      HostVulnRow & {
        hostname: string;
        display_name: string;
        team_id: number | null;
        os_version: string;
      }
    >`
      select 0 as id, hv.host_id, hv.software_id, hv.cve, hv.package, hv.installed_version,
        hv.fixed_version, hv.source, hv.advisory, hv.first_detected_at, null as resolved_at,
        h.hostname, h.computer_name as display_name, h.team_id, h.os_version
      from open_host_vulnerabilities hv join hosts h on h.id = hv.host_id
      where hv.cve = ${cve} and ${teamCondition(scope)}
      union all
      select hv.id, hv.host_id, hv.software_id, hv.cve, hv.package, hv.installed_version,
        hv.fixed_version, hv.source, hv.advisory, hv.first_detected_at, hv.resolved_at,
        h.hostname, h.computer_name as display_name, h.team_id, h.os_version
      from host_vulnerabilities hv join hosts h on h.id = hv.host_id
      where hv.cve = ${cve} and hv.resolved_at is not null and ${teamCondition(scope)}
      order by 2, 5`.execute(this.db);
    return rows.rows;
  }

  /** A host's open findings joined with CVE metadata; resolved ones too when asked. */
  async forHost(
    hostId: number,
    includeResolved: boolean,
  ): Promise<Array<HostVulnRow & Omit<CveMeta, 'cve'>>> {
    const resolved = includeResolved
      ? sql`union all
        select hv.id, hv.host_id, hv.software_id, hv.cve, hv.package, hv.installed_version,
          hv.fixed_version, hv.source, hv.advisory, hv.first_detected_at, hv.resolved_at,
          v.severity, v.cvss_score, v.epss_probability, v.cisa_known_exploit, v.kev_date_added,
          v.cve_published, v.cve_description
        from host_vulnerabilities hv left join vulnerabilities v on v.cve = hv.cve
        where hv.host_id = ${hostId} and hv.resolved_at is not null`
      : sql``;
    const rows = await sql<
      HostVulnRow & {
        severity: string | null;
        cvss_score: number | null;
        epss_probability: number | null;
        cisa_known_exploit: number | null;
        kev_date_added: string | null;
        cve_published: string | null;
        cve_description: string | null;
      }
    >`
      select 0 as id, hv.host_id, hv.software_id, hv.cve, hv.package, hv.installed_version,
        hv.fixed_version, hv.source, hv.advisory, hv.first_detected_at, null as resolved_at,
        v.severity, v.cvss_score, v.epss_probability, v.cisa_known_exploit, v.kev_date_added,
        v.cve_published, v.cve_description
      from open_host_vulnerabilities hv left join vulnerabilities v on v.cve = hv.cve
      where hv.host_id = ${hostId}
      ${resolved}
      order by 4, 5`.execute(this.db);
    return rows.rows.map((r) => ({
      ...r,
      resolved_at: r.resolved_at === null ? null : Number(r.resolved_at),
      first_detected_at: Number(r.first_detected_at),
      severity: r.severity ?? 'unknown',
      cvss_score: r.cvss_score ?? null,
      epss_probability: r.epss_probability ?? null,
      cisa_known_exploit: Number(r.cisa_known_exploit ?? 0),
      kev_date_added: r.kev_date_added ?? null,
      cve_published: r.cve_published ?? null,
      cve_description: r.cve_description ?? null,
    }));
  }
}
