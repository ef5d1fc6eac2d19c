import { invalid, notFound, type Actor } from '@flotilla/core';
import { VULN_ORDER_KEYS, type Datastore, type VulnOrderKey } from '@flotilla/db';
import { iso } from '../http/format.js';
import type { SoftwareService } from '../software/software.service.js';
import type { VulnScanJob } from './scan-job.js';

export interface VulnListQuery {
  page?: number | undefined;
  per_page?: number | undefined;
  order_key?: string | undefined;
  order_direction?: 'asc' | 'desc' | undefined;
  team_id?: number | undefined;
  query?: string | undefined;
  exploit?: boolean | undefined;
  severity?: string | undefined;
  min_epss?: number | undefined;
  cve?: string | undefined;
}

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'negligible', 'unknown'];
export const CVE_ID = /^CVE-\d{4}-\d{4,}$/i;
const NVD = 'https://nvd.nist.gov/vuln/detail/';

/** The vulnerabilities API: CVEs on visible hosts, details with hosts and fixes, feed status. */
export class VulnerabilityService {
  constructor(
    private readonly ds: Datastore,
    private readonly software: SoftwareService,
    private readonly job: VulnScanJob,
  ) {}

  private severities(s: string | undefined): string[] | undefined {
    if (s === undefined || s === '') return undefined;
    const list = s.split(',').map((x) => x.trim().toLowerCase());
    const bad = list.filter((x) => !SEVERITIES.includes(x));
    if (bad.length)
      throw invalid(`severity must be a comma-separated list of ${SEVERITIES.join(', ')}`, [
        { name: 'severity', reason: `unknown: ${bad.join(', ')}` },
      ]);
    return list;
  }

  async list(actor: Actor, q: VulnListQuery) {
    const scope = this.software.scope(actor, q.team_id);
    // Fleet spells it `host_count` in its list of order keys, `hosts_count` in the response.
    const key = (
      q.order_key === 'host_count' ? 'hosts_count' : (q.order_key ?? 'hosts_count')
    ) as VulnOrderKey;
    if (!VULN_ORDER_KEYS.includes(key))
      throw invalid(`order_key must be one of ${VULN_ORDER_KEYS.join(', ')}`, [
        { name: 'order_key', reason: 'unsupported' },
      ]);
    if (q.cve !== undefined && !CVE_ID.test(q.cve))
      throw invalid('cve must look like CVE-2024-12345', [{ name: 'cve', reason: 'malformed' }]);
    const page = { page: q.page ?? 0, perPage: q.per_page ?? 20 };
    const now = Date.now();
    const { rows, count, countsUpdatedAt } = await this.ds.vulnerabilities.list(
      scope,
      {
        severity: this.severities(q.severity),
        knownExploited: q.exploit,
        minEpss: q.min_epss,
        cve: q.cve?.toUpperCase(),
        query: q.query,
      },
      page,
      { key, direction: q.order_direction ?? (key === 'cve' ? 'asc' : 'desc') },
    );
    return {
      vulnerabilities: rows.map((r) => ({
        cve: r.cve,
        created_at: iso(r.created_at),
        hosts_count: r.hosts_count,
        // Counted by the scan job after each scan (for this actor's teams here).
        hosts_count_updated_at: iso(r.hosts_count_updated_at),
        details_link: `${NVD}${r.cve}`,
        severity: r.severity,
        cvss_score: r.cvss_score,
        epss_probability: r.epss_probability,
        cisa_known_exploit: r.cisa_known_exploit === 1,
        cve_published: r.cve_published,
        cve_description: r.cve_description,
      })),
      count,
      // Never counted yet: nothing to show, as of now.
      counts_updated_at: iso(countsUpdatedAt ?? now),
      meta: {
        has_next_results: (page.page + 1) * page.perPage < count,
        has_previous_results: page.page > 0,
      },
    };
  }

