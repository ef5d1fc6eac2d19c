import type { Kysely } from 'kysely';
import type { ColumnTypes } from '../dialect.js';

/** Users, teams, secrets, hosts and the audit log: what enrollment and inventory need. */
export async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('app_config')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('json', 'text', (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('teams')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('agent_options', 'text')
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('global_role', 'text')
    .addColumn('api_only', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('force_password_reset', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('user_teams')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('team_id', 'integer', (c) => c.notNull().references('teams.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_teams_pk', ['user_id', 'team_id'])
    .execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .addColumn('accessed_at', t.bigint, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('enroll_secrets')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
    .addColumn('secret_enc', 'text', (c) => c.notNull())
    .addColumn('team_id', 'integer', (c) => c.references('teams.id').onDelete('cascade'))
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .execute();

  let hosts = db.schema
    .createTable('hosts')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('node_key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('osquery_host_id', 'text', (c) => c.notNull().unique())
    .addColumn('team_id', 'integer', (c) => c.references('teams.id').onDelete('set null'));
  for (const col of [
    'hostname',
    'computer_name',
    'uuid',
    'hardware_serial',
    'hardware_vendor',
    'hardware_model',
    'hardware_version',
    'platform',
    'platform_like',
    'os_name',
    'os_version',
    'build',
    'code_name',
    'kernel_version',
    'osquery_version',
    'cpu_type',
    'cpu_subtype',
    'cpu_brand',
    'primary_ip',
    'primary_mac',
    'public_ip',
  ]) {
    hosts = hosts.addColumn(col, 'text', (c) => c.notNull().defaultTo(''));
  }
  for (const col of [
    'cpu_physical_cores',
    'cpu_logical_cores',
    'distributed_interval',
    'config_tls_refresh',
    'logger_tls_period',
    'refetch_requested',
  ]) {
    hosts = hosts.addColumn(col, 'integer', (c) => c.notNull().defaultTo(0));
  }
  for (const col of [
    'memory',
    'uptime_s',
    'created_at',
    'updated_at',
    'detail_updated_at',
    'label_updated_at',
    'policy_updated_at',
    'last_enrolled_at',
    'seen_time',
  ]) {
    hosts = hosts.addColumn(col, t.bigint, (c) => c.notNull().defaultTo(0));
  }
  for (const col of [
    'gigs_disk_space_available',
    'percent_disk_space_available',
    'gigs_total_disk_space',
  ]) {
    hosts = hosts.addColumn(col, t.double, (c) => c.notNull().defaultTo(0));
  }
  await hosts.addColumn('disk_encryption_enabled', 'integer').execute();
  await db.schema.createIndex('hosts_team_idx').on('hosts').column('team_id').execute();
  await db.schema.createIndex('hosts_uuid_idx').on('hosts').column('uuid').execute();
  await db.schema.createIndex('hosts_hostname_idx').on('hosts').column('hostname').execute();
  await db.schema.createIndex('hosts_seen_idx').on('hosts').column('seen_time').execute();

  await db.schema
    .createTable('host_users')
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('uid', t.bigint, (c) => c.notNull())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('groupname', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('shell', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema.createIndex('host_users_host_idx').on('host_users').column('host_id').execute();

  await db.schema
    .createTable('activities')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('actor_id', 'integer')
    .addColumn('actor_full_name', 'text')
    .addColumn('actor_email', 'text')
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull())
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('activities_created_idx')
    .on('activities')
    .column('created_at')
    .execute();

  await db.schema
    .createTable('carves')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('block_count', 'integer', (c) => c.notNull())
    .addColumn('block_size', 'integer', (c) => c.notNull())
    .addColumn('carve_size', t.bigint, (c) => c.notNull())
    .addColumn('carve_id', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull().unique())
    .addColumn('max_block', 'integer', (c) => c.notNull().defaultTo(-1))
    .addColumn('error', 'text')
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('carve_blocks')
    .addColumn('carve_id', 'integer', (c) =>
      c.notNull().references('carves.id').onDelete('cascade'),
    )
    .addColumn('block_id', 'integer', (c) => c.notNull())
    .addColumn('data', t.blob, (c) => c.notNull())
    .addPrimaryKeyConstraint('carve_blocks_pk', ['carve_id', 'block_id'])
    .execute();
}
