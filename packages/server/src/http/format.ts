import { hostStatus } from '@flotilla/core';
import type { HostRow, TeamWithCounts, UserWithTeams } from '@flotilla/db';

/** Epoch ms → RFC 3339 like Fleet's timestamps; 0 (never) → Go's zero time, as Fleet shows it. */
export const iso = (ms: number): string =>
  ms > 0 ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : '0001-01-01T00:00:00Z';

export function hostToApi(
  h: HostRow,
  now: number,
  teamName: string | null = null,
  failingPolicies = 0,
) {
  const display = h.computer_name || h.hostname;
  return {
    id: h.id,
    created_at: iso(h.created_at),
    updated_at: iso(h.updated_at),
    detail_updated_at: iso(h.detail_updated_at),
    label_updated_at: iso(h.label_updated_at),
    policy_updated_at: iso(h.policy_updated_at),
    last_enrolled_at: iso(h.last_enrolled_at),
    seen_time: iso(h.seen_time),
    refetch_requested: h.refetch_requested === 1,
    hostname: h.hostname,
    computer_name: h.computer_name,
    display_name: display,
    display_text: h.hostname,
    uuid: h.uuid,
    osquery_host_id: h.osquery_host_id,
    platform: h.platform,
    platform_like: h.platform_like,
    os_version: h.os_version,
    build: h.build,
    code_name: h.code_name,
    kernel_version: h.kernel_version,
    osquery_version: h.osquery_version,
    // Fleet reports uptime in nanoseconds.
    uptime: h.uptime_s * 1e9,
    memory: h.memory,
    cpu_type: h.cpu_type,
    cpu_subtype: h.cpu_subtype,
    cpu_brand: h.cpu_brand,
    cpu_physical_cores: h.cpu_physical_cores,
    cpu_logical_cores: h.cpu_logical_cores,
    hardware_vendor: h.hardware_vendor,
    hardware_model: h.hardware_model,
    hardware_version: h.hardware_version,
    hardware_serial: h.hardware_serial,
    primary_ip: h.primary_ip,
    primary_mac: h.primary_mac,
    public_ip: h.public_ip,
    distributed_interval: h.distributed_interval,
    config_tls_refresh: h.config_tls_refresh,
    logger_tls_period: h.logger_tls_period,
    gigs_disk_space_available: h.gigs_disk_space_available,
    percent_disk_space_available: h.percent_disk_space_available,
    gigs_total_disk_space: h.gigs_total_disk_space,
    disk_encryption_enabled:
      h.disk_encryption_enabled === null ? null : h.disk_encryption_enabled === 1,
    status: hostStatus(h.seen_time, h.distributed_interval || 10, h.config_tls_refresh || 10, now),
    team_id: h.team_id,
    team_name: teamName,
    issues: { failing_policies_count: failingPolicies, total_issues_count: failingPolicies },
  };
}

export function userToApi(u: UserWithTeams) {
  return {
    id: u.id,
    name: u.name,
    email: u.email,
    global_role: u.global_role,
    api_only: u.api_only === 1,
    enabled: u.enabled === 1,
    force_password_reset: u.force_password_reset === 1,
    gravatar_url: '',
    sso_enabled: false,
    teams: u.teams.map((t) => ({ id: t.team_id, name: t.name, role: t.role })),
    created_at: iso(u.created_at),
    updated_at: iso(u.updated_at),
  };
}

export function teamToApi(t: TeamWithCounts) {
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    agent_options: t.agent_options
      ? (JSON.parse(t.agent_options) as Record<string, unknown>)
      : null,
    user_count: t.user_count,
    host_count: t.host_count,
    created_at: iso(t.created_at),
  };
}
