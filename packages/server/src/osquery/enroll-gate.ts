import { FlotillaError } from '@flotilla/core';

/** How often the gate's timer looks at the event loop and at expired holds. */
const TICK_MS = 50;

export interface EnrollGateOptions {
  /** Refuse enrolls at once while the event loop lags more than this (0: never). */
  maxLagMs: number;
  /**
   * Hosts that may be enrolled and not yet inventoried at one time (0: no limit). An enroll
   * past it waits for a host ahead of it to finish its first inventory.
   */
  maxPending: number;
  /** How long an enroll may wait for a place before it gets a 503 to retry later. */
  maxWaitMs: number;
  /** A host that never reports its inventory gives its place back after this long. */
  holdMs: number;
}

/** A place taken by an enroll being served: handed to `hold` on success, `release` on failure. */
export interface Ticket {
  used: boolean;
}

interface Waiter {
  ticket: Ticket;
  resolve: (t: Ticket) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The refusal, without a stack trace: tens of thousands are made during an enrollment storm,
 * and capturing a stack for each was ~1 % of the server's CPU in its profile.
 */
function busy(): FlotillaError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new FlotillaError(
      'unavailable',
      'SERVER_BUSY',
      'enroll refused while the server catches up: retry later',
      [],
      5,
    );
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Paces enrollment when thousands of hosts start at once (a fleet rolled out, a data centre
 * powered up). Every enroll brings a host whose first inventory (vitals, ~1,000 packages,
 * labels, policies) is far more work than the enroll itself. Taking them all makes every
 * request wait in one long queue until agents time out (16 s) and send the same work again.
 *
 * So at most `maxPending` hosts are between their enroll and the write of their first
 * software inventory. Further enrolls wait in arrival order for a place, up to `maxWaitMs`,
 * then get a 503 that osquery retries with its own backoff (1, 4, 9 … s); while the event
 * loop lags past `maxLagMs` they get it at once. Hosts already enrolled are never held back.
 */
export class EnrollGate {
  private lastTick: number;
  private lastLag = 0;
  private readonly timer: NodeJS.Timeout | undefined;
  /** Host id → when its place is given back if no inventory arrives; oldest first. */
  private readonly pending = new Map<number, number>();
  /** Places taken by enrolls still being served. */
  private serving = 0;
  private readonly waiting: Waiter[] = [];
  /** Enrolls refused since start. */
  shed = 0;
  /** Enrolls that waited for a place since start. */
  queued = 0;

  constructor(
    private readonly options: EnrollGateOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastTick = now();
    if (options.maxLagMs <= 0 && options.maxPending <= 0) return;
    this.timer = setInterval(() => {
      const t = this.now();
      this.lastLag = Math.max(0, t - this.lastTick - TICK_MS);
      this.lastTick = t;
      this.expire(t);
    }, TICK_MS);
    this.timer.unref();
  }

  /** The event loop's current lag estimate (ms). */
  lagMs(): number {
    return Math.max(this.lastLag, this.now() - this.lastTick - TICK_MS);
  }

  /** Hosts enrolled and not yet inventoried, plus enrolls being served. */
  get inFlight(): number {
    return this.pending.size + this.serving;
  }

  /** Enrolls waiting for a place. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /**
   * A place for one enroll: at once, or once a host ahead finishes its inventory. Rejects
   * with a 503 (`SERVER_BUSY`) while the loop lags, or when no place came in `maxWaitMs`.
   */
  admit(): Promise<Ticket> {
    const { maxLagMs, maxPending, maxWaitMs } = this.options;
    if (maxLagMs > 0 && this.lagMs() > maxLagMs) {
      this.shed++;
      return Promise.reject(busy());
    }
    const ticket: Ticket = { used: false };
    if (maxPending <= 0 || (this.waiting.length === 0 && this.inFlight < maxPending)) {
      this.serving++;
      return Promise.resolve(ticket);
    }
    // A queue longer than a few waits' worth would only time out: refuse it now, cheaply.
    if (this.waiting.length >= maxPending * 4 || maxWaitMs <= 0) {
      this.shed++;
      return Promise.reject(busy());
    }
    this.queued++;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        ticket,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          this.shed++;
          reject(busy());
        }, maxWaitMs),
      };
      this.waiting.push(waiter);
    });
  }

  /** The enroll succeeded: the host keeps the place until its inventory is written. */
  hold(ticket: Ticket, hostId: number): void {
    if (ticket.used) return;
    ticket.used = true;
    this.serving--;
    if (this.options.maxPending <= 0) return;
    this.pending.delete(hostId); // re-enrolled: to the back
    this.pending.set(hostId, this.now() + this.options.holdMs);
    this.wake();
  }

  /** The enroll failed: its place goes to the next one. */
  release(ticket: Ticket): void {
    if (ticket.used) return;
    ticket.used = true;
    this.serving--;
    this.wake();
  }

  /** These hosts' inventories were written: their places go to waiting enrolls. */
  inventoried(hostIds: Iterable<number>): void {
    let freed = false;
    for (const id of hostIds) freed = this.pending.delete(id) || freed;
    if (freed) this.wake();
  }

  private expire(t: number): void {
    let freed = false;
    for (const [id, until] of this.pending) {
      if (until > t) break;
      this.pending.delete(id);
      freed = true;
    }
    if (freed) this.wake();
  }

  private wake(): void {
    while (this.waiting.length > 0 && this.inFlight < this.options.maxPending) {
      const w = this.waiting.shift() as Waiter;
      clearTimeout(w.timer);
      this.serving++;
      w.resolve(w.ticket);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(busy());
    }
  }
}
