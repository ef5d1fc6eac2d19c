import type { Kysely } from 'kysely';

/**
 * `host_software` is written host by host (each host's ~1,000 links at once) and read host-major.
 * An index keyed by software id put every host's links on every page of that index, so one
 * host's inventory rewrote the whole index (8 µs per link at 2,000 hosts, growing with the
 * fleet). Lookups by software now probe the (host_id, software_id) primary key per host
 * (hosts of one OS release are found by `host_software_state`'s release index).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('host_software_software_idx').execute();
}
