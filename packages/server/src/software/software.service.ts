import { forbidden, invalid, notFound, readableTeams, type Actor } from '@flotilla/core';
import type { CveMeta, Datastore, SoftwareRow, TeamScope } from '@flotilla/db';
import { compareVersions, type VersionScheme } from '@flotilla/vuln';
import { setImmediate } from 'node:timers/promises';
import { iso } from '../http/format.js';

export interface SoftwareListQuery {
  page?: number | undefined;
  per_page?: number | undefined;
  order_key?: string | undefined;
  order_direction?: 'asc' | 'desc' | undefined;
  query?: string | undefined;
  team_id?: number | undefined;
  vulnerable?: boolean | undefined;
}

/** Version ordering per software source, for "upgrade to" (the newest fix wins). */
export function schemeFor(source: string): VersionScheme {
  switch (source) {
    case 'deb_packages':
      return 'dpkg';
    case 'rpm_packages':
      return 'rpm';
    case 'python_packages':
      return 'pep440';
    case 'npm_packages':
      return 'semver';
    default:
      return 'generic';
  }
}

const NVD = 'https://nvd.nist.gov/vuln/detail/';

/** Fleet's shape of a vulnerability attached to a software version. */
export function cveRef(cve: string, fixed: string | null, meta?: CveMeta) {
  return {
    cve,
    details_link: `${NVD}${cve}`,
    cvss_score: meta?.cvss_score ?? null,
    epss_probability: meta?.epss_probability ?? null,
    cisa_known_exploit: (meta?.cisa_known_exploit ?? 0) === 1,
    cve_published: meta?.cve_published ?? null,
    cve_description: meta?.cve_description ?? null,
    resolved_in_version: fixed,
  };
}

/** Reads of the software inventory, scoped to the teams the actor may see. */
export class SoftwareService {
  constructor(
    private readonly ds: Datastore,
    private readonly flush: () => Promise<void>,
  ) {}

  scope(actor: Actor, teamId: number | undefined): TeamScope {
    const visible = readableTeams(actor, 'software');
    if (teamId !== undefined && teamId !== 0 && visible !== 'all' && !visible.includes(teamId))
      throw forbidden();
    if (teamId === 0 && visible !== 'all') throw forbidden();
    return { visibleTeams: visible, ...(teamId !== undefined ? { teamId } : {}) };
  }

  private page(q: SoftwareListQuery) {
    return { page: q.page ?? 0, perPage: q.per_page ?? 20 };
  }

  private order<K extends string>(q: SoftwareListQuery, keys: readonly K[], def: K): K {
    const key = (q.order_key ?? def) as K;
    if (!keys.includes(key))
      throw invalid(`order_key must be one of ${keys.join(', ')}`, [
        { name: 'order_key', reason: 'unsupported' },
      ]);
    return key;
  }

  private version(
    r: SoftwareRow & { hosts_count?: number },
    cves: Array<{ cve: string; fixed_version: string | null }>,
    meta: ReadonlyMap<string, CveMeta>,
  ) {
    return {
      id: r.id,
      name: r.name,
      version: r.version,
      source: r.source,
      browser: r.browser,
      bundle_identifier: r.bundle_identifier || null,
      extension_id: r.extension_id || null,
      release: r.release,
      vendor: r.vendor,
      arch: r.arch,
      title_id: r.title_id,
      generated_cpe: '',
      hosts_count: r.hosts_count ?? 0,
      vulnerabilities: cves.map((c) => cveRef(c.cve, c.fixed_version, meta.get(c.cve))),
    };
  }

  async listVersions(actor: Actor, q: SoftwareListQuery) {
    await this.flush();
    const scope = this.scope(actor, q.team_id);
    const page = this.page(q);
    const key = this.order(q, ['hosts_count', 'name', 'version', 'id'] as const, 'hosts_count');
    const { rows, count, countsUpdatedAt } = await this.ds.software.listVersions(
      scope,
      { query: q.query, vulnerable: q.vulnerable === true },
      page,
      { key, direction: q.order_direction ?? (key === 'hosts_count' ? 'desc' : 'asc') },
    );
    const cves = await this.ds.software.cvesFor(
      scope,
      rows.map((r) => r.id),
    );
    const meta = await this.ds.vulnerabilities.metaOf([...cves.values()].flat().map((c) => c.cve));
    return {
      // Host counts are as of the scan job's last count pass (null: never counted), as in Fleet.
      counts_updated_at: countsUpdatedAt === null ? null : iso(countsUpdatedAt),
      count,
      software: rows.map((r) => this.version(r, cves.get(r.id) ?? [], meta)),
      meta: {
        has_next_results: (page.page + 1) * page.perPage < count,
        has_previous_results: page.page > 0,
      },
    };
  }

