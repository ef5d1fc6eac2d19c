import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  readFileSync,
} from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** A position in the log: a segment number and a byte offset inside it. */
export interface Cursor {
  segment: number;
  offset: number;
}

const SEGMENT_BYTES = 64 * 1024 * 1024;
const name = (seq: number) => `${String(seq).padStart(10, '0')}.jsonl`;

/**
 * A write-ahead log of JSON lines in segment files. `append` resolves only after the lines are
 * on disk (fdatasync), batching concurrent callers into one write and one sync: that is the
 * point at which an agent may be told its logs were accepted. Readers keep their own cursors.
 */
export class WriteAheadLog {
  private fh: FileHandle | undefined;
  private segment = 0;
  private size = 0;
  private pending: string[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private writing = false;
  private listeners: Array<() => void> = [];
  appendedLines = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    const segs = this.segments();
    this.segment = segs.length ? segs[segs.length - 1]! : 1;
    const file = join(dir, name(this.segment));
    this.size = existsSync(file) ? statSync(file).size : 0;
  }

  segments(): number[] {
    return readdirSync(this.dir)
      .filter((f) => /^\d{10}\.jsonl$/.test(f))
      .map((f) => Number(f.slice(0, 10)))
      .sort((a, b) => a - b);
  }

  /** The end of the log: where a reader that is fully caught up stands. */
  head(): Cursor {
    return { segment: this.segment, offset: this.size };
  }

  onAppend(fn: () => void): void {
    this.listeners.push(fn);
  }

  append(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    for (const l of lines) this.pending.push(l.includes('\n') ? l.replace(/\n/g, '\\n') : l);
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.writing) void this.write();
    return p;
  }

  private async write(): Promise<void> {
    this.writing = true;
    try {
      while (this.pending.length) {
        const lines = this.pending;
        const waiters = this.waiters;
        this.pending = [];
        this.waiters = [];
        try {
          if (!this.fh || this.size >= SEGMENT_BYTES) await this.roll();
          const buf = Buffer.from(lines.join('\n') + '\n');
          await this.fh!.write(buf);
          await this.fh!.datasync();
          this.size += buf.length;
          this.appendedLines += lines.length;
          for (const w of waiters) w.resolve();
          for (const l of this.listeners) l();
        } catch (e) {
          for (const w of waiters) w.reject(e);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async roll(): Promise<void> {
    if (this.fh) {
      await this.fh.close();
      this.segment++;
      this.size = 0;
    }
    this.fh = await open(join(this.dir, name(this.segment)), 'a');
  }

  /**
   * Reads whole lines from `from`, up to `maxBytes`; returns them and the cursor after them.
   * Crosses into the next segment when one is finished.
   */
  read(from: Cursor, maxBytes = 1024 * 1024): { lines: string[]; next: Cursor } {
    let cur = { ...from };
    let limit = maxBytes;
    for (;;) {
      const file = join(this.dir, name(cur.segment));
      if (!existsSync(file)) {
        const later = this.segments().find((s) => s > cur.segment);
        if (later === undefined) return { lines: [], next: cur };
        cur = { segment: later, offset: 0 };
        continue;
      }
      const size = cur.segment === this.segment ? this.size : statSync(file).size;
      if (cur.offset >= size) {
        if (cur.segment >= this.segment) return { lines: [], next: cur };
        cur = { segment: cur.segment + 1, offset: 0 };
        continue;
      }
      const len = Math.min(limit, size - cur.offset);
      const buf = Buffer.alloc(len);
      const fd = openSync(file, 'r');
      try {
        readSync(fd, buf, 0, len, cur.offset);
      } finally {
        closeSync(fd);
      }
      const lastNl = buf.lastIndexOf(0x0a);
      if (lastNl < 0) {
        // A single line longer than the limit: read more of it.
        if (len < size - cur.offset) {
          limit *= 4;
          continue;
        }
        // The rest of the segment is an unterminated line: in the segment being written it is
        // not acknowledged yet (wait for it); in a finished one it is a torn tail (skip it).
        if (cur.segment >= this.segment) return { lines: [], next: cur };
        cur = { segment: cur.segment + 1, offset: 0 };
        continue;
      }
      const text = buf.subarray(0, lastNl).toString('utf8');
      return {
        lines: text.split('\n'),
        next: { segment: cur.segment, offset: cur.offset + lastNl + 1 },
      };
    }
  }

  /** Removes segments every reader has finished. */
  compact(oldestCursor: Cursor): void {
    for (const s of this.segments())
      if (s < oldestCursor.segment && s < this.segment) unlinkSync(join(this.dir, name(s)));
  }

  /** Bytes between a cursor and the head, for backlog reporting. */
  backlogBytes(c: Cursor): number {
    let total = 0;
    for (const s of this.segments()) {
      if (s < c.segment) continue;
      const size = s === this.segment ? this.size : statSync(join(this.dir, name(s))).size;
      total += s === c.segment ? Math.max(0, size - c.offset) : size;
    }
    return total;
  }

  async close(): Promise<void> {
    while (this.writing || this.pending.length) await new Promise((r) => setTimeout(r, 5));
    await this.fh?.close();
    this.fh = undefined;
  }
}

/** Durable cursor storage: write to a temp file, sync, rename. */
export function saveCursor(file: string, c: Cursor): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(c));
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** `saveCursor` without holding the event loop during the sync (the delivery loop's). */
export async function saveCursorAsync(file: string, c: Cursor): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(c));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

export function loadCursor(file: string): Cursor | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as Cursor;
    return Number.isInteger(c.segment) && Number.isInteger(c.offset) ? c : undefined;
  } catch {
    return undefined;
  }
}
