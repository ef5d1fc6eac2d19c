import { rateLimited } from '@flotilla/core';

/**
 * Counts events per key in fixed one-minute windows. Used for login attempts and failed
 * enrolls; per process, which bounds an attacker to N × processes per minute.
 */
export class RateLimiter {
  private windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Throws 429 if `key` is already over its limit. */
  check(key: string): void {
    const w = this.current(key);
    if (w && w.count >= this.perMinute) {
      throw rateLimited(Math.max(1, Math.ceil((w.start + 60_000 - this.clock()) / 1000)));
    }
  }

  /** Records one event for `key`. */
  hit(key: string): void {
    const now = this.clock();
    const w = this.current(key);
    if (w) w.count++;
    else {
      if (this.windows.size > 100_000) this.sweep(now);
      this.windows.set(key, { start: now, count: 1 });
    }
  }

  reset(key: string): void {
    this.windows.delete(key);
  }

  private current(key: string) {
    const w = this.windows.get(key);
    if (!w) return undefined;
    if (w.start + 60_000 <= this.clock()) {
      this.windows.delete(key);
      return undefined;
    }
    return w;
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (w.start + 60_000 <= now) this.windows.delete(k);
  }
}
