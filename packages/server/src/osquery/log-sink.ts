import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Keeps agents' result and status logs as JSON lines in the data directory. Concurrent
 * requests are group-committed: one append per batch, and each request is answered only
 * after its lines are written. (Destinations and delivery are the log pipeline's job.)
 */
export class LogSink {
  private pending: string[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;
  private dirReady = false;
  lines = 0;

  constructor(private readonly file: string) {}

  append(lines: string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    for (const l of lines) this.pending.push(l);
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.write());
    }
    return p;
  }

  private async write(): Promise<void> {
    const lines = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    try {
      if (!this.dirReady) {
        await mkdir(join(this.file, '..'), { recursive: true });
        this.dirReady = true;
      }
      await appendFile(this.file, lines.join('\n') + '\n');
      this.lines += lines.length;
      for (const w of waiters) w.resolve();
    } catch (e) {
      for (const w of waiters) w.reject(e);
    } finally {
      this.scheduled = false;
      if (this.pending.length) {
        this.scheduled = true;
        setImmediate(() => void this.write());
      }
    }
  }
}
