import Type from 'typebox';

export const HostUser = Type.Object({
  uid: Type.Integer(),
  username: Type.String(),
  type: Type.String(),
  groupname: Type.String(),
  shell: Type.String(),
});

/** A host as Fleet's API shows it (the fields we keep). */
export const Host = Type.Object({
  id: Type.Integer(),
  created_at: Type.String(),
  updated_at: Type.String(),
  detail_updated_at: Type.String(),
  label_updated_at: Type.String(),
  policy_updated_at: Type.String(),
  last_enrolled_at: Type.String(),
  seen_time: Type.String(),
  refetch_requested: Type.Boolean(),
  hostname: Type.String(),
  computer_name: Type.String(),
  display_name: Type.String(),
  display_text: Type.String(),
  uuid: Type.String(),
  osquery_host_id: Type.String(),
  platform: Type.String(),
  platform_like: Type.String(),
  os_version: Type.String(),
  build: Type.String(),
  code_name: Type.String(),
  kernel_version: Type.String(),
  osquery_version: Type.String(),
  uptime: Type.Number(),
  memory: Type.Number(),
  cpu_type: Type.String(),
  cpu_subtype: Type.String(),
  cpu_brand: Type.String(),
  cpu_physical_cores: Type.Integer(),
  cpu_logical_cores: Type.Integer(),
  hardware_vendor: Type.String(),
  hardware_model: Type.String(),
  hardware_version: Type.String(),
  hardware_serial: Type.String(),
  primary_ip: Type.String(),
  primary_mac: Type.String(),
  public_ip: Type.String(),
  distributed_interval: Type.Integer(),
  config_tls_refresh: Type.Integer(),
  logger_tls_period: Type.Integer(),
  gigs_disk_space_available: Type.Number(),
  percent_disk_space_available: Type.Number(),
  gigs_total_disk_space: Type.Number(),
  disk_encryption_enabled: Type.Union([Type.Boolean(), Type.Null()]),
  status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  team_id: Type.Union([Type.Integer(), Type.Null()]),
  team_name: Type.Union([Type.String(), Type.Null()]),
  issues: Type.Object({
    failing_policies_count: Type.Integer(),
    total_issues_count: Type.Integer(),
  }),
});

export const HostLabel = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  description: Type.String(),
  query: Type.String(),
  platform: Type.String(),
  label_type: Type.String(),
  label_membership_type: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
});

/** A policy in host detail, with this host's `response`: "pass", "fail" or "" (did not run). */
export const HostPolicy = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  query: Type.String(),
  description: Type.String(),
  resolution: Type.String(),
  platform: Type.String(),
  critical: Type.Boolean(),
  team_id: Type.Union([Type.Integer(), Type.Null()]),
  author_id: Type.Union([Type.Integer(), Type.Null()]),
  author_name: Type.String(),
  author_email: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
  response: Type.String(),
});

const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** One CVE found on a host: the package, its installed and fixing versions, and the feed. */
export const HostVulnerability = Type.Object({
  cve: Type.String(),
  details_link: Type.String(),
  severity: Type.String(),
  cvss_score: Nullable(Type.Number()),
  epss_probability: Nullable(Type.Number()),
  cisa_known_exploit: Type.Boolean(),
  cve_published: Nullable(Type.String()),
  cve_description: Nullable(Type.String()),
  software_id: Nullable(Type.Integer()),
  package: Type.String(),
  installed_version: Type.String(),
  resolved_in_version: Nullable(Type.String()),
  source: Type.String(),
  advisory: Type.String(),
  first_detected_at: Type.String(),
  resolved_at: Nullable(Type.String()),
});

/** What to upgrade a vulnerable package to: the newest fix among its CVEs. */
export const HostUpgrade = Type.Object({
  package: Type.String(),
  installed_version: Type.String(),
  source: Type.String(),
  upgrade_to: Nullable(Type.String()),
  cves: Type.Array(Type.String()),
  unfixed_cves: Type.Array(Type.String()),
});

export const HostDetail = Type.Intersect([
  Host,
  Type.Object({
    users: Type.Array(HostUser),
    labels: Type.Array(HostLabel),
    policies: Type.Array(HostPolicy),
    vulnerabilities: Type.Optional(Type.Array(HostVulnerability)),
    upgrades: Type.Optional(Type.Array(HostUpgrade)),
  }),
]);

export const HostStatusFilter = Type.Union(
  ['online', 'offline', 'new', 'missing', 'mia'].map((s) => Type.Literal(s)),
);
