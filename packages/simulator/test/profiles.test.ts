import { afterAll, describe, expect, it } from 'vitest';
import { EngineSet } from '../src/host/engine-set.js';
import { SimHost } from '../src/host/sim-host.js';
import { getProfile, PROFILE_NAMES } from '../src/profiles/catalog.js';
import { bumpFirstNumber, bumpLastNumber, loadInventory } from '../src/profiles/inventory.js';
import { eventsBetween } from '../src/events/stream.js';
import { SCENARIOS } from '../src/events/suspicious.js';

const engines = new EngineSet();
afterAll(() => engines.close());

function query(host: SimHost, sql: string): Record<string, string>[] {
  const r = engines.get(host.profile.platform).run(host, sql);
  if (r.status !== 0) throw new Error(`${sql}: ${r.message}`);
  return r.rows;
}

/** Fleet's "primary IP" detail query (networkInterfaceQuery), Unix flavour. */
const PRIMARY_IP = `SELECT ia.address, id.mac FROM interface_addresses ia JOIN interface_details id ON id.interface = ia.interface
  JOIN routes r ON r.interface = ia.interface WHERE (r.destination = '0.0.0.0' OR r.destination = '::') AND r.netmask = 0 AND r.type = 'gateway'
  AND (inet_aton(ia.address) IS NOT NULL AND (split(ia.address, '.', 0) = '10'
    OR (split(ia.address, '.', 0) = '172' AND (CAST(split(ia.address, '.', 1) AS INTEGER) & 0xf0) = 16)
    OR (split(ia.address, '.', 0) = '192' AND split(ia.address, '.', 1) = '168')))
  ORDER BY r.metric ASC, inet_aton(ia.address) IS NOT NULL DESC LIMIT 1`;

