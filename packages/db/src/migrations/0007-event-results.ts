import type { Kysely } from 'kysely';
import type { ColumnTypes } from '../dialect.js';

/** Results of scheduled queries over event tables, kept in time order and bounded per query. */
export async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('event_results')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('query_id', 'integer', (c) =>
      c.notNull().references('queries.id').onDelete('cascade'),
    )
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('time', t.bigint, (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('event_results_query_time_idx')
    .on('event_results')
    .columns(['query_id', 'time'])
    .execute();
  await db.schema
    .createIndex('event_results_query_id_idx')
    .on('event_results')
    .columns(['query_id', 'id'])
    .execute();
}
