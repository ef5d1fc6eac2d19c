import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type Datastore, type TestDatabase } from '../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The checkpoint thread copies the write-ahead log into the database every 250 ms. Once the
 * whole log is copied, the next commit starts the log over and syncs its new header first,
 * which on a busy disk took 50-550 ms on the event loop when that commit was the server's.
 * The thread makes that first commit itself, so the server's commits only append.
 */
describe('SQLite checkpoints in the background', () => {
  let db: TestDatabase;
  let ds: Datastore;

  beforeEach(async () => {
    db = await createTestDatabase('sqlite');
    ds = db.open();
    await ds.migrate();
  });
  afterEach(async () => {
    await ds.db.destroy();
    await db.drop();
  });

  /** The log header's salts: SQLite draws new ones each time the log starts over. */
  const salts = () => readFileSync(`${db.location}-wal`).subarray(16, 24).toString('hex');
  const addTeam = (name: string) =>
    ds.db
      .insertInto('teams')
      .values({ name, description: '', created_at: 1, updated_at: 1 })
      .execute();

  /** Waits (up to 10 s, for a loaded machine) until a round has started the log over. */
  async function roundAfter(before: string): Promise<string> {
    for (const end = Date.now() + 10_000; Date.now() < end; await sleep(50))
      if (salts() !== before) return salts();
    throw new Error('the checkpoint thread did not start the log over');
  }

  it('the server’s next commit appends to the log instead of starting it over', async () => {
    await addTeam('first');
    const afterRound = await roundAfter(salts()); // a round copied the log and started it over
    await sleep(600); // idle rounds (every 250 ms) leave the log alone
    expect(salts()).toBe(afterRound);
    await addTeam('second');
    expect(salts()).toBe(afterRound); // appended: no restart, no header sync on this thread
    await roundAfter(afterRound); // the next round copies that too and starts over again
    const names = await ds.db.selectFrom('teams').select('name').orderBy('name').execute();
    expect(names.map((r) => r.name)).toEqual(['first', 'second']);
  });
});
