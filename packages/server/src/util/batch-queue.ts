/**
 * Collects items from request handlers and writes them in batches: after `delayMs`, or at
 * once when `maxItems` are waiting. Writes run one after another, in order; `flush()` drains
 * everything queued so far (read APIs, shutdown, tests). The writer handles its own errors.
 */
export class BatchQueue<T> {
  private items: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (batch: T[]) => Promise<void>,
    private readonly delayMs: number,
    private readonly maxItems = 1000,
  ) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    if (this.items.length >= this.maxItems) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.delayMs);
      this.timer.unref();
    }
  }

  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.items.length) return this.flushing;
    const batch = this.items;
    this.items = [];
    this.flushing = this.flushing.then(() => this.write(batch));
    return this.flushing;
  }
}
