import { describe, expect, it } from 'vitest';
import { assignProfiles, parseProfileMix, runFleet } from '../src/fleet.js';
import { LatencyHistogram } from '../src/stats.js';
import { FakeOsqueryServer } from './helpers/fake-osquery-server.js';
import { makeTlsFixture } from './helpers/tls-fixture.js';

describe('fleet', () => {
  it('assigns profiles in exact proportions, mixed across indices', () => {
    const slots = assignProfiles(1000, { 'ubuntu-22.04': 50, 'rhel-9': 30, 'windows-11': 20 });
    const count = (p: string): number => slots.filter((s) => s.profile === p).length;
    expect([count('ubuntu-22.04'), count('rhel-9'), count('windows-11')]).toEqual([500, 300, 200]);
    expect(new Set(slots.slice(0, 20).map((s) => s.profile)).size).toBe(3);
    expect(slots.map((s) => s.index)).toEqual([...Array(1000).keys()]);
    expect(assignProfiles(7, { 'debian-12': 1, 'macos-14': 1 })).toHaveLength(7);
  });

  it('parses --profiles and rejects unknown names', () => {
    expect(parseProfileMix('ubuntu-22.04=50, rhel-9=20')).toEqual({
      'ubuntu-22.04': 50,
      'rhel-9': 20,
    });
    expect(() => parseProfileMix('solaris-11=3')).toThrow(/unknown profile/);
  });

  it('computes latency percentiles from the histogram within 2 %', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i / 10);
    expect(h.quantile(0.5)).toBeGreaterThan(49);
    expect(h.quantile(0.5)).toBeLessThan(51.1);
    expect(h.quantile(0.99)).toBeLessThan(101);
  });

  it('runs hosts against a server and returns statistics per endpoint', async () => {
    const tls = makeTlsFixture();
    const server = new FakeOsqueryServer(tls);
    let n = 0;
    server.handlers.set('/api/v1/osquery/enroll', () => ({ node_key: `k${n++}` }));
    await server.listen();
    const reports: number[] = [];
    try {
      const stats = await runFleet({
        hosts: 12,
        server: server.url,
        enrollSecret: 's',
        caPem: tls.caPem,
        profiles: { 'ubuntu-24.04': 1, 'macos-14': 1 },
        durationSeconds: 2.5,
        startSpreadSeconds: 0.5,
        workers: 0,
        reportEverySeconds: 1,
        onStats: (s) => reports.push(s.enrolled),
      });
      expect(stats.hosts).toBe(12);
      expect(stats.enrolled).toBe(12);
      expect(stats.endpoints.enroll).toMatchObject({ requests: 12, errors: 0 });
      expect(stats.endpoints.distributed_read.requests).toBeGreaterThanOrEqual(24);
      expect(stats.endpoints.distributed_read.p99).toBeGreaterThan(0);
      expect(reports.length).toBeGreaterThanOrEqual(2);
      expect(
        new Set(
          server
            .to('/api/v1/osquery/enroll')
            .map(
              (r) =>
                (r.body['host_details'] as Record<string, Record<string, string>>)['system_info']?.[
                  'uuid'
                ],
            ),
        ).size,
      ).toBe(12);
      // One keep-alive connection per host.
      expect(new Set(server.requests.map((r) => r.remotePort)).size).toBe(12);
    } finally {
      await server.close();
    }
  });

  it('shares a bounded pool of connections when told to, each host keeping its own node key', async () => {
    const tls = makeTlsFixture();
    const server = new FakeOsqueryServer(tls);
    let n = 0;
    server.handlers.set('/api/v1/osquery/enroll', () => ({ node_key: `k${n++}` }));
    await server.listen();
    try {
      const stats = await runFleet({
        hosts: 12,
        server: server.url,
        enrollSecret: 's',
        caPem: tls.caPem,
        profiles: { 'ubuntu-24.04': 1 },
        durationSeconds: 2.5,
        startSpreadSeconds: 0.2,
        workers: 0,
        maxConnections: 3,
      });
      expect(stats.enrolled).toBe(12);
      expect(stats.endpoints.enroll.errors).toBe(0);
      const ports = new Set(server.requests.map((r) => r.remotePort));
      expect(ports.size).toBeGreaterThan(0);
      expect(ports.size).toBeLessThanOrEqual(3);
      const keys = new Set(
        server.to('/api/v1/osquery/distributed/read').map((r) => r.body['node_key']),
      );
      expect(keys.size).toBe(12);
    } finally {
      await server.close();
    }
  });
});
