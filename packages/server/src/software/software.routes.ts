import Type from 'typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { notFound } from '@flotilla/core';
import { HostUpgrade, HostVulnerability, IdParams, Meta, PageQuery } from '@flotilla/api';
import type { AppContext } from '../context.js';
import type { SoftwareListQuery, SoftwareService } from './software.service.js';
import type {
  VulnerabilityService,
  VulnListQuery,
} from '../vulnerabilities/vulnerabilities.service.js';

/** The object a list or detail read is checked against: a team when one is asked for (0 = no team). */
const scoped = (type: 'software' | 'vulnerability', teamId: number | undefined) =>
  teamId ? { type, teamId } : { type };

const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);

const ListQuery = Type.Object({
  ...PageQuery,
  order_key: Type.Optional(Type.String({ maxLength: 64 })),
  query: Type.Optional(Type.String({ maxLength: 255 })),
  team_id: Type.Optional(Type.Integer({ minimum: 0 })),
  vulnerable: Type.Optional(Type.Boolean()),
});

const TeamQuery = Type.Object({ team_id: Type.Optional(Type.Integer({ minimum: 0 })) });

const CveRef = Type.Object({
  cve: Type.String(),
  details_link: Type.String(),
  cvss_score: Nullable(Type.Number()),
  epss_probability: Nullable(Type.Number()),
  cisa_known_exploit: Type.Boolean(),
  cve_published: Nullable(Type.String()),
  cve_description: Nullable(Type.String()),
  resolved_in_version: Nullable(Type.String()),
});

const SoftwareVersion = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  version: Type.String(),
  source: Type.String(),
  browser: Type.String(),
  bundle_identifier: Nullable(Type.String()),
  extension_id: Nullable(Type.String()),
  release: Type.String(),
  vendor: Type.String(),
  arch: Type.String(),
  title_id: Type.Integer(),
  generated_cpe: Type.String(),
  hosts_count: Type.Integer(),
  vulnerabilities: Type.Array(CveRef),
});

const SoftwareTitle = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  source: Type.String(),
  browser: Type.String(),
  bundle_identifier: Nullable(Type.String()),
  hosts_count: Type.Integer(),
  versions_count: Type.Integer(),
  versions: Type.Array(
    Type.Object({
      id: Type.Integer(),
      version: Type.String(),
      hosts_count: Type.Integer(),
      vulnerabilities: Type.Array(Type.String()),
    }),
  ),
});

const HostSoftware = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  source: Type.String(),
  browser: Type.String(),
  bundle_identifier: Nullable(Type.String()),
  installed_versions: Type.Array(
    Type.Object({
      id: Type.Integer(),
      version: Type.String(),
      release: Type.String(),
      arch: Type.String(),
      first_seen_at: Type.String(),
      last_seen_at: Nullable(Type.String()),
      vulnerabilities: Type.Array(Type.String()),
    }),
  ),
});

const VulnListQuerySchema = Type.Object({
  ...PageQuery,
  order_key: Type.Optional(Type.String({ maxLength: 64 })),
  query: Type.Optional(Type.String({ maxLength: 64 })),
  team_id: Type.Optional(Type.Integer({ minimum: 0 })),
  exploit: Type.Optional(Type.Boolean()),
  severity: Type.Optional(Type.String({ maxLength: 128 })),
  min_epss: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  cve: Type.Optional(Type.String({ maxLength: 32 })),
});

const VulnSummary = Type.Object({
  cve: Type.String(),
  created_at: Type.String(),
  hosts_count: Type.Integer(),
  hosts_count_updated_at: Type.String(),
  details_link: Type.String(),
  severity: Type.String(),
  cvss_score: Nullable(Type.Number()),
  epss_probability: Nullable(Type.Number()),
  cisa_known_exploit: Type.Boolean(),
  cve_published: Nullable(Type.String()),
  cve_description: Nullable(Type.String()),
});

