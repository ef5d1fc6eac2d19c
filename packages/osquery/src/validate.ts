import type Database from 'better-sqlite3';
import { getEngine } from './engine.js';
import type { ExplainRow } from './engine.js';
import { FUNCTIONS_MISSING_IN_OSQUERY, OSQUERY_COLLATIONS } from './functions.js';
import { PLATFORMS, intersectPlatforms } from './platforms.js';
import type { Platform } from './platforms.js';
import { positionAt } from './position.js';
import { identifierOf, isTrivia, tokenize } from './tokenize.js';
import type { Token } from './tokenize.js';
import type {
  InvalidQuery,
  ValidationError,
  ValidationErrorCode,
  ValidationResult,
} from './types.js';

/** Longest query text accepted (characters). */
export const MAX_QUERY_LENGTH = 100_000;

/** Statement keywords that can never be a read-only query. */
const REFUSED_STATEMENTS = new Set([
  'alter',
  'analyze',
  'attach',
  'begin',
  'commit',
  'create',
  'delete',
  'detach',
  'drop',
  'end',
  'explain',
  'insert',
  'pragma',
  'reindex',
  'release',
  'replace',
  'rollback',
  'savepoint',
  'update',
  'vacuum',
]);

const DQS_ERROR =
  /^no such column: "([\s\S]*)" - should this be a string literal in single-quotes\?$/;

/** Something the query reads that limits where it can run. */
export interface PlatformLimit {
  readonly table: string;
  /** Set when a platform-specific column, not the table, is the limit. */
  readonly column?: string;
  readonly platforms: readonly Platform[];
  /** Where the table (or column) is named in the text. */
  readonly offset?: number;
}

export interface Analysis {
  readonly result: ValidationResult;
  /** For valid queries: every table and platform-specific column read, with its platforms. */
  readonly limits: readonly PlatformLimit[];
}

/**
 * Checks that `sql` is one read-only statement osquery 5.23 would accept, and reports the
 * tables it reads, its result columns and the platforms it can run on.
 *
 * @example
 * validateQuery("SELECT name FROM apps WHERE bundle_identifier = 'com.apple.Safari'");
 * // { ok: true, tables: ['apps'], columns: ['name'], platforms: ['darwin'], readOnly: true }
 */
export function validateQuery(sql: string): ValidationResult {
  return analyzeQuery(sql).result;
}

/** {@link validateQuery} plus which tables and columns limit the platforms. */
export function analyzeQuery(sql: string): Analysis {
  const fail = (code: ValidationErrorCode, message: string, offset?: number): Analysis => ({
    result: invalid(sql, code, message, offset),
    limits: [],
  });

  if (sql.length > MAX_QUERY_LENGTH) {
    return fail('TOO_LONG', `query is longer than ${MAX_QUERY_LENGTH} characters`);
  }
  const nul = sql.indexOf('\0');
  // SQLite (here and in osquery) stops reading at a NUL, so the rest would go unchecked.
  if (nul >= 0) return fail('SYNTAX', 'query contains a NUL character', nul);
  const tokens = tokenize(sql);
  const code = tokens.filter((t) => !isTrivia(t));
  const first = code.find((t) => t.text !== ';');
  if (!first) return fail('EMPTY', 'query is empty');

  // One statement: anything but comments and semicolons after the first `;` is a second one.
  const firstSemicolon = code.findIndex((t) => t.text === ';');
  let statementEnd = sql.length;
  if (firstSemicolon >= 0) {
    const semicolon = code[firstSemicolon] as Token;
    statementEnd = semicolon.end;
    const extra = code.slice(firstSemicolon + 1).find((t) => t.text !== ';');
    if (extra) {
      return fail('MULTIPLE_STATEMENTS', 'only one statement is allowed', extra.start);
    }
  }

  const keyword = first.kind === 'word' ? first.text.toLowerCase() : '';
  if (REFUSED_STATEMENTS.has(keyword)) {
    return fail(
      'NOT_READ_ONLY',
      `${first.text.toUpperCase()} statements are not allowed: queries must be read-only SELECTs`,
      first.start,
    );
  }

  const { db } = getEngine();
  let text = replaceCollations(sql.slice(0, statementEnd), tokens);
  let statement: Database.Statement | undefined;
  // SQLite in osquery accepts "double-quoted" strings (DQS); better-sqlite3 is built without.
  // Like SQLite, treat a double-quoted token as a string only where no column has that name.
  for (let attempt = 0; statement === undefined; attempt++) {
    try {
      statement = db.prepare(text);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const dqs = DQS_ERROR.exec(message);
      if (dqs && attempt < 1000) {
        const rewritten = doubleQuotedToString(text, dqs[1] ?? '');
        if (rewritten !== text) {
          text = rewritten;
          continue;
        }
      }
      return { result: fromSqliteError(sql, text, message), limits: [] };
    }
  }

  if (!statement.readonly || !statement.reader) {
    return fail('NOT_READ_ONLY', 'query is not read-only', first.start);
  }

  const missing = findMissingFunction(tokenize(text));
  if (missing) return fail('SYNTAX', `no such function: ${missing.name}`, missing.offset);

  const columns = resultColumns(statement.columns(), text, sql);
  const limits = platformLimits(db, text);
  const tableNames = [...new Set(limits.filter((l) => !l.column).map((l) => l.table))].sort();
  const platforms = tableNames.length
    ? intersectPlatforms(limits.map((l) => l.platforms))
    : [...PLATFORMS];
  return {
    result: { ok: true, tables: tableNames, columns, platforms, readOnly: true },
    limits,
  };
}

