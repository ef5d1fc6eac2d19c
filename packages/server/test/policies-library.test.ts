import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlotillaClient } from '@flotilla/api';
import { createTestDatabase, testDialects, type TestDatabase } from '@flotilla/db';
import {
  EngineSet,
  OsqueryAgent,
  SimHost,
  SqlEngine,
  Transport,
  getProfile,
  type Profile,
} from '@flotilla/simulator';
import { createSecureContext } from 'node:tls';
import { loadConfig, startServer, type RunningServer } from '../src/index.js';
import { libraryYaml } from '../src/policies/library.js';
import { parsePolicyYaml, type PolicySpec } from '../src/policies/policy-yaml.js';
import { waitUntil } from './helpers.js';

type Row = Record<string, string | number>;
type Family = 'debian' | 'rhel';
const DISTROS: ReadonlyArray<{ profile: string; family: Family; label: string }> = [
  { profile: 'ubuntu-22.04', family: 'debian', label: 'Ubuntu Linux' },
  { profile: 'debian-12', family: 'debian', label: 'Debian Linux' },
  { profile: 'rhel-9', family: 'rhel', label: 'RHEL family' },
];

const unit = (id: string, on: boolean, running = true): Row => ({
  id,
  description: id,
  load_state: 'loaded',
  active_state: on ? 'active' : 'inactive',
  sub_state: on ? (running ? 'running' : 'waiting') : 'dead',
  unit_file_state: on ? 'enabled' : 'disabled',
  fragment_path: `/usr/lib/systemd/system/${id}`,
});
const sshd = (label: string, value: string): Row => ({
  node: `/files/etc/ssh/sshd_config/${label}`,
  label,
  value,
  path: '/etc/ssh/sshd_config',
});
const sysctl = (name: string, value: string): Row => ({
  name,
  current_value: value,
  subsystem: name.split('.')[0]!,
  type: 'int',
});
const file = (path: string, mode: string, uid = 0): Row => ({
  path,
  directory: path.slice(0, path.lastIndexOf('/')),
  filename: path.slice(path.lastIndexOf('/') + 1),
  mode,
  uid,
  gid: 0,
  type: 'regular',
  size: 1024,
});

/**
 * A distribution's profile with the security-relevant tables of a hardened server, or of one
 * that gets every check wrong.
 */
function variant(base: Profile, family: Family, hardened: boolean): Profile {
  const on = hardened;
  const tables = new Map(base.tables);
  const baseMounts = base.tables.get('mounts');
  const basePorts = base.tables.get('listening_ports');
  tables.set('augeas', () =>
    on
      ? [
          sshd('PermitRootLogin', 'no'),
          sshd('PasswordAuthentication', 'no'),
          sshd('X11Forwarding', 'no'),
        ]
      : [
          sshd('PermitRootLogin', 'yes'),
          sshd('PasswordAuthentication', 'yes'),
          sshd('X11Forwarding', 'yes'),
        ],
  );
  tables.set('systemd_units', () =>
    family === 'debian'
      ? [
          unit('ufw.service', on, false),
          unit('auditd.service', on),
          unit('unattended-upgrades.service', on),
          unit('apt-daily-upgrade.timer', on, false),
          unit('systemd-timesyncd.service', on),
          unit('ssh.service', true),
        ]
      : [
          unit('firewalld.service', on),
          unit('auditd.service', on),
          unit('dnf-automatic.timer', on, false),
          unit('chronyd.service', on),
          unit('sshd.service', true),
        ],
  );
  tables.set('iptables', () => [
    { filter_name: 'filter', chain: 'INPUT', policy: 'ACCEPT', target: '', protocol: 0 },
  ]);
  tables.set('system_controls', () => [
    sysctl('kernel.randomize_va_space', on ? '2' : '0'),
    sysctl('kernel.kptr_restrict', on ? '1' : '0'),
    sysctl('kernel.dmesg_restrict', on ? '1' : '0'),
    sysctl('net.ipv4.conf.all.accept_redirects', on ? '0' : '1'),
    sysctl('net.ipv4.tcp_syncookies', on ? '1' : '0'),
    sysctl('net.ipv4.ip_forward', on ? '0' : '1'),
  ]);
  tables.set('file', () => [
    file('/usr/bin/ls', '0755'),
    file('/usr/local/bin/backup.sh', on ? '0750' : '0777'),
    file('/etc/shadow', on ? '0640' : '0644'),
  ]);
  tables.set('mounts', (h, now) => [
    ...(baseMounts ? [...baseMounts(h, now)] : []),
    ...(on
      ? [
          {
            device: 'tmpfs',
            device_alias: 'tmpfs',
            path: '/tmp',
            type: 'tmpfs',
            flags: 'rw,nosuid,nodev,noexec,relatime',
          },
        ]
      : []),
  ]);
  tables.set('listening_ports', (h, now) => [
    ...(basePorts ? [...basePorts(h, now)] : []),
    ...(on
      ? []
      : [
          {
            pid: 1,
            port: 23,
            protocol: 6,
            family: 2,
            address: '0.0.0.0',
            fd: 99,
            socket: 1,
            path: '',
          },
        ]),
  ]);
  return { ...base, name: `${base.name}-${on ? 'hardened' : 'weak'}`, tables };
}

const DIALECTS = await testDialects();
const library = parsePolicyYaml(libraryYaml('linux-hardening'));
const appliesTo = (p: PolicySpec, label: string) =>
  !p.labels_include_any?.length || p.labels_include_any.includes(label);