const VulnDetail = Type.Object({
  vulnerability: Type.Object({
    ...VulnSummary.properties,
    kev_date_added: Nullable(Type.String()),
    resolved_hosts_count: Type.Integer(),
    mean_time_to_resolve_seconds: Nullable(Type.Integer()),
  }),
  os_versions: Type.Array(Type.Object({ name: Type.String(), hosts_count: Type.Integer() })),
  software: Type.Array(
    Type.Object({
      id: Nullable(Type.Integer()),
      name: Type.String(),
      version: Type.String(),
      source: Type.String(),
      hosts_count: Type.Integer(),
      resolved_in_version: Nullable(Type.String()),
    }),
  ),
  hosts: Type.Array(
    Type.Object({
      id: Type.Integer(),
      hostname: Type.String(),
      display_name: Type.String(),
      team_id: Nullable(Type.Integer()),
      os_version: Type.String(),
      software_id: Nullable(Type.Integer()),
      package: Type.String(),
      installed_version: Type.String(),
      resolved_in_version: Nullable(Type.String()),
      source: Type.String(),
      advisory: Type.String(),
      first_detected_at: Type.String(),
    }),
  ),
});

const FeedStatus = Type.Object({
  feeds: Type.Object({
    dir: Type.String(),
    loaded_at: Nullable(Type.String()),
    version: Type.String(),
    files: Type.Array(
      Type.Object({
        file: Type.String(),
        kind: Type.String(),
        using: Type.String(),
        size: Type.Integer(),
        modified_at: Type.String(),
      }),
    ),
    errors: Type.Array(
      Type.Object({
        file: Type.String(),
        reason: Type.String(),
        message: Type.String(),
        kept_previous: Type.Boolean(),
      }),
    ),
  }),
  last_scan: Nullable(
    Type.Object({
      started_at: Type.String(),
      finished_at: Type.String(),
      hosts: Type.Integer(),
      findings: Type.Integer(),
      new_findings: Type.Integer(),
      resolved_findings: Type.Integer(),
      reopened_findings: Type.Integer(),
      error: Nullable(Type.String()),
    }),
  ),
});

