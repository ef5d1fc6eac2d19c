import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type Datastore, type TestDatabase } from '@flotilla/db';
import { LocalBus } from '../src/bus/bus.js';
import type { HostRuntime } from '../src/osquery/host-cache.js';
import { WriteBatcher } from '../src/osquery/write-batcher.js';
import { POLICY_PREFIX, PolicyQuerySource } from '../src/policies/policy-queries.js';

const log = pino({ level: 'silent' });

const host = (id: number, policyUpdatedAt = 0): HostRuntime => ({
  id,
  nodeKeyHash: '',
  osqueryHostId: `host-${id}`,
  teamId: null,
  platform: 'ubuntu',
  detailDueAt: 0,
  detailAskedAt: 0,
  refetch: false,
  labelUpdatedAt: 0,
  labelAskedAt: 0,
  policyUpdatedAt,
  policyAskedAt: 0,
  seenAt: 0,
});

/** A policy source on a fresh SQLite database, with a clock the test moves. */
async function openSource(clock: () => number) {
  const db = await createTestDatabase('sqlite');
  const ds = db.open();
  await ds.migrate();
  const source = new PolicyQuerySource(
    ds,
    new WriteBatcher(ds, log, 1000, 50, clock),
    new LocalBus(),
    log,
    3600,
    clock,
  );
  await source.start();
  return { db, ds, source };
}

async function closeSource(db: TestDatabase, ds: Datastore, source: PolicyQuerySource) {
  await source.stop();
  await ds.db.destroy();
  await db.drop();
}

/**
 * A fleet's first policies reach it at about 500 hosts a second (2,000 hosts: over 4 s), not
 * all at the next check-in: hosts that never reported used to count as "due" by the interval
 * and skipped the spread, so a first library brought every host's results in one interval.
 */
/** A global policy for every platform, created at `now`. */
function createPolicy(ds: Datastore, name: string, query: string, now: number): Promise<unknown> {
  return ds.policies.create(
    {
      name,
      query,
      description: '',
      resolution: '',
      platform: '',
      critical: false,
      teamId: null,
      authorId: null,
    },
    now,
  );
}

describe('new policies are spread over a fleet that never reported any', () => {
  let db: TestDatabase;
  let ds: Datastore;
  let now = 1_000_000_000;
  let source: PolicyQuerySource;
  const fleet = Array.from({ length: 2000 }, (_, i) => host(i + 1));
  const asked = (hosts: HostRuntime[]) =>
    hosts.filter((h) => source.pending(h, now)?.[`${POLICY_PREFIX}1`] !== undefined).length;

  beforeAll(async () => {
    ({ db, ds, source } = await openSource(() => now));
  });
  afterAll(() => closeSource(db, ds, source));

  it('asks a quarter of 2,000 hosts in the first second and the rest by the fourth', async () => {
    // The fleet checks in before any policy exists: nothing to ask.
    expect(asked(fleet)).toBe(0);
    await createPolicy(ds, 'ssh root login disabled', 'SELECT 1 FROM osquery_info', now);
    await source.reload();
    now += 1000;
    const first = asked(fleet);
    expect(first).toBeGreaterThan(300);
    expect(first).toBeLessThan(700);
    now += 3100; // past the 4 s spread: everyone not asked yet is asked now, once
    expect(asked(fleet)).toBe(fleet.length - first);
  });

  it('a host that reported long ago is due by the interval, at once', () => {
    expect(asked([host(1500, now - 2 * 3600_000)])).toBe(1);
  });

  it('a host enrolled later is asked its policies at its first check-in', () => {
    now += 3600_000;
    expect(asked([host(2001)])).toBe(1);
  });
});

/**
 * A library of many policies is spread by its first results too: 50 new policies over 2,000
 * hosts are 100,000 results, asked at ~10,000 results (200 hosts) a second, over 10 s.
 */
describe('a new library of 50 policies is spread by its first results', () => {
  let db: TestDatabase;
  let ds: Datastore;
  let now = 1_000_000_000;
  let source: PolicyQuerySource;
  const fleet = Array.from({ length: 2000 }, (_, i) => host(i + 1));
  const asked = (hosts: HostRuntime[]) =>
    hosts.filter((h) => Object.keys(source.pending(h, now) ?? {}).length === 50).length;

  beforeAll(async () => {
    ({ db, ds, source } = await openSource(() => now));
  });
  afterAll(() => closeSource(db, ds, source));

  it('asks ~200 hosts a second, every host all 50 once, the last by the tenth second', async () => {
    expect(asked(fleet)).toBe(0);
    for (let i = 0; i < 50; i++)
      await createPolicy(
        ds,
        `hardening check ${i}`,
        `SELECT 1 FROM osquery_info WHERE ${i} = ${i}`,
        now,
      );
    await source.reload();
    now += 1000;
    const first = asked(fleet);
    expect(first).toBeGreaterThan(100);
    expect(first).toBeLessThan(320);
    now += 4000; // half way
    const byFive = first + asked(fleet);
    expect(byFive).toBeGreaterThan(850);
    expect(byFive).toBeLessThan(1150);
    now += 5100; // past the 10 s spread
    expect(byFive + asked(fleet)).toBe(fleet.length);
  });
});
