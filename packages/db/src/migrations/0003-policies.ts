import type { Kysely } from 'kysely';
import type { ColumnTypes } from '../dialect.js';

/**
 * Policies (global and per team), each host's latest result, maintained aggregates, the
 * compliance history (kept when a policy or host is deleted) and webhook automations.
 */
export async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('policies')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('query', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('resolution', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('platform', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('critical', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('team_id', 'integer', (c) => c.references('teams.id').onDelete('cascade'))
    .addColumn('author_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    // Maintained by the result writer on every transition; never counted by scanning results.
    .addColumn('passing_host_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failing_host_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('policies_team_idx').on('policies').column('team_id').execute();

  await db.schema
    .createTable('policy_labels')
    .addColumn('policy_id', 'integer', (c) =>
      c.notNull().references('policies.id').onDelete('cascade'),
    )
    .addColumn('label_id', 'integer', (c) =>
      c.notNull().references('labels.id').onDelete('cascade'),
    )
    .addColumn('exclude', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('policy_labels_pk', ['policy_id', 'label_id'])
    .execute();

  // passes: the latest result, 1 pass, 0 fail, NULL did not run (the query errored on the
  // host); last_known: the latest pass or fail, so an error in between is not a transition.
  await db.schema
    .createTable('policy_membership')
    .addColumn('policy_id', 'integer', (c) =>
      c.notNull().references('policies.id').onDelete('cascade'),
    )
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('passes', 'integer')
    .addColumn('last_known', 'integer')
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint('policy_membership_pk', ['policy_id', 'host_id'])
    .execute();
  await db.schema
    .createIndex('policy_membership_host_idx')
    .on('policy_membership')
    .column('host_id')
    .execute();
  await db.schema
    .createIndex('policy_membership_passes_idx')
    .on('policy_membership')
    .columns(['policy_id', 'passes'])
    .execute();

  // Per host: how many policies fail, and how many of those are critical (compliance summary).
  await db.schema
    .createTable('policy_host_status')
    .addColumn('host_id', 'integer', (c) =>
      c.primaryKey().notNull().references('hosts.id').onDelete('cascade'),
    )
    .addColumn('failing_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failing_critical_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();

  // Audit history: no foreign keys, so it outlives deleted policies and hosts.
  await db.schema
    .createTable('policy_history')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('policy_id', 'integer', (c) => c.notNull())
    .addColumn('policy_name', 'text', (c) => c.notNull())
    .addColumn('team_id', 'integer')
    .addColumn('host_id', 'integer', (c) => c.notNull())
    // The host's team when the change happened, so team reports hold after transfers.
    .addColumn('host_team_id', 'integer')
    .addColumn('hostname', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('passes', 'integer', (c) => c.notNull())
    .addColumn('at', t.bigint, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('policy_history_policy_idx')
    .on('policy_history')
    .columns(['policy_id', 'at'])
    .execute();
  await db.schema
    .createIndex('policy_history_host_idx')
    .on('policy_history')
    .columns(['host_id', 'policy_id', 'at'])
    .execute();
  await db.schema.createIndex('policy_history_at_idx').on('policy_history').column('at').execute();

  // Failing-policy automations per scope: team_id 0 is global.
  await db.schema
    .createTable('policy_automations')
    .addColumn('team_id', 'integer', (c) => c.primaryKey().notNull())
    .addColumn('settings', 'text', (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();
}
