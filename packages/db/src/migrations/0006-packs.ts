import type { Kysely } from 'kysely';
import type { ColumnTypes } from '../dialect.js';

/** Fleet's legacy packs: named sets of scheduled queries targeted at hosts, labels and teams. */
export async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('packs')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('platform', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('pack_targets')
    .addColumn('pack_id', 'integer', (c) => c.notNull().references('packs.id').onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('target_id', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('pack_targets_pk', ['pack_id', 'type', 'target_id'])
    .execute();
  await db.schema
    .createTable('scheduled_queries')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('pack_id', 'integer', (c) => c.notNull().references('packs.id').onDelete('cascade'))
    .addColumn('query_id', 'integer', (c) =>
      c.notNull().references('queries.id').onDelete('cascade'),
    )
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('interval', 'integer', (c) => c.notNull())
    .addColumn('snapshot', 'integer')
    .addColumn('removed', 'integer')
    .addColumn('platform', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('version', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('shard', 'integer')
    .addColumn('denylist', 'integer')
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('scheduled_queries_pack_idx')
    .on('scheduled_queries')
    .column('pack_id')
    .execute();
}
