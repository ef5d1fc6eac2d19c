import { setTimeout as sleep } from 'node:timers/promises';
import { workerData } from 'node:worker_threads';
import { openDatastore, type DatastoreOptions, type HostSoftwareUpdate } from '@flotilla/db';
import { serveRequests } from '../util/thread-rpc.js';

/** What the software writer thread is started with. */
export interface SoftwareWorkerData {
  db: DatastoreOptions;
}

export type ToSoftwareWorker =
  | { type: 'apply'; id: number; batch: HostSoftwareUpdate[]; now: number }
  | { type: 'touch'; id: number; hostIds: number[]; now: number };

export type FromSoftwareWorker = { type: 'done'; id: number };

/**
 * Software inventories written in their own thread, on this thread's own connection to the
 * SQLite file (WAL: the event loop's connection reads meanwhile; transactions begin IMMEDIATE,
 * so the two writers wait for each other instead of failing). Requests run in arrival order.
 *
 * After each write the thread leaves the lock alone at least as long as it held it. Taking it
 * again at once starved the event loop's writes, which try for the lock every few ms: in a
 * 20,000-host storm they gave up waiting (5 s), fell back to SQLite's blocking wait, and the
 * stalled loop turned every enroll away for half a minute.
 */
const data = workerData as SoftwareWorkerData;
const ds = openDatastore({ ...data.db, maxConnections: 1 });
const MIN_GAP_MS = 2;
let quietUntil = 0;

serveRequests<ToSoftwareWorker, FromSoftwareWorker>(
  async (m) => {
    const wait = quietUntil - performance.now();
    if (wait > 0) await sleep(wait);
    const started = performance.now();
    if (m.type === 'apply') await ds.software.apply(m.batch, m.now);
    else await ds.software.touch(m.hostIds, m.now);
    const now = performance.now();
    quietUntil = now + Math.max(MIN_GAP_MS, now - started);
    return { type: 'done', id: m.id };
  },
  () => ds.close(),
);
