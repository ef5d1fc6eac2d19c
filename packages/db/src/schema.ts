import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Every table, as Kysely sees it. Times are epoch milliseconds (bigint) so that status
 * arithmetic works the same on SQLite and PostgreSQL; booleans are 0/1 integers.
 */
export interface Database {
  app_config: AppConfigTable;
  users: UsersTable;
  user_teams: UserTeamsTable;
  sessions: SessionsTable;
  teams: TeamsTable;
  enroll_secrets: EnrollSecretsTable;
  hosts: HostsTable;
  host_seen_times: HostSeenTimesTable;
  host_users: HostUsersTable;
  activities: ActivitiesTable;
  carves: CarvesTable;
  carve_blocks: CarveBlocksTable;
  queries: QueriesTable;
  labels: LabelsTable;
  label_membership: LabelMembershipTable;
  campaigns: CampaignsTable;
  query_results: QueryResultsTable;
  host_schedule_stats: HostScheduleStatsTable;
  packs: PacksTable;
  pack_targets: PackTargetsTable;
  scheduled_queries: ScheduledQueriesTable;
  event_results: EventResultsTable;
}

export interface QueriesTable {
  id: Generated<number>;
  name: string;
  description: Generated<string>;
  query: string;
  team_id: number | null;
  interval: Generated<number>;
  platform: Generated<string>;
  min_osquery_version: Generated<string>;
  automations_enabled: Generated<number>;
  logging: Generated<string>;
  observer_can_run: Generated<number>;
  discard_data: Generated<number>;
  author_id: number | null;
  created_at: number;
  updated_at: number;
}

export interface LabelsTable {
  id: Generated<number>;
  name: string;
  description: Generated<string>;
  query: Generated<string>;
  platform: Generated<string>;
  label_type: Generated<string>;
  label_membership_type: Generated<string>;
  author_id: number | null;
  created_at: number;
  updated_at: number;
}

export interface LabelMembershipTable {
  label_id: number;
  host_id: number;
  updated_at: number;
}

export interface CampaignsTable {
  id: Generated<number>;
  query_id: number | null;
  query_sql: string;
  user_id: number | null;
  status: string;
  targets_count: number;
  created_at: number;
  updated_at: number;
}

export interface AppConfigTable {
  id: number;
  json: string;
  updated_at: number;
}

export interface UsersTable {
  id: Generated<number>;
  name: string;
  email: string;
  password_hash: string;
  global_role: string | null;
  api_only: number;
  enabled: number;
  force_password_reset: number;
  created_at: number;
  updated_at: number;
}

export interface UserTeamsTable {
  user_id: number;
  team_id: number;
  role: string;
}

export interface SessionsTable {
  id: Generated<number>;
  user_id: number;
  token_hash: string;
  created_at: number;
  accessed_at: number;
}

export interface TeamsTable {
  id: Generated<number>;
  name: string;
  description: string;
  agent_options: string | null;
  created_at: number;
  updated_at: number;
}

export interface EnrollSecretsTable {
  id: Generated<number>;
  secret_hash: string;
  secret_enc: string;
  team_id: number | null;
  created_at: number;
}

export interface HostsTable {
  id: Generated<number>;
  node_key_hash: string;
  osquery_host_id: string;
  team_id: number | null;
  hostname: Generated<string>;
  computer_name: Generated<string>;
  uuid: Generated<string>;
  hardware_serial: Generated<string>;
  hardware_vendor: Generated<string>;
  hardware_model: Generated<string>;
  hardware_version: Generated<string>;
  platform: Generated<string>;
  platform_like: Generated<string>;
  os_name: Generated<string>;
  os_version: Generated<string>;
  build: Generated<string>;
  code_name: Generated<string>;
  kernel_version: Generated<string>;
  osquery_version: Generated<string>;
  cpu_type: Generated<string>;
  cpu_subtype: Generated<string>;
  cpu_brand: Generated<string>;
  cpu_physical_cores: Generated<number>;
  cpu_logical_cores: Generated<number>;
  memory: Generated<number>;
  uptime_s: Generated<number>;
  primary_ip: Generated<string>;
  primary_mac: Generated<string>;
  public_ip: Generated<string>;
  distributed_interval: Generated<number>;
  config_tls_refresh: Generated<number>;
  logger_tls_period: Generated<number>;
  gigs_disk_space_available: Generated<number>;
  percent_disk_space_available: Generated<number>;
  gigs_total_disk_space: Generated<number>;
  disk_encryption_enabled: Generated<number | null>;
  refetch_requested: Generated<number>;
  created_at: number;
  updated_at: number;
  detail_updated_at: Generated<number>;
  label_updated_at: Generated<number>;
  policy_updated_at: Generated<number>;
  last_enrolled_at: number;
}

