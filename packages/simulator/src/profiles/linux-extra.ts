import { hex, intBetween } from '../host/random.js';
import type { Row } from '../host/sql-engine.js';
import { DEBIAN_SYSTEM_USERS, RHEL_SYSTEM_USERS } from './linux-data.js';
import { humanUsers, processTree, roles } from './linux-facts.js';
import type { LinuxSpec } from './linux-facts.js';
import type { TableGenerator } from './profile.js';

const KERNEL_MODULES: readonly (readonly [string, number, string])[] = [
  ['nf_tables', 303_104, 'nft_compat,nft_chain_nat'],
  ['nf_conntrack', 172_032, 'nf_nat,xt_conntrack'],
  ['overlay', 151_552, '-'],
  ['ena', 143_360, '-'],
  ['nvme', 49_152, '-'],
  ['nvme_core', 139_264, 'nvme'],
  ['xfs', 1_978_368, '-'],
  ['ext4', 999_424, '-'],
  ['dm_crypt', 61_440, '-'],
  ['aesni_intel', 372_736, '-'],
  ['bridge', 307_200, 'br_netfilter'],
];

const SYSTEMD_UNITS: readonly (readonly [string, string])[] = [
  ['cron.service', 'Regular background program processing daemon'],
  ['ssh.service', 'OpenBSD Secure Shell server'],
  ['rsyslog.service', 'System Logging Service'],
  ['systemd-journald.service', 'Journal Service'],
  ['osqueryd.service', 'The osquery Daemon'],
  ['nginx.service', 'A high performance web server and a reverse proxy server'],
  ['postgresql.service', 'PostgreSQL RDBMS'],
  ['docker.service', 'Docker Application Container Engine'],
];