describe('profiles', () => {
  it('give each host its own identity, the same on every call', () => {
    for (const name of PROFILE_NAMES) {
      const a = new SimHost(getProfile(name), 1);
      const b = new SimHost(getProfile(name), 2);
      const sa = query(a, 'SELECT hostname, uuid, hardware_serial FROM system_info');
      expect(sa).toEqual(
        query(
          new SimHost(getProfile(name), 1),
          'SELECT hostname, uuid, hardware_serial FROM system_info',
        ),
      );
      expect(sa[0]?.['uuid']).not.toBe(query(b, 'SELECT uuid FROM system_info')[0]?.['uuid']);
      expect(sa[0]?.['uuid']).toMatch(
        /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/,
      );
      expect(query(a, 'SELECT platform FROM os_version')[0]?.['platform']).toBe(
        getProfile(name).osPlatform,
      );
    }
  });

  it('ship the real package inventories, with a few versions drifting per host', () => {
    const inv = loadInventory('ubuntu_2204');
    const hosts = [0, 1, 2, 3].map((i) => new SimHost(getProfile('ubuntu-22.04'), i));
    const lists = hosts.map((h) =>
      query(h, 'SELECT name, version, arch, source FROM deb_packages'),
    );
    for (const l of lists) expect(l).toHaveLength(inv.packages.length);
    const same = lists[0]?.filter((p, i) => p['version'] === inv.packages[i]?.version).length ?? 0;
    expect(same / inv.packages.length).toBeGreaterThan(0.85);
    expect(same).toBeLessThan(inv.packages.length);
    expect(lists[0]).not.toEqual(lists[1]);
    expect(lists[0]?.find((p) => p['name'] === 'bsdutils')?.['source']).toMatch(/^util-linux/);
    const rpm = query(
      new SimHost(getProfile('rhel-9'), 5),
      "SELECT name, version, release, epoch, arch FROM rpm_packages WHERE name = 'NetworkManager'",
    );
    expect(rpm).toEqual([
      {
        name: 'NetworkManager',
        version: '1.36.0',
        release: expect.stringMatching(/^\d+\.el9_0$/) as unknown as string,
        epoch: '1',
        arch: 'x86_64',
      },
    ]);
    expect(bumpLastNumber('3.0.4-2ubuntu2.2', -1)).toBe('3.0.4-2ubuntu2.1');
    expect(bumpFirstNumber('4.el9_0', 1)).toBe('5.el9_0');
    expect(bumpFirstNumber('0.el9', -1)).toBe('0.el9');
  });

  it("answer Fleet's primary-IP detail query on Linux and macOS", () => {
    for (const name of ['ubuntu-24.04', 'amazon-linux-2023', 'macos-14']) {
      const rows = query(new SimHost(getProfile(name), 300), PRIMARY_IP);
      expect(rows).toHaveLength(1);
      expect(rows[0]?.['address']).toMatch(/^(10|192\.168)\./);
      expect(rows[0]?.['mac']).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    }
  });

  it('report LUKS root filesystems through disk_encryption joined to mounts', () => {
    const hosts = Array.from({ length: 40 }, (_, i) => new SimHost(getProfile('rhel-9'), i));
    const encrypted = hosts.filter(
      (h) =>
        query(
          h,
          "SELECT de.encrypted FROM disk_encryption de JOIN mounts m ON m.device_alias = de.name WHERE m.path = '/'",
        )[0]?.['encrypted'] === '1',
    ).length;
    expect(encrypted).toBeGreaterThan(2);
    expect(encrypted).toBeLessThan(38);
  });

  it('keep uptime and time moving with the host clock', () => {
    let now = Date.UTC(2026, 0, 1);
    const host = new SimHost(getProfile('debian-12'), 9, 1, { clock: () => now });
    const before = Number(query(host, 'SELECT total_seconds FROM uptime')[0]?.['total_seconds']);
    now += 90_000;
    expect(Number(query(host, 'SELECT total_seconds FROM uptime')[0]?.['total_seconds'])).toBe(
      before + 90,
    );
    expect(query(host, 'SELECT unix_time FROM time')[0]?.['unix_time']).toBe(String(now / 1000));
  });

  it('vary processes, users and listening ports between servers', () => {
    const shapes = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const h = new SimHost(getProfile('ubuntu-22.04'), i);
      const ports = query(h, 'SELECT port FROM listening_ports ORDER BY port')
        .map((r) => r['port'])
        .join(',');
      const users = query(
        h,
        'SELECT count(*) AS n FROM users WHERE uid >= 1000 AND uid < 65534',
      )[0]?.['n'];
      shapes.add(`${ports}|${users}`);
      expect(
        query(h, "SELECT count(*) AS n FROM processes WHERE name = 'sshd'")[0]?.['n'],
      ).not.toBe('0');
    }
    expect(shapes.size).toBeGreaterThan(3);
  });
});