  /** One CVE: metadata, affected software with the fix, affected hosts, and time to resolve. */
  async detail(actor: Actor, cve: string, teamId: number | undefined) {
    if (!CVE_ID.test(cve))
      throw invalid('cve must look like CVE-2024-12345', [{ name: 'cve', reason: 'malformed' }]);
    const id = cve.toUpperCase();
    const scope = this.software.scope(actor, teamId);
    const meta = await this.ds.vulnerabilities.meta(id);
    const findings = await this.ds.vulnerabilities.findingsForCve(scope, id);
    if (!meta || findings.length === 0) throw notFound('vulnerability', 'VULNERABILITY_NOT_FOUND');
    const open = findings.filter((f) => f.resolved_at === null);
    const resolved = findings.filter((f) => f.resolved_at !== null);
    const software = new Map<
      string,
      {
        id: number | null;
        name: string;
        version: string;
        source: string;
        hosts: Set<number>;
        resolved_in_version: string | null;
      }
    >();
    const sources = new Map<number, string>();
    const ids = [...new Set(open.map((f) => f.software_id).filter((x): x is number => x !== null))];
    for (const sid of ids) {
      const s = await this.ds.software.version(sid);
      if (s) sources.set(sid, s.source);
    }
    for (const f of open) {
      const k = `${f.software_id ?? f.package}\u0000${f.installed_version}\u0000${f.fixed_version ?? ''}`;
      let s = software.get(k);
      if (!s) {
        s = {
          id: f.software_id,
          name: f.package,
          version: f.installed_version,
          source: (f.software_id !== null ? sources.get(f.software_id) : undefined) ?? '',
          hosts: new Set(),
          resolved_in_version: f.fixed_version,
        };
        software.set(k, s);
      }
      s.hosts.add(f.host_id);
    }
    const osVersions = new Map<string, Set<number>>();
    for (const f of open) {
      const set = osVersions.get(f.os_version) ?? new Set<number>();
      set.add(f.host_id);
      osVersions.set(f.os_version, set);
    }
    const times = resolved.map((f) => (f.resolved_at ?? 0) - f.first_detected_at);
    return {
      vulnerability: {
        cve: id,
        created_at: iso(meta.created_at),
        hosts_count: new Set(open.map((f) => f.host_id)).size,
        hosts_count_updated_at: iso(Date.now()),
        details_link: `${NVD}${id}`,
        severity: meta.severity,
        cvss_score: meta.cvss_score,
        epss_probability: meta.epss_probability,
        cisa_known_exploit: meta.cisa_known_exploit === 1,
        kev_date_added: meta.kev_date_added,
        cve_published: meta.cve_published,
        cve_description: meta.cve_description,
        resolved_hosts_count: new Set(resolved.map((f) => f.host_id)).size,
        mean_time_to_resolve_seconds: times.length
          ? Math.round(times.reduce((a, b) => a + b, 0) / times.length / 1000)
          : null,
      },
      os_versions: [...osVersions].map(([name, hosts]) => ({ name, hosts_count: hosts.size })),
      software: [...software.values()].map((s) => ({
        id: s.id,
        name: s.name,
        version: s.version,
        source: s.source,
        hosts_count: s.hosts.size,
        resolved_in_version: s.resolved_in_version,
      })),
      hosts: open.map((f) => ({
        id: f.host_id,
        hostname: f.hostname,
        display_name: f.display_name || f.hostname,
        team_id: f.team_id,
        os_version: f.os_version,
        software_id: f.software_id,
        package: f.package,
        installed_version: f.installed_version,
        resolved_in_version: f.fixed_version,
        source: f.source,
        advisory: f.advisory,
        first_detected_at: iso(f.first_detected_at),
      })),
    };
  }

  /** Feed freshness and the last scan, for operators. */
  status() {
    const s = this.job.feeds.status;
    const last = this.job.last;
    return {
      feeds: {
        dir: s.dir,
        loaded_at: s.loaded_at === null ? null : iso(s.loaded_at),
        version: s.version,
        files: s.files.map((f) => ({ ...f, modified_at: iso(f.modified_at) })),
        errors: s.errors,
      },
      last_scan: last
        ? {
            started_at: iso(last.started_at),
            finished_at: iso(last.finished_at),
            hosts: last.hosts,
            findings: last.findings,
            new_findings: last.shared + last.inserted,
            resolved_findings: last.resolved,
            reopened_findings: last.reopened,
            error: last.error ?? null,
          }
        : null,
    };
  }
}
