import { CompiledQuery } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  type Datastore,
  type HostSoftwareUpdate,
  type TestDatabase,
} from '@flotilla/db';
import { ThreadSoftwareWriter } from '../src/software/software-writer.js';

import { insertHosts } from './helpers.js';
const log = pino({ level: 'silent' });
const pkg = (name: string, version: string) => ({ name, version, source: 'deb_packages' });

describe('software inventories written by a thread with its own SQLite connection', () => {
  let db: TestDatabase;
  let ds: Datastore;
  let writer: ThreadSoftwareWriter;
  const hostIds: number[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    ds = db.open();
    await ds.migrate();
    hostIds.push(...(await insertHosts(ds, 3)));
    writer = new ThreadSoftwareWriter(ds, log);
  });
  afterAll(async () => {
    await writer.stop();
    await ds.close();
    await db.drop();
  });

  /** Each host's packages as "name version", read on this thread's connection. */
  async function links(): Promise<Record<number, string[]>> {
    const rows = await ds.db
      .selectFrom('host_software as hs')
      .innerJoin('software as s', 's.id', 'hs.software_id')
      .select(['hs.host_id', 's.name', 's.version'])
      .orderBy('s.name')
      .execute();
    const out: Record<number, string[]> = {};
    for (const r of rows) (out[r.host_id] ??= []).push(`${r.name} ${r.version}`);
    return out;
  }

  it('links each host to its packages, then applies only what changed', async () => {
    const [a, b] = hostIds as [number, number];
    const first: HostSoftwareUpdate[] = [
      {
        hostId: a,
        checksum: 'a1',
        sources: ['deb_packages'],
        items: [pkg('bash', '5.1'), pkg('curl', '7.81')],
      },
      { hostId: b, checksum: 'b1', sources: ['deb_packages'], items: [pkg('bash', '5.1')] },
    ];
    await writer.apply(first, 1_000);
    expect(writer.threaded).toBe(true);
    expect(await links()).toEqual({ [a]: ['bash 5.1', 'curl 7.81'], [b]: ['bash 5.1'] });

    // curl upgraded on a: the old version's link goes, the new one comes, bash stays.
    await writer.apply(
      [
        {
          hostId: a,
          checksum: 'a2',
          sources: ['deb_packages'],
          items: [pkg('bash', '5.1'), pkg('curl', '8.5')],
        },
      ],
      2_000,
    );
    expect(await links()).toEqual({ [a]: ['bash 5.1', 'curl 8.5'], [b]: ['bash 5.1'] });
    const state = await ds.db
      .selectFrom('host_software_state')
      .select(['host_id', 'checksum', 'changed_at'])
      .where('host_id', '=', a)
      .executeTakeFirstOrThrow();
    expect(state).toMatchObject({ checksum: 'a2', changed_at: 2_000 });
  });

  it('records an unchanged report as seen', async () => {
    const [, b] = hostIds as [number, number];
    await writer.touch([b], 5_000);
    const st = await ds.db
      .selectFrom('host_software_state')
      .select('seen_at')
      .where('host_id', '=', b)
      .executeTakeFirstOrThrow();
    expect(st.seen_at).toBe(5_000);
  });

  it("waits for the event loop's own write transaction instead of failing", async () => {
    const c = hostIds[2]!;
    await ds.db.connection().execute(async (conn) => {
      await conn.executeQuery(CompiledQuery.raw('begin immediate'));
      const written = writer.apply(
        [{ hostId: c, checksum: 'c1', sources: ['deb_packages'], items: [pkg('zsh', '5.9')] }],
        6_000,
      );
      await new Promise((r) => setTimeout(r, 300));
      await conn.executeQuery(CompiledQuery.raw('commit'));
      await written;
    });
    expect((await links())[c]).toEqual(['zsh 5.9']);
  });

  it("leaves the lock to the event loop's writes between its own transactions", async () => {
    const hosts = await insertHosts(ds, 40, 100);
    // Five batches of 8 hosts × 500 packages: each a transaction of tens of milliseconds.
    const batches = [0, 1, 2, 3, 4].map((b) =>
      hosts.slice(b * 8, b * 8 + 8).map((hostId) => ({
        hostId,
        checksum: `big${hostId}`,
        sources: ['deb_packages'],
        items: Array.from({ length: 500 }, (_, i) => pkg(`lib${i}`, `${b}.${i}`)),
      })),
    );
    const done: string[] = [];
    const applied = batches.map((batch, i) =>
      writer.apply(batch, 7_000).then(() => done.push(`thread ${i}`)),
    );
    // While the first transaction runs, a write of this thread's own has to get the lock in
    // one of the thread's pauses (it tries every few ms), not after all five.
    await new Promise((r) => setTimeout(r, 10));
    await ds.db
      .updateTable('hosts')
      .set({ hostname: 'renamed' })
      .where('id', '=', hosts[0]!)
      .execute();
    done.push('event loop');
    await Promise.all(applied);
    expect(done.indexOf('event loop')).toBeLessThanOrEqual(2);
  });
});
