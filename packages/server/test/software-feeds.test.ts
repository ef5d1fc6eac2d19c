import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFeeds, FeedStore } from '../src/vulnerabilities/feed-store.js';

const FIXTURES = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'vuln',
  'test',
  'fixtures',
);

describe('feed download from a mirror (local HTTP server with fixture files)', () => {
  let server: Server;
  let base = '';
  let dir = '';
  // What the mirror serves; tests change it between downloads.
  const files = new Map<string, Buffer>();
  let index: unknown = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-feeds-'));
    files.set(
      'ubuntu/com.ubuntu.kinetic.usn.oval.xml.gz',
      readFileSync(join(FIXTURES, 'ubuntu-oval', 'com.ubuntu.kinetic.usn.oval.xml.gz')),
    );
    files.set(
      'kev/kev.json.gz',
      readFileSync(join(FIXTURES, 'kev', 'known_exploited_vulnerabilities.json.gz')),
    );
    files.set('epss/epss.csv', readFileSync(join(FIXTURES, 'epss', 'vunnel-epss-example-1.csv')));
    index = { files: [...files.keys(), '../../etc/passwd', 'missing.json'] };
    server = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? '/').replace(/^\/mirror\//, ''));
      if (path === 'index.json') {
        res.end(JSON.stringify(index));
        return;
      }
      const body = files.get(path);
      if (!body) {
        res.statusCode = 404;
        res.end('not found');
        return;
      }
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('downloads the listed files, refuses unsafe paths and failed fetches, and the store loads them', async () => {
    const r = await downloadFeeds(base, dir);
    expect(r.downloaded.sort()).toEqual([...files.keys()].sort());
    expect(r.errors.map((e) => e.file).sort()).toEqual(['../../etc/passwd', 'missing.json']);
    expect(r.errors.find((e) => e.file === 'missing.json')?.message).toMatch(/HTTP 404/);
    expect(existsSync(join(dir, '..', 'etc'))).toBe(false);
    const store = new FeedStore(dir, join(dir, '.last-good'));
    await store.reload();
    expect(store.status.files.map((f) => f.kind).sort()).toEqual(['epss', 'kev', 'oval']);
    expect(store.status.errors).toEqual([]);
    expect(store.database.oval).toHaveLength(1);
  });

  it('a corrupt or truncated download is refused and the old file stays', async () => {
    const good = readFileSync(join(dir, 'ubuntu', 'com.ubuntu.kinetic.usn.oval.xml.gz'));
    files.set('ubuntu/com.ubuntu.kinetic.usn.oval.xml.gz', good.subarray(0, 1000));
    files.set('kev/kev.json.gz', Buffer.from('not gzip at all'));
    files.set('epss/epss.csv', Buffer.from('garbage,here\n1,2\n'));
    const r = await downloadFeeds(base, dir);
    expect(r.downloaded).toEqual([]);
    const reasons = new Map(r.errors.map((e) => [e.file, e.message]));
    expect(reasons.get('ubuntu/com.ubuntu.kinetic.usn.oval.xml.gz')).toMatch(/gzip|truncated/i);
    expect(reasons.get('kev/kev.json.gz')).toMatch(/gzip/i);
    expect(reasons.get('epss/epss.csv')).toMatch(/not a feed format/);
    expect(
      readFileSync(join(dir, 'ubuntu', 'com.ubuntu.kinetic.usn.oval.xml.gz')).equals(good),
    ).toBe(true);
  });

  it('an unreachable mirror or a bad index is reported, nothing is touched', async () => {
    index = 'nope';
    const bad = await downloadFeeds(base, dir);
    expect(bad.errors[0]?.file).toBe('index.json');
    const down = await downloadFeeds('http://127.0.0.1:1', dir);
    expect(down.errors[0]?.file).toBe('index.json');
    expect(down.downloaded).toEqual([]);
  });
});
