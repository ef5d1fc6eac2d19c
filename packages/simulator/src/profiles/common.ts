import { tablesFor } from '../host/schema.js';
import type { OsqueryPlatform } from '../host/schema.js';
import type { Row } from '../host/sql-engine.js';
import type { TableGenerator } from './profile.js';

export const OSQUERY_VERSION = '5.23.1';

/** A subset of osqueryd's flags with their real defaults (name, type, default, description). */
const FLAG_DEFAULTS: readonly (readonly [string, string, string, string])[] = [
  ['config_plugin', 'string', 'filesystem', 'Config plugin name'],
  ['config_refresh', 'uint64', '0', 'Optional interval in seconds to re-read configuration'],
  ['config_tls_endpoint', 'string', '', 'TLS/HTTPS endpoint for config retrieval'],
  ['config_tls_max_attempts', 'uint64', '3', 'Number of attempts to retry a TLS config request'],
  ['disable_distributed', 'bool', 'true', 'Disable distributed queries'],
  [
    'disable_enrollment',
    'bool',
    'false',
    'Disable enrollment functions on related config/logger plugins',
  ],
  ['disable_events', 'bool', 'false', 'Disable osquery publish/subscribe system'],
  ['distributed_interval', 'uint64', '60', 'Seconds between polling for new queries (default 60)'],
  ['distributed_plugin', 'string', 'tls', 'Distributed plugin name'],
  ['distributed_tls_max_attempts', 'uint64', '3', 'Number of times to attempt a request'],
  [
    'distributed_tls_read_endpoint',
    'string',
    '',
    'TLS/HTTPS endpoint for distributed query retrieval',
  ],
  [
    'distributed_tls_write_endpoint',
    'string',
    '',
    'TLS/HTTPS endpoint for distributed query results',
  ],
  ['enable_bpf_events', 'bool', 'false', 'Enables the bpf_process_events publisher'],
  ['enroll_secret_path', 'string', '', 'Path to an optional client enrollment-auth secret'],
  ['enroll_tls_endpoint', 'string', '', 'TLS/HTTPS endpoint for client enrollment'],
  ['events_expiry', 'uint64', '3600', 'Timeout to expire event subscriber results'],
  [
    'host_identifier',
    'string',
    'hostname',
    'Field used to identify the host running osquery (hostname, uuid, instance, ephemeral, specified)',
  ],
  ['logger_plugin', 'string', 'filesystem', 'Logger plugin name'],
  ['logger_tls_compress', 'bool', 'false', 'GZip compress TLS/HTTPS request body'],
  ['logger_tls_endpoint', 'string', '', 'TLS/HTTPS endpoint for results logging'],
  ['logger_tls_max_lines', 'uint64', '1024', 'Max number of logs to send per period'],
  ['logger_tls_period', 'uint64', '4', 'Seconds between flushing logs over TLS/HTTPS'],
  ['pack_delimiter', 'string', '_', 'Delimiter for pack and query names'],
  ['schedule_default_interval', 'uint64', '3600', 'Query interval to use if none is provided'],
  ['schedule_splay_percent', 'uint64', '10', 'Percent to splay config times'],
  ['tls_hostname', 'string', '', 'TLS/HTTPS hostname for Config, Logger, and Enroll plugins'],
  ['tls_server_certs', 'string', '', 'Optional path to a TLS server PEM certificate(s) bundle'],
  ['tls_session_reuse', 'bool', 'true', 'Reuse TLS session sockets'],
  ['tls_session_timeout', 'uint32', '3600', 'TLS session keep alive timeout in seconds'],
];

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');