describe('event tables', () => {
  const now = Math.floor(Date.UTC(2026, 5, 1) / 1000);

  it('stream plausible process, socket and file events without suspicious ones by default', () => {
    const host = new SimHost(getProfile('ubuntu-22.04'), 1, 1, { clock: () => now * 1000 });
    const events = [...eventsBetween(host, now - 3600, now)];
    expect(events.filter((e) => e.kind === 'process').length).toBeGreaterThan(30);
    expect(events.some((e) => e.kind === 'socket')).toBe(true);
    expect(events.every((e) => !e.suspicious)).toBe(true);
    const rows = query(host, 'SELECT pid, path, cmdline, time FROM process_events');
    expect(rows.length).toBe(events.filter((e) => e.kind === 'process').length);
    expect(query(host, 'SELECT count(*) AS n FROM bpf_process_events')[0]?.['n']).toBe(
      String(rows.length),
    );
  });

  it('only return events newer than the last run of a scheduled query', () => {
    const host = new SimHost(getProfile('ubuntu-22.04'), 1, 1, { clock: () => now * 1000 });
    host.eventsAfter = now - 120;
    const rows = query(host, 'SELECT time FROM process_events');
    host.eventsAfter = undefined;
    expect(rows.every((r) => Number(r['time']) > now - 120)).toBe(true);
  });

  it('inject activity matching the shipped Sigma rules at suspiciousRate', () => {
    const host = new SimHost(getProfile('ubuntu-22.04'), 2, 1, {
      clock: () => now * 1000,
      suspiciousRate: 1,
    });
    const events = [...eventsBetween(host, now - 6 * 3600, now)];
    const procs = events.filter((e) => e.kind === 'process');
    // Sigma 818f7b24 (webshell): a shell/recon tool whose parent image is a web server.
    const byPid = new Map(procs.map((p) => [p.pid, p]));
    const webshell = procs.some(
      (p) =>
        /\/(whoami|uname|hostname)$/.test(p.path) &&
        byPid.get(byPid.get(p.parent)?.parent ?? -1)?.path.endsWith('/nginx'),
    );
    // Sigma 312b42b1: image under /tmp/.  Sigma 7f734ed0: nc with -e and a shell.
    const fromTmp = procs.some((p) => p.path.startsWith('/tmp/'));
    const netcat = procs.some(
      (p) =>
        p.path.endsWith('/nc') && p.cmdline.includes(' -e ') && p.cmdline.includes('/bin/bash'),
    );
    // Sigma dbfc7c98: outbound connection to a callback port on a public address.
    const callback = events.some(
      (e) =>
        e.kind === 'socket' &&
        [4444, 2222, 6789, 51820].includes(e.remotePort) &&
        !e.remoteAddress.startsWith('10.'),
    );
    expect({ webshell, fromTmp, netcat, callback }).toEqual({
      webshell: true,
      fromTmp: true,
      netcat: true,
      callback: true,
    });
    expect(new Set(SCENARIOS.map((s) => s.ruleId)).size).toBe(SCENARIOS.length);
    const rows = query(host, "SELECT path FROM process_events WHERE path LIKE '/tmp/%'");
    expect(rows.length).toBeGreaterThan(0);
  });
});

describe('osquery_registry', () => {
  it('lists the platform tables so discovery queries on optional tables behave', () => {
    const ubuntu = new SimHost(getProfile('ubuntu-22.04'), 1);
    const gate = (t: string): number =>
      query(
        ubuntu,
        `SELECT 1 FROM osquery_registry WHERE active = true AND registry = 'table' AND name = '${t}'`,
      ).length;
    expect(gate('deb_packages')).toBe(1);
    expect(gate('orbit_info')).toBe(0);
    expect(gate('apps')).toBe(0);
    const mac = new SimHost(getProfile('macos-14'), 1);
    expect(
      query(mac, "SELECT count(*) AS n FROM osquery_registry WHERE name = 'apps'")[0]?.['n'],
    ).toBe('1');
  });
});

describe('linux security tables', () => {
  it('join users to their groups, and sockets to their processes', () => {
    const host = new SimHost(getProfile('ubuntu-22.04'), 4);
    const admins = query(
      host,
      "SELECT u.username FROM users u JOIN user_groups ug ON u.uid = ug.uid JOIN groups g ON g.gid = ug.gid WHERE g.groupname = 'sudo'",
    );
    expect(admins).toHaveLength(1);
    const listeners = query(
      host,
      "SELECT p.name, s.local_port FROM process_open_sockets s JOIN processes p USING (pid) WHERE s.state = 'LISTEN' AND s.local_port = 22",
    );
    expect(listeners).toEqual([{ name: 'sshd', local_port: '22' }]);
    expect(query(host, 'SELECT count(*) AS n FROM authorized_keys')[0]?.['n']).not.toBe('0');
    expect(
      query(new SimHost(getProfile('rhel-9'), 4), 'SELECT name FROM yum_sources').map(
        (r) => r['name'],
      ),
    ).toEqual(['BaseOS', 'AppStream']);
  });
});
