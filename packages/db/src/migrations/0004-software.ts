import type { Kysely } from 'kysely';
import type { ColumnTypes } from '../dialect.js';

/**
 * Software inventory (each distinct software version stored once, hosts linked to it) and
 * vulnerability findings per host with their lifecycle (first detected, resolved).
 */
export async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('software_titles')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('checksum', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('browser', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('bundle_identifier', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('software_titles_name_idx')
    .on('software_titles')
    .column('name')
    .execute();

  await db.schema
    .createTable('software')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('checksum', 'text', (c) => c.notNull().unique())
    .addColumn('title_id', 'integer', (c) => c.notNull().references('software_titles.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('release', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('arch', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('vendor', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('bundle_identifier', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('extension_id', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('browser', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('package_source', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('software_title_idx').on('software').column('title_id').execute();
  await db.schema.createIndex('software_name_idx').on('software').column('name').execute();

  await db.schema
    .createTable('host_software')
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('software_id', 'integer', (c) => c.notNull().references('software.id'))
    .addColumn('first_seen_at', t.bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint('host_software_pk', ['host_id', 'software_id'])
    .execute();
  await db.schema
    .createIndex('host_software_software_idx')
    .on('host_software')
    .column('software_id')
    .execute();

  // One row per host: the checksum of its last reported list (unchanged list: no write but
  // seen_at), when it last changed, and the checksum the last vulnerability scan saw.
  await db.schema
    .createTable('host_software_state')
    .addColumn('host_id', 'integer', (c) =>
      c.primaryKey().notNull().references('hosts.id').onDelete('cascade'),
    )
    .addColumn('checksum', 'text', (c) => c.notNull())
    .addColumn('seen_at', t.bigint, (c) => c.notNull())
    .addColumn('changed_at', t.bigint, (c) => c.notNull())
    .addColumn('scanned_checksum', 'text', (c) => c.notNull().defaultTo(''))
    .execute();

  await db.schema
    .createTable('vulnerabilities')
    .addColumn('cve', 'text', (c) => c.primaryKey().notNull())
    .addColumn('severity', 'text', (c) => c.notNull().defaultTo('unknown'))
    .addColumn('cvss_score', t.double)
    .addColumn('epss_probability', t.double)
    .addColumn('cisa_known_exploit', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('kev_date_added', 'text')
    .addColumn('hosts_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('hosts_count_updated_at', t.bigint, (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('host_vulnerabilities')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('software_id', 'integer', (c) => c.references('software.id'))
    .addColumn('cve', 'text', (c) => c.notNull())
    .addColumn('package', 'text', (c) => c.notNull())
    .addColumn('installed_version', 'text', (c) => c.notNull())
    .addColumn('fixed_version', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('advisory', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('first_detected_at', t.bigint, (c) => c.notNull())
    .addColumn('resolved_at', t.bigint)
    .addColumn('updated_at', t.bigint, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('host_vulnerabilities_key_idx')
    .on('host_vulnerabilities')
    .columns(['host_id', 'cve', 'package'])
    .unique()
    .execute();
  await db.schema
    .createIndex('host_vulnerabilities_cve_idx')
    .on('host_vulnerabilities')
    .column('cve')
    .execute();
  await db.schema
    .createIndex('host_vulnerabilities_software_idx')
    .on('host_vulnerabilities')
    .column('software_id')
    .execute();
}
