import type { Kysely } from 'kysely';
import type { ColumnTypes } from '../dialect.js';

/**
 * Hosts per software version and per title, per team, as Fleet keeps them
 * (`software_host_counts`, `software_titles_host_counts`): `team_id` -1 is every host (the
 * all-teams figure), 0 hosts in no team, otherwise the team. Counted by the scan job's count
 * pass, which reads `host_software` host-major; the software lists read these rows instead of
 * joining every host's links (47 s of synchronous SQLite at 20,000 hosts).
 * `vulnerable_hosts_count`: hosts on which that version (any version of that title) has an open
 * finding, for `vulnerable=true`.
 */
export async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('software_host_counts')
    .addColumn('software_id', 'integer', (c) => c.notNull())
    .addColumn('team_id', 'integer', (c) => c.notNull())
    .addColumn('hosts_count', 'integer', (c) => c.notNull())
    .addColumn('vulnerable_hosts_count', 'integer', (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint('software_host_counts_pk', ['software_id', 'team_id'])
    .execute();
  // A scope's list in hosts_count order, without sorting every row of the team.
  await db.schema
    .createIndex('software_host_counts_team_idx')
    .on('software_host_counts')
    .columns(['team_id', 'hosts_count'])
    .execute();

  await db.schema
    .createTable('software_title_host_counts')
    .addColumn('title_id', 'integer', (c) => c.notNull())
    .addColumn('team_id', 'integer', (c) => c.notNull())
    .addColumn('hosts_count', 'integer', (c) => c.notNull())
    .addColumn('versions_count', 'integer', (c) => c.notNull())
    .addColumn('vulnerable_hosts_count', 'integer', (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint('software_title_host_counts_pk', ['title_id', 'team_id'])
    .execute();
  await db.schema
    .createIndex('software_title_host_counts_team_idx')
    .on('software_title_host_counts')
    .columns(['team_id', 'hosts_count'])
    .execute();
}
