import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import type { OsqueryColumn } from './schema.js';

/** A value a simulated table yields for one cell (undefined/null become SQL NULL). */
export type CellValue = string | number | bigint | null;

const require = createRequire(import.meta.url);

/**
 * better-sqlite3's public `db.table()` declares every column untyped and cannot mark a
 * column HIDDEN unless it is a parameter. osquery declares typed columns (so `uid = '0'`
 * matches an integer uid through column affinity) and hides some from `SELECT *`.
 * The native method under `db.table()` accepts the CREATE TABLE text itself, so we pass
 * osquery's declaration. Pinned to better-sqlite3 12; the test suite covers it.
 */
interface NativeDatabase {
  table(
    factory: () => [string, () => Iterator<CellValue[]>, string[], number, boolean],
    name: string,
    eponymous: boolean,
  ): void;
}

const { cppdb } = require('better-sqlite3/lib/util.js') as { cppdb: symbol };

const sqlType: Record<OsqueryColumn['type'], string> = {
  text: 'TEXT',
  integer: 'INTEGER',
  bigint: 'BIGINT',
  unsigned_bigint: 'UNSIGNED BIGINT',
  double: 'DOUBLE',
};

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

/** Registers an eponymous virtual table whose rows come from `rows()` at each scan. */
export function defineTypedTable(
  db: BetterSqlite3.Database,
  name: string,
  columns: readonly OsqueryColumn[],
  rows: () => Iterator<CellValue[]>,
): void {
  const native = (db as unknown as Record<symbol, NativeDatabase | undefined>)[cppdb];
  if (native === undefined) throw new Error('better-sqlite3 internals changed: no native handle');
  const definition = columns
    .map((c) => `${quote(c.name)} ${sqlType[c.type]}${c.hidden ? ' HIDDEN' : ''}`)
    .join(', ');
  const declaration = `CREATE TABLE x(${definition});`;
  // [sql, generator, parameter names, safeIntegers (2 = database default), directOnly]
  native.table(() => [declaration, rows, [], 2, false], name, true);
}
