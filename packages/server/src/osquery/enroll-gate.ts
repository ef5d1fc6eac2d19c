import { FlotillaError } from '@flotilla/core';

/** How often the gate's timer looks at the event loop. */
const TICK_MS = 50;

/**
 * Sheds enrollments while the event loop is far behind. When thousands of hosts start at once
 * (a fleet rolled out, a data centre powered up), every enroll brings a host whose first
 * inventory (vitals, ~1,000 packages, labels, policies) is far more work than the enroll
 * itself. Taking them all makes every request wait in one long queue until agents time out
 * (16 s) and send the same work again: at 20,000 hosts, most of the storm's requests were such
 * retries. Refused enrolls cost almost nothing, and osquery retries them with its own backoff
 * (1, 4, 9 … s), while the hosts already in finish their inventory. Hosts already enrolled are
 * never refused.
 *
 * The loop's lag is read from a timer: how late its last tick fired, or how long it has not
 * fired at all.
 */
export class EnrollGate {
  private lastTick = performance.now();
  private lastLag = 0;
  private readonly timer: NodeJS.Timeout | undefined;
  /** Enrolls refused since start. */
  shed = 0;

  constructor(
    /** Refuse enrolls while the loop lags more than this (0: never). */
    private readonly maxLagMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (maxLagMs <= 0) return;
    this.lastTick = now();
    this.timer = setInterval(() => {
      const t = this.now();
      this.lastLag = Math.max(0, t - this.lastTick - TICK_MS);
      this.lastTick = t;
    }, TICK_MS);
    this.timer.unref();
  }

  /** The event loop's current lag estimate (ms). */
  lagMs(): number {
    return Math.max(this.lastLag, this.now() - this.lastTick - TICK_MS);
  }

  /** Throws a 503 (`SERVER_BUSY`) when enrollments are being shed. */
  admit(): void {
    if (this.maxLagMs <= 0 || this.lagMs() <= this.maxLagMs) return;
    this.shed++;
    throw new FlotillaError(
      'unavailable',
      'SERVER_BUSY',
      'enroll refused while the server catches up: retry later',
      [],
      5,
    );
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
