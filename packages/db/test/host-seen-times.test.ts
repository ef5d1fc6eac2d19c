import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  postgresAvailable,
  type Datastore,
  type DialectName,
  type TestDatabase,
} from '../src/index.js';

/**
 * Last-seen times live in `host_seen_times`, not in the wide `hosts` row: an upgrade carries
 * every host's time over, reads join it back, the check-in flush writes only there, and a
 * deleted host takes its row with it.
 */
for (const dialect of ['sqlite', 'postgres'] as DialectName[]) {
  describe(`host last-seen times (${dialect})`, () => {
    let db: TestDatabase | undefined;
    let ds: Datastore | undefined;

    afterEach(async () => {
      await ds?.close();
      await db?.drop();
      ds = undefined;
      db = undefined;
    });

    const open = async (): Promise<Datastore | undefined> => {
      if (dialect === 'postgres' && !(await postgresAvailable())) return undefined;
      db = await createTestDatabase(dialect);
      ds = db.open();
      return ds;
    };

    it('an upgrade moves every host’s seen time out of hosts, and reads join it back', async () => {
      const d = await open();
      if (!d) return;
      await d.migrate('0013-software-host-counts');
      for (const [i, seen] of [
        [1, 1_700_000_000_000],
        [2, 1_700_000_500_000],
      ] as const) {
        await sql`INSERT INTO hosts (node_key_hash, osquery_host_id, hostname, created_at, updated_at, last_enrolled_at, seen_time)
          VALUES (${`k${i}`}, ${`h${i}`}, ${`host-${i}`}, 1, 1, 1, ${seen})`.execute(d.db);
      }
      expect(await d.migrate()).toContain('0014-host-seen-times');

      const hosts = await d.hosts.list(
        { visibleTeams: 'all', nowMs: Date.now() },
        { page: 0, perPage: 10, orderKey: 'seen_time', orderDirection: 'desc' },
      );
      expect(hosts.map((h) => [h.hostname, Number(h.seen_time)])).toEqual([
        ['host-2', 1_700_000_500_000],
        ['host-1', 1_700_000_000_000],
      ]);
      const columns = await d.db.introspection.getTables();
      const hostColumns = columns.find((t) => t.name === 'hosts')!.columns.map((c) => c.name);
      expect(hostColumns).not.toContain('seen_time');
    });

    it('the flush writes seen times without touching hosts; enrolling and deleting keep them in step', async () => {
      const d = await open();
      if (!d) return;
      await d.migrate();
      const { host } = await d.hosts.enroll({
        osqueryHostId: 'h1',
        nodeKeyHash: 'k1',
        teamId: null,
        nowMs: 1000,
        details: { hostname: 'one' },
      });
      expect(Number(host.seen_time)).toBe(1000);
      const before = await d.hosts.get(host.id);

      await d.hosts.markSeen([host.id, 999_999], 5000); // an id that is gone changes nothing
      const after = await d.hosts.get(host.id);
      expect(Number(after!.seen_time)).toBe(5000);
      expect({ ...after, seen_time: 0 }).toEqual({ ...before, seen_time: 0 });
      expect(
        await d.hosts.count({ visibleTeams: 'all', status: 'online', nowMs: 5000 + 5_000 }),
      ).toBe(1);
      expect(
        await d.hosts.count({ visibleTeams: 'all', status: 'offline', nowMs: 5000 + 3_600_000 }),
      ).toBe(1);

      // Enrolling again (same osquery host id) refreshes the time instead of adding a row.
      await d.hosts.enroll({
        osqueryHostId: 'h1',
        nodeKeyHash: 'k2',
        teamId: null,
        nowMs: 9000,
        details: {},
      });
      const rows = await d.db.selectFrom('host_seen_times').selectAll().execute();
      expect(rows.map((r) => [r.host_id, Number(r.seen_time)])).toEqual([[host.id, 9000]]);

      await d.hosts.delete([host.id]);
      expect(await d.db.selectFrom('host_seen_times').selectAll().execute()).toEqual([]);
    });
  });
}
