import { setTimeout as sleep } from 'node:timers/promises';
import { workerData } from 'node:worker_threads';
import { openDatastore, type DatastoreOptions, type PolicyFacts } from '@flotilla/db';
import { lowerThreadPriority, serveRequests } from '../util/thread-rpc.js';
import { unpackBatch, type PackedBatch } from './packed-results.js';
import { writeInChunks, type WriteOutcome } from './results-writer.js';

/** What the results writer thread is started with. */
export interface ResultsWorkerData {
  db: DatastoreOptions;
  /** Nice value for this thread (Linux), so the event loop wins the CPU when both want it. */
  niceness: number;
}

export type ToResultsWorker =
  | {
      type: 'write';
      id: number;
      batch: PackedBatch;
      facts: Array<[number, PolicyFacts]>;
      automations: Array<[string, number[]]> | null;
      /** Policies whose transitions to send back (null: all). */
      report: number[] | null;
    }
  | { type: 'reconcile'; id: number; at: number };

export type FromResultsWorker =
  { type: 'written'; id: number; outcome: WriteOutcome } | { type: 'reconciled'; id: number };

/**
 * Policy results written in their own thread, with this thread's own connection to the SQLite
 * file (WAL: the event loop's connection reads meanwhile). Transactions begin IMMEDIATE (see
 * connectSqlite), so a writer waits for the other instead of failing; after each transaction
 * this thread pauses at least as long as it held the lock, so the event loop's own writes
 * (last-seen times, inventory) get the lock within a few milliseconds.
 */
const data = workerData as ResultsWorkerData;
lowerThreadPriority(data.niceness);
const ds = openDatastore({ ...data.db, maxConnections: 1 });
const MIN_GAP_MS = 2;

const thread = serveRequests<ToResultsWorker, FromResultsWorker>(
  async (m) => {
    if (m.type === 'reconcile') {
      await ds.policies.reconcile(m.at);
      return { type: 'reconciled', id: m.id };
    }
    const outcome = await writeInChunks(
      ds,
      unpackBatch(m.batch),
      {
        facts: new Map(m.facts),
        automations: m.automations
          ? new Map(m.automations.map(([name, ids]) => [name, new Set(ids)]))
          : undefined,
        report: m.report ? new Set(m.report) : undefined,
      },
      {
        readFirst: true,
        between: (busyMs) => sleep(Math.max(MIN_GAP_MS, busyMs)),
        onError: (err, hosts) =>
          thread.log('error', { hosts, err }, 'writing policy results failed'),
      },
    );
    return { type: 'written', id: m.id, outcome };
  },
  () => ds.close(),
);
