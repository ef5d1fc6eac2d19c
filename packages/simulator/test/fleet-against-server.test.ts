import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlotillaClient } from '@flotilla/api';
import { loadConfig, startServer, type RunningServer } from '@flotilla/server';
import { runFleet } from '../src/index.js';

const HOSTS = 200;

/** A CI-sized run: a few hundred simulated hosts against the real server over HTTPS. */
describe(`${HOSTS} simulated hosts against a real Flotilla server`, () => {
  let dir: string;
  let server: RunningServer;
  let client: FlotillaClient;
  let ca: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-sim-'));
    const config = loadConfig({
      env: {
        FLOTILLA_DATA_DIR: dir,
        FLOTILLA_PORT: '0',
        FLOTILLA_HOST: '127.0.0.1',
        FLOTILLA_LOG_LEVEL: 'warn',
        FLOTILLA_SEEN_FLUSH_INTERVAL_MS: '500',
      },
    });
    server = await startServer(config);
    ca = readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8');
    client = new FlotillaClient({ serverUrl: server.url, ca });
    await client.setup({
      email: 'admin@example.com',
      name: 'Admin',
      password: 'Simulated-fleet-1!',
    });
    await client.request('POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: 'sim-enroll-secret' }] },
    });
    await client.request('PATCH', '/api/v1/fleet/config', {
      agent_options: {
        config: { options: { distributed_interval: 2, config_refresh: 5, logger_tls_period: 2 } },
      },
    });
  });
  afterAll(async () => {
    client.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every host enrolls, answers its vitals and appears in the inventory, with zero errors', async () => {
    const stats = await runFleet({
      hosts: HOSTS,
      server: server.url.replace('localhost', '127.0.0.1'),
      enrollSecret: 'sim-enroll-secret',
      caPem: ca,
      workers: 0,
      durationSeconds: 12,
      startSpreadSeconds: 2,
    });
    const errors = Object.values(stats.endpoints).reduce((a, e) => a + e.errors, 0);
    expect(errors).toBe(0);
    expect(stats.enrolled).toBe(HOSTS);
    expect(stats.endpoints.distributed_write.requests).toBeGreaterThanOrEqual(HOSTS);

    const { hosts } = await client.listHosts({ per_page: 1000 });
    expect(hosts).toHaveLength(HOSTS);
    const missingVitals = hosts.filter(
      (h) =>
        h['detail_updated_at'] === '0001-01-01T00:00:00Z' ||
        !h['os_version'] ||
        !h['memory'] ||
        !h['cpu_brand'],
    );
    expect(missingVitals.map((h) => h['hostname'])).toEqual([]);
    const linux = hosts.filter((h) => !['darwin', 'windows'].includes(h['platform'] as string));
    expect(
      linux.every(
        (h) => typeof h['primary_ip'] === 'string' && (h['primary_ip'] as string).length > 0,
      ),
    ).toBe(true);
    expect(new Set(hosts.map((h) => h['platform'])).size).toBeGreaterThanOrEqual(4);
  }, 120_000);
});
