import { sql, type Kysely } from 'kysely';
import type { ColumnTypes } from '../dialect.js';

/**
 * Findings stored once per (OS release, software version, CVE) instead of once per host: a host
 * is exposed when it has the software and runs that release. `host_vulnerabilities` keeps what
 * is specific to one host (running-kernel findings) and the resolution history.
 */
export async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('software_cves')
    .addColumn('id', t.id, (c) => c.primaryKey().notNull())
    .addColumn('release_key', 'text', (c) => c.notNull())
    .addColumn('software_id', 'integer', (c) => c.notNull().references('software.id'))
    .addColumn('cve', 'text', (c) => c.notNull())
    .addColumn('package', 'text', (c) => c.notNull())
    .addColumn('installed_version', 'text', (c) => c.notNull())
    .addColumn('fixed_version', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('advisory', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('feeds_version', 'text', (c) => c.notNull())
    .addColumn('created_at', t.bigint, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('software_cves_key_idx')
    .on('software_cves')
    .columns(['software_id', 'release_key', 'cve'])
    .unique()
    .execute();
  await db.schema.createIndex('software_cves_cve_idx').on('software_cves').column('cve').execute();
  await db.schema
    .alterTable('host_software_state')
    .addColumn('release_key', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema
    .createIndex('host_software_state_release_idx')
    .on('host_software_state')
    .column('release_key')
    .execute();
  // Findings already stored per host move to the shared table on the next scan.
  await sql`delete from host_vulnerabilities where resolved_at is null and software_id is not null`.execute(
    db,
  );
  await sql`
    create view open_host_vulnerabilities as
    select hs.host_id, sc.software_id, sc.cve, sc.package, sc.installed_version, sc.fixed_version,
      sc.source, sc.advisory,
      case when hs.first_seen_at > sc.created_at then hs.first_seen_at else sc.created_at end
        as first_detected_at
    from host_software hs
    join host_software_state st on st.host_id = hs.host_id
    join software_cves sc on sc.software_id = hs.software_id and sc.release_key = st.release_key
    union all
    select host_id, software_id, cve, package, installed_version, fixed_version, source, advisory,
      first_detected_at
    from host_vulnerabilities where resolved_at is null and software_id is null`.execute(db);
}
