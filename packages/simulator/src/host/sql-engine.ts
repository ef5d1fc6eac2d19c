import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { tablesFor } from './schema.js';
import type { OsqueryPlatform, OsqueryTable } from './schema.js';
import { registerOsqueryFunctions } from './sql-functions.js';
import { defineTypedTable } from './vtab.js';
import type { CellValue } from './vtab.js';

/** One generated table row; keys are osquery column names, missing columns read as NULL/''. */
export type Row = Readonly<Record<string, CellValue | undefined>>;

/** What a host must provide for the engine to answer queries about it. */
export interface TableSource {
  /** Rows of `table` at this moment; an empty iterable when the host has none. */
  rows(table: string): Iterable<Row>;
  /**
   * A key shared by every source whose rows of `table` are always the same as this one's
   * (whatever the time), or undefined when they are this source's own.
   */
  sharedScope?(table: string): string | undefined;
}

/** The outcome of one query, shaped like osquery's distributed result. */
export interface QueryResult {
  /** 0 on success, 1 (SQLITE_ERROR as osquery reports it) on failure. */
  status: number;
  /** sqlite3_errmsg() text on failure, '' on success. */
  message: string;
  columns: string[];
  /** Every value a string, NULL as '' (osquery's default --nullvalue). */
  rows: Record<string, string>[];
}

/** osquery's CastVisitor: 15 significant digits, and always a '.' so doubles stay doubles. */
export function formatDouble(d: number): string {
  if (!Number.isFinite(d)) return d > 0 ? 'inf' : d < 0 ? '-inf' : 'nan';
  const trim = (m: string): string =>
    m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
  const exponent = d === 0 ? 0 : Math.floor(Math.log10(Math.abs(d)));
  let s: string;
  if (exponent < -4 || exponent >= 15) {
    const [mantissa = '', exp = '0'] = d.toExponential(14).split('e');
    const sign = exp.startsWith('-') ? '-' : '+';
    s = `${trim(mantissa)}e${sign}${exp.replace(/^[+-]/, '').padStart(2, '0')}`;
  } else s = trim(d.toPrecision(15));
  return s.includes('.') ? s : `${s}.0`;
}

function toText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return formatDouble(v);
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v as string);
}

const INT_TEXT = /^-?\d+$/;

/** better-sqlite3 hands JS numbers to SQLite as doubles; osquery's integer columns are int64. */
function coerce(
  type: OsqueryTable['columns'][number]['type'],
  v: CellValue | undefined,
): CellValue {
  if (v === undefined || v === null) return type === 'text' ? '' : null;
  if (type === 'text') return typeof v === 'string' ? v : String(v);
  if (type === 'double') return typeof v === 'string' ? (v === '' ? null : Number(v)) : v;
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (typeof v === 'string') return v === '' ? null : INT_TEXT.test(v) ? BigInt(v) : v;
  return v;
}

const DQS_ERROR = /^no such column: "((?:[^"]|"")*)" - should this be a string literal/;

/**
 * SQLite inside osquery accepts "double quoted" strings where no column matches (DQS);
 * better-sqlite3 is built without it. Re-quote the one token SQLite rejected and retry.
 */
