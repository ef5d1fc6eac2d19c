import SQLite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type Datastore, type TestDatabase } from '../src/index.js';

/**
 * Another connection to the same SQLite file holds the write lock (in the server that is the
 * policy results or vulnerability thread). A transaction on the datastore's connection must
 * wait for it without holding the event loop: SQLite's own busy handler would sleep inside
 * the synchronous BEGIN, and here, with the other connection on the same thread, it could not
 * even be released (the transaction would fail after the 5 s busy timeout).
 */
describe('a SQLite transaction waiting for another connection’s write lock', () => {
  let db: TestDatabase;
  let ds: Datastore;
  let other: SQLite.Database;

  beforeEach(async () => {
    db = await createTestDatabase('sqlite');
    ds = db.open();
    await ds.migrate();
    other = new SQLite(db.location);
    other.pragma('busy_timeout = 5000');
  });
  afterEach(async () => {
    other.close();
    await ds.db.destroy();
    await db.drop();
  });

  it('waits on a timer, so the event loop runs and the lock holder can commit', async () => {
    other.exec('BEGIN IMMEDIATE');
    other.exec(
      `INSERT INTO teams (name, description, created_at, updated_at) VALUES ('held', '', 1, 1)`,
    );
    const t0 = performance.now();
    let timersFired = 0;
    const ticker = setInterval(() => timersFired++, 5);
    const release = setTimeout(() => other.exec('COMMIT'), 100);
    try {
      await ds.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('teams')
          .values({ name: 'waited', description: '', created_at: 2, updated_at: 2 })
          .execute();
      });
    } finally {
      clearInterval(ticker);
      clearTimeout(release);
    }
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(95); // it did wait for the other's commit
    expect(took).toBeLessThan(4000); // and did not sit out SQLite's busy timeout
    expect(timersFired).toBeGreaterThan(5); // the loop kept turning meanwhile
    const names = await ds.db.selectFrom('teams').select('name').orderBy('name').execute();
    expect(names.map((r) => r.name)).toEqual(['held', 'waited']);
  });

  it('other queries on the connection queue behind the waiting transaction, then run', async () => {
    other.exec('BEGIN IMMEDIATE');
    const order: string[] = [];
    const tx = ds.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('teams')
        .values({ name: 'in-tx', description: '', created_at: 3, updated_at: 3 })
        .execute();
      order.push('transaction');
    });
    await new Promise((r) => setTimeout(r, 20));
    const read = ds.db
      .selectFrom('teams')
      .select('name')
      .execute()
      .then((rows) => order.push(`read ${rows.length}`));
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([]); // both still waiting for the lock holder
    other.exec('COMMIT');
    await Promise.all([tx, read]);
    expect(order).toEqual(['transaction', 'read 1']);
  });

  /** Another connection can take the write lock at once (nothing left a transaction open). */
  function expectLockFree(): void {
    other.pragma('busy_timeout = 0');
    other.exec('BEGIN IMMEDIATE');
    other.exec('ROLLBACK');
    other.pragma('busy_timeout = 5000');
  }

  it('a single write outside a transaction also waits on a timer, then commits', async () => {
    other.exec('BEGIN IMMEDIATE');
    let timersFired = 0;
    const ticker = setInterval(() => timersFired++, 5);
    const release = setTimeout(() => other.exec('COMMIT'), 100);
    const t0 = performance.now();
    try {
      await ds.db
        .insertInto('teams')
        .values({ name: 'alone', description: '', created_at: 4, updated_at: 4 })
        .execute();
    } finally {
      clearInterval(ticker);
      clearTimeout(release);
    }
    expect(performance.now() - t0).toBeGreaterThanOrEqual(95);
    expect(timersFired).toBeGreaterThan(5);
    // Its own transaction was committed: the lock is free, and the row is visible to others.
    expectLockFree();
    const fromOther = other.prepare('SELECT name FROM teams').all() as Array<{ name: string }>;
    expect(fromOther.map((r) => r.name)).toEqual(['alone']);
  });

  it('a single write that fails is rolled back and leaves no transaction open', async () => {
    await ds.db
      .insertInto('teams')
      .values({ name: 'dup', description: '', created_at: 1, updated_at: 1 })
      .execute();
    await expect(
      ds.db
        .insertInto('teams')
        .values({ name: 'dup', description: '', created_at: 1, updated_at: 1 })
        .execute(),
    ).rejects.toThrow(/UNIQUE/);
    expectLockFree();
  });

  it('a transaction that fails for another reason still fails at once', async () => {
    await expect(
      ds.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('teams')
          .values({ name: 'x', description: '', created_at: 1, updated_at: 1 })
          .execute();
        await trx
          .insertInto('teams')
          .values({ name: 'x', description: '', created_at: 1, updated_at: 1 })
          .execute();
      }),
    ).rejects.toThrow(/UNIQUE/);
    const rows = await ds.db.selectFrom('teams').selectAll().execute();
    expect(rows).toEqual([]);
  });
});
