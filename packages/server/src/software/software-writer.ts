import type { Datastore, HostSoftwareUpdate } from '@flotilla/db';
import type { Logger } from 'pino';
import { ThreadClient } from '../util/thread-rpc.js';
import type {
  FromSoftwareWorker,
  SoftwareWorkerData,
  ToSoftwareWorker,
} from './software-worker.js';

/** Where software inventories are written: on this thread, or in a writer thread. */
export interface SoftwareWriter {
  /** Replaces the listed sources of each host's software (see `SoftwareRepository.apply`). */
  apply(batch: HostSoftwareUpdate[], nowMs: number): Promise<void>;
  /** Records that these hosts reported an unchanged list. */
  touch(hostIds: number[], nowMs: number): Promise<void>;
  stop(): Promise<void>;
}

export class InlineSoftwareWriter implements SoftwareWriter {
  constructor(private readonly ds: Datastore) {}

  apply(batch: HostSoftwareUpdate[], nowMs: number): Promise<void> {
    return this.ds.software.apply(batch, nowMs);
  }

  touch(hostIds: number[], nowMs: number): Promise<void> {
    return this.ds.software.touch(hostIds, nowMs);
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Writes in a worker thread with its own connection to the SQLite file. A host's first
 * inventory links ~1,000 packages; in an enrollment storm those writes (1.5 µs per link, plus
 * finding each package's id) took about a fifth of the event loop, the thread that also
 * answers every check-in and was the storm's bottleneck. Handing a batch over costs ~0.3 µs
 * per package. If the thread dies, writes continue here.
 */
export class ThreadSoftwareWriter implements SoftwareWriter {
  private readonly thread: ThreadClient<ToSoftwareWorker, FromSoftwareWorker>;
  private readonly inline: InlineSoftwareWriter;
  private failed = false;

  constructor(ds: Datastore, log: Logger) {
    this.inline = new InlineSoftwareWriter(ds);
    const location = ds.location;
    if (!location) throw new Error('the software writer thread needs a database file');
    // Not niced, for the reason the policy writer is not: the event loop's own writes wait
    // for this thread's transactions.
    const data: SoftwareWorkerData = { db: location };
    this.thread = new ThreadClient({
      url: new URL('./software-worker-boot.mjs', import.meta.url),
      workerData: data,
      name: 'software writer thread',
      log,
      onCrash: (code) => {
        // The lost batch's hosts report again at their interval (their checksums are reset).
        this.failed = true;
        log.error({ code }, 'software writer thread exited; writing on the main thread');
      },
    });
  }

  /** Whether writes go to the thread (it started and has not died). */
  get threaded(): boolean {
    return this.thread.started && !this.failed;
  }

  async apply(batch: HostSoftwareUpdate[], nowMs: number): Promise<void> {
    if (this.failed) return this.inline.apply(batch, nowMs);
    await this.thread.request({ type: 'apply', id: 0, batch, now: nowMs });
  }

  async touch(hostIds: number[], nowMs: number): Promise<void> {
    if (this.failed) return this.inline.touch(hostIds, nowMs);
    await this.thread.request({ type: 'touch', id: 0, hostIds, now: nowMs });
  }

  stop(): Promise<void> {
    return this.thread.stop();
  }
}
