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

  const prepared = prepareLikeOsquery(replaceCollations(sql.slice(0, statementEnd), tokens));
  if (!prepared.statement) {
    return { result: fromSqliteError(sql, prepared.text, prepared.message), limits: [] };
  }
  const { statement, text } = prepared;

  if (!statement.readonly || !statement.reader) {
    return fail('NOT_READ_ONLY', 'query is not read-only', first.start);
  }

  const missing = findMissingFunction(tokenize(text));
  if (missing) return fail('SYNTAX', `no such function: ${missing.name}`, missing.offset);

  const columns = resultColumns(statement.columns(), text, sql);
  const limits = platformLimits(text);
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

type Prepared =
  | { readonly statement: Database.Statement; readonly text: string }
  | { readonly statement?: undefined; readonly text: string; readonly message: string };

const MAX_STRING_REWRITES = 200;

/**
 * Prepares like osquery's SQLite, which accepts "double-quoted" strings (DQS) where
 * better-sqlite3's is built without: a double-quoted token that names no column is a string.
 * First every double-quoted token that cannot be a column becomes a string at once; if that
 * does not settle it, one name at a time, as SQLite reports them.
 */
function prepareLikeOsquery(original: string): Prepared {
  const { db } = getEngine();
  const attempt = (text: string): Prepared => {
    try {
      return { statement: db.prepare(text), text };
    } catch (error) {
      return { text, message: error instanceof Error ? error.message : String(error) };
    }
  };
  const first = attempt(original);
  if (first.statement || !DQS_ERROR.test(first.message)) return first;

  const tokens = tokenize(original);
  const batched = attempt(asStrings(original, tokens, likelyStrings(tokens)));
  if (batched.statement) return batched;
  if (!DQS_ERROR.test(batched.message) && !/syntax error|incomplete input/.test(batched.message)) {
    return batched;
  }

  let current: Prepared = first;
  for (let i = 0; i < MAX_STRING_REWRITES; i++) {
    if (current.statement) return current;
    const name = DQS_ERROR.exec(current.message)?.[1];
    if (name === undefined) break;
    const text = asStrings(current.text, tokens, (t) => identifierOf(t) === name);
    if (text === current.text) break;
    current = attempt(text);
  }
  return current;
}

/** Double-quoted tokens that can only be strings: no column, alias or CTE has their name. */
function likelyStrings(tokens: readonly Token[]): (token: Token) => boolean {
  const { columnNames } = getEngine();
  const code = tokens.filter((t) => !isTrivia(t));
  const words = new Set(
    code
      .filter((t) => t.kind === 'word' || (t.kind === 'quoted' && !t.text.startsWith('"')))
      .map((t) => identifierOf(t)?.toLowerCase()),
  );
  const quoted = code.filter((t) => t.kind === 'quoted' && t.text.startsWith('"'));
  const seen = new Map<string, number>();
  for (const t of quoted) {
    const name = (identifierOf(t) ?? '').toLowerCase();
    seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  const candidates = new Set<Token>();
  code.forEach((t, i) => {
    if (t.kind !== 'quoted' || !t.text.startsWith('"')) return;
    const name = (identifierOf(t) ?? '').toLowerCase();
    // A name written twice may be declared once (`WITH x("a")`) and used once.
    if (columnNames.has(name) || words.has(name) || seen.get(name) !== 1) return;
    const before = code[i - 1]?.text.toLowerCase();
    const after = code[i + 1]?.text;
    if (before === '.' || before === 'as' || after === '.' || after === '(') return;
    candidates.add(t);
  });
  return (token) => candidates.has(token);
}

/** Turns the chosen `"…"` tokens into string literals of the same length (offsets stay put). */
function asStrings(text: string, tokens: readonly Token[], chosen: (t: Token) => boolean): string {
  const parts: string[] = [];
  let from = 0;
  for (const t of tokens) {
    if (t.kind !== 'quoted' || text[t.start] !== '"' || !chosen(t)) continue;
    // The literal's content does not matter for validation, only its length.
    parts.push(text.slice(from, t.start), `'${t.text.slice(1, -1).replace(/'/g, '_')}'`);
    from = t.end;
  }
  return from === 0 ? text : parts.join('') + text.slice(from);
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
function platformLimits(text: string): PlatformLimit[] {
  const { db, tableByVtab, columnsByTable } = getEngine();
  // EXPLAIN lists the bytecode without running it. Raw rows: addr, opcode, p1, p2, p3, p4, …
  const plan: ExplainRow[] = [];
  for (const row of db.prepare(`EXPLAIN ${text}`).raw(true).iterate() as Iterable<unknown[]>) {
    const [, opcode, p1, p2, , p4] = row;
    if (opcode === 'VOpen' || opcode === 'VColumn') {
      plan.push({ opcode, p1: Number(p1), p2: Number(p2), p4 });
    }
  }
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
  if ((match = DQS_ERROR.exec(message))) {
    // Only reached when too many distinct "names" had to be tried one by one.
    const offset = findIdentifier(tokens, [match[1] ?? '']);
    return invalid(sql, 'UNKNOWN_COLUMN', `no such column: ${match[1] ?? ''}`, offset);
  }
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
  const code = tokens.filter((t) => !isTrivia(t));
  const verb = code.find(
    (t, i) =>
      t.kind === 'word' &&
      /^(insert|update|delete|replace)$/i.test(t.text) &&
      code[i + 1]?.text !== '(',
  );
  return (verb ?? code[0])?.start;
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
