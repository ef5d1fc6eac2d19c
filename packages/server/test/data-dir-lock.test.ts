import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, startServer } from '../src/index.js';

/** One server process per data dir: a second one is refused with a clear error. */
describe('the data dir lock', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const config = (dir: string) =>
    loadConfig({
      env: {
        FLOTILLA_DATA_DIR: dir,
        FLOTILLA_PORT: '0',
        FLOTILLA_HOST: '127.0.0.1',
        FLOTILLA_LOG_LEVEL: 'silent',
      },
    });

  it('refuses a data dir held by a live process, takes over one whose owner is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-lock-'));
    dirs.push(dir);
    mkdirSync(dir, { recursive: true });
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      writeFileSync(join(dir, 'server.lock'), String(other.pid));
      await expect(startServer(config(dir))).rejects.toThrow(
        new RegExp(
          `data dir .* is in use by process ${other.pid}: give each server process its own FLOTILLA_DATA_DIR`,
        ),
      );
      expect(existsSync(join(dir, 'flotilla.db'))).toBe(false); // nothing was opened
    } finally {
      other.kill();
    }
    await new Promise((r) => other.once('exit', r));
    const server = await startServer(config(dir)); // the owner is gone: taken over
    expect(readFileSync(join(dir, 'server.lock'), 'utf8')).toBe(String(process.pid));
    await server.close();
    expect(existsSync(join(dir, 'server.lock'))).toBe(false);
    const again = await startServer(config(dir)); // and free after a clean stop
    await again.close();
  });
});
