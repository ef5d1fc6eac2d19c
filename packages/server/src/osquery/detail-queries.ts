import type { HostUpdate, HostUserInput } from '@flotilla/db';
import { platformFamily, type PlatformFamily } from './platforms.js';

/** Prefix osquery sees on the questions that gather host vitals (Fleet's naming). */
export const DETAIL_PREFIX = 'fleet_detail_query_';

type Row = Record<string, string>;

export interface DetailResult {
  set: HostUpdate;
  users?: HostUserInput[];
}

export interface DetailQuery {
  name: string;
  sql: string;
  platforms: readonly PlatformFamily[];
  /** Folds the rows into host columns. Rows are osquery's: every value a string. */
  ingest(rows: Row[], out: DetailResult): void;
}

const UNIX: readonly PlatformFamily[] = ['linux', 'darwin', 'other'];
const ALL: readonly PlatformFamily[] = ['linux', 'darwin', 'windows', 'other'];

const int = (v: string | undefined): number => {
  const n = Number.parseInt(v ?? '', 10);
  return Number.isFinite(n) ? n : 0;
};
const num = (v: string | undefined): number => {
  const n = Number.parseFloat(v ?? '');
  return Number.isFinite(n) ? n : 0;
};
const str = (v: string | undefined, max = 255): string =>
  typeof v === 'string' ? v.slice(0, max) : '';

/** "Ubuntu 22.04.3 LTS", "Red Hat Enterprise Linux 9.3.0", "macOS 14.4.1". */
export function osVersionString(r: Row): string {
  const name = str(r['name']);
  // "22.04.3 LTS (Jammy Jellyfish)" → "22.04.3 LTS", as Fleet shows it.
  const version = str(r['version']).replace(/\s*\([^)]*\)\s*$/, '');
  if (version && (r['platform'] === 'ubuntu' || /^\d/.test(version)))
    return `${name} ${version}`.trim();
  const parts = [r['major'], r['minor'], r['patch']].filter((p) => p !== undefined && p !== '');
  const numeric = parts.length ? parts.join('.') : version;
  return `${name} ${numeric}`.trim();
}

function ingestOs(rows: Row[], out: DetailResult): void {
  const r = rows[0];
  if (!r) return;
  out.set.os_name = str(r['name']);
  out.set.os_version = osVersionString(r);
  if (r['platform']) out.set.platform = str(r['platform'], 64);
  if (r['platform_like'] !== undefined) out.set.platform_like = str(r['platform_like'], 128);
  if (r['build'] !== undefined) out.set.build = str(r['build']);
  if (r['codename'] !== undefined) out.set.code_name = str(r['codename']);
  if (r['kernel_version'] !== undefined) out.set.kernel_version = str(r['kernel_version']);
}