/** When each host last checked in; apart from `hosts` so the frequent flush stays cheap. */
export interface HostSeenTimesTable {
  host_id: number;
  seen_time: Generated<number>;
}

export interface HostUsersTable {
  host_id: number;
  uid: number;
  username: string;
  type: string;
  groupname: string;
  shell: string;
}

export interface ActivitiesTable {
  id: Generated<number>;
  actor_id: number | null;
  actor_full_name: string | null;
  actor_email: string | null;
  type: string;
  details: string;
  created_at: number;
}

export interface CarvesTable {
  id: Generated<number>;
  host_id: number;
  name: string;
  block_count: number;
  block_size: number;
  carve_size: number;
  carve_id: string;
  request_id: string;
  session_id: string;
  max_block: number;
  error: string | null;
  created_at: number;
}

export interface CarveBlocksTable {
  carve_id: number;
  block_id: number;
  data: Uint8Array;
}

/** A host as read, with its last-seen time joined in. */
export type HostRow = Selectable<HostsTable> & { seen_time: number };
export type NewHost = Insertable<HostsTable>;
export type HostUpdate = Updateable<HostsTable>;
export type UserRow = Selectable<UsersTable>;
export type TeamRow = Selectable<TeamsTable>;
export type ActivityRow = Selectable<ActivitiesTable>;
export type CarveRow = Selectable<CarvesTable>;
export type EnrollSecretRow = Selectable<EnrollSecretsTable>;
export type QueryRow = Selectable<QueriesTable>;
export type LabelRow = Selectable<LabelsTable>;
export type CampaignRow = Selectable<CampaignsTable>;

// ---- policies (merged into Database above by declaration merging) -------------------------

export interface Database {
  policies: PoliciesTable;
  policy_labels: PolicyLabelsTable;
  policy_membership: PolicyMembershipTable;
  policy_host_status: PolicyHostStatusTable;
  policy_history: PolicyHistoryTable;
  policy_automations: PolicyAutomationsTable;
  policy_automation_queue: PolicyAutomationQueueTable;
}