/** Less central Linux tables that security queries often join: users' groups, sockets, keys … */
export function linuxExtraTables(spec: LinuxSpec): [string, TableGenerator][] {
  const isContainer = spec.container === true;
  const systemUsers = spec.family === 'rhel' ? RHEL_SYSTEM_USERS : DEBIAN_SYSTEM_USERS;
  const admin = spec.family === 'rhel' ? 10 : 27;
  return [
    [
      'user_groups',
      function* (h) {
        for (const [, uid, gid] of systemUsers) yield { uid, gid };
        if (isContainer) return;
        for (const [i, u] of humanUsers(h).entries()) {
          yield { uid: u.uid, gid: u.uid };
          // The first human account administers the machine.
          if (i === 0) yield { uid: u.uid, gid: admin };
        }
      },
    ],
    [
      'process_open_sockets',
      function* (h) {
        const tree = processTree(h, spec);
        const sshd = tree.find((p) => p.name === 'sshd')?.pid;
        let fd = 3;
        if (sshd !== undefined) {
          yield {
            pid: sshd,
            fd: fd++,
            socket: 21_001,
            family: 2,
            protocol: 6,
            local_address: '0.0.0.0',
            remote_address: '0.0.0.0',
            local_port: 22,
            remote_port: 0,
            path: '',
            state: 'LISTEN',
            net_namespace: '4026531840',
          };
        }
        const r = h.rand('sockets');
        for (const role of roles(h, spec)) {
          for (const [name, port] of role.ports) {
            const pid = tree.find((p) => p.name === name)?.pid ?? 1;
            yield {
              pid,
              fd: fd++,
              socket: 22_000 + port,
              family: 2,
              protocol: 6,
              local_address: '0.0.0.0',
              remote_address: '0.0.0.0',
              local_port: port,
              remote_port: 0,
              path: '',
              state: 'LISTEN',
              net_namespace: '4026531840',
            };
            yield {
              pid,
              fd: fd++,
              socket: 23_000 + port,
              family: 2,
              protocol: 6,
              local_address: h.ipv4(),
              remote_address: `10.0.${intBetween(r, 0, 9)}.${intBetween(r, 2, 250)}`,
              local_port: port,
              remote_port: intBetween(r, 32768, 60999),
              path: '',
              state: 'ESTABLISHED',
              net_namespace: '4026531840',
            };
          }
        }
        const osq = tree.find((p) => p.name === 'osqueryd')?.pid;
        if (osq !== undefined) {
          yield {
            pid: osq,
            fd: fd++,
            socket: 24_001,
            family: 2,
            protocol: 6,
            local_address: h.ipv4(),
            remote_address: '10.0.0.10',
            local_port: intBetween(r, 32768, 60999),
            remote_port: 443,
            path: '',
            state: 'ESTABLISHED',
            net_namespace: '4026531840',
          };
        }
      },
    ],
    [
      'kernel_modules',
      function* (h) {
        if (isContainer) return;
        for (const [name, size, usedBy] of KERNEL_MODULES)
          yield {
            name,
            size,
            used_by: usedBy,
            status: 'Live',
            address: `0xffffffffc0${hex(h.rand(`module${name}`), 6)}`,
          };
      },
    ],
    [
      'crontab',
      (): Row[] =>
        isContainer
          ? []
          : [
              {
                event: '',
                minute: '17',
                hour: '*',
                day_of_month: '*',
                month: '*',
                day_of_week: '*',
                command: 'root    cd / && run-parts --report /etc/cron.hourly',
                path: '/etc/crontab',
              },
              {
                event: '',
                minute: '25',
                hour: '6',
                day_of_month: '*',
                month: '*',
                day_of_week: '*',
                command:
                  'root\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }',
                path: '/etc/crontab',
              },
            ],
    ],
    [
      'authorized_keys',
      function* (h) {
        if (isContainer) return;
        for (const u of humanUsers(h)) {
          yield {
            uid: u.uid,
            algorithm: 'ssh-ed25519',
            key: `AAAAC3NzaC1lZDI1NTE5AAAAI${hex(h.rand(`key${u.name}`), 43)}`,
            options: '',
            comment: `${u.name}@laptop`,
            key_file: `/home/${u.name}/.ssh/authorized_keys`,
          };
        }
      },
    ],
    [
      'last',
      function* (h, now) {
        if (isContainer) return;
        const r = h.rand(`last${Math.floor(now / 86_400)}`);
        for (const u of humanUsers(h)) {
          yield {
            username: u.name,
            tty: 'pts/0',
            pid: intBetween(r, 2000, 60_000),
            type: 7,
            type_name: 'user-process',
            time: now - intBetween(r, 600, 86_400 * 3),
            host: `10.0.0.${intBetween(r, 2, 250)}`,
          };
        }
        yield {
          username: 'reboot',
          tty: '~',
          pid: 0,
          type: 2,
          type_name: 'boot-time',
          time: h.bootTime,
          host: '',
        };
      },
    ],
    [
      'shadow',
      function* (h) {
        for (const [username] of systemUsers) {
          yield {
            password_status: username === 'root' ? 'locked' : 'not_set',
            hash_alg: '',
            last_change: 19_500,
            min: 0,
            max: 99_999,
            warning: 7,
            inactive: -1,
            expire: -1,
            flag: -1,
            username,
          };
        }
        if (isContainer) return;
        for (const u of humanUsers(h))
          yield {
            password_status: 'active',
            hash_alg: 'y',
            last_change: 19_800,
            min: 0,
            max: 99_999,
            warning: 7,
            inactive: -1,
            expire: -1,
            flag: -1,
            username: u.name,
          };
      },
    ],
    [
      'systemd_units',
      function* (h) {
        if (isContainer) return;
        const mine = new Set(processTree(h, spec).map((p) => p.name));
        for (const [id, description] of SYSTEMD_UNITS) {
          const base = id.replace(/\.service$/, '');
          const running =
            mine.has(base) ||
            mine.has(base.replace('ssh', 'sshd')) ||
            mine.has(base.replace('postgresql', 'postgres')) ||
            mine.has(`${base}d`) ||
            base === 'rsyslog' ||
            base === 'systemd-journald';
          if (!running && ['nginx', 'postgresql', 'docker'].includes(base)) continue;
          yield {
            id,
            description,
            load_state: 'loaded',
            active_state: running ? 'active' : 'inactive',
            sub_state: running ? 'running' : 'dead',
            unit_file_state: 'enabled',
            following: '',
            object_path: `/org/freedesktop/systemd1/unit/${id.replace(/[.-]/g, '_')}`,
            job_id: 0,
            job_type: '',
            job_path: '/',
            fragment_path: `/lib/systemd/system/${id}`,
            user: '',
            source_path: '',
          };
        }
      },
    ],
    spec.family === 'rhel'
      ? [
          'yum_sources',
          (): Row[] => [
            {
              name: 'BaseOS',
              source: '/etc/yum.repos.d/redhat.repo',
              baseurl: 'https://cdn.redhat.com/content/dist/rhel9/$releasever/x86_64/baseos/os',
              mirrorlist: '',
              metalink: '',
              enabled: '1',
              gpgcheck: '1',
              gpgkey: 'file:///etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release',
            },
            {
              name: 'AppStream',
              source: '/etc/yum.repos.d/redhat.repo',
              baseurl: 'https://cdn.redhat.com/content/dist/rhel9/$releasever/x86_64/appstream/os',
              mirrorlist: '',
              metalink: '',
              enabled: '1',
              gpgcheck: '1',
              gpgkey: 'file:///etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release',
            },
          ],
        ]
      : [
          'apt_sources',
          (): Row[] => {
            const uri =
              spec.os.platform === 'ubuntu'
                ? 'http://archive.ubuntu.com/ubuntu'
                : 'http://deb.debian.org/debian';
            return ['', '-updates', '-security'].map((suffix) => ({
              name: `${spec.os.codename}${suffix}`,
              source: '/etc/apt/sources.list',
              base_uri: `${uri}/dists/${spec.os.codename}${suffix}`,
              release: `${spec.os.codename}${suffix}`,
              version: String(spec.os.major),
              maintainer: spec.os.name,
              components: 'main restricted universe',
              architectures: 'amd64',
            }));
          },
        ],
    [
      'suid_bin',
      (): Row[] =>
        [
          '/usr/bin/sudo',
          '/usr/bin/passwd',
          '/usr/bin/su',
          '/usr/bin/mount',
          '/usr/bin/umount',
          '/usr/bin/chsh',
          '/usr/bin/newgrp',
        ].map((path) => ({
          path,
          username: 'root',
          groupname: 'root',
          permissions: 'S',
        })),
    ],
  ];
}
