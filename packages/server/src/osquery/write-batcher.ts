import type { Datastore, HostUpdate, HostUserInput } from '@flotilla/db';
import type { Logger } from 'pino';

/** Hosts per last-seen transaction. */
const SEEN_SLICE = 500;

/**
 * Collects per-host writes from the check-in path and writes them in one transaction every
 * few milliseconds (results) or seconds (last-seen times), so no agent request waits on a
 * synchronous database write. `flush()` drains everything (shutdown, tests).
 */
export class WriteBatcher {
  private seen = new Set<number>();
  private updates = new Map<number, { set: HostUpdate; users?: HostUserInput[] | undefined }>();
  private seenTimer: NodeJS.Timeout | undefined;
  private updateTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly ds: Datastore,
    private readonly log: Logger,
    private readonly seenIntervalMs: number,
    private readonly updateIntervalMs: number,
    private readonly clock: () => number,
  ) {}

  start(): void {
    this.seenTimer = setInterval(() => void this.flushSeen(), this.seenIntervalMs);
    this.seenTimer.unref();
  }

  markSeen(hostId: number): void {
    this.seen.add(hostId);
  }

  /** Merges an update for a host into the pending batch. */
  update(hostId: number, set: HostUpdate, users?: HostUserInput[]): void {
    const cur = this.updates.get(hostId);
    if (cur) {
      Object.assign(cur.set, set);
      if (users) cur.users = users;
    } else {
      this.updates.set(hostId, { set: { ...set }, users });
    }
    if (this.updates.size >= 2000) void this.flushUpdates();
    else if (!this.updateTimer) {
      this.updateTimer = setTimeout(() => void this.flushUpdates(), this.updateIntervalMs);
      this.updateTimer.unref();
    }
  }

  get pending(): number {
    return this.updates.size + this.seen.size;
  }

  private flushSeen(): Promise<void> {
    if (this.seen.size === 0) return this.flushing;
    const ids = [...this.seen];
    this.seen = new Set();
    const at = this.clock();
    return this.chain(async () => {
      // In slices with a turn of the event loop between them: on SQLite a transaction holds
      // the loop, and 10,000 hosts' last-seen times in one held every check-in ~100 ms.
      for (let i = 0; i < ids.length; i += SEEN_SLICE) {
        const part = ids.slice(i, i + SEEN_SLICE);
        try {
          await this.ds.hosts.markSeen(part, at);
        } catch (err) {
          this.log.error({ err, hosts: part.length }, 'writing last-seen times failed; will retry');
          for (const id of part) this.seen.add(id);
        }
        if (i + SEEN_SLICE < ids.length) await new Promise((r) => setImmediate(r));
      }
    });
  }

  private flushUpdates(): Promise<void> {
    if (this.updateTimer) {
      clearTimeout(this.updateTimer);
      this.updateTimer = undefined;
    }
    if (this.updates.size === 0) return this.flushing;
    const batch = [...this.updates].map(([id, u]) => ({ id, set: u.set, users: u.users }));
    this.updates = new Map();
    return this.chain(async () => {
      try {
        await this.ds.hosts.applyUpdates(batch);
      } catch (err) {
        this.log.error({ err, hosts: batch.length }, 'writing host results failed; will retry');
        for (const b of batch)
          if (!this.updates.has(b.id)) this.updates.set(b.id, { set: b.set, users: b.users });
        if (!this.updateTimer) {
          this.updateTimer = setTimeout(() => void this.flushUpdates(), 1000);
          this.updateTimer.unref();
        }
      }
    });
  }

  /** Serialises flushes so batches land in order. */
  private chain(fn: () => Promise<void>): Promise<void> {
    this.flushing = this.flushing.then(fn);
    return this.flushing;
  }

  async flush(): Promise<void> {
    await this.flushUpdates();
    await this.flushSeen();
    await this.flushing;
  }

  async stop(): Promise<void> {
    if (this.seenTimer) clearInterval(this.seenTimer);
    await this.flush();
  }
}
