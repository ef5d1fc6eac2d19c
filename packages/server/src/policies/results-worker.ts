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
 * Policy results written in their own thread, with this thread's own database connection.
 *
 * SQLite (WAL: the event loop's connection reads meanwhile): transactions begin IMMEDIATE (see
 * connectSqlite), so a writer waits for the other instead of failing; after each transaction
 * this thread pauses at least as long as it held the lock, so the event loop's own writes
 * (last-seen times, inventory) get the lock within a few milliseconds.
 *
 * PostgreSQL: the database does the writing elsewhere, but building the statements and reading
 * their answers cost the event loop ~29 µs per check-in while a new library's first results
 * arrived (policy bench, window B: 97 → 69 µs, `bench/results/2026-11-25T05-21-10-922Z-…` →
 * `…T05-33-30-498Z…`). No pause between transactions.
 */
const data = workerData as ResultsWorkerData;
lowerThreadPriority(data.niceness);
const ds = openDatastore({ ...data.db, maxConnections: 1 });
const MIN_GAP_MS = 2;
const sqlite = ds.dialect === 'sqlite';

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
        // On PostgreSQL the comparison stays inside the transaction (see applyResults).
        readFirst: sqlite,
        between: (busyMs) =>
          sqlite ? sleep(Math.max(MIN_GAP_MS, busyMs)) : new Promise((r) => setImmediate(r)),
        onError: (err, hosts) =>
          thread.log('error', { hosts, err }, 'writing policy results failed'),
      },
    );
    return { type: 'written', id: m.id, outcome };
  },
  () => ds.close(),
);