export interface PoliciesTable {
  id: Generated<number>;
  name: string;
  query: string;
  description: Generated<string>;
  resolution: Generated<string>;
  platform: Generated<string>;
  critical: Generated<number>;
  team_id: number | null;
  author_id: number | null;
  passing_host_count: Generated<number>;
  failing_host_count: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface PolicyLabelsTable {
  policy_id: number;
  label_id: number;
  exclude: number;
}

export interface PolicyMembershipTable {
  policy_id: number;
  host_id: number;
  /** 1 pass, 0 fail, null did not run. */
  passes: number | null;
  /** Latest pass (1) or fail (0), unaffected by errors. */
  last_known: number | null;
  updated_at: number;
}

export interface PolicyHostStatusTable {
  host_id: number;
  failing_count: number;
  failing_critical_count: number;
  updated_at: number;
}

export interface PolicyHistoryTable {
  id: Generated<number>;
  policy_id: number;
  policy_name: string;
  team_id: number | null;
  host_id: number;
  host_team_id: number | null;
  hostname: string;
  passes: number;
  at: number;
}

export interface PolicyAutomationsTable {
  team_id: number;
  settings: string;
  updated_at: number;
}

/** A delivery an automation owes for a host that started failing a policy (migration 0011). */
export interface PolicyAutomationQueueTable {
  id: Generated<number>;
  automation: string;
  policy_id: number;
  host_id: number;
  hostname: Generated<string>;
  failed_at: number;
  attempts: Generated<number>;
  /** Due time, or the lease of the process sending it. */
  next_at: number;
  last_error: string | null;
}

export type PolicyRow = Selectable<PoliciesTable>;
export type PolicyHistoryRow = Selectable<PolicyHistoryTable>;

export interface QueryResultsTable {
  id: Generated<number>;
  query_id: number;
  host_id: number;
  data: string;
  last_fetched: number;
}

export interface HostScheduleStatsTable {
  host_id: number;
  name: string;
  query_id: number | null;
  interval: Generated<number>;
  executions: Generated<number>;
  last_executed: Generated<number>;
  wall_time_ms: Generated<number>;
  user_time: Generated<number>;
  system_time: Generated<number>;
  average_memory: Generated<number>;
  output_size: Generated<number>;
  denylisted: Generated<number>;
  last_error: string | null;
  last_error_at: Generated<number>;
  updated_at: number;
}

// ---- software inventory and vulnerabilities (migration 0004) ----------------------------

export interface Database {
  software_titles: SoftwareTitlesTable;
  software: SoftwareTable;
  host_software: HostSoftwareTable;
  host_software_state: HostSoftwareStateTable;
  vulnerabilities: VulnerabilitiesTable;
  host_vulnerabilities: HostVulnerabilitiesTable;
  vulnerability_host_counts: VulnerabilityHostCountsTable;
  software_host_counts: SoftwareHostCountsTable;
  software_title_host_counts: SoftwareTitleHostCountsTable;
}

export interface SoftwareTitlesTable {
  id: Generated<number>;
  checksum: string;
  name: string;
  source: string;
  browser: Generated<string>;
  bundle_identifier: Generated<string>;
  created_at: number;
}

/** One distinct software version; hosts link to it through host_software. */
export interface SoftwareTable {
  id: Generated<number>;
  checksum: string;
  title_id: number;
  name: string;
  version: string;
  /** osquery table it came from: deb_packages, rpm_packages, apps, programs… */
  source: string;
  release: Generated<string>;
  arch: Generated<string>;
  vendor: Generated<string>;
  bundle_identifier: Generated<string>;
  extension_id: Generated<string>;
  browser: Generated<string>;
  /** Source package (deb) or source rpm. */
  package_source: Generated<string>;
  created_at: number;
}

export interface HostSoftwareTable {
  host_id: number;
  software_id: number;
  first_seen_at: number;
}

export interface HostSoftwareStateTable {
  host_id: number;
  checksum: string;
  seen_at: number;
  changed_at: number;
  scanned_checksum: Generated<string>;
  release_key: Generated<string>;
}

export interface VulnerabilitiesTable {
  cve: string;
  severity: Generated<string>;
  cvss_score: number | null;
  epss_probability: number | null;
  cisa_known_exploit: Generated<number>;
  kev_date_added: string | null;
  /** NVD's publication date, ISO 8601 UTC (migration 0010). */
  cve_published: string | null;
  cve_description: string | null;
  hosts_count: Generated<number>;
  hosts_count_updated_at: Generated<number>;
  created_at: number;
  updated_at: number;
}

/** Hosts exposed to a CVE per team (0: no team), as of the last count (migration 0012). */
export interface VulnerabilityHostCountsTable {
  cve: string;
  team_id: number;
  hosts_count: number;
  updated_at: number;
}

/** Hosts per software version and team (-1: every host, 0: no team), from the count pass. */
export interface SoftwareHostCountsTable {
  software_id: number;
  team_id: number;
  hosts_count: number;
  vulnerable_hosts_count: number;
  updated_at: number;
}

/** Hosts per software title and team (-1: every host, 0: no team), from the count pass. */
export interface SoftwareTitleHostCountsTable {
  title_id: number;
  team_id: number;
  hosts_count: number;
  versions_count: number;
  vulnerable_hosts_count: number;
  updated_at: number;
}

export interface HostVulnerabilitiesTable {
  id: Generated<number>;
  host_id: number;
  software_id: number | null;
  cve: string;
  package: string;
  installed_version: string;
  fixed_version: string | null;
  source: string;
  advisory: Generated<string>;
  first_detected_at: number;
  /** Set when a later scan no longer finds it (upgrade, removal); cleared if it comes back. */
  resolved_at: number | null;
  updated_at: number;
}

export interface PacksTable {
  id: Generated<number>;
  name: string;
  description: Generated<string>;
  platform: Generated<string>;
  disabled: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface PackTargetsTable {
  pack_id: number;
  type: string;
  target_id: number;
}

export interface ScheduledQueriesTable {
  id: Generated<number>;
  pack_id: number;
  query_id: number;
  name: string;
  interval: number;
  snapshot: number | null;
  removed: number | null;
  platform: Generated<string>;
  version: Generated<string>;
  shard: number | null;
  denylist: number | null;
  created_at: number;
  updated_at: number;
}

export interface EventResultsTable {
  id: Generated<number>;
  query_id: number;
  host_id: number;
  time: number;
  data: string;
}

// ---- findings per (release, software version) (migration 0008) --------------------------

export interface Database {
  software_cves: SoftwareCvesTable;
  /** A view: shared findings of each host's software plus its own open findings. */
  open_host_vulnerabilities: OpenHostVulnerabilitiesView;
}

export interface SoftwareCvesTable {
  id: Generated<number>;
  /** family:version:codename of the OS release the finding holds for. */
  release_key: string;
  software_id: number;
  cve: string;
  package: string;
  installed_version: string;
  fixed_version: string | null;
  source: string;
  advisory: Generated<string>;
  /** Feed version of the last scan that produced it (older rows are swept after a full scan). */
  feeds_version: string;
  created_at: number;
}

export interface OpenHostVulnerabilitiesView {
  host_id: number;
  software_id: number | null;
  cve: string;
  package: string;
  installed_version: string;
  fixed_version: string | null;
  source: string;
  advisory: string;
  first_detected_at: number;
}
