import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * Server configuration: one definition per setting, read from (highest first) command-line
 * flags, `FLOTILLA_*` environment variables, a JSON/YAML file, then defaults. Everything is
 * validated at start and every problem is reported at once. Nothing else reads process.env.
 */
export interface ServerConfig {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  /** URL agents and the CLI use to reach this server. */
  readonly serverUrl: string;
  readonly tls: {
    /** auto: our own CA in dataDir; files: user-supplied cert/key; off: plain HTTP behind a TLS proxy. */
    readonly mode: 'auto' | 'files' | 'off';
    readonly certFile: string | undefined;
    readonly keyFile: string | undefined;
    /** Extra DNS names / IPs for the generated server certificate. */
    readonly hostnames: readonly string[];
  };
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** Key that encrypts secrets at rest; every server process sharing a database needs the same. */
  readonly serverPrivateKey: string | undefined;
  readonly trustProxy: boolean;
  readonly osquery: {
    readonly detailUpdateIntervalS: number;
    readonly labelUpdateIntervalS: number;
    readonly policyUpdateIntervalS: number;
    readonly policyWriteThread: boolean;
    readonly policyWriteThreadNice: number;
    readonly seenFlushIntervalMs: number;
    readonly ingestFlushIntervalMs: number;
    readonly maxBodyBytes: number;
    readonly maxCarveBlockBytes: number;
    /** Read agents' connections ourselves (agent-connections.ts) rather than through node's HTTP. */
    readonly agentConnections: boolean;
  };
  readonly rateLimits: {
    readonly loginPerMinute: number;
    readonly enrollFailuresPerMinute: number;
    readonly enrollShedLagMs: number;
    readonly enrollMaxPending: number;
    readonly enrollMaxWaitMs: number;
  };
  readonly sessionTtlS: number;
  readonly logging: {
    readonly result: readonly string[];
    readonly status: readonly string[];
    readonly audit: readonly string[];
    readonly filesystemDir: string;
    readonly filesystemMaxBytes: number;
    readonly filesystemMaxAgeS: number;
    readonly filesystemCompress: boolean;
    readonly webhookUrl: string | undefined;
    readonly webhookFormat: 'generic' | 'splunk';
    readonly webhookToken: string | undefined;
    readonly redisUrl: string | undefined;
  };
  /** Rows kept per saved query in its report (Fleet keeps 1,000). */
  readonly queryReportMaxRows: number;
  /** Rows one live-query campaign delivers before it drops the rest (hosts still counted). */
  readonly liveQueryMaxRows: number;
  readonly eventStoreMaxRows: number;
  readonly software: {
    readonly updateIntervalS: number;
    readonly writeThread: boolean;
  };
  readonly vulnerabilities: {
    readonly feedsDir: string;
    readonly feedsUrl: string | undefined;
    readonly scanIntervalS: number;
    /** Parse feeds and scan in a worker thread with its own database connection. */
    readonly scanThread: boolean;
  };
}

type Kind = 'string' | 'int' | 'bool' | 'list' | 'enum';
interface Setting {
  key: string; // snake_case; env is FLOTILLA_<KEY>, flag is --<key-with-dashes>
  kind: Kind;
  def?: string;
  values?: readonly string[];
  min?: number;
  max?: number;
  help: string;
}

