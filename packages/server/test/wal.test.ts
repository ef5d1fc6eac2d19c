import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WriteAheadLog } from '../src/logging/wal.js';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the log pipeline write-ahead log', () => {
  it('reads a line longer than the read size whole', async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-wal-'));
    const wal = new WriteAheadLog(dir);
    const long = 'x'.repeat(3 * 1024 * 1024);
    await wal.append(['short', long, 'after']);
    const first = wal.read({ segment: wal.head().segment, offset: 0 }, 1024);
    expect(first.lines).toEqual(['short']);
    const second = wal.read(first.next, 1024);
    expect(second.lines[0]?.length).toBe(long.length);
    expect(second.lines).toEqual([long, 'after']);
    expect(wal.read(second.next).lines).toEqual([]);
  });

  it('never loops on bytes that end without a newline, and skips a torn finished segment', async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-wal-'));
    // Another writer in the same directory (two processes given one data dir) moves the file
    // under this one: its idea of the end then falls inside the other's line.
    const wal = new WriteAheadLog(dir);
    const other = new WriteAheadLog(dir);
    await wal.append(['a']);
    await other.append(['bbbbbbbb']);
    await wal.append(['c']);
    const start = { segment: wal.head().segment, offset: 0 };
    const r = wal.read(start);
    expect(r.lines).toEqual(['a']);
    expect(wal.read(r.next)).toEqual({ lines: [], next: r.next });

    // A finished segment whose last line was torn (a crash mid-write): the reader moves on.
    const torn = mkdtempSync(join(tmpdir(), 'flotilla-wal-'));
    try {
      writeFileSync(join(torn, '0000000001.jsonl'), '{"n":1}\n{"n":');
      writeFileSync(join(torn, '0000000002.jsonl'), '{"n":3}\n');
      const w = new WriteAheadLog(torn);
      const one = w.read({ segment: 1, offset: 0 });
      expect(one.lines).toEqual(['{"n":1}']);
      const two = w.read(one.next);
      expect(two.lines).toEqual(['{"n":3}']);
    } finally {
      rmSync(torn, { recursive: true, force: true });
    }
  });
});
