import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlotillaClient } from '@flotilla/api';
import { openDatastore } from '@flotilla/db';
import { runFleet } from '@flotilla/simulator';
import { loadConfig, startServer, type RunningServer } from '../src/index.js';
import { VulnScanJob } from '../src/vulnerabilities/scan-job.js';
import { waitUntil } from './helpers.js';

const PROFILES = ['ubuntu-22.04', 'rhel-9', 'macos-14', 'windows-11'] as const;

/**
 * A count pass over the server's database from a second connection (scans, which end with one,
 * are off here): the software lists show host counts as of the last pass.
 */
async function countSoftware(dir: string): Promise<void> {
  const ds = openDatastore({ sqliteFile: join(dir, 'flotilla.db') });
  const job = new VulnScanJob(ds, pino({ level: 'silent' }), Date.now, {
    intervalS: 0,
    feedsDir: join(dir, 'vulndb'),
    goodDir: join(dir, 'vulndb-last-good'),
    thread: false,
  });
  try {
    expect((await job.count()).error).toBeUndefined();
  } finally {
    await job.stop();
    await ds.close();
  }
}

interface HostSoftware {
  count: number;
  software: Array<{
    name: string;
    source: string;
    installed_versions: Array<{ version: string; release: string }>;
  }>;
}

describe('software inventory from simulated osquery hosts (real package lists, over HTTPS)', () => {
  let dir: string;
  let server: RunningServer;
  let admin: FlotillaClient;
  const abort = new AbortController();
  let fleet: Promise<unknown>;
  let hosts: Array<{ id: number; platform: string }> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-sw-sim-'));
    server = await startServer(
      loadConfig({
        env: {
          FLOTILLA_DATA_DIR: dir,
          FLOTILLA_PORT: '0',
          FLOTILLA_HOST: '127.0.0.1',
          FLOTILLA_LOG_LEVEL: 'warn',
          FLOTILLA_SEEN_FLUSH_INTERVAL_MS: '200',
          FLOTILLA_VULN_SCAN_INTERVAL: '0',
        },
      }),
    );
    const ca = readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8');
    const url = server.url.replace('localhost', '127.0.0.1');
    admin = new FlotillaClient({ serverUrl: url, ca });
    await admin.setup({ email: 'admin@example.com', name: 'Admin', password: 'Software-sim-1!' });
    await admin.request('POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: 'sw-secret-123' }] },
    });
    await admin.request('PATCH', '/api/v1/fleet/config', {
      agent_options: { config: { options: { distributed_interval: 1, config_refresh: 5 } } },
    });
    fleet = runFleet({
      hosts: 8,
      server: url,
      enrollSecret: 'sw-secret-123',
      caPem: ca,
      workers: 0,
      signal: abort.signal,
      startSpreadSeconds: 1,
      profiles: Object.fromEntries(PROFILES.map((p) => [p, 1])),
    });
    await waitUntil('every simulated host reported its software', async () => {
      hosts = (
        await admin.request<{ hosts: Array<{ id: number; platform: string }> }>(
          'GET',
          '/api/v1/fleet/hosts',
        )
      ).hosts;
      if (hosts.length < 8) return false;
      for (const h of hosts) {
        const r = await admin.request<HostSoftware>(
          'GET',
          `/api/v1/fleet/hosts/${h.id}/software?per_page=1`,
        );
        if (r.count === 0) return false;
      }
      return true;
    });
  }, 120_000);

  afterAll(async () => {
    abort.abort();
    await fleet;
    admin.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('each platform family reports its own sources; versions are shared between hosts', async () => {
    const sources = new Map<string, Set<string>>();
    for (const h of hosts) {
      const r = await admin.request<HostSoftware>(
        'GET',
        `/api/v1/fleet/hosts/${h.id}/software?per_page=10000`,
      );
      const set = sources.get(h.platform) ?? new Set<string>();
      for (const s of r.software) set.add(s.source);
      sources.set(h.platform, set);
      if (h.platform === 'ubuntu' || h.platform === 'rhel') expect(r.count).toBeGreaterThan(300);
      if (h.platform === 'rhel') {
        const rpm = r.software.find((s) => s.source === 'rpm_packages')!;
        expect(rpm.installed_versions[0]?.release).not.toBe('');
      }
    }
    expect([...(sources.get('ubuntu') ?? [])]).toContain('deb_packages');
    expect([...(sources.get('rhel') ?? [])]).toContain('rpm_packages');
    expect([...(sources.get('darwin') ?? [])]).toEqual(expect.arrayContaining(['apps']));
    expect([...(sources.get('windows') ?? [])]).toContain('programs');
    expect([...(sources.get('ubuntu') ?? [])]).not.toContain('rpm_packages');

    // Two hosts per profile: versions are stored once and shared (the top one by several hosts).
    await countSoftware(dir);
    const versions = await admin.request<{
      count: number;
      software: Array<{ hosts_count: number }>;
    }>('GET', '/api/v1/fleet/software/versions?per_page=50');
    expect(versions.software[0]?.hosts_count).toBeGreaterThanOrEqual(2);
    const titles = await admin.request<{ count: number }>(
      'GET',
      '/api/v1/fleet/software/titles?per_page=1',
    );
    expect(titles.count).toBeGreaterThan(500);
    expect(versions.count).toBeGreaterThanOrEqual(titles.count);
  });
});