export const SETTINGS: readonly Setting[] = [
  {
    key: 'data_dir',
    kind: 'string',
    def: '.flotilla',
    help: 'Directory for the SQLite database, TLS files and logs',
  },
  { key: 'host', kind: 'string', def: '0.0.0.0', help: 'Address to listen on' },
  { key: 'port', kind: 'int', def: '8412', min: 0, max: 65535, help: 'Port to listen on' },
  {
    key: 'server_url',
    kind: 'string',
    help: 'Public URL of this server (default https://localhost:<port>)',
  },
  {
    key: 'tls',
    kind: 'enum',
    def: 'auto',
    values: ['auto', 'files', 'off'],
    help: 'auto: own CA; files: --tls-cert/--tls-key; off: plain HTTP behind a TLS proxy',
  },
  { key: 'tls_cert', kind: 'string', help: 'PEM certificate chain (with tls=files)' },
  { key: 'tls_key', kind: 'string', help: 'PEM private key (with tls=files)' },
  {
    key: 'tls_hostnames',
    kind: 'list',
    def: '',
    help: 'Extra names/IPs for the generated certificate (comma-separated)',
  },
  { key: 'database_url', kind: 'string', help: 'postgres://… to use PostgreSQL instead of SQLite' },
  { key: 'redis_url', kind: 'string', help: 'redis://… for the multi-process bus' },
  {
    key: 'log_level',
    kind: 'enum',
    def: 'info',
    values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    help: 'Log level',
  },
  {
    key: 'server_private_key',
    kind: 'string',
    help: 'Secret that encrypts enroll secrets at rest (generated into data_dir if unset)',
  },
  {
    key: 'trust_proxy',
    kind: 'bool',
    def: 'false',
    help: 'Trust X-Forwarded-For for client addresses',
  },
  {
    key: 'detail_update_interval',
    kind: 'int',
    def: '3600',
    min: 30,
    help: 'Seconds between host vitals refreshes',
  },
  {
    key: 'software_update_interval',
    kind: 'int',
    def: '3600',
    min: 30,
    help: 'Seconds between software inventory refreshes per host',
  },
  {
    key: 'vuln_feeds_dir',
    kind: 'string',
    help: 'Directory of vulnerability feeds (OVAL, OSV, NVD, KEV, EPSS); default <data_dir>/vulndb',
  },
  {
    key: 'vuln_feeds_url',
    kind: 'string',
    help: 'Base URL to download feeds from (its index.json lists the files); unset: offline',
  },
  {
    key: 'vuln_scan_interval',
    kind: 'int',
    def: '3600',
    min: 0,
    help: 'Seconds between vulnerability scans (0: never on a schedule)',
  },
  {
    key: 'vuln_scan_thread',
    kind: 'bool',
    def: 'true',
    help: 'Parse feeds and scan in a worker thread with its own database connection (false: on the main thread, in small steps)',
  },
  {
    key: 'label_update_interval',
    kind: 'int',
    def: '3600',
    min: 30,
    help: 'Seconds between label membership refreshes',
  },
  {
    key: 'policy_update_interval',
    kind: 'int',
    def: '3600',
    min: 30,
    help: 'Seconds between policy evaluations',
  },
  {
    key: 'software_write_thread',
    kind: 'bool',
    def: 'true',
    help: 'On SQLite, write software inventories in a worker thread with its own connection (false: on the main thread)',
  },
  {
    key: 'policy_write_thread',
    kind: 'bool',
    def: 'true',
    help: 'Write policy results in a worker thread with its own database connection, SQLite or PostgreSQL (false: on the main thread, in small slices on SQLite)',
  },
  {
    key: 'policy_write_thread_nice',
    kind: 'int',
    def: '10',
    min: 0,
    max: 19,
    help: 'Niceness of the policy results writer thread (Linux), so that check-ins on the event loop get the CPU first while a new policy library’s first results are written (0: same priority)',
  },
  {
    key: 'agent_connections',
    kind: 'bool',
    def: 'true',
    help: "Parse osquery agents' HTTP/1.1 requests in Flotilla's own connection reader, which costs less CPU per check-in than node's HTTP server (false: node's HTTP server for every connection)",
  },
  {
    key: 'seen_flush_interval_ms',
    kind: 'int',
    def: '5000',
    min: 10,
    help: 'How often batched last-seen times are written',
  },
  {
    key: 'ingest_flush_interval_ms',
    kind: 'int',
    def: '100',
    min: 1,
    help: 'How often batched host results are written',
  },
  {
    key: 'max_body_bytes',
    kind: 'int',
    def: String(16 * 1024 * 1024),
    min: 1024,
    help: 'Largest agent request body (after gunzip)',
  },
  {
    key: 'max_carve_block_bytes',
    kind: 'int',
    def: String(12 * 1024 * 1024),
    min: 1024,
    help: 'Largest carve block request',
  },
  {
    key: 'login_rate_per_minute',
    kind: 'int',
    def: '10',
    min: 1,
    help: 'Login attempts per address and minute',
  },
  {
    key: 'enroll_failures_per_minute',
    kind: 'int',
    def: '30',
    min: 1,
    help: 'Failed enrolls per address and minute before 429',
  },
  {
    key: 'enroll_shed_lag_ms',
    kind: 'int',
    def: '1000',
    min: 0,
    help: 'Refuse enrolls (503, agents retry) while the event loop lags more than this many ms, so hosts already enrolled finish first (0: never)',
  },
  {
    key: 'enroll_max_pending',
    kind: 'int',
    def: '400',
    min: 0,
    help: 'Hosts that may be enrolled but not yet inventoried at once; further enrolls wait for a place (0: no limit)',
  },
  {
    key: 'enroll_max_wait_ms',
    kind: 'int',
    def: '8000',
    min: 0,
    help: 'How long an enroll waits for a place (enroll_max_pending) before a 503 the agent retries',
  },
  {
    key: 'session_ttl',
    kind: 'int',
    def: String(5 * 24 * 3600),
    min: 60,
    help: 'Seconds a login session lasts',
  },
  {
    key: 'log_result_destinations',
    kind: 'list',
    def: 'filesystem',
    help: 'Where result logs go: filesystem, stdout, webhook, redis_streams, none (comma-separated)',
  },
  {
    key: 'log_status_destinations',
    kind: 'list',
    def: 'filesystem',
    help: 'Where status logs go (same choices)',
  },
  {
    key: 'log_audit_destinations',
    kind: 'list',
    def: 'none',
    help: 'Where the audit log (activities) is copied (same choices)',
  },
  {
    key: 'log_filesystem_dir',
    kind: 'string',
    help: 'Directory of the filesystem destination (default <data_dir>/logs/out)',
  },
  {
    key: 'log_filesystem_max_bytes',
    kind: 'int',
    def: String(512 * 1024 * 1024),
    min: 0,
    help: 'Rotate filesystem logs at this size (0: never)',
  },
  {
    key: 'log_filesystem_max_age',
    kind: 'int',
    def: '86400',
    min: 0,
    help: 'Rotate filesystem logs after this many seconds (0: never)',
  },
  {
    key: 'log_filesystem_compress',
    kind: 'bool',
    def: 'false',
    help: 'Gzip rotated filesystem logs',
  },
  { key: 'log_webhook_url', kind: 'string', help: 'URL of the webhook destination' },
  {
    key: 'log_webhook_format',
    kind: 'enum',
    def: 'generic',
    values: ['generic', 'splunk'],
    help: 'Webhook body: generic JSON or Splunk HEC events',
  },
  {
    key: 'log_webhook_token',
    kind: 'string',
    help: 'Token for the webhook (Splunk HEC token with format=splunk)',
  },
  {
    key: 'log_redis_url',
    kind: 'string',
    help: 'Redis for the redis_streams destination (default FLOTILLA_REDIS_URL)',
  },
  {
    key: 'event_store_max_rows',
    kind: 'int',
    def: '100000',
    min: 1,
    help: 'Event rows kept per scheduled query over event tables (oldest dropped first)',
  },
  {
    key: 'query_report_max_rows',
    kind: 'int',
    def: '1000',
    min: 0,
    help: 'Rows kept per saved query report',
  },
  {
    key: 'live_query_max_rows',
    kind: 'int',
    def: '1000000',
    min: 1,
    help: 'Rows one live query campaign delivers before it drops the rest (hosts are still counted)',
  },
];

