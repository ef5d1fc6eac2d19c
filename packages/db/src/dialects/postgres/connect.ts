import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from '../../schema.js';
import type { ColumnTypes } from '../../dialect.js';

export const postgresTypes: ColumnTypes = {
  dialect: 'postgres',
  id: 'serial',
  bigint: 'bigint',
  blob: 'bytea',
  double: 'double precision',
};

// Times are epoch milliseconds: well inside Number's exact range, so parse int8 as number.
pg.types.setTypeParser(20, (v: string) => Number(v));
pg.types.setTypeParser(1700, (v: string) => Number(v));

export function connectPostgres(
  url: string,
  maxConnections = 10,
): { db: Kysely<Database>; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: url, max: maxConnections });
  // An idle connection the server ends (restart, failover, a dropped database) is an 'error'
  // event on the pool; unheard, it would crash the process. The pool replaces the client.
  pool.on('error', (err) => {
    process.emitWarning(`PostgreSQL idle connection closed: ${err.message}`);
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, pool };
}
