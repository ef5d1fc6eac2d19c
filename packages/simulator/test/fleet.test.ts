import { describe, expect, it } from 'vitest';
import { assignProfiles, parseProfileMix, runFleet, startFleet } from '../src/fleet.js';
import { HostRunner } from '../src/host-runner.js';
import {
  LatencyHistogram,
  StatsCollector,
  mergeFleetStats,
  statsBetween,
  summarize,
} from '../src/stats.js';
import { FakeOsqueryServer } from './helpers/fake-osquery-server.js';
import { makeTlsFixture } from './helpers/tls-fixture.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
    expect(h.max()).toBeGreaterThanOrEqual(100);
    expect(h.max()).toBeLessThan(102.1);
  });

  it('reports a window without the requests answered before it began', () => {
    const c = new StatsCollector();
    // The enrollment storm: slow answers, some failing.
    for (let i = 0; i < 1000; i++) c.request('distributed_read', 5000, i % 10 !== 0);
    c.event('reenroll', 3);
    const start = summarize([c.snapshot(10, 10)], 60);
    // The steady window: 200 fast answers.
    for (let i = 1; i <= 200; i++) c.request('distributed_read', i / 100, true);
    c.event('reenroll', 1);
    const end = summarize([c.snapshot(10, 10)], 120);

    const window = statsBetween(start, end);
    expect(window.elapsedSeconds).toBe(60);
    expect(window.events['reenroll']).toBe(1);
    expect(window.endpoints.distributed_read).toMatchObject({ requests: 200, errors: 0 });
    // Any sample from before the window would show here: it took 5 s.
    expect(window.endpoints.distributed_read.max).toBeLessThan(2.1);
    expect(window.endpoints.distributed_read.p99).toBeLessThan(2.1);
    expect(window.endpoints.distributed_read.p50).toBeGreaterThan(0.98);
    expect(window.endpoints.distributed_read.p50).toBeLessThan(1.03);
    expect(window.endpoints.enroll).toMatchObject({ requests: 0, p99: 0, max: 0 });
    // The whole run still has them.
    expect(end.endpoints.distributed_read).toMatchObject({ requests: 1200, errors: 100 });
    expect(end.endpoints.distributed_read.p50).toBeGreaterThan(4900);
    // Reports out of order are refused, not turned into negative counts.
    expect(() => statsBetween(end, start)).toThrow(/earlier/);
  });

  it('merges the reports of several processes from their histograms, not their percentiles', () => {
    const fast = new StatsCollector();
    const slow = new StatsCollector();
    for (let i = 0; i < 980; i++) fast.request('config', 1, true);
    for (let i = 0; i < 20; i++) slow.request('config', 1000, false);
    const merged = mergeFleetStats([
      summarize([fast.snapshot(5, 5)], 10),
      summarize([slow.snapshot(3, 2)], 11),
    ]);
    expect(merged).toMatchObject({ hosts: 8, enrolled: 7, elapsedSeconds: 11 });
    expect(merged.endpoints.config).toMatchObject({ requests: 1000, errors: 20 });
    // 98 % of the fleet's requests took 1 ms: its p95 is the fast one (the slow process alone
    // would say 1,000 ms), while p99 and max see the slow ones.
    expect(merged.endpoints.config.p95).toBeLessThan(1.03);
    expect(merged.endpoints.config.p99).toBeGreaterThan(990);
    expect(merged.endpoints.config.max).toBeGreaterThan(990);
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

  it('measures a window across worker threads: answers before its start are left out', async () => {
    const tls = makeTlsFixture();
    const server = new FakeOsqueryServer(tls, { record: false });
    let n = 0;
    server.handlers.set('/api/v1/osquery/enroll', () => ({ node_key: `k${n++}` }));
    server.delayMs = 400;
    await server.listen();
    const fleet = startFleet({
      hosts: 6,
      server: server.url,
      enrollSecret: 's',
      caPem: tls.caPem,
      profiles: { 'ubuntu-24.04': 1 },
      startSpreadSeconds: 0.2,
      workers: 2,
    });
    const spawned = Date.now();
    try {
      // Both workers booted and started their hosts before any of them asked anything.
      const startedAt = await fleet.started;
      expect(startedAt).toBeGreaterThanOrEqual(spawned);
      expect(startedAt).toBeLessThanOrEqual(Date.now());
      // Slow answers until every host has had a few (workers take a while to boot).
      for (let i = 0; i < 200; i++) {
        if ((await fleet.stats()).endpoints.distributed_read.requests >= 12) break;
        await sleep(100);
      }
      server.delayMs = 0;
      await sleep(800); // answers already under way arrive before the window opens
      const start = await fleet.stats();
      await sleep(2000);
      const end = await fleet.stats();
      const window = statsBetween(start, end);

      expect(start.hosts).toBe(6);
      expect(end.endpoints.distributed_read.max).toBeGreaterThanOrEqual(400);
      const read = window.endpoints.distributed_read;
      expect(read.requests).toBe(
        end.endpoints.distributed_read.requests - start.endpoints.distributed_read.requests,
      );
      expect(read.requests).toBeGreaterThanOrEqual(6);
      expect(read.max).toBeLessThan(300);
      expect(window.endpoints.enroll.requests).toBe(0);
    } finally {
      await fleet.stop();
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
      expect(stats.events['connection_opened']).toBe(ports.size);
      const keys = new Set(
        server.to('/api/v1/osquery/distributed/read').map((r) => r.body['node_key']),
      );
      expect(keys.size).toBe(12);
    } finally {
      await server.close();
    }
  });
  it('reports how late its own timers fired when the simulator thread is held', async () => {
    const { caPem } = makeTlsFixture();
    const runner = new HostRunner(
      {
        server: 'https://127.0.0.1:1',
        enrollSecret: 's',
        caPem,
        gzip: false,
        hostIdentifier: 'uuid',
        suspiciousRate: 0,
        fleetSeed: 1,
        startSpreadSeconds: 0,
      },
      [],
    );
    runner.start();
    try {
      await sleep(250);
      const quiet = runner.snapshot().events;
      expect(quiet['loop_stalls_over_1s'] ?? 0).toBe(0);
      const until = performance.now() + 1300;
      while (performance.now() < until) {
        // hold the thread, as thousands of hosts' work would
      }
      await sleep(250);
      const held = runner.snapshot().events;
      expect(held['loop_stalls_over_1s']).toBe(1);
      expect((held['loop_lag_ms'] ?? 0) - (quiet['loop_lag_ms'] ?? 0)).toBeGreaterThan(1000);
    } finally {
      runner.stop();
    }
  });
});
