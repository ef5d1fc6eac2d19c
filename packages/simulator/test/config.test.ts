import { describe, expect, it } from 'vitest';
import { hostSchedule, machineShard, parseConfig, platformMatches } from '../src/agent/config.js';

const raw = {
  options: { pack_delimiter: '/', distributed_interval: 10, logger_tls_period: '5' },
  decorators: {
    load: ['SELECT uuid AS host_uuid FROM system_info'],
    interval: { '3600': ['SELECT total_seconds FROM uptime'] },
  },
  schedule: {
    procs: { query: 'SELECT * FROM processes', interval: 60, removed: false },
    broken: { interval: 5 },
  },
  packs: {
    linux_only: {
      platform: 'linux',
      queries: { debs: { query: 'SELECT * FROM deb_packages', interval: 3600, snapshot: true } },
    },
    sharded: { shard: 1, queries: { t: { query: 'SELECT * FROM time' } } },
    on_disk: '/etc/osquery/packs/x.conf',
    gated: {
      discovery: ["SELECT 1 FROM processes WHERE name = 'nginx'"],
      queries: { n: { query: 'SELECT 1', interval: 30, platform: 'darwin,windows' } },
    },
  },
};

describe('config parsing', () => {
  const config = parseConfig(JSON.stringify(raw), raw);

  it('flattens packs with pack_delimiter and keeps per-query settings', () => {
    expect(config.schedule.map((q) => q.name)).toEqual([
      'procs',
      'pack/linux_only/debs',
      'pack/sharded/t',
      'pack/gated/n',
    ]);
    const debs = config.schedule.find((q) => q.name === 'pack/linux_only/debs');
    expect(debs).toMatchObject({
      snapshot: true,
      removed: true,
      interval: 3600,
      platform: 'linux',
    });
    expect(config.schedule.find((q) => q.name === 'procs')).toMatchObject({
      removed: false,
      snapshot: false,
    });
    expect(config.schedule.find((q) => q.name === 'pack/sharded/t')?.interval).toBe(3600);
    expect(config.schedule.find((q) => q.name === 'pack/gated/n')?.discovery).toHaveLength(1);
    expect(config.options).toMatchObject({ distributed_interval: '10', logger_tls_period: '5' });
    expect(config.decorators.interval.get(3600)).toEqual(['SELECT total_seconds FROM uptime']);
    expect(config.hash).toMatch(/^[0-9a-f]{40}$/);
  });

  it('filters by platform and shard per host', () => {
    expect(platformMatches('posix', 'darwin', 'darwin')).toBe(true);
    expect(platformMatches('posix', 'windows', 'windows')).toBe(false);
    expect(platformMatches('ubuntu', 'linux', 'ubuntu')).toBe(true);
    expect(platformMatches('any', 'windows', 'windows')).toBe(true);
    const linux = hostSchedule(config, 'A', 'linux', 'ubuntu').map((q) => q.name);
    const windows = hostSchedule(config, 'A', 'windows', 'windows').map((q) => q.name);
    expect(linux).toContain('pack/linux_only/debs');
    expect(linux).not.toContain('pack/gated/n');
    expect(windows).toEqual(expect.arrayContaining(['procs', 'pack/gated/n']));
    expect(windows).not.toContain('pack/linux_only/debs');
    const uuids = Array.from({ length: 400 }, (_, i) => `UUID-${i}`);
    const inShard = uuids.filter((u) =>
      hostSchedule(config, u, 'linux', 'ubuntu').some((q) => q.name === 'pack/sharded/t'),
    ).length;
    expect(inShard).toBeGreaterThan(0);
    expect(inShard).toBeLessThan(20);
    expect(uuids.every((u) => machineShard(u) >= 1 && machineShard(u) <= 100)).toBe(true);
  });
});