export const DETAIL_QUERIES: readonly DetailQuery[] = [
  {
    name: 'os_unix_like',
    platforms: UNIX,
    sql:
      'SELECT os.name, os.version, os.major, os.minor, os.patch, os.build, os.platform, os.platform_like, os.codename, ' +
      'k.version AS kernel_version FROM os_version os, kernel_info k',
    ingest: ingestOs,
  },
  {
    name: 'os_windows',
    platforms: ['windows'],
    sql:
      'SELECT os.name, os.version, os.major, os.minor, os.patch, os.build, os.platform, os.platform_like, os.codename, ' +
      'k.version AS kernel_version FROM os_version os, kernel_info k',
    ingest: ingestOs,
  },
  {
    name: 'osquery_info',
    platforms: ALL,
    sql: 'SELECT * FROM osquery_info LIMIT 1',
    ingest(rows, out) {
      const r = rows[0];
      if (r?.['version']) out.set.osquery_version = str(r['version'], 64);
    },
  },
  {
    name: 'system_info',
    platforms: ALL,
    sql: 'SELECT * FROM system_info LIMIT 1',
    ingest(rows, out) {
      const r = rows[0];
      if (r) Object.assign(out.set, systemInfoColumns(r));
    },
  },
  {
    name: 'uptime',
    platforms: ALL,
    sql: 'SELECT * FROM uptime LIMIT 1',
    ingest(rows, out) {
      const r = rows[0];
      if (r) out.set.uptime_s = int(r['total_seconds']);
    },
  },
  {
    name: 'network_interface_unix',
    platforms: UNIX,
    // The address on the interface that carries the default route, private addresses first.
    sql:
      'SELECT ia.address, id.mac FROM interface_addresses ia ' +
      'JOIN interface_details id ON id.interface = ia.interface ' +
      'JOIN routes r ON r.interface = ia.interface ' +
      "WHERE (r.destination = '0.0.0.0' OR r.destination = '::') AND r.netmask = 0 AND r.type = 'gateway' " +
      "AND ia.address NOT LIKE 'fe80:%' " +
      "ORDER BY r.metric ASC, (ia.address LIKE '%.%') DESC LIMIT 1",
    ingest(rows, out) {
      const r = rows[0];
      if (!r) return;
      out.set.primary_ip = str(r['address'], 64);
      out.set.primary_mac = str(r['mac'], 64);
    },
  },
  {
    name: 'network_interface_windows',
    platforms: ['windows'],
    sql:
      'SELECT ia.address, id.mac FROM interface_addresses ia ' +
      'JOIN interface_details id ON id.interface = ia.interface ' +
      'JOIN routes r ON r.interface = ia.address ' +
      "WHERE (r.destination = '0.0.0.0' OR r.destination = '::') AND r.netmask = 0 AND r.type = 'remote' " +
      "ORDER BY r.metric ASC, (ia.address LIKE '%.%') DESC LIMIT 1",
    ingest(rows, out) {
      const r = rows[0];
      if (!r) return;
      out.set.primary_ip = str(r['address'], 64);
      out.set.primary_mac = str(r['mac'], 64);
    },
  },
  {
    name: 'disk_space_unix',
    platforms: UNIX,
    sql:
      'SELECT (blocks_available * 100.0 / blocks) AS percent_disk_space_available, ' +
      'round((blocks_available * blocks_size * 10e-10), 2) AS gigs_disk_space_available, ' +
      'round((blocks * blocks_size * 10e-10), 2) AS gigs_total_disk_space ' +
      "FROM mounts WHERE path = '/' LIMIT 1",
    ingest: ingestDisk,
  },
  {
    name: 'disk_space_windows',
    platforms: ['windows'],
    sql:
      'SELECT ROUND((sum(free_space) * 100.0) / sum(size), 2) AS percent_disk_space_available, ' +
      'ROUND(sum(free_space) * 10e-10, 2) AS gigs_disk_space_available, ' +
      "ROUND(sum(size) * 10e-10, 2) AS gigs_total_disk_space FROM logical_drives WHERE file_system = 'NTFS' LIMIT 1",
    ingest: ingestDisk,
  },
  {
    name: 'disk_encryption_linux',
    platforms: ['linux'],
    sql: 'SELECT de.encrypted, m.path FROM disk_encryption de JOIN mounts m ON m.device_alias = de.name',
    ingest(rows, out) {
      const root = rows.find((r) => r['path'] === '/');
      out.set.disk_encryption_enabled = root ? (root['encrypted'] === '1' ? 1 : 0) : 0;
    },
  },
  {
    name: 'disk_encryption_darwin',
    platforms: ['darwin'],
    sql: "SELECT 1 FROM disk_encryption WHERE user_uuid IS NOT '' AND filevault_status = 'on' LIMIT 1",
    ingest(rows, out) {
      out.set.disk_encryption_enabled = rows.length > 0 ? 1 : 0;
    },
  },
  {
    name: 'disk_encryption_windows',
    platforms: ['windows'],
    sql: "SELECT 1 FROM bitlocker_info WHERE drive_letter = 'C:' AND protection_status = 1",
    ingest(rows, out) {
      out.set.disk_encryption_enabled = rows.length > 0 ? 1 : 0;
    },
  },
  {
    name: 'users',
    platforms: UNIX,
    // Login-capable local accounts only: no daemons with nologin/false shells.
    sql:
      'SELECT u.uid, u.username, g.groupname, u.shell FROM users u LEFT JOIN groups g ON g.gid = u.gid ' +
      "WHERE u.shell NOT LIKE '%/false' AND u.shell NOT LIKE '%/nologin' AND u.shell NOT LIKE '%/shutdown' " +
      "AND u.shell NOT LIKE '%/halt' AND u.username NOT LIKE '%$' AND u.username NOT LIKE '\\_%' ESCAPE '\\' " +
      "AND NOT (u.username = 'sync' AND u.shell = '/bin/sync')",
    ingest: ingestUsers,
  },
  {
    name: 'users_windows',
    platforms: ['windows'],
    sql: "SELECT uid, username, type, '' AS groupname, shell FROM users WHERE type <> 'special'",
    ingest: ingestUsers,
  },
  {
    name: 'osquery_flags',
    platforms: ALL,
    sql: "SELECT name, value FROM osquery_flags WHERE name IN ('distributed_interval', 'config_tls_refresh', 'config_refresh', 'logger_tls_period')",
    ingest(rows, out) {
      let configRefresh = 0;
      let configTlsRefresh = 0;
      for (const r of rows) {
        const v = int(r['value']);
        if (r['name'] === 'distributed_interval') out.set.distributed_interval = v;
        else if (r['name'] === 'logger_tls_period') out.set.logger_tls_period = v;
        else if (r['name'] === 'config_refresh') configRefresh = v;
        else if (r['name'] === 'config_tls_refresh') configTlsRefresh = v;
      }
      // config_refresh replaced config_tls_refresh; use whichever the agent actually set.
      const refresh = configRefresh || configTlsRefresh;
      if (refresh) out.set.config_tls_refresh = refresh;
    },
  },
];