  async getVersion(actor: Actor, id: number, teamId: number | undefined) {
    await this.flush();
    const scope = this.scope(actor, teamId);
    const { rows } = await this.ds.software.listVersions(scope, { ids: [id] }, null, {
      key: 'id',
      direction: 'asc',
    });
    const row = rows[0];
    if (!row) throw notFound('software version', 'SOFTWARE_NOT_FOUND');
    const cves = await this.ds.software.cvesFor(scope, [id]);
    const list = cves.get(id) ?? [];
    const meta = await this.ds.vulnerabilities.metaOf(list.map((c) => c.cve));
    return { software: this.version(row, list, meta) };
  }

  async listTitles(actor: Actor, q: SoftwareListQuery) {
    await this.flush();
    const scope = this.scope(actor, q.team_id);
    const page = this.page(q);
    const key = this.order(q, ['hosts_count', 'name', 'id'] as const, 'hosts_count');
    const { rows, count, countsUpdatedAt } = await this.ds.software.listTitles(
      scope,
      { query: q.query, vulnerable: q.vulnerable === true },
      page,
      { key, direction: q.order_direction ?? (key === 'hosts_count' ? 'desc' : 'asc') },
    );
    const titles = await this.withVersions(scope, rows);
    return {
      counts_updated_at: countsUpdatedAt === null ? null : iso(countsUpdatedAt),
      count,
      software_titles: titles,
      meta: {
        has_next_results: (page.page + 1) * page.perPage < count,
        has_previous_results: page.page > 0,
      },
    };
  }

  /** Titles with their versions in the scope (one query for every title of the page). */
  private async withVersions(
    scope: TeamScope,
    rows: Array<{
      id: number;
      name: string;
      source: string;
      browser: string;
      bundle_identifier: string;
      hosts_count: number;
      versions_count: number;
    }>,
  ) {
    const { rows: versions } = await this.ds.software.listVersions(
      scope,
      { titleIds: rows.map((t) => t.id) },
      null,
      { key: 'version', direction: 'asc' },
    );
    const cves = await this.ds.software.cvesFor(
      scope,
      versions.map((v) => v.id),
    );
    const byTitle = new Map<number, typeof versions>();
    for (const v of versions) {
      const list = byTitle.get(v.title_id);
      if (list) list.push(v);
      else byTitle.set(v.title_id, [v]);
    }
    return rows.map((t) => ({
      id: t.id,
      name: t.name,
      source: t.source,
      browser: t.browser,
      bundle_identifier: t.bundle_identifier || null,
      hosts_count: t.hosts_count,
      versions_count: t.versions_count,
      versions: (byTitle.get(t.id) ?? []).map((v) => ({
        id: v.id,
        version: v.version,
        hosts_count: v.hosts_count,
        vulnerabilities: (cves.get(v.id) ?? []).map((c) => c.cve),
      })),
    }));
  }

  async getTitle(actor: Actor, id: number, teamId: number | undefined) {
    await this.flush();
    const scope = this.scope(actor, teamId);
    const { rows, countsUpdatedAt } = await this.ds.software.listTitles(
      scope,
      { ids: [id] },
      null,
      { key: 'id', direction: 'asc' },
    );
    if (!rows[0]) throw notFound('software title', 'SOFTWARE_TITLE_NOT_FOUND');
    const [title] = await this.withVersions(scope, rows);
    return {
      software_title: {
        ...title!,
        counts_updated_at: countsUpdatedAt === null ? null : iso(countsUpdatedAt),
      },
    };
  }

  /** Hosts that have a version (or any version of a title), for "hosts by software version". */
  async hostIds(actor: Actor, by: { softwareId?: number; titleId?: number }, teamId?: number) {
    await this.flush();
    const scope = this.scope(actor, teamId);
    const out: number[] = [];
    let after: number | null = 0;
    while (after !== null) {
      // A page of hosts at a time (a few ms of synchronous SQLite each), check-ins in between.
      const page: { hostIds: number[]; next: number | null } = await this.ds.software.hostIdsWith(
        scope,
        by,
        after,
        2000,
      );
      out.push(...page.hostIds);
      after = page.next;
      if (after !== null) await setImmediate();
    }
    return out;
  }

