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
 */
const data = workerData as SoftwareWorkerData;
const ds = openDatastore({ ...data.db, maxConnections: 1 });

serveRequests<ToSoftwareWorker, FromSoftwareWorker>(
  async (m) => {
    if (m.type === 'apply') await ds.software.apply(m.batch, m.now);
    else await ds.software.touch(m.hostIds, m.now);
    return { type: 'done', id: m.id };
  },
  () => ds.close(),
);