function invalid(
  sql: string,
  code: ValidationErrorCode,
  message: string,
  offset?: number,
): InvalidQuery {
  const error: ValidationError =
    offset === undefined ? { code, message } : { code, message, position: positionAt(sql, offset) };
  return { ok: false, errors: [error] };
}

/** osquery's version collations become `binary`, padded so that offsets do not move. */
function replaceCollations(text: string, tokens: readonly Token[]): string {
  let out = text;
  const code = tokens.filter((t) => !isTrivia(t) && t.end <= text.length);
  code.forEach((t, i) => {
    const name = code[i + 1];
    if (t.kind !== 'word' || t.text.toLowerCase() !== 'collate' || !name) return;
    if (!OSQUERY_COLLATIONS.has((identifierOf(name) ?? '').toLowerCase())) return;
    out = out.slice(0, name.start) + 'binary'.padEnd(name.text.length) + out.slice(name.end);
  });
  return out;
}

/** Turns `"value"` tokens into string literals of the same length. */
function doubleQuotedToString(text: string, value: string): string {
  let out = text;
  for (const t of tokenize(text)) {
    if (t.kind !== 'quoted' || !t.text.startsWith('"') || identifierOf(t) !== value) continue;
    // The literal's content does not matter for validation, only its length.
    const inner = t.text.slice(1, -1).replace(/'/g, '_');
    out = out.slice(0, t.start) + `'${inner}'` + out.slice(t.end);
  }
  return out;
}

/**
 * Result column names as osquery reports them. Our tables declare hidden columns as ordinary
 * ones (last), so a `*` expansion of a table shows up as a run of its columns in declaration
 * order, hidden ones included: such a run loses its hidden columns. Columns merged by
 * `USING`/`NATURAL` joins may be missing from the run.
 */
function resultColumns(
  defs: readonly Database.ColumnDefinition[],
  text: string,
  sql: string,
): string[] {
  const { columnsByTable } = getEngine();
  const tokens = tokenize(text).filter((t) => !isTrivia(t));
  const merged = joinedColumns(tokens);
  const drop = new Set<number>();
  for (let i = 0; i < defs.length;) {
    const tableName = defs[i]?.table;
    const ordered = tableName ? columnsByTable.get(tableName) : undefined;
    const run: string[] = [];
    let j = i;
    for (let last = -1; ordered && j < defs.length; j++) {
      const def = defs[j] as Database.ColumnDefinition;
      const index = ordered.findIndex((c) => c.name === def.column);
      if (def.table !== tableName || def.name !== def.column || index <= last) break;
      run.push(def.name);
      last = index;
    }
    if (!ordered || run.length === 0) {
      i++;
      continue;
    }
    const present = new Set(run);
    const hidden = ordered.filter((c) => c.hidden);
    const expanded =
      hidden.length > 0 &&
      hidden.every((c) => present.has(c.name)) &&
      ordered.every((c) => c.hidden || present.has(c.name) || merged(c.name));
    if (expanded) {
      for (let k = i; k < j; k++) {
        if (hidden.some((c) => c.name === defs[k]?.column)) drop.add(k);
      }
    }
    i = j;
  }
  return defs.filter((_, k) => !drop.has(k)).map((d) => originalSpelling(d.name, text, sql));
}

/** Whether a column may have been merged away by a join: named in USING (…), or any with NATURAL. */
function joinedColumns(code: readonly Token[]): (name: string) => boolean {
  if (code.some((t) => t.kind === 'word' && t.text.toLowerCase() === 'natural')) return () => true;
  const names = new Set<string>();
  code.forEach((t, i) => {
    if (t.kind !== 'word' || t.text.toLowerCase() !== 'using' || code[i + 1]?.text !== '(') return;
    for (let k = i + 2; k < code.length && code[k]?.text !== ')'; k++) {
      const name = identifierOf(code[k] as Token);
      if (name !== undefined) names.add(name.toLowerCase());
    }
  });
  return (name) => names.has(name.toLowerCase());
}

/** An unaliased result column is named after its text, which our rewrites may have changed. */
function originalSpelling(name: string, text: string, sql: string): string {
  if (text === sql.slice(0, text.length)) return name;
  for (let at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + 1)) {
    const original = sql.slice(at, at + name.length);
    if (original !== name) return original;
  }
  return name;
}

