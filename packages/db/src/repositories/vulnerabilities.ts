import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../schema.js';
import {
  firstDetected,
  likeAny,
  onResolvedConflict,
  teamCondition,
  type PageSpec,
  type TeamScope,
} from './software.js';

/** What the scanner needs to know about a host. */
export interface ScanHostRow {
  id: number;
  platform: string;
  os_version: string;
  code_name: string;
  kernel_version: string;
  checksum: string;
}

export interface ScanSoftwareRow {
  host_id: number;
  software_id: number;
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
}

export interface VulnFilter {
  severity?: string[] | undefined;
  knownExploited?: boolean | undefined;
  minEpss?: number | undefined;
  cve?: string | undefined;
  query?: string | undefined;
}

export type VulnOrderKey =
  'cve' | 'cvss_score' | 'epss_probability' | 'cisa_known_exploit' | 'hosts_count' | 'created_at';
export const VULN_ORDER_KEYS: readonly VulnOrderKey[] = [
  'cve',
  'cvss_score',
  'epss_probability',
  'cisa_known_exploit',
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
      select h.id, h.platform, h.os_version, h.code_name, h.kernel_version, st.checksum
      from host_software_state st join hosts h on h.id = st.host_id
      where st.host_id > ${afterId} and st.scanned_checksum <> st.checksum || ${`:${feedKey}`}
      order by st.host_id limit ${limit}`.execute(this.db);
    return rows.rows;
  }

  async software(hostIds: readonly number[]): Promise<ScanSoftwareRow[]> {
    const out: ScanSoftwareRow[] = [];
    for (const part of chunks(hostIds)) {
      const rows = await this.db
        .selectFrom('host_software as hs')
        .innerJoin('software as s', 's.id', 'hs.software_id')
        .select([
          'hs.host_id',
          'hs.software_id',
          's.name',
          's.version',
          's.source',
          's.release',
          's.arch',
          's.vendor',
          's.package_source',
        ])
        .where('hs.host_id', 'in', part)
        .execute();
      for (const r of rows) out.push(r); // (a spread of ~10^5 rows overflows the stack)
    }
    return out;
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

  /**
   * After a completed scan: shared findings the current feeds no longer produce are resolved on
   * every host that had them (a resolution row with the time), then dropped.
   */
  async sweep(feedKey: string, nowMs: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const r = await sql`
        insert into host_vulnerabilities (host_id, software_id, cve, package, installed_version,
          fixed_version, source, advisory, first_detected_at, resolved_at, updated_at)
        select hs.host_id, sc.software_id, sc.cve, sc.package, sc.installed_version,
          sc.fixed_version, sc.source, sc.advisory, ${firstDetected}, ${nowMs}, ${nowMs}
        from software_cves sc
        join host_software hs on hs.software_id = sc.software_id
        join host_software_state st on st.host_id = hs.host_id and st.release_key = sc.release_key
        where sc.feeds_version <> ${feedKey}
        ${onResolvedConflict}`.execute(trx);
      await trx.deleteFrom('software_cves').where('feeds_version', '<>', feedKey).execute();
      return Number(r.numAffectedRows ?? 0);
    });
  }

  private conditions(scope: TeamScope, f: VulnFilter): RawBuilder<unknown> {
    const conds: RawBuilder<unknown>[] = [teamCondition(scope)];
    if (f.severity?.length) conds.push(sql`v.severity in (${sql.join(f.severity)})`);
    if (f.knownExploited) conds.push(sql`v.cisa_known_exploit = 1`);
    if (f.minEpss !== undefined) conds.push(sql`v.epss_probability >= ${f.minEpss}`);
    if (f.cve) conds.push(sql`hv.cve = ${f.cve}`);
    if (f.query) conds.push(likeAny(sql.ref('hv.cve'), f.query));
    return sql.join(conds, sql` and `);
  }

  /** CVEs open on visible hosts, with host counts computed for that scope. */
  async list(
    scope: TeamScope,
    f: VulnFilter,
    page: PageSpec,
    order: { key: VulnOrderKey; direction: 'asc' | 'desc' },
  ): Promise<{ rows: VulnListRow[]; count: number }> {
    const where = this.conditions(scope, f);
    const base = sql`from open_host_vulnerabilities hv join hosts h on h.id = hv.host_id join vulnerabilities v on v.cve = hv.cve where ${where}`;
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
        v.kev_date_added, v.created_at, v.hosts_count_updated_at,
        count(distinct hv.host_id) as hosts_count
      ${base}
      group by v.cve, v.severity, v.cvss_score, v.epss_probability, v.cisa_known_exploit,
        v.kev_date_added, v.created_at, v.hosts_count_updated_at
      order by ${col} ${dir} ${nulls}, v.cve asc
      limit ${page.perPage} offset ${page.page * page.perPage}`.execute(this.db);
    const count = await sql<{ n: number }>`select count(distinct hv.cve) as n ${base}`.execute(
      this.db,
    );
    return {
      rows: rows.rows.map((r) => ({ ...r, hosts_count: Number(r.hosts_count) })),
      count: Number(count.rows[0]?.n ?? 0),
    };
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
        'created_at',
        'hosts_count_updated_at',
      ])
      .where('cve', '=', cve)
      .executeTakeFirst();
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
          v.severity, v.cvss_score, v.epss_probability, v.cisa_known_exploit, v.kev_date_added
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
      }
    >`
      select 0 as id, hv.host_id, hv.software_id, hv.cve, hv.package, hv.installed_version,
        hv.fixed_version, hv.source, hv.advisory, hv.first_detected_at, null as resolved_at,
        v.severity, v.cvss_score, v.epss_probability, v.cisa_known_exploit, v.kev_date_added
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
    }));
  }
}