/** osquery's calendarTime: asctime() in UTC plus " UTC", e.g. "Tue Nov  4 04:12:35 2026 UTC". */
export function asciiTime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const day = WEEKDAYS[d.getUTCDay()]?.slice(0, 3) ?? '';
  const month = MONTHS[d.getUTCMonth()] ?? '';
  const dom = String(d.getUTCDate()).padStart(2, ' ');
  const hms = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${day} ${month} ${dom} ${hms} ${d.getUTCFullYear()} UTC`;
}

/** Tables every osqueryd has, whatever the OS. */
export function commonTables(
  platform: OsqueryPlatform,
  buildPlatform: string,
  buildDistro: string,
  platformMask: number,
): [string, TableGenerator][] {
  // Fleet gates queries on optional tables with `SELECT 1 FROM osquery_registry WHERE …`.
  const registry: Row[] = [
    ...tablesFor(platform).map((t) => ({
      registry: 'table',
      name: t.name,
      owner_uuid: 0,
      internal: 0,
      active: 1,
    })),
    ...['config', 'logger', 'distributed', 'enroll'].map((r) => ({
      registry: r,
      name: 'tls',
      owner_uuid: 0,
      internal: 0,
      active: 1,
    })),
  ];
  return [
    ['osquery_registry', () => registry],
    [
      'osquery_info',
      (h): Row[] => [
        {
          pid: h.runtime.pid,
          uuid: h.uuid,
          instance_id: h.runtime.instanceId,
          version: OSQUERY_VERSION,
          config_hash: h.runtime.configHash,
          config_valid: h.runtime.configValid ? 1 : 0,
          extensions: 'active',
          build_platform: buildPlatform,
          build_distro: buildDistro,
          start_time: h.runtime.startTime,
          watcher: h.runtime.pid - 3,
          platform_mask: platformMask,
        },
      ],
    ],
    [
      'osquery_flags',
      function* (h) {
        for (const [name, type, def, description] of FLAG_DEFAULTS) {
          yield {
            name,
            type,
            description,
            default_value: def,
            value: h.runtime.flags[name] ?? def,
            shell_only: 0,
          };
        }
      },
    ],
    [
      'osquery_schedule',
      function* (h) {
        for (const s of h.runtime.schedule.values()) {
          yield {
            name: s.name,
            query: s.query,
            interval: s.interval,
            executions: s.executions,
            last_executed: s.lastExecuted,
            denylisted: s.denylisted ? 1 : 0,
            output_size: s.outputSize,
            wall_time: Math.floor(s.wallTimeMs / 1000),
            wall_time_ms: s.wallTimeMs,
            last_wall_time_ms: s.lastWallTimeMs,
            user_time: s.wallTimeMs,
            last_user_time: s.lastWallTimeMs,
            system_time: Math.floor(s.wallTimeMs / 4),
            last_system_time: Math.floor(s.lastWallTimeMs / 4),
            average_memory: 0,
            last_memory: 0,
          };
        }
      },
    ],
    [
      'time',
      (_h, now): Row[] => {
        const d = new Date(now * 1000);
        const iso = d.toISOString().replace(/\.\d{3}Z$/, 'Z');
        return [
          {
            weekday: WEEKDAYS[d.getUTCDay()] ?? '',
            year: d.getUTCFullYear(),
            month: d.getUTCMonth() + 1,
            day: d.getUTCDate(),
            hour: d.getUTCHours(),
            minutes: d.getUTCMinutes(),
            seconds: d.getUTCSeconds(),
            timezone: 'UTC',
            local_timezone: 'UTC',
            unix_time: now,
            timestamp: asciiTime(now),
            datetime: iso,
            iso_8601: iso,
            win_timestamp: BigInt(now) * 10_000_000n + 116_444_736_000_000_000n,
          },
        ];
      },
    ],
    [
      'uptime',
      (h, now): Row[] => {
        const total = Math.max(0, now - h.bootTime);
        return [
          {
            days: Math.floor(total / 86_400),
            hours: Math.floor((total % 86_400) / 3600),
            minutes: Math.floor((total % 3600) / 60),
            seconds: total % 60,
            total_seconds: total,
          },
        ];
      },
    ],
  ];
}