function ingestDisk(rows: Row[], out: DetailResult): void {
  const r = rows[0];
  if (!r) return;
  out.set.percent_disk_space_available =
    Math.round(num(r['percent_disk_space_available']) * 100) / 100;
  out.set.gigs_disk_space_available = num(r['gigs_disk_space_available']);
  out.set.gigs_total_disk_space = num(r['gigs_total_disk_space']);
}

function ingestUsers(rows: Row[], out: DetailResult): void {
  out.users = rows.slice(0, 1000).map((r) => ({
    uid: int(r['uid']),
    username: str(r['username']),
    type: str(r['type']),
    groupname: str(r['groupname']),
    shell: str(r['shell']),
  }));
}

/** Host columns from a `system_info` row (also sent in enroll's host_details). */
export function systemInfoColumns(r: Row): HostUpdate {
  return {
    hostname: str(r['hostname']),
    computer_name: str(r['computer_name'] || r['hostname']),
    uuid: str(r['uuid'], 64),
    hardware_vendor: str(r['hardware_vendor']),
    hardware_model: str(r['hardware_model']),
    hardware_version: str(r['hardware_version']),
    hardware_serial: str(r['hardware_serial']),
    cpu_brand: str(r['cpu_brand']).trim(),
    cpu_type: str(r['cpu_type'], 64),
    cpu_subtype: str(r['cpu_subtype'], 64),
    cpu_physical_cores: int(r['cpu_physical_cores']),
    cpu_logical_cores: int(r['cpu_logical_cores']),
    memory: int(r['physical_memory']),
  };
}

const BY_NAME = new Map(DETAIL_QUERIES.map((q) => [DETAIL_PREFIX + q.name, q]));

export const detailQueryByName = (fullName: string): DetailQuery | undefined =>
  BY_NAME.get(fullName);

const cache = new Map<PlatformFamily, Record<string, string>>();

/** The detail queries for a platform, as the `queries` map of a distributed read. */
export function detailQueriesFor(platform: string): Record<string, string> {
  const family = platformFamily(platform);
  let qs = cache.get(family);
  if (!qs) {
    qs = {};
    for (const q of DETAIL_QUERIES)
      if (q.platforms.includes(family)) qs[DETAIL_PREFIX + q.name] = q.sql;
    cache.set(family, qs);
  }
  return qs;
}

/** Columns from enroll's host_details, so a host has an inventory before its first check-in. */
export function hostDetailsColumns(details: Record<string, unknown> | undefined): HostUpdate {
  const out: DetailResult = { set: {} };
  if (!details || typeof details !== 'object') return out.set;
  const obj = (k: string): Row | undefined => {
    const v = details[k];
    return v && typeof v === 'object' && !Array.isArray(v)
      ? stringify(v as Record<string, unknown>)
      : undefined;
  };
  const os = obj('os_version');
  if (os) ingestOs([os], out);
  const oi = obj('osquery_info');
  if (oi?.['version']) out.set.osquery_version = str(oi['version'], 64);
  const si = obj('system_info');
  if (si) Object.assign(out.set, systemInfoColumns(si));
  const pi = obj('platform_info');
  if (pi && !out.set.hardware_vendor && pi['vendor']) out.set.hardware_vendor = str(pi['vendor']);
  return out.set;
}

function stringify(o: Record<string, unknown>): Row {
  const r: Row = {};
  for (const [k, v] of Object.entries(o))
    if (v !== null && v !== undefined && typeof v !== 'object') r[k] = String(v as string);
  return r;
}
