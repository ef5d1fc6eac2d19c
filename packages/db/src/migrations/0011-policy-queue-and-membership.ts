import { sql, type Kysely } from 'kysely';
import type { ColumnTypes } from '../dialect.js';

/**
 * 1. Policy automations' deliveries, queued in the transaction that records a host starting
 *    to fail, so a restart re-sends what was not delivered (at least once). A row leaves the
 *    queue when it is delivered, given up on, or the host passes again before it was sent.
 * 2. `policy_membership` keyed by (host_id, policy_id): the result writer reads and writes a
 *    host's results together, so they sit together (on SQLite a WITHOUT ROWID table, which
 *    also drops two of the four b-trees every new result was inserted into).
 */
export async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('policy_automation_queue')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('automation', 'text', (c) => c.notNull())
    .addColumn('policy_id', 'integer', (c) =>
      c.notNull().references('policies.id').onDelete('cascade'),
    )
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('hostname', 'text', (c) => c.notNull().defaultTo(''))
    // When the host started failing (or a reset asked for it again).
    .addColumn('failed_at', t.bigint, (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    // Due time; while a process is sending a row, a lease (so no other process sends it too).
    .addColumn('next_at', t.bigint, (c) => c.notNull())
    .addColumn('last_error', 'text')
    .execute();
  await db.schema
    .createIndex('policy_automation_queue_key_idx')
    .on('policy_automation_queue')
    .columns(['automation', 'policy_id', 'host_id'])
    .unique()
    .execute();
  await db.schema
    .createIndex('policy_automation_queue_due_idx')
    .on('policy_automation_queue')
    .column('next_at')
    .execute();

  await db.schema.dropIndex('policy_membership_host_idx').execute();
  if (t.dialect === 'postgres') {
    await sql`ALTER TABLE policy_membership DROP CONSTRAINT policy_membership_pk,
      ADD CONSTRAINT policy_membership_pk PRIMARY KEY (host_id, policy_id)`.execute(db);
    return;
  }
  await db.schema
    .createTable('policy_membership_new')
    .addColumn('policy_id', 'integer', (c) =>
      c.notNull().references('policies.id').onDelete('cascade'),
    )
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('passes', 'integer')
    .addColumn('last_known', 'integer')
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint('policy_membership_pk', ['host_id', 'policy_id'])
    .modifyEnd(sql`WITHOUT ROWID`)
    .execute();
  await sql`INSERT INTO policy_membership_new (policy_id, host_id, passes, last_known, updated_at)
    SELECT policy_id, host_id, passes, last_known, updated_at FROM policy_membership`.execute(db);
  await db.schema.dropTable('policy_membership').execute();
  await db.schema.alterTable('policy_membership_new').renameTo('policy_membership').execute();
  await db.schema
    .createIndex('policy_membership_passes_idx')
    .on('policy_membership')
    .columns(['policy_id', 'passes'])
    .execute();
}
