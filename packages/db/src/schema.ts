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
  host_users: HostUsersTable;
  activities: ActivitiesTable;
  carves: CarvesTable;
  carve_blocks: CarveBlocksTable;
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
  seen_time: number;
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

export type HostRow = Selectable<HostsTable>;
export type NewHost = Insertable<HostsTable>;
export type HostUpdate = Updateable<HostsTable>;
export type UserRow = Selectable<UsersTable>;
export type TeamRow = Selectable<TeamsTable>;
export type ActivityRow = Selectable<ActivitiesTable>;
export type CarveRow = Selectable<CarvesTable>;
export type EnrollSecretRow = Selectable<EnrollSecretsTable>;
