import { sql, type Kysely } from 'kysely';
import type { ColumnTypes } from '../dialect.js';

/**
 * Last-seen times move out of `hosts` into a narrow table of their own (as Fleet keeps
 * `host_seen_times`). Every check-in marks its host seen, and the batched flush rewrote 10,000
 * wide host rows every 5 s at 20,000 hosts: ~500 pages per 500 hosts, plus the seen-time
 * index, 12-14 ms per slice of 500 on the event loop. Here ~200 rows fit a page: ~1 ms.
 */
export async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('host_seen_times')
    .addColumn('host_id', 'integer', (c) =>
      c.primaryKey().references('hosts.id').onDelete('cascade'),
    )
    .addColumn('seen_time', t.bigint, (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`INSERT INTO host_seen_times (host_id, seen_time) SELECT id, seen_time FROM hosts`.execute(
    db,
  );
  await db.schema.dropIndex('hosts_seen_idx').execute();
  await db.schema.alterTable('hosts').dropColumn('seen_time').execute();
}
