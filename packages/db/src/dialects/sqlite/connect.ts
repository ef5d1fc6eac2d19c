import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from '../../schema.js';
import type { ColumnTypes } from '../../dialect.js';

export const sqliteTypes: ColumnTypes = {
  id: 'integer',
  bigint: 'integer',
  blob: 'blob',
  double: 'real',
};

/** Opens (creating if needed) a SQLite database file in WAL mode. */
export function connectSqlite(file: string): { db: Kysely<Database>; raw: SQLite.Database } {
  const raw = new SQLite(file);
  raw.pragma('journal_mode = WAL');
  // WAL makes NORMAL durable across application crashes; only an OS crash may lose the tail.
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  raw.pragma('cache_size = -65536');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  return { db, raw };
}
