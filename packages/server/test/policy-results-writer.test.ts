import { CompiledQuery } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  testDialects,
  type Datastore,
  type PolicyFacts,
  type TestDatabase,
} from '@flotilla/db';
import {
  PackedResults,
  packBatch,
  unpackBatch,
  type PackedHostResults,
} from '../src/policies/packed-results.js';
import { ThreadResultsWriter } from '../src/policies/results-writer.js';

import { insertHosts } from './helpers.js';
const log = pino({ level: 'silent' });

const host = (
  hostId: number,
  results: Array<[number, 0 | 1 | null]>,
  at = 1_000,
): PackedHostResults => ({
  hostId,
  hostTeamId: hostId % 2 ? null : 7,
  at,
  results: PackedResults.of(new Map(results)),
});

describe('packed policy results', () => {
  it('a batch survives packing into flat arrays and back', () => {
    const batch = [
      host(3, [
        [1, 1],
        [2, 0],
        [5, null],
      ]),
      host(4, []),
      host(9, [[2, 1]], 2_500),
    ];
    const back = unpackBatch(packBatch(batch));
    expect(back.map((b) => ({ ...b, results: [...b.results] }))).toEqual(
      batch.map((b) => ({ ...b, results: [...b.results] })),
    );
    expect([...back[0]!.results]).toEqual([
      [1, 1],
      [2, 0],
      [5, null],
    ]);
  });
});

describe.each(await testDialects())(
  'policy results written by a thread with its own %s connection',
  (dialect) => {
    let db: TestDatabase;
    let ds: Datastore;
    let writer: ThreadResultsWriter;
    const facts = new Map<number, PolicyFacts>();
    const hostIds: number[] = [];

    beforeAll(async () => {
      db = await createTestDatabase(dialect);
      ds = db.open();
      await ds.migrate();
      hostIds.push(...(await insertHosts(ds, 30)));
      for (const [name, critical] of [
        ['ssh', true],
        ['firewall', false],
      ] as const) {
        const id = await ds.policies.create(
          {
            name,
            query: 'SELECT 1',
            description: '',
            resolution: '',
            platform: '',
            critical,
            teamId: null,
            authorId: null,
          } as never,
          1,
        );
        facts.set(id, { name, teamId: null, critical });
      }
      writer = new ThreadResultsWriter(ds, log);
    });
    afterAll(async () => {
      await writer.stop();
      await ds.close();
      await db.drop();
    });

    it('writes first results and changes, returns the transitions, and moves the counts', async () => {
      const [ssh, firewall] = [...facts.keys()] as [number, number];
      // 30 hosts: more than one transaction's worth. Everyone passes ssh; odd hosts fail firewall.
      const first = hostIds.map((id, i) =>
        host(id, [
          [ssh, 1],
          [firewall, i % 2 ? 0 : 1],
        ]),
      );
      const { transitions: t1, wake: w1 } = await writer.write(first, {
        facts,
        automations: undefined,
      });
      expect(w1).toEqual([]);
      expect(t1).toHaveLength(60);
      expect(t1.find((t) => t.hostId === hostIds[1] && t.policyId === firewall)).toMatchObject({
        passes: 0,
        previous: null,
        hostname: 'host-1',
        at: 1_000,
      });
      const counts = async () =>
        Object.fromEntries(
          (await ds.policies.list({ teamId: null } as never)).map((p) => [
            p.name,
            [p.passing_host_count, p.failing_host_count],
          ]),
        );
      expect(await counts()).toEqual({ ssh: [30, 0], firewall: [15, 15] });

      // Unchanged results write nothing; one host starts failing ssh (queued for an automation).
      const again = hostIds.map((id, i) =>
        host(
          id,
          [
            [ssh, i === 4 ? 0 : 1],
            [firewall, i % 2 ? 0 : 1],
          ],
          2_000,
        ),
      );
      const t2 = await writer.write(again, {
        facts,
        automations: new Map([['webhook', new Set([ssh])]]),
      });
      expect(t2.wake).toEqual(['webhook']);
      expect(t2.transitions).toEqual([
        expect.objectContaining({ hostId: hostIds[4], policyId: ssh, passes: 0, previous: 1 }),
      ]);
      expect(await counts()).toEqual({ ssh: [29, 1], firewall: [15, 15] });
      const queued = await ds.db.selectFrom('policy_automation_queue').selectAll().execute();
      expect(queued).toEqual([expect.objectContaining({ host_id: hostIds[4], policy_id: ssh })]);
      expect(await ds.policies.stateAt(hostIds[4]!, ssh, 1_500)).toMatchObject({ passes: 1 });
    });

    // SQLite has one writer at a time: the thread must wait for the event loop's transaction.
    if (dialect === 'sqlite')
      it("waits for the event loop's own write transaction instead of failing", async () => {
        const [ssh] = [...facts.keys()] as [number];
        // Hold the write lock on this thread's connection for a while, as a long write would.
        await ds.db.connection().execute(async (c) => {
          await c.executeQuery(CompiledQuery.raw('begin immediate'));
          const written = writer.write([host(hostIds[0]!, [[ssh, 0]], 3_000)], {
            facts,
            automations: undefined,
          });
          await new Promise((r) => setTimeout(r, 300));
          await c.executeQuery(CompiledQuery.raw('commit'));
          expect((await written).transitions).toEqual([
            expect.objectContaining({ hostId: hostIds[0], policyId: ssh, passes: 0 }),
          ]);
        });
      });

    it('sends back only the transitions asked for, and still names the automations to wake', async () => {
      const [ssh, firewall] = [...facts.keys()] as [number, number];
      // Hosts 10-13 start failing ssh and flip the firewall (even hosts passed it, odd failed);
      // only the firewall's transitions are wanted back.
      const flips = hostIds.slice(10, 14).map((id, j) =>
        host(
          id,
          [
            [ssh, 0],
            [firewall, j % 2 ? 1 : 0],
          ],
          5_000,
        ),
      );
      const out = await writer.write(flips, {
        facts,
        automations: new Map([['webhook', new Set([ssh])]]),
        report: new Set([firewall]),
      });
      expect(out.wake).toEqual(['webhook']);
      const got = out.transitions.map((t) => [t.hostId, t.policyId, t.passes]);
      expect(got.sort((a, b) => a[0]! - b[0]!)).toEqual([
        [hostIds[10], firewall, 0],
        [hostIds[11], firewall, 1],
        [hostIds[12], firewall, 0],
        [hostIds[13], firewall, 1],
      ]);
      // Nothing wanted, no automation: nothing comes back, and the results are still written.
      const none = await writer.write(
        hostIds.slice(10, 14).map((id) => host(id, [[ssh, 1]], 6_000)),
        { facts, automations: undefined, report: new Set() },
      );
      expect(none).toEqual({ transitions: [], wake: [] });
      expect(await ds.policies.stateAt(hostIds[10]!, ssh, 6_500)).toMatchObject({ passes: 1 });
    });

    it('recomputes counts in the thread', async () => {
      await ds.db.updateTable('policies').set({ passing_host_count: 999 }).execute();
      await writer.reconcile(4_000);
      const list = await ds.policies.list({ teamId: null } as never);
      // Host 4 fails ssh, and on SQLite host 0 too (the lock test).
      const sshPassing = dialect === 'sqlite' ? 28 : 29;
      expect(list.map((p) => p.passing_host_count).sort()).toEqual([15, sshPassing]);
    });
  },
);