/** A built-in of our SQLite that osquery lacks, called as a function. */
function findMissingFunction(
  tokens: readonly Token[],
): { name: string; offset: number } | undefined {
  const code = tokens.filter((t) => !isTrivia(t));
  for (let i = 0; i < code.length; i++) {
    const t = code[i] as Token;
    const name = identifierOf(t)?.toLowerCase();
    if (name === undefined || !FUNCTIONS_MISSING_IN_OSQUERY.has(name)) continue;
    if (code[i + 1]?.text === '(' && code[i - 1]?.text !== '.') return { name, offset: t.start };
  }
  return undefined;
}

/** Tables and platform-specific columns the statement reads, from its bytecode. */
function platformLimits(db: Database.Database, text: string): PlatformLimit[] {
  const { tableByVtab, columnsByTable } = getEngine();
  const plan = db.prepare(`EXPLAIN ${text}`).all() as ExplainRow[];
  const tokens = tokenize(text);
  const named = new Set(
    tokens.map((t) => identifierOf(t)?.toLowerCase()).filter((n) => n !== undefined),
  );
  const cursors = new Map<number, string>();
  const limits = new Map<string, PlatformLimit>();
  for (const op of plan) {
    if (op.opcode === 'VOpen' && typeof op.p4 === 'string') {
      const t = tableByVtab.get(op.p4);
      if (!t) continue; // SQLite's own virtual tables (pragma_*, json_each…)
      cursors.set(op.p1, t.name);
      if (!limits.has(t.name)) {
        limits.set(t.name, withOffset({ table: t.name, platforms: t.platforms }, tokens, t.name));
      }
    } else if (op.opcode === 'VColumn') {
      const tableName = cursors.get(op.p1);
      const column = tableName === undefined ? undefined : columnsByTable.get(tableName)?.[op.p2];
      // `SELECT *` reads every column, but only a column named in the text limits platforms.
      if (!tableName || !column?.platforms || !named.has(column.name.toLowerCase())) continue;
      const key = `${tableName}.${column.name}`;
      if (!limits.has(key)) {
        const limit = { table: tableName, column: column.name, platforms: column.platforms };
        limits.set(key, withOffset(limit, tokens, column.name));
      }
    }
  }
  return [...limits.values()];
}

function withOffset(limit: PlatformLimit, tokens: readonly Token[], name: string): PlatformLimit {
  const offset = findIdentifier(tokens, name.split('.'));
  return offset === undefined ? limit : { ...limit, offset };
}

/**
 * Offset of a (possibly qualified) identifier in the text, as a whole token outside strings
 * and comments; with `call` only where it is followed by `(`.
 */
function findIdentifier(
  tokens: readonly Token[],
  parts: readonly string[],
  options: { call?: boolean; afterKeyword?: ReadonlySet<string> } = {},
): number | undefined {
  const code = tokens.filter((t) => !isTrivia(t));
  const wanted = parts.map((p) => p.toLowerCase());
  const matches: number[] = [];
  for (let i = 0; i < code.length; i++) {
    let ok = true;
    for (let k = 0; k < wanted.length && ok; k++) {
      const t = code[i + 2 * k];
      ok = t !== undefined && identifierOf(t)?.toLowerCase() === wanted[k];
      if (ok && k > 0) ok = code[i + 2 * k - 1]?.text === '.';
    }
    if (!ok) continue;
    const next = code[i + 2 * wanted.length - 1];
    if (options.call !== undefined && (next?.text === '(') !== options.call) continue;
    // An unqualified name in a message means an unqualified reference in the text.
    if (wanted.length === 1 && code[i - 1]?.text === '.' && options.call !== true) continue;
    matches.push(i);
  }
  const preferred = options.afterKeyword
    ? matches.find((i) => options.afterKeyword?.has((code[i - 1]?.text ?? '').toLowerCase()))
    : undefined;
  const index = preferred ?? matches[0];
  return index === undefined ? undefined : code[index]?.start;
}

