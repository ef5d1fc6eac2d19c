import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  statSync,
  renameSync,
  unlinkSync,
} from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { join } from 'node:path';
import type { Destination, LogType } from './destination.js';

export interface FilesystemOptions {
  dir: string;
  /** Rotate when the file reaches this many bytes (0: never). */
  maxBytes: number;
  /** Rotate when the file is this old (0: never). */
  maxAgeS: number;
  /** Gzip rotated files. */
  compress: boolean;
}

/** JSON lines in `<dir>/osquery_<type>.log`, rotated by size and age, optionally gzipped. */
export class FilesystemDestination implements Destination {
  readonly kind = 'filesystem';
  private readonly files = new Map<LogType, { fh: FileHandle; size: number; openedAt: number }>();
  private compressing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: FilesystemOptions) {
    mkdirSync(opts.dir, { recursive: true });
  }

  path(type: LogType): string {
    return join(this.opts.dir, `osquery_${type}.log`);
  }

  async deliver(type: LogType, lines: readonly string[]): Promise<void> {
    let f = this.files.get(type);
    const now = Date.now();
    if (
      f &&
      ((this.opts.maxBytes > 0 && f.size >= this.opts.maxBytes) ||
        (this.opts.maxAgeS > 0 && now - f.openedAt >= this.opts.maxAgeS * 1000))
    ) {
      await this.rotate(type);
      f = undefined;
    }
    if (!f) {
      const path = this.path(type);
      const size = existsSync(path) ? statSync(path).size : 0;
      f = {
        fh: await open(path, 'a'),
        size,
        openedAt: existsSync(path) && size > 0 ? statSync(path).birthtimeMs || now : now,
      };
      this.files.set(type, f);
    }
    const buf = Buffer.from(lines.join('\n') + '\n');
    await f.fh.write(buf);
    await f.fh.datasync();
    f.size += buf.length;
  }

  private async rotate(type: LogType): Promise<void> {
    const f = this.files.get(type);
    if (f) await f.fh.close();
    this.files.delete(type);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const rotated = join(this.opts.dir, `osquery_${type}-${stamp}.log`);
    renameSync(this.path(type), rotated);
    if (this.opts.compress) {
      this.compressing = this.compressing.then(async () => {
        await pipeline(createReadStream(rotated), createGzip(), createWriteStream(`${rotated}.gz`));
        unlinkSync(rotated);
      });
    }
  }

  async close(): Promise<void> {
    for (const f of this.files.values()) await f.fh.close();
    this.files.clear();
    await this.compressing;
  }
}

/** Lines to standard output, for containers whose platform collects stdout. */
export class StdoutDestination implements Destination {
  readonly kind = 'stdout';
  async deliver(_type: LogType, lines: readonly string[]): Promise<void> {
    const ok = process.stdout.write(lines.join('\n') + '\n');
    if (!ok) await new Promise((r) => process.stdout.once('drain', r));
  }
}