describe('the Linux hardening library on simulated hosts', () => {
  it('every policy passes on hardened Ubuntu, Debian and RHEL hosts and fails on weak ones', () => {
    const engine = new SqlEngine('linux');
    const seen = new Map<string, { pass: number; fail: number }>();
    try {
      for (const d of DISTROS) {
        for (const hardened of [true, false]) {
          const host = new SimHost(variant(getProfile(d.profile), d.family, hardened), 1);
          for (const p of library) {
            if (!appliesTo(p, d.label)) continue;
            const r = engine.run(host, p.query);
            const where = `${p.name} on ${d.profile} (${hardened ? 'hardened' : 'weak'})`;
            expect(r.status, `${where}: ${r.message}`).toBe(0);
            expect(r.rows.length > 0, where).toBe(hardened);
            const s = seen.get(p.name) ?? { pass: 0, fail: 0 };
            s[hardened ? 'pass' : 'fail']++;
            seen.set(p.name, s);
          }
        }
      }
    } finally {
      engine.close();
    }
    // Every library policy was seen to pass and to fail.
    expect([...seen.keys()].sort()).toEqual(library.map((p) => p.name).sort());
    for (const [, s] of seen) expect(s.pass > 0 && s.fail > 0).toBe(true);
  });

  describe.each(DIALECTS)(
    'imported into a server on %s and evaluated by simulated osquery agents',
    (dialect) => {
      let dir: string;
      let db: TestDatabase;
      let server: RunningServer;
      let admin: FlotillaClient;
      const agents: OsqueryAgent[] = [];
      const engines = new EngineSet();

      beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'flotilla-policy-lib-'));
        db = await createTestDatabase(dialect);
        server = await startServer(
          loadConfig({
            env: {
              ...(dialect === 'postgres' ? { FLOTILLA_DATABASE_URL: db.location } : {}),
              FLOTILLA_DATA_DIR: dir,
              FLOTILLA_PORT: '0',
              FLOTILLA_HOST: '127.0.0.1',
              FLOTILLA_LOG_LEVEL: 'warn',
              FLOTILLA_SEEN_FLUSH_INTERVAL_MS: '200',
            },
          }),
        );
        const ca = readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8');
        const url = server.url.replace('localhost', '127.0.0.1');
        admin = new FlotillaClient({ serverUrl: url, ca });
        await admin.setup({
          email: 'admin@example.com',
          name: 'Admin',
          password: 'Policy-library-1!',
        });
        await admin.request('POST', '/api/v1/fleet/spec/enroll_secret', {
          spec: { secrets: [{ secret: 'lib-secret-123' }] },
        });
        await admin.request('PATCH', '/api/v1/fleet/config', {
          agent_options: {
            config: {
              options: { distributed_interval: 1, config_refresh: 5, logger_tls_period: 5 },
            },
          },
        });
        await admin.request('POST', '/api/v1/fleet/policies/library/linux-hardening/import', {});
        const secureContext = createSecureContext({ ca });
        let index = 0;
        for (const d of DISTROS) {
          for (const hardened of [true, false]) {
            const host = new SimHost(variant(getProfile(d.profile), d.family, hardened), ++index);
            const agent = new OsqueryAgent({
              host,
              engine: engines.get('linux'),
              transport: new Transport({
                server: new URL(url),
                secureContext,
                sessionTimeoutSeconds: 3600,
                timeoutMs: 16_000,
                version: '5.23.1',
              }),
              enrollSecret: 'lib-secret-123',
              hostIdentifier: 'uuid',
              flags: { tls_hostname: new URL(url).host },
            });
            agents.push(agent);
            void agent.start();
          }
        }
      }, 60_000);

      afterAll(async () => {
        for (const a of agents) a.stop();
        engines.close();
        admin.close();
        await server.close();
        await db.drop();
        rmSync(dir, { recursive: true, force: true });
      });

      it('each policy counts the hardened hosts passing and the weak ones failing', async () => {
        const expected = new Map(
          library.map((p) => {
            const n = DISTROS.filter((d) => appliesTo(p, d.label)).length;
            return [p.name, { passing_host_count: n, failing_host_count: n }];
          }),
        );
        const counts = async () =>
          (
            await admin.request<{
              policies: Array<{
                name: string;
                passing_host_count: number;
                failing_host_count: number;
              }>;
            }>('GET', '/api/v1/fleet/global/policies')
          ).policies;
        await waitUntil(
          'every library policy evaluated by every host it applies to',
          async () =>
            (await counts()).every((p) => {
              const e = expected.get(p.name)!;
              return (
                p.passing_host_count === e.passing_host_count &&
                p.failing_host_count === e.failing_host_count
              );
            }),
          60_000,
        ).catch(async (e: unknown) => {
          throw new Error(
            `${String(e)}: ${JSON.stringify((await counts()).map((p) => [p.name.slice(17), p.passing_host_count, p.failing_host_count]))}`,
          );
        });
        const c = await admin.request<{
          compliance: { hosts_count: number; compliant_hosts_count: number };
        }>('GET', '/api/v1/fleet/policies/compliance');
        expect(c.compliance).toMatchObject({ hosts_count: 6, compliant_hosts_count: 3 });
        const { hosts } = await admin.request<{
          hosts: Array<{ hostname: string; issues: { failing_policies_count: number } }>;
        }>('GET', '/api/v1/fleet/hosts');
        const failing = hosts.filter((h) => h.issues.failing_policies_count > 0);
        expect(failing).toHaveLength(3);
        expect(failing.every((h) => h.issues.failing_policies_count >= library.length - 1)).toBe(
          true,
        );
      }, 90_000);
    },
  );
});