const TABLE_CONTEXT = new Set(['from', 'join', ',']);

/** Maps an SQLite error to our codes, with the offending token's position when we can find it. */
function fromSqliteError(sql: string, text: string, message: string): InvalidQuery {
  const tokens = tokenize(text);
  let match: RegExpExecArray | null;
  if ((match = /^no such table: (.+)$/.exec(message))) {
    const parts = (match[1] ?? '').split('.');
    const last = parts.slice(-1);
    const offset =
      findIdentifier(tokens, parts, { afterKeyword: TABLE_CONTEXT, call: false }) ??
      findIdentifier(tokens, last, { afterKeyword: TABLE_CONTEXT });
    return invalid(sql, 'UNKNOWN_TABLE', message, offset);
  }
  if ((match = /^no such column: (.+)$/.exec(message))) {
    const offset = findIdentifier(tokens, (match[1] ?? '').split('.'), { call: false });
    return invalid(sql, 'UNKNOWN_COLUMN', message, offset);
  }
  if (/^table \S+ may not be (modified|dropped)$/.test(message)) {
    return invalid(sql, 'NOT_READ_ONLY', message, writeKeywordOffset(tokens));
  }
  if ((match = /^near "([\s\S]*)": syntax error$/.exec(message))) {
    const token = locateSyntaxError(text, tokens, match[1] ?? '');
    if (!token) return invalid(sql, 'SYNTAX', message);
    // Report the user's spelling of the token, not our rewrite of it.
    return invalid(
      sql,
      'SYNTAX',
      `near "${sql.slice(token.start, token.end)}": syntax error`,
      token.start,
    );
  }
  if (message === 'incomplete input') {
    return invalid(sql, 'SYNTAX', message, text.trimEnd().length);
  }
  if ((match = /^unrecognized token: "([\s\S]*)"$/.exec(message))) {
    const at = text.indexOf(match[1] ?? '');
    return invalid(sql, 'SYNTAX', message, at < 0 ? undefined : at);
  }
  if (
    (match = /^no such function: (\S+)$/.exec(message)) ??
    (match = /^wrong number of arguments to function (\S+)\(\)$/.exec(message))
  ) {
    return invalid(
      sql,
      'SYNTAX',
      message,
      findIdentifier(tokens, [match[1] ?? ''], { call: true }),
    );
  }
  if ((match = /^(?:ambiguous column name|no such collation sequence): (.+)$/.exec(message))) {
    return invalid(sql, 'SYNTAX', message, findIdentifier(tokens, (match[1] ?? '').split('.')));
  }
  return invalid(sql, 'SYNTAX', message);
}

/** The verb of a write hidden behind a WITH clause. */
function writeKeywordOffset(tokens: readonly Token[]): number | undefined {
  const verb = tokens.find(
    (t) => t.kind === 'word' && REFUSED_STATEMENTS.has(t.text.toLowerCase()),
  );
  return (verb ?? tokens.find((t) => !isTrivia(t)))?.start;
}

/**
 * The token SQLite's parser stopped at. Its message names the token's text, which may occur
 * several times; every prefix of a statement that ends before the bad token parses without a
 * syntax error, and every prefix that includes it fails the same way, so a binary search over
 * the candidates finds it with a few prepares.
 */
function locateSyntaxError(
  text: string,
  tokens: readonly Token[],
  near: string,
): Token | undefined {
  const { db } = getEngine();
  const candidates = tokens.filter((t) => !isTrivia(t) && t.text === near);
  const failsAt = (t: Token): boolean => {
    try {
      db.prepare(text.slice(0, t.end));
      return false;
    } catch (error) {
      return error instanceof Error && error.message === `near "${near}": syntax error`;
    }
  };
  let lo = 0;
  let hi = candidates.length - 1;
  let found: Token | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const candidate = candidates[mid] as Token;
    if (failsAt(candidate)) {
      found = candidate;
      hi = mid - 1;
    } else {
      lo = mid + 1;
    }
  }
  return found ?? candidates[0];
}