  /** A host's software, grouped by title as Fleet shows it, with its open CVEs. */
  async forHost(hostId: number, q: SoftwareListQuery) {
    await this.flush();
    const rows = await this.ds.software.forHost(hostId);
    const seenAt = await this.ds.software.lastSeen(hostId);
    const vulns = await this.ds.vulnerabilities.forHost(hostId, false);
    const cvesBySoftware = new Map<number, string[]>();
    for (const v of vulns) {
      if (v.software_id === null) continue;
      const list = cvesBySoftware.get(v.software_id) ?? [];
      if (!list.includes(v.cve)) list.push(v.cve);
      cvesBySoftware.set(v.software_id, list);
    }
    let items = rows;
    if (q.query) {
      const needle = q.query.toLowerCase();
      items = items.filter((r) => r.name.toLowerCase().includes(needle));
    }
    if (q.vulnerable) items = items.filter((r) => cvesBySoftware.has(r.id));
    const byTitle = new Map<number, typeof rows>();
    for (const r of items) {
      const list = byTitle.get(r.title_id) ?? [];
      list.push(r);
      byTitle.set(r.title_id, list);
    }
    const all = [...byTitle.values()].map((list) => {
      const first = list[0]!;
      return {
        id: first.title_id,
        name: first.name,
        source: first.source,
        browser: first.browser,
        bundle_identifier: first.bundle_identifier || null,
        installed_versions: list.map((r) => ({
          id: r.id,
          version: r.version,
          release: r.release,
          arch: r.arch,
          first_seen_at: iso(r.first_seen_at),
          last_seen_at: seenAt === null ? null : iso(seenAt),
          vulnerabilities: cvesBySoftware.get(r.id) ?? [],
        })),
      };
    });
    const page = this.page(q);
    const start = page.page * page.perPage;
    return {
      count: all.length,
      software: all.slice(start, start + page.perPage),
      meta: {
        has_next_results: start + page.perPage < all.length,
        has_previous_results: page.page > 0,
      },
    };
  }

  /** A host's open (and optionally resolved) vulnerabilities, and what to upgrade each package to. */
  async hostVulnerabilities(hostId: number, includeResolved: boolean) {
    const rows = await this.ds.vulnerabilities.forHost(hostId, includeResolved);
    const software = new Map((await this.ds.software.forHost(hostId)).map((s) => [s.id, s]));
    const upgrades = new Map<
      string,
      {
        package: string;
        installed_version: string;
        source: string;
        to: string | null;
        cves: string[];
        unfixed: string[];
      }
    >();
    for (const r of rows) {
      if (r.resolved_at !== null) continue;
      const source =
        (r.software_id !== null ? software.get(r.software_id)?.source : undefined) ?? '';
      const k = `${r.package}\u0000${r.installed_version}`;
      let u = upgrades.get(k);
      if (!u) {
        u = {
          package: r.package,
          installed_version: r.installed_version,
          source,
          to: null,
          cves: [],
          unfixed: [],
        };
        upgrades.set(k, u);
      }
      u.cves.push(r.cve);
      if (r.fixed_version === null) u.unfixed.push(r.cve);
      // Upgrading to the newest fix clears every fixed CVE in the package.
      else if (u.to === null || compareVersions(schemeFor(source), r.fixed_version, u.to) > 0)
        u.to = r.fixed_version;
    }
    return {
      vulnerabilities: rows.map((r) => ({
        cve: r.cve,
        details_link: `${NVD}${r.cve}`,
        severity: r.severity,
        cvss_score: r.cvss_score,
        epss_probability: r.epss_probability,
        cisa_known_exploit: r.cisa_known_exploit === 1,
        cve_published: r.cve_published,
        cve_description: r.cve_description,
        software_id: r.software_id,
        package: r.package,
        installed_version: r.installed_version,
        resolved_in_version: r.fixed_version,
        source: r.source,
        advisory: r.advisory,
        first_detected_at: iso(r.first_detected_at),
        resolved_at: r.resolved_at === null ? null : iso(r.resolved_at),
      })),
      upgrades: [...upgrades.values()].map((u) => ({
        package: u.package,
        installed_version: u.installed_version,
        source: u.source,
        upgrade_to: u.to,
        cves: u.cves,
        unfixed_cves: u.unfixed,
      })),
    };
  }
}
