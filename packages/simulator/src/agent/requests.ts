/**
 * Request bodies exactly as osqueryd 5.23 serialises them (RapidJSON, insertion order):
 * these are pure functions so tests can pin the wire format byte for byte.
 */

/** A row osquery stores as std::map<string, string>: keys come out sorted. */
export function sortedRow(row: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(row).sort()) out[key] = row[key] ?? '';
  return out;
}

export interface EnrollRequest {
  enrollSecret: string;
  hostIdentifier: string;
  /** osquery's PlatformType bitmask as a decimal string: linux "9", darwin "21", windows "2". */
  platformType: string;
  /** First row of each of os_version, osquery_info, platform_info, system_info. */
  hostDetails: Readonly<Record<string, Readonly<Record<string, string>> | undefined>>;
}

/** The tables osquery's enroll plugin reads, in std::set (alphabetical) order. */
export const ENROLL_HOST_DETAILS = [
  'os_version',
  'osquery_info',
  'platform_info',
  'system_info',
] as const;

/** POST /api/v1/osquery/enroll */
export function enrollBody(r: EnrollRequest): string {
  const details: Record<string, Record<string, string>> = {};
  for (const table of ENROLL_HOST_DETAILS) {
    const row = r.hostDetails[table];
    if (row !== undefined) details[table] = sortedRow(row);
  }
  return JSON.stringify({
    enroll_secret: r.enrollSecret,
    host_identifier: r.hostIdentifier,
    platform_type: r.platformType,
    host_details: details,
  });
}

/** POST /api/v1/osquery/config and /api/v1/osquery/distributed/read */
export function nodeKeyBody(nodeKey: string): string {
  return JSON.stringify({ node_key: nodeKey });
}

/** Performance numbers osquery attaches to each distributed result. */
export interface QueryStats {
  wall_time_ms: number;
  user_time: number;
  system_time: number;
  memory: number;
}

export interface DistributedResult {
  name: string;
  columns: readonly string[];
  rows: readonly Readonly<Record<string, string>>[];
  status: number;
  message: string;
  stats?: QueryStats;
}

/** Serialised rows, kept while the rows live: answers shared by many hosts are written once. */
const rowsText = new WeakMap<readonly Readonly<Record<string, string>>[], string>();

/** A result's rows as JSON, each row's keys in the query's column order. */
function rowsJson(r: DistributedResult): string {
  const cached = rowsText.get(r.rows);
  if (cached !== undefined) return cached;
  const text = JSON.stringify(
    r.rows.map((row) => {
      const out: Record<string, string> = {};
      for (const c of r.columns) if (c in row) out[c] = row[c] ?? '';
      return out;
    }),
  );
  rowsText.set(r.rows, text);
  return text;
}

/** POST /api/v1/osquery/distributed/write: node_key comes last (TLSRequestHelper appends it). */
export function distributedWriteBody(
  nodeKey: string,
  results: readonly DistributedResult[],
): string {
  // As JSON.stringify would write the object, with a repeated name's first place kept and its
  // last value, but with each result's rows serialised once however many hosts share them.
  const byName = new Map<string, DistributedResult>();
  for (const r of results) byName.set(r.name, r);
  let queries = '';
  let statuses = '';
  let messages = '';
  let stats = '';
  for (const [name, r] of byName) {
    const key = JSON.stringify(name);
    const sep = queries === '' ? '' : ',';
    queries += `${sep}${key}:${rowsJson(r)}`;
    statuses += `${sep}${key}:${JSON.stringify(r.status)}`;
    messages += `${sep}${key}:${JSON.stringify(r.message)}`;
    stats += `${sep}${key}:${JSON.stringify(r.stats ?? {})}`;
  }
  return `{"queries":{${queries}},"statuses":{${statuses}},"messages":{${messages}},"stats":{${stats}},"node_key":${JSON.stringify(nodeKey)}}`;
}

export type LogType = 'result' | 'status';

/** POST /api/v1/osquery/log: `lines` are already-serialised JSON log lines. */
export function logBody(nodeKey: string, logType: LogType, lines: readonly string[]): string {
  return `{"node_key":${JSON.stringify(nodeKey)},"log_type":${JSON.stringify(logType)},"data":[${lines.join(',')}]}`;
}

export interface LogContext {
  name: string;
  hostIdentifier: string;
  calendarTime: string;
  unixTime: number;
  epoch: number;
  counter: number;
  /** Empty map: the key is omitted, as osquery does. */
  decorations: Readonly<Record<string, string>>;
}

function legacyFields(c: LogContext): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: c.name,
    hostIdentifier: c.hostIdentifier,
    calendarTime: c.calendarTime,
    unixTime: c.unixTime,
    epoch: c.epoch,
    counter: c.counter,
    numerics: false,
  };
  if (Object.keys(c.decorations).length > 0) out['decorations'] = sortedRow(c.decorations);
  return out;
}

/**
 * One differential result line (osquery's default --logger_event_type). `row` may be the
 * already-serialised sorted row, as the differential store keeps it.
 */
export function eventLogLine(
  c: LogContext,
  row: Readonly<Record<string, string>> | string,
  action: 'added' | 'removed',
): string {
  const head = JSON.stringify(legacyFields(c));
  const columns = typeof row === 'string' ? row : JSON.stringify(sortedRow(row));
  return `${head.slice(0, -1)},"columns":${columns},"action":"${action}"}`;
}

/** One snapshot result line (--logger_snapshot_event_type=false, the default). */
export function snapshotLogLine(
  c: LogContext,
  rows: readonly Readonly<Record<string, string>>[],
): string {
  return JSON.stringify({ snapshot: rows.map(sortedRow), action: 'snapshot', ...legacyFields(c) });
}

export interface StatusLine {
  hostIdentifier: string;
  calendarTime: string;
  unixTime: number;
  /** glog severity: 0 INFO, 1 WARNING, 2 ERROR. */
  severity: number;
  filename: string;
  line: number;
  message: string;
  version: string;
  decorations: Readonly<Record<string, string>>;
}

/** One status log line, as osquery's buffered logger writes it. */
export function statusLogLine(s: StatusLine): string {
  const out: Record<string, unknown> = {
    hostIdentifier: s.hostIdentifier,
    calendarTime: s.calendarTime,
    unixTime: s.unixTime,
    severity: s.severity,
    filename: s.filename,
    line: s.line,
    message: s.message,
    version: s.version,
  };
  if (Object.keys(s.decorations).length > 0) out['decorations'] = sortedRow(s.decorations);
  return JSON.stringify(out);
}

/** Headers osquery's TLS transport sends; Authorization only once a node key exists. */
export function requestHeaders(
  nodeKey: string | undefined,
  gzip: boolean,
  version: string,
): Record<string, string> {
  const h: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: 'application/json',
    'User-Agent': `osquery/${version}`,
  };
  if (nodeKey !== undefined && nodeKey !== '') h['Authorization'] = `NodeKey ${nodeKey}`;
  if (gzip) h['Content-Encoding'] = 'gzip';
  return h;
}
