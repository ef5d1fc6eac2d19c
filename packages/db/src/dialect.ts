import type { ColumnDataType } from 'kysely';

export type DialectName = 'sqlite' | 'postgres';

/** The few column types that differ between SQLite and PostgreSQL. */
export interface ColumnTypes {
  /** For the rare migration step that differs by dialect (e.g. SQLite's WITHOUT ROWID). */
  dialect: DialectName;
  /** Auto-incrementing integer primary key. */
  id: ColumnDataType;
  bigint: ColumnDataType;
  blob: ColumnDataType;
  double: ColumnDataType;
}
