import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import {
  openDatastore,
  type DatastoreOptions,
  type PolicyFacts,
  type PolicyTransition,
} from '@flotilla/db';
import { unpackBatch, type PackedBatch } from './packed-results.js';
import { writeInChunks } from './results-writer.js';

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
    }
  | { type: 'reconcile'; id: number; at: number }
  | { type: 'stop' };

export type FromResultsWorker =
  | { type: 'written'; id: number; transitions: PolicyTransition[] }
  | { type: 'reconciled'; id: number }
  | { type: 'failed'; id: number; message: string }
  | { type: 'log'; level: 'error'; fields: Record<string, unknown>; msg: string }
  | { type: 'stopped' };

/**
 * Policy results written in their own thread, with this thread's own connection to the SQLite
 * file (WAL: the event loop's connection reads meanwhile). Transactions begin IMMEDIATE (see
 * connectSqlite), so a writer waits for the other instead of failing; after each transaction
 * this thread pauses at least as long as it held the lock, so the event loop's own writes
 * (last-seen times, inventory) get the lock within a few milliseconds.
 */
const data = workerData as ResultsWorkerData;
const port = parentPort;
if (!port) throw new Error('results-worker must run in a worker thread');
const send = (m: FromResultsWorker): void => port.postMessage(m);

// On Linux the nice value is per thread (setpriority(2), "Bugs").
try {
  if (data.niceness > 0 && process.platform === 'linux')
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), data.niceness);
} catch {
  // Not permitted or not Linux: writes still run, at the process's priority.
}

const ds = openDatastore({ ...data.db, maxConnections: 1 });
const MIN_GAP_MS = 2;

let queue: Promise<void> = Promise.resolve();
const run = (id: number, fn: () => Promise<FromResultsWorker>): void => {
  queue = queue.then(async () => {
    try {
      send(await fn());
    } catch (e) {
      send({ type: 'failed', id, message: e instanceof Error ? e.message : String(e) });
    }
  });
};

port.on('message', (m: ToResultsWorker) => {
  switch (m.type) {
    case 'write':
      run(m.id, async () => {
        const transitions = await writeInChunks(
          ds,
          unpackBatch(m.batch),
          {
            facts: new Map(m.facts),
            automations: m.automations
              ? new Map(m.automations.map(([name, ids]) => [name, new Set(ids)]))
              : undefined,
          },
          {
            readFirst: true,
            between: (busyMs) => sleep(Math.max(MIN_GAP_MS, busyMs)),
            onError: (err, hosts) =>
              send({
                type: 'log',
                level: 'error',
                fields: {
                  hosts,
                  err: err instanceof Error ? { message: err.message, stack: err.stack } : err,
                },
                msg: 'writing policy results failed',
              }),
          },
        );
        return { type: 'written', id: m.id, transitions };
      });
      break;
    case 'reconcile':
      run(m.id, async () => {
        await ds.policies.reconcile(m.at);
        return { type: 'reconciled', id: m.id };
      });
      break;
    case 'stop':
      queue = queue.then(async () => {
        await ds.close();
        send({ type: 'stopped' });
        port.close();
      });
      break;
  }
});