/** Software inventory and vulnerabilities: Fleet's paths and shapes, plus feed status. */
export function registerSoftwareRoutes(
  app: FastifyInstance,
  ctx: AppContext,
  software: SoftwareService,
  vulns: VulnerabilityService,
  hide: boolean,
): void {
  const tags = ['software'];
  const list = (req: { query: unknown }) => req.query as SoftwareListQuery;

  app.get(
    '/software/titles',
    {
      schema: {
        hide,
        tags,
        summary:
          'Software titles on visible hosts, with versions and host counts (as of counts_updated_at)',
        querystring: ListQuery,
        response: {
          200: Type.Object({
            counts_updated_at: Nullable(Type.String()),
            count: Type.Integer(),
            software_titles: Type.Array(SoftwareTitle),
            meta: Meta,
          }),
        },
      },
    },
    async (req) => {
      const q = list(req);
      const actor = req.authorize('read', scoped('software', q.team_id));
      return software.listTitles(actor, q);
    },
  );

  app.get(
    '/software/titles/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'One software title with its versions',
        params: IdParams,
        querystring: TeamQuery,
        response: {
          200: Type.Object({
            software_title: Type.Object({
              ...SoftwareTitle.properties,
              counts_updated_at: Nullable(Type.String()),
            }),
          }),
        },
      },
    },
    async (req) => {
      const { team_id } = req.query as { team_id?: number };
      const actor = req.authorize('read', scoped('software', team_id));
      return software.getTitle(actor, (req.params as { id: number }).id, team_id);
    },
  );

  app.get(
    '/software/versions',
    {
      schema: {
        hide,
        tags,
        summary:
          'Software versions on visible hosts, with vulnerabilities and host counts (as of counts_updated_at)',
        querystring: ListQuery,
        response: {
          200: Type.Object({
            counts_updated_at: Nullable(Type.String()),
            count: Type.Integer(),
            software: Type.Array(SoftwareVersion),
            meta: Meta,
          }),
        },
      },
    },
    async (req) => {
      const q = list(req);
      const actor = req.authorize('read', scoped('software', q.team_id));
      return software.listVersions(actor, q);
    },
  );

  app.get(
    '/software/versions/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'One software version with its vulnerabilities',
        params: IdParams,
        querystring: TeamQuery,
        response: { 200: Type.Object({ software: SoftwareVersion }) },
      },
    },
    async (req) => {
      const { team_id } = req.query as { team_id?: number };
      const actor = req.authorize('read', scoped('software', team_id));
      return software.getVersion(actor, (req.params as { id: number }).id, team_id);
    },
  );

  app.get(
    '/software/versions/:id/hosts',
    {
      schema: {
        hide,
        tags,
        summary: 'Ids of visible hosts with this software version',
        params: IdParams,
        querystring: TeamQuery,
        response: { 200: Type.Object({ host_ids: Type.Array(Type.Integer()) }) },
      },
    },
    async (req) => {
      const { team_id } = req.query as { team_id?: number };
      const actor = req.authorize('read', scoped('software', team_id));
      const id = (req.params as { id: number }).id;
      return { host_ids: await software.hostIds(actor, { softwareId: id }, team_id) };
    },
  );

  const hostFor = async (req: FastifyRequest) => {
    const host = await ctx.ds.hosts.get((req.params as { id: number }).id);
    if (!host) {
      req.authorize('read', { type: 'software' });
      throw notFound('host', 'HOST_NOT_FOUND');
    }
    req.authorize('read', { type: 'software', teamId: host.team_id });
    return host;
  };

  app.get(
    '/hosts/:id/software',
    {
      schema: {
        hide,
        tags,
        summary: "A host's software, grouped by title, with open vulnerabilities",
        params: IdParams,
        querystring: ListQuery,
        response: {
          200: Type.Object({
            count: Type.Integer(),
            software: Type.Array(HostSoftware),
            meta: Meta,
          }),
        },
      },
    },
    async (req) => {
      const host = await hostFor(req);
      return software.forHost(host.id, list(req));
    },
  );

  app.get(
    '/hosts/:id/vulnerabilities',
    {
      schema: {
        hide,
        tags: ['vulnerabilities'],
        summary: "A host's vulnerabilities and the version each package should be upgraded to",
        params: IdParams,
        querystring: Type.Object({ include_resolved: Type.Optional(Type.Boolean()) }),
        response: {
          200: Type.Object({
            vulnerabilities: Type.Array(HostVulnerability),
            upgrades: Type.Array(HostUpgrade),
          }),
        },
      },
    },
    async (req) => {
      const host = await hostFor(req);
      const q = req.query as { include_resolved?: boolean };
      return software.hostVulnerabilities(host.id, q.include_resolved === true);
    },
  );

  app.get(
    '/vulnerabilities',
    {
      schema: {
        hide,
        tags: ['vulnerabilities'],
        summary: 'CVEs open on visible hosts, with host counts and filters',
        querystring: VulnListQuerySchema,
        response: {
          200: Type.Object({
            vulnerabilities: Type.Array(VulnSummary),
            count: Type.Integer(),
            counts_updated_at: Type.String(),
            meta: Meta,
          }),
        },
      },
    },
    async (req) => {
      const q = req.query as VulnListQuery;
      const actor = req.authorize('read', scoped('vulnerability', q.team_id));
      return vulns.list(actor, q);
    },
  );

  app.get(
    '/vulnerabilities/feeds',
    {
      schema: {
        hide,
        tags: ['vulnerabilities'],
        summary: 'Feed files in use, refused files, and the last scan',
        response: { 200: FeedStatus },
      },
    },
    async (req) => {
      req.authorize('read', { type: 'vulnerability' });
      return vulns.status();
    },
  );

  app.get(
    '/vulnerabilities/:cve',
    {
      schema: {
        hide,
        tags: ['vulnerabilities'],
        summary: 'One CVE: details, affected software with the fixing version, affected hosts',
        params: Type.Object({ cve: Type.String({ maxLength: 32 }) }),
        querystring: TeamQuery,
        response: { 200: VulnDetail },
      },
    },
    async (req) => {
      const { team_id } = req.query as { team_id?: number };
      const actor = req.authorize('read', scoped('vulnerability', team_id));
      return vulns.detail(actor, (req.params as { cve: string }).cve, team_id);
    },
  );
}