export function requoteDoubleQuoted(sql: string, token: string): string {
  let out = '';
  let i = 0;
  const literal = `'${token.replace(/""/g, '"').replace(/'/g, "''")}'`;
  const needle = `"${token}"`;
  while (i < sql.length) {
    const ch = sql[i];
    if (ch === "'") {
      const end = sql.indexOf("'", i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop;
    } else if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (sql.startsWith(needle, i)) {
      out += literal;
      i += needle.length;
    } else {
      out += ch;
      i += 1;
    }
  }
  return out;
}

interface Prepared {
  statement?: BetterSqlite3.Statement;
  columns?: string[];
  error?: string;
  /**
   * Tables the statement read the first time it ran (undefined before, or when the answer
   * can change between runs over the same data: random, time, …).
   */
  tables?: readonly string[];
  /** Answers by the sources' shared scopes of `tables`; see SqlEngine.run. */
  shared?: Map<string, QueryResult>;
}

/** SQL whose answer may differ between two runs over the same rows. */
const VOLATILE = /random|now|time|julianday|date|changes|last_insert|uuid/i;
const SHARED_LIMIT = 256;

const CACHE_LIMIT = 500;

/**
 * One SQLite connection holding every osquery table of one platform as a virtual table.
 * Tables are generated at scan time from whichever host is being queried, so a single
 * engine serves all the hosts of a worker.
 */
export class SqlEngine {
  readonly platform: OsqueryPlatform;
  readonly tables: ReadonlyMap<string, OsqueryTable>;
  private readonly db: BetterSqlite3.Database;
  private current: TableSource | undefined;
  /** Tables scanned by the statement running now. */
  private readonly touched = new Set<string>();
  /** Rows of the tables the statement running now has scanned to the end. */
  private readonly scanned = new Map<string, CellValue[][]>();
  private readonly cache = new Map<string, Prepared>();

  constructor(platform: OsqueryPlatform) {
    this.platform = platform;
    this.db = new Database(':memory:');
    registerOsqueryFunctions(this.db);
    const tables = new Map<string, OsqueryTable>();
    for (const table of tablesFor(platform)) {
      tables.set(table.name, table);
      const columns = table.columns;
      defineTypedTable(this.db, table.name, columns, () => this.scan(table.name, columns));
    }
    this.tables = tables;
  }

  private *scan(name: string, columns: OsqueryTable['columns']): Iterator<CellValue[]> {
    const source = this.current;
    if (source === undefined) return;
    this.touched.add(name);
    // A table scanned again in the same statement (the inner side of a join) gives the rows
    // of its first complete scan: generated once, and the same all through the statement.
    const seen = this.scanned.get(name);
    if (seen !== undefined) {
      yield* seen;
      return;
    }
    const rows: CellValue[][] = [];
    for (const row of source.rows(name)) {
      const cells = columns.map((c) => coerce(c.type, row[c.name]));
      rows.push(cells);
      yield cells;
    }
    this.scanned.set(name, rows);
  }

  private prepare(sql: string): Prepared {
    const hit = this.cache.get(sql);
    if (hit !== undefined) return hit;
    let text = sql;
    let prepared: Prepared | undefined;
    for (let attempt = 0; attempt < 32 && prepared === undefined; attempt++) {
      try {
        const statement = this.db.prepare(text);
        if (statement.reader) {
          statement.raw(true).safeIntegers(true);
          prepared = { statement, columns: statement.columns().map((c) => c.name) };
        } else prepared = { statement };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const dqs = DQS_ERROR.exec(message);
        if (dqs?.[1] !== undefined && text.includes(`"${dqs[1]}"`)) {
          text = requoteDoubleQuoted(text, dqs[1]);
        } else prepared = { error: message };
      }
    }
    prepared ??= { error: 'too many double-quoted strings' };
    if (this.cache.size >= CACHE_LIMIT) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(sql, prepared);
    return prepared;
  }

  /**
   * Runs `sql` against `source`'s tables, answering like osquery does.
   *
   * A statement that read only tables some sources share (a profile's package inventory for
   * its patch cohort) gives all of them the same answer: the first source's is kept and
   * handed to the others, unrun. Execution is deterministic, so sources that agree on every
   * table a run read take the same path through the statement and read nothing else.
   * The answer is shared: callers must not change it.
   */
  run(source: TableSource, sql: string): QueryResult {
    const prepared = this.prepare(sql);
    if (prepared.error !== undefined || prepared.statement === undefined) {
      return { status: 1, message: prepared.error ?? 'error', columns: [], rows: [] };
    }
    const key = prepared.tables === undefined ? undefined : sharedKey(source, prepared.tables);
    const hit = key === undefined ? undefined : prepared.shared?.get(key);
    if (hit !== undefined) return hit;
    const result = this.execute(prepared.statement, prepared.columns, source);
    if (prepared.columns !== undefined && result.status === 0)
      this.remember(prepared, sql, source, result);
    return result;
  }

  private remember(
    prepared: Prepared,
    sql: string,
    source: TableSource,
    result: QueryResult,
  ): void {
    if (prepared.tables === undefined) {
      if (this.touched.size === 0 || VOLATILE.test(sql)) return;
      prepared.tables = [...this.touched].sort();
      prepared.shared = new Map();
    } else if (
      this.touched.size !== prepared.tables.length ||
      !prepared.tables.every((t) => this.touched.has(t))
    )
      return;
    const key = sharedKey(source, prepared.tables);
    if (key === undefined || prepared.shared === undefined) return;
    if (prepared.shared.size >= SHARED_LIMIT) prepared.shared.clear();
    prepared.shared.set(key, result);
  }

  private execute(
    statement: BetterSqlite3.Statement,
    columns: string[] | undefined,
    source: TableSource,
  ): QueryResult {
    this.current = source;
    this.touched.clear();
    this.scanned.clear();
    try {
      if (columns === undefined) {
        statement.run();
        return { status: 0, message: '', columns: [], rows: [] };
      }
      const raw = statement.all() as unknown[][];
      const rows = raw.map((values) => {
        const row: Record<string, string> = {};
        for (let i = 0; i < columns.length; i++) row[columns[i] as string] = toText(values[i]);
        return row;
      });
      return { status: 0, message: '', columns, rows };
    } catch (err) {
      return {
        status: 1,
        message: err instanceof Error ? err.message : String(err),
        columns: [],
        rows: [],
      };
    } finally {
      this.current = undefined;
      this.scanned.clear();
    }
  }

  close(): void {
    this.db.close();
  }
}

/** The scopes `source` shares for every one of `tables`, joined; undefined if any is its own. */
function sharedKey(source: TableSource, tables: readonly string[]): string | undefined {
  if (source.sharedScope === undefined) return undefined;
  let key = '';
  for (const t of tables) {
    const scope = source.sharedScope(t);
    if (scope === undefined) return undefined;
    key += `${scope}\0`;
  }
  return key;
}
