import type { ColumnDataType } from 'kysely';

export type DialectName = 'sqlite' | 'postgres';

/** The few column types that differ between SQLite and PostgreSQL. */
export interface ColumnTypes {
  /** Auto-incrementing integer primary key. */
  id: ColumnDataType;
  bigint: ColumnDataType;
  blob: ColumnDataType;
  double: ColumnDataType;
}