/** FLOTILLA_* variables read by the CLI, the simulator or tests, not by the server. */
const OTHER_VARIABLES = new Set([
  'FLOTILLA_CONFIG',
  'FLOTILLA_CLI_CONFIG',
  'FLOTILLA_API_TOKEN',
  'FLOTILLA_PASSWORD',
  'FLOTILLA_BENCH_HOSTS',
]);

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  env?: Record<string, string | undefined>;
  flags?: Record<string, string | boolean | undefined>;
  file?: string | undefined;
}

/** Loads, validates and freezes the configuration. Throws ConfigError listing every problem. */
export function loadConfig(sources: ConfigSources = {}): ServerConfig {
  const env = sources.env ?? {};
  const flags = sources.flags ?? {};
  const problems: string[] = [];
  const known = new Set(SETTINGS.map((s) => s.key));

  let fileValues: Record<string, unknown> = {};
  const file = sources.file ?? env['FLOTILLA_CONFIG'];
  if (file) {
    try {
      const text = readFileSync(file, 'utf8');
      const parsed: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        fileValues = parsed as Record<string, unknown>;
      else problems.push(`config file ${file}: must contain a mapping of settings`);
    } catch (e) {
      problems.push(`config file ${file}: ${(e as Error).message}`);
    }
    for (const k of Object.keys(fileValues))
      if (!known.has(k)) problems.push(`config file ${file}: unknown setting "${k}"`);
  }
  for (const k of Object.keys(env)) {
    if (
      k.startsWith('FLOTILLA_') &&
      !OTHER_VARIABLES.has(k) &&
      !k.startsWith('FLOTILLA_TEST_') &&
      !known.has(k.slice(9).toLowerCase())
    ) {
      problems.push(`environment: unknown variable ${k}`);
    }
  }
  for (const k of Object.keys(flags)) {
    if (flags[k] !== undefined && !known.has(k.replace(/-/g, '_')))
      problems.push(`flag --${k}: unknown`);
  }

  const raw = new Map<string, { value: string; from: string }>();
  for (const s of SETTINGS) {
    const flag = flags[s.key.replace(/_/g, '-')] ?? flags[s.key];
    const envValue = env[`FLOTILLA_${s.key.toUpperCase()}`];
    const fileValue = fileValues[s.key];
    if (flag !== undefined)
      raw.set(s.key, { value: String(flag), from: `flag --${s.key.replace(/_/g, '-')}` });
    else if (envValue !== undefined && envValue !== '')
      raw.set(s.key, { value: envValue, from: `FLOTILLA_${s.key.toUpperCase()}` });
    else if (fileValue !== undefined && fileValue !== null) {
      raw.set(s.key, {
        value: Array.isArray(fileValue) ? fileValue.join(',') : String(fileValue as string),
        from: `config file key ${s.key}`,
      });
    } else if (s.def !== undefined) raw.set(s.key, { value: s.def, from: 'default' });
  }

  const v = new Map<string, string | number | boolean | string[] | undefined>();
  for (const s of SETTINGS) {
    const r = raw.get(s.key);
    if (!r) {
      v.set(s.key, undefined);
      continue;
    }
    switch (s.kind) {
      case 'string':
        v.set(s.key, r.value);
        break;
      case 'int': {
        const n = Number(r.value);
        if (!Number.isInteger(n)) problems.push(`${r.from}: "${r.value}" is not an integer`);
        else if ((s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max)) {
          problems.push(`${r.from}: ${n} is outside ${s.min ?? '-∞'}..${s.max ?? '∞'}`);
        }
        v.set(s.key, n);
        break;
      }
      case 'bool':
        if (!['true', 'false', '1', '0', 'yes', 'no'].includes(r.value.toLowerCase()))
          problems.push(`${r.from}: "${r.value}" is not a boolean`);
        v.set(s.key, ['true', '1', 'yes'].includes(r.value.toLowerCase()));
        break;
      case 'list':
        v.set(
          s.key,
          r.value
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        );
        break;
      case 'enum':
        if (!s.values?.includes(r.value))
          problems.push(`${r.from}: "${r.value}" must be one of ${s.values?.join(', ')}`);
        v.set(s.key, r.value);
        break;
    }
  }

  const str = (k: string) => v.get(k) as string | undefined;
  const num = (k: string) => v.get(k) as number;
  const tlsMode = str('tls') as 'auto' | 'files' | 'off';
  if (tlsMode === 'files') {
    if (!str('tls_cert')) problems.push('tls=files needs FLOTILLA_TLS_CERT (or --tls-cert)');
    if (!str('tls_key')) problems.push('tls=files needs FLOTILLA_TLS_KEY (or --tls-key)');
  } else if (str('tls_cert') || str('tls_key')) {
    if (tlsMode === 'auto' && str('tls_cert') && str('tls_key')) {
      // Supplying both files implies files mode.
    } else {
      problems.push('tls_cert and tls_key go together (and are ignored with tls=off)');
    }
  }
  const databaseUrl = str('database_url');
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl))
    problems.push(`FLOTILLA_DATABASE_URL must be a postgres:// URL`);
  const redisUrl = str('redis_url');
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl))
    problems.push(`FLOTILLA_REDIS_URL must be a redis:// URL`);
  const port = num('port');
  const effectiveTls = tlsMode === 'auto' && str('tls_cert') && str('tls_key') ? 'files' : tlsMode;
  const serverUrl =
    str('server_url') ?? `${effectiveTls === 'off' ? 'http' : 'https'}://localhost:${port}`;
  if (Number.isInteger(port)) {
    try {
      new URL(serverUrl);
    } catch {
      problems.push(`server_url "${serverUrl}" is not a URL`);
    }
  }

  const kinds = ['filesystem', 'stdout', 'webhook', 'redis_streams', 'none'];
  for (const t of ['result', 'status', 'audit']) {
    for (const d of (v.get(`log_${t}_destinations`) as string[] | undefined) ?? []) {
      if (!kinds.includes(d))
        problems.push(
          `log_${t}_destinations: unknown destination "${d}" (use ${kinds.join(', ')})`,
        );
      if (d === 'webhook' && !str('log_webhook_url'))
        problems.push(
          `log_${t}_destinations includes webhook but FLOTILLA_LOG_WEBHOOK_URL is not set`,
        );
      if (d === 'redis_streams' && !str('log_redis_url') && !str('redis_url'))
        problems.push(`log_${t}_destinations includes redis_streams but no Redis URL is set`);
    }
  }

  if (problems.length) throw new ConfigError(problems);
  const dataDir = resolve(str('data_dir') ?? '.flotilla');

  return Object.freeze({
    dataDir,
    host: str('host') ?? '0.0.0.0',
    port,
    serverUrl: serverUrl.replace(/\/$/, ''),
    tls: Object.freeze({
      mode: effectiveTls,
      certFile: str('tls_cert'),
      keyFile: str('tls_key'),
      hostnames: Object.freeze((v.get('tls_hostnames') as string[] | undefined) ?? []),
    }),
    databaseUrl,
    redisUrl,
    logLevel: str('log_level') as ServerConfig['logLevel'],
    serverPrivateKey: str('server_private_key'),
    trustProxy: v.get('trust_proxy') as boolean,
    osquery: Object.freeze({
      detailUpdateIntervalS: num('detail_update_interval'),
      labelUpdateIntervalS: num('label_update_interval'),
      policyUpdateIntervalS: num('policy_update_interval'),
      policyWriteThread: v.get('policy_write_thread') as boolean,
      policyWriteThreadNice: num('policy_write_thread_nice'),
      seenFlushIntervalMs: num('seen_flush_interval_ms'),
      ingestFlushIntervalMs: num('ingest_flush_interval_ms'),
      maxBodyBytes: num('max_body_bytes'),
      maxCarveBlockBytes: num('max_carve_block_bytes'),
      agentConnections: v.get('agent_connections') as boolean,
    }),
    rateLimits: Object.freeze({
      loginPerMinute: num('login_rate_per_minute'),
      enrollFailuresPerMinute: num('enroll_failures_per_minute'),
      enrollShedLagMs: num('enroll_shed_lag_ms'),
      enrollMaxPending: num('enroll_max_pending'),
      enrollMaxWaitMs: num('enroll_max_wait_ms'),
    }),
    sessionTtlS: num('session_ttl'),
    logging: Object.freeze({
      result: Object.freeze((v.get('log_result_destinations') as string[] | undefined) ?? []),
      status: Object.freeze((v.get('log_status_destinations') as string[] | undefined) ?? []),
      audit: Object.freeze((v.get('log_audit_destinations') as string[] | undefined) ?? []),
      filesystemDir: str('log_filesystem_dir') ?? resolve(dataDir, 'logs', 'out'),
      filesystemMaxBytes: num('log_filesystem_max_bytes'),
      filesystemMaxAgeS: num('log_filesystem_max_age'),
      filesystemCompress: v.get('log_filesystem_compress') as boolean,
      webhookUrl: str('log_webhook_url'),
      webhookFormat: str('log_webhook_format') as 'generic' | 'splunk',
      webhookToken: str('log_webhook_token'),
      redisUrl: str('log_redis_url') ?? redisUrl,
    }),
    queryReportMaxRows: num('query_report_max_rows'),
    liveQueryMaxRows: num('live_query_max_rows'),
    eventStoreMaxRows: num('event_store_max_rows'),
    software: Object.freeze({
      updateIntervalS: num('software_update_interval'),
      writeThread: v.get('software_write_thread') as boolean,
    }),
    vulnerabilities: Object.freeze({
      feedsDir: resolve(str('vuln_feeds_dir') ?? resolve(dataDir, 'vulndb')),
      feedsUrl: str('vuln_feeds_url')?.replace(/\/+$/, ''),
      scanIntervalS: num('vuln_scan_interval'),
      scanThread: v.get('vuln_scan_thread') as boolean,
    }),
  });
}
