import type { Kysely } from 'kysely';
import type { ColumnTypes } from '../dialect.js';

/** Built-in labels every installation starts with (Fleet's set plus the Linux families we serve). */
export const BUILTIN_LABELS: ReadonlyArray<{ name: string; description: string; query: string }> = [
  { name: 'All Hosts', description: 'All hosts which have enrolled', query: 'SELECT 1;' },
  {
    name: 'macOS',
    description: 'All macOS hosts',
    query: "SELECT 1 FROM os_version WHERE platform = 'darwin';",
  },
  {
    name: 'MS Windows',
    description: 'All Windows hosts',
    query: "SELECT 1 FROM os_version WHERE platform = 'windows';",
  },
  {
    name: 'All Linux',
    description: 'All Linux distributions',
    query: "SELECT 1 FROM os_version WHERE platform NOT IN ('darwin', 'windows', 'freebsd');",
  },
  {
    name: 'Ubuntu Linux',
    description: 'All Ubuntu hosts',
    query: "SELECT 1 FROM os_version WHERE platform = 'ubuntu';",
  },
  {
    name: 'Debian Linux',
    description: 'All Debian hosts',
    query: "SELECT 1 FROM os_version WHERE platform = 'debian';",
  },
  {
    name: 'CentOS Linux',
    description: 'All CentOS hosts',
    query: "SELECT 1 FROM os_version WHERE platform = 'centos' OR name LIKE '%centos%';",
  },
  {
    name: 'Red Hat Linux',
    description: 'All Red Hat Enterprise Linux hosts',
    query: "SELECT 1 FROM os_version WHERE platform = 'rhel' OR name LIKE '%red hat%';",
  },
  {
    name: 'RHEL family',
    description: 'RHEL and rebuilds: CentOS, Rocky, AlmaLinux, Oracle Linux',
    query:
      "SELECT 1 FROM os_version WHERE platform IN ('rhel', 'centos', 'rocky', 'almalinux', 'ol') OR platform_like LIKE '%rhel%';",
  },
  {
    name: 'Amazon Linux',
    description: 'All Amazon Linux hosts',
    query: "SELECT 1 FROM os_version WHERE platform = 'amzn';",
  },
  {
    name: 'Fedora Linux',
    description: 'All Fedora hosts',
    query: "SELECT 1 FROM os_version WHERE platform = 'fedora';",
  },
];

export async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('queries')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('query', 'text', (c) => c.notNull())
    .addColumn('team_id', 'integer', (c) => c.references('teams.id').onDelete('cascade'))
    .addColumn('interval', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('platform', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('min_osquery_version', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('automations_enabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('logging', 'text', (c) => c.notNull().defaultTo('snapshot'))
    .addColumn('observer_can_run', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('discard_data', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('author_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('queries_team_idx').on('queries').column('team_id').execute();

  await db.schema
    .createTable('labels')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('query', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('platform', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('label_type', 'text', (c) => c.notNull().defaultTo('regular'))
    .addColumn('label_membership_type', 'text', (c) => c.notNull().defaultTo('dynamic'))
    .addColumn('author_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('label_membership')
    .addColumn('label_id', 'integer', (c) =>
      c.notNull().references('labels.id').onDelete('cascade'),
    )
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint('label_membership_pk', ['label_id', 'host_id'])
    .execute();
  await db.schema
    .createIndex('label_membership_host_idx')
    .on('label_membership')
    .column('host_id')
    .execute();

  await db.schema
    .createTable('campaigns')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('query_id', 'integer', (c) => c.references('queries.id').onDelete('set null'))
    .addColumn('query_sql', 'text', (c) => c.notNull())
    .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('targets_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();

  const now = Date.now();
  await (db as Kysely<{ labels: Record<string, unknown> }>)
    .insertInto('labels')
    .values(
      BUILTIN_LABELS.map((l) => ({
        ...l,
        platform: '',
        label_type: 'builtin',
        label_membership_type: 'dynamic',
        created_at: now,
        updated_at: now,
      })),
    )
    .execute();
}
