import type { Kysely } from 'kysely';
import type { ColumnTypes } from '../dialect.js';

/** Query reports (latest results per saved query and host) and per-host schedule statistics. */
export async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('query_results')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('query_id', 'integer', (c) =>
      c.notNull().references('queries.id').onDelete('cascade'),
    )
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('last_fetched', t.bigint, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('query_results_query_host_idx')
    .on('query_results')
    .columns(['query_id', 'host_id'])
    .execute();
  await db.schema
    .createIndex('query_results_host_idx')
    .on('query_results')
    .column('host_id')
    .execute();

  await db.schema
    .createTable('host_schedule_stats')
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('query_id', 'integer', (c) => c.references('queries.id').onDelete('cascade'))
    .addColumn('interval', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('executions', t.bigint, (c) => c.notNull().defaultTo(0))
    .addColumn('last_executed', t.bigint, (c) => c.notNull().defaultTo(0))
    .addColumn('wall_time_ms', t.bigint, (c) => c.notNull().defaultTo(0))
    .addColumn('user_time', t.bigint, (c) => c.notNull().defaultTo(0))
    .addColumn('system_time', t.bigint, (c) => c.notNull().defaultTo(0))
    .addColumn('average_memory', t.bigint, (c) => c.notNull().defaultTo(0))
    .addColumn('output_size', t.bigint, (c) => c.notNull().defaultTo(0))
    .addColumn('denylisted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('last_error_at', t.bigint, (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint('host_schedule_stats_pk', ['host_id', 'name'])
    .execute();
  await db.schema
    .createIndex('host_schedule_stats_query_idx')
    .on('host_schedule_stats')
    .column('query_id')
    .execute();
}
