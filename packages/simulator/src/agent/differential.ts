import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { sortedRow } from './requests.js';

/** Rows kept compressed once their serialised form passes this size. */
const COMPRESS_ABOVE = 4096;

/**
 * The previous results of one scheduled query, kept as osquery keeps them in RocksDB:
 * one serialised row per line. Large sets are deflated so thousands of hosts with a
 * differential `SELECT * FROM deb_packages` still fit in memory.
 */
export class PreviousResults {
  private data: string | Buffer = '';

  private lines(): string[] {
    const text =
      typeof this.data === 'string' ? this.data : inflateRawSync(this.data).toString('utf8');
    return text === '' ? [] : text.split('\n');
  }

  /** Replaces the stored set with `current` and returns what was added and removed. */
  update(current: readonly Readonly<Record<string, string>>[]): {
    added: string[];
    removed: string[];
  } {
    const now = current.map((r) => JSON.stringify(sortedRow(r)));
    const before = this.lines();
    const beforeSet = new Set(before);
    const nowSet = new Set(now);
    const added = now.filter((l) => !beforeSet.has(l));
    const removed = before.filter((l) => !nowSet.has(l));
    if (added.length > 0 || removed.length > 0) {
      const text = now.join('\n');
      this.data = text.length > COMPRESS_ABOVE ? deflateRawSync(text) : text;
    }
    return { added, removed };
  }

  clear(): void {
    this.data = '';
  }

  /** Bytes held (for memory reporting). */
  size(): number {
    return this.data.length;
  }
}
