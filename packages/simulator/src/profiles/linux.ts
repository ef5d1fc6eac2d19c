import { hex, intBetween, uuidFrom } from '../host/random.js';
import type { Row } from '../host/sql-engine.js';
import { eventTables } from '../events/event-tables.js';
import { commonTables } from './common.js';
import { linuxExtraTables } from './linux-extra.js';
import { hostVersion, loadInventory } from './inventory.js';
import {
  DEBIAN_SYSTEM_USERS,
  NPM_PACKAGES,
  PYTHON_PACKAGES,
  RHEL_SYSTEM_USERS,
} from './linux-data.js';
import type { Profile, TableGenerator } from './profile.js';
import { GiB, humanUsers, mountsFor, processTree, roles, shape } from './linux-facts.js';
import type { LinuxSpec } from './linux-facts.js';

export type { LinuxSpec } from './linux-facts.js';

/** Builds a Linux profile from its spec; hosts share everything here and vary by seed. */
export function linuxProfile(spec: LinuxSpec): Profile {
  const inventory = loadInventory(spec.inventory);
  const kernelRelease = inventory.kernel;
  const python = PYTHON_PACKAGES[spec.name] ?? [];
  const isContainer = spec.container === true;
  const systemUsers = spec.family === 'rhel' ? RHEL_SYSTEM_USERS : DEBIAN_SYSTEM_USERS;

  const tables: [string, TableGenerator][] = [
    ...commonTables(
      'linux',
      spec.family === 'rhel' ? 'centos' : 'ubuntu',
      spec.family === 'rhel' ? 'centos7' : 'focal',
      9,
    ),
    ...eventTables('linux'),
    ...linuxExtraTables(spec),
    [
      'os_version',
      (): Row[] => [
        {
          ...spec.os,
          arch: 'x86_64',
          extra: '',
          install_date: 0,
          revision: 0,
          pid_with_namespace: 0,
          mount_namespace_id: '',
        },
      ],
    ],
    [
      'system_info',
      (h): Row[] => {
        const [vendor, model, cores, mem, brand] = shape(h);
        return [
          {
            hostname: h.hostname,
            uuid: h.uuid,
            cpu_type: 'x86_64',
            cpu_subtype: '85',
            cpu_brand: brand,
            cpu_physical_cores: Math.max(1, cores / 2),
            cpu_logical_cores: cores,
            cpu_sockets: 1,
            cpu_microcode: '0x5003604',
            physical_memory: mem * GiB,
            hardware_vendor: isContainer ? '' : vendor,
            hardware_model: isContainer ? '' : model,
            hardware_version: '',
            hardware_serial: isContainer ? '' : h.serial(),
            board_vendor: isContainer ? '' : vendor,
            board_model: '',
            board_version: '',
            board_serial: '',
            computer_name: h.hostname,
            local_hostname: h.hostname,
          },
        ];
      },
    ],
    [
      'platform_info',
      (h): Row[] => [
        {
          vendor: isContainer ? '' : shape(h)[0] === 'Amazon EC2' ? 'Amazon EC2' : 'SeaBIOS',
          version: isContainer ? '' : '1.0',
          date: isContainer ? '' : '10/16/2017',
          revision: isContainer ? '' : '1.0',
          extra: '',
          firmware_type: isContainer ? '' : 'uefi',
          address: '0xe8000',
          size: '64 KB',
          volume_size: 0,
        },
      ],
    ],
    [
      'kernel_info',
      (): Row[] => [
        {
          version: kernelRelease,
          arguments: isContainer
            ? ''
            : `BOOT_IMAGE=/boot/vmlinuz-${kernelRelease} root=UUID=8e5b2c1c-0f6b-4a57-9d7c-1c1c2d7c3f11 ro console=ttyS0`,
          path: isContainer ? '' : `/boot/vmlinuz-${kernelRelease}`,
          device: isContainer ? '' : 'UUID=8e5b2c1c-0f6b-4a57-9d7c-1c1c2d7c3f11',
        },
      ],
    ],
    [
      'interface_addresses',
      (h): Row[] => [
        {
          interface: 'lo',
          address: '127.0.0.1',
          mask: '255.0.0.0',
          broadcast: '',
          point_to_point: '127.0.0.1',
          type: 'unknown',
          friendly_name: '',
        },
        {
          interface: 'eth0',
          address: h.ipv4(),
          mask: '255.255.0.0',
          broadcast: h.ipv4().replace(/\.\d+\.\d+$/, '.255.255'),
          point_to_point: '',
          type: 'unknown',
          friendly_name: '',
        },
        {
          interface: 'lo',
          address: '::1',
          mask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
          broadcast: '',
          point_to_point: '',
          type: 'unknown',
          friendly_name: '',
        },
        {
          interface: 'eth0',
          address: `${h.ipv6LinkLocal()}%eth0`,
          mask: 'ffff:ffff:ffff:ffff::',
          broadcast: '',
          point_to_point: '',
          type: 'unknown',
          friendly_name: '',
        },
      ],
    ],
    [
      'interface_details',
      (h, now): Row[] => {
        const up = now - h.bootTime;
        return [
          {
            interface: 'lo',
            mac: '00:00:00:00:00:00',
            type: 772,
            mtu: 65536,
            metric: 0,
            flags: 73,
            ipackets: up * 3,
            opackets: up * 3,
            ibytes: up * 400,
            obytes: up * 400,
            ierrors: 0,
            oerrors: 0,
            idrops: 0,
            odrops: 0,
            collisions: 0,
            last_change: -1,
            link_speed: 0,
            pci_slot: '',
          },
          {
            interface: 'eth0',
            mac: h.mac(),
            type: 1,
            mtu: isContainer ? 1500 : 9001,
            metric: 0,
            flags: 4163,
            ipackets: up * 40,
            opackets: up * 35,
            ibytes: up * 52_000,
            obytes: up * 21_000,
            ierrors: 0,
            oerrors: 0,
            idrops: Math.floor(up / 3600),
            odrops: 0,
            collisions: 0,
            last_change: -1,
            link_speed: isContainer ? 10_000 : 25_000,
            pci_slot: isContainer ? '' : '0000:00:05.0',
          },
        ];
      },
    ],
    [
      'routes',
      (h): Row[] => {
        const gw = h.ipv4().replace(/\.\d+\.\d+$/, '.0.1');
        const net = h.ipv4().replace(/\.\d+\.\d+$/, '.0.0');
        return [
          {
            destination: '0.0.0.0',
            netmask: 0,
            gateway: gw,
            source: h.ipv4(),
            flags: 0,
            interface: 'eth0',
            mtu: 0,
            metric: 100,
            type: 'gateway',
            hopcount: 0,
          },
          {
            destination: net,
            netmask: 16,
            gateway: '',
            source: h.ipv4(),
            flags: 0,
            interface: 'eth0',
            mtu: 0,
            metric: 100,
            type: 'local',
            hopcount: 0,
          },
          {
            destination: '127.0.0.0',
            netmask: 8,
            gateway: '',
            source: '127.0.0.1',
            flags: 0,
            interface: 'lo',
            mtu: 0,
            metric: 0,
            type: 'local',
            hopcount: 0,
          },
          {
            destination: 'fe80::',
            netmask: 64,
            gateway: '',
            source: '',
            flags: 0,
            interface: 'eth0',
            mtu: 0,
            metric: 256,
            type: 'local',
            hopcount: 0,
          },
        ];
      },
    ],
    [
      'users',
      function* (h) {
        for (const [username, uid, gid, description, directory, shell] of systemUsers) {
          yield {
            uid,
            gid,
            uid_signed: uid,
            gid_signed: gid,
            username,
            description,
            directory,
            shell,
            uuid: '',
            type: '',
            is_hidden: 0,
            pid_with_namespace: 0,
            include_remote: 0,
          };
        }
        if (isContainer) return;
        for (const { name, uid } of humanUsers(h)) {
          yield {
            uid,
            gid: uid,
            uid_signed: uid,
            gid_signed: uid,
            username: name,
            description: `${name},,,`,
            directory: `/home/${name}`,
            shell: '/bin/bash',
            uuid: '',
            type: '',
            is_hidden: 0,
            pid_with_namespace: 0,
            include_remote: 0,
          };
        }
      },
    ],
    [
      'groups',
      function* (h) {
        const seen = new Set<number>();
        for (const [username, , gid] of systemUsers) {
          if (seen.has(gid)) continue;
          seen.add(gid);
          yield { gid, gid_signed: gid, groupname: gid === 65534 ? 'nogroup' : username };
        }
        yield { gid: 27, gid_signed: 27, groupname: spec.family === 'rhel' ? 'wheel' : 'sudo' };
        if (isContainer) return;
        for (const { name, uid } of humanUsers(h))
          yield { gid: uid, gid_signed: uid, groupname: name };
      },
    ],
    [
      'processes',
      function* (h, now) {
        const up = now - h.bootTime;
        const r = h.rand('proc-stats');
        for (const p of processTree(h, spec)) {
          const rss = intBetween(r, 2_000, 400_000) * 1024;
          yield {
            pid: p.pid,
            name: p.name,
            path: p.path,
            cmdline: p.cmdline,
            state: 'S',
            cwd: '/',
            root: '/',
            uid: p.uid,
            gid: p.uid,
            euid: p.uid,
            egid: p.uid,
            suid: p.uid,
            sgid: p.uid,
            on_disk: 1,
            wired_size: 0,
            resident_size: rss,
            total_size: rss * 3,
            user_time: Math.floor(up * r() * 2),
            system_time: Math.floor(up * r()),
            disk_bytes_read: intBetween(r, 0, 1e8),
            disk_bytes_written: intBetween(r, 0, 1e8),
            start_time: h.bootTime + (p.pid === 1 ? 0 : intBetween(r, 2, 60)),
            parent: p.parent,
            pgroup: p.pid,
            threads: intBetween(r, 1, 24),
            nice: 0,
            cgroup_path: p.pid === 1 ? '/init.scope' : `/system.slice/${p.name}.service`,
          };
        }
      },
    ],
    [
      'listening_ports',
      function* (h) {
        const tree = processTree(h, spec);
        const pidOf = (name: string): number => tree.find((p) => p.name === name)?.pid ?? 1;
        const ports: (readonly [string, number, number, string])[] = isContainer
          ? []
          : [
              ['sshd', 22, 6, '0.0.0.0'],
              ['sshd', 22, 6, '::'],
              ...(spec.family === 'rhel'
                ? ([['chronyd', 323, 17, '127.0.0.1']] as const)
                : ([
                    ['systemd-resolve', 53, 6, '127.0.0.53'],
                    ['systemd-resolve', 53, 17, '127.0.0.53'],
                  ] as const)),
            ];
        for (const role of roles(h, spec)) ports.push(...role.ports);
        let fd = 3;
        for (const [name, port, protocol, address] of ports) {
          yield {
            pid: pidOf(name),
            port,
            protocol,
            family: address.includes(':') ? 10 : 2,
            address,
            fd: fd++,
            socket: 20_000 + port * 7,
            path: '',
            net_namespace: '4026531840',
          };
        }
      },
    ],
    ['mounts', (h) => mountsFor(h, spec)],
    [
      'disk_encryption',
      function* (h) {
        for (const m of mountsFor(h, spec)) {
          const alias = String(m['device_alias']);
          if (!alias.startsWith('/dev/')) continue;
          const enc = alias.startsWith('/dev/dm-');
          yield {
            name: alias,
            uuid: enc ? uuidFrom(h.rand('luks-uuid')).toLowerCase() : '',
            encrypted: enc ? 1 : 0,
            type: enc ? 'luks2' : '',
            encryption_status: enc ? 'encrypted' : 'not encrypted',
            uid: '',
            user_uuid: '',
            filevault_status: '',
          };
        }
      },
    ],
    [
      'memory_info',
      (h, now): Row[] => {
        const total = shape(h)[3] * GiB;
        const r = h.rand(`mem${Math.floor(now / 300)}`);
        const free = Math.floor(total * (0.05 + r() * 0.3));
        return [
          {
            memory_total: total,
            memory_free: free,
            memory_available: free + Math.floor(total * 0.3),
            buffers: Math.floor(total * 0.02),
            cached: Math.floor(total * 0.3),
            swap_cached: 0,
            active: Math.floor(total * 0.4),
            inactive: Math.floor(total * 0.2),
            swap_total: 0,
            swap_free: 0,
          },
        ];
      },
    ],
    [
      'cpu_info',
      (h): Row[] => {
        const [, , cores, , brand] = shape(h);
        return [
          {
            device_id: 'CPU0',
            model: brand,
            manufacturer: brand.startsWith('AMD') ? 'AuthenticAMD' : 'GenuineIntel',
            processor_type: '3',
            cpu_status: 1,
            number_of_cores: String(Math.max(1, cores / 2)),
            logical_processors: cores,
            address_width: '64',
            current_clock_speed: 2500,
            max_clock_speed: 3500,
            socket_designation: 'CPU 0',
          },
        ];
      },
    ],
    [
      'load_average',
      (h, now): Row[] => {
        const r = h.rand(`load${Math.floor(now / 60)}`);
        const base = r() * shape(h)[2] * 0.5;
        return ['1m', '5m', '15m'].map((period, i) => ({
          period,
          average: (base * (1 - i * 0.1)).toFixed(2),
        }));
      },
    ],
    [
      'logged_in_users',
      function* (h, now) {
        for (const p of processTree(h, spec)) {
          const m = /^sshd: (\S+)@(pts\/\d+)$/.exec(p.cmdline);
          if (m !== null)
            yield {
              type: 'user',
              user: m[1] ?? '',
              tty: m[2] ?? '',
              host: '10.0.0.5',
              time: now - 1800,
              pid: p.pid,
            };
        }
      },
    ],
    [
      'etc_hosts',
      (h): Row[] => [
        { address: '127.0.0.1', hostnames: 'localhost' },
        { address: '127.0.1.1', hostnames: h.hostname },
        { address: '::1', hostnames: 'localhost ip6-localhost ip6-loopback' },
      ],
    ],
    [
      'block_devices',
      (h): Row[] =>
        isContainer
          ? []
          : [
              {
                name: '/dev/nvme0n1',
                parent: '',
                vendor: '',
                model: 'Amazon Elastic Block Store',
                serial: `vol${hex(h.rand('vol'), 17)}`,
                size: 209_715_200,
                block_size: 512,
                uuid: '',
                type: '',
                label: '',
              },
              {
                name: '/dev/nvme0n1p1',
                parent: '/dev/nvme0n1',
                vendor: '',
                model: '',
                serial: '',
                size: 209_489_887,
                block_size: 512,
                uuid: '8e5b2c1c-0f6b-4a57-9d7c-1c1c2d7c3f11',
                type: spec.family === 'rhel' ? 'xfs' : 'ext4',
                label: spec.family === 'rhel' ? 'root' : 'cloudimg-rootfs',
              },
            ],
    ],
    [
      'system_controls',
      (): Row[] => [
        {
          name: 'kernel.randomize_va_space',
          oid: '',
          subsystem: 'kernel',
          current_value: '2',
          config_value: '',
          type: 'int',
          field_name: '',
        },
        {
          name: 'net.ipv4.ip_forward',
          oid: '',
          subsystem: 'net',
          current_value: '0',
          config_value: '',
          type: 'int',
          field_name: '',
        },
        {
          name: 'kernel.dmesg_restrict',
          oid: '',
          subsystem: 'kernel',
          current_value: '1',
          config_value: '',
          type: 'int',
          field_name: '',
        },
      ],
    ],
    [
      'python_packages',
      function* () {
        const dir =
          spec.family === 'rhel'
            ? '/usr/lib/python3.9/site-packages'
            : '/usr/lib/python3/dist-packages';
        for (const [name, version, summary, license] of python) {
          yield {
            name,
            uid: 0,
            version,
            summary,
            author: '',
            license,
            path: `${dir}/${name}-${version}.dist-info/`,
            directory: dir,
            pid_with_namespace: 0,
          };
        }
      },
    ],
    [
      'npm_packages',
      function* (h) {
        if (!roles(h, spec).some((r) => r.name === 'app')) return;
        for (const [name, version, description, license] of NPM_PACKAGES) {
          yield {
            name,
            version,
            description,
            author: '',
            license,
            homepage: '',
            path: `/usr/lib/node_modules/${name}/package.json`,
            directory: `/usr/lib/node_modules/${name}`,
            depth: 0,
            max_depth: 0,
          };
        }
      },
    ],
  ];

  if (inventory.format === 'deb') {
    tables.push([
      'deb_packages',
      function* (h) {
        const packages = inventory.packages;
        for (let i = 0; i < packages.length; i++) {
          const p = packages[i];
          if (p === undefined) continue;
          const { version } = hostVersion(h.cohortSeed, i, p);
          const dash = version.lastIndexOf('-');
          yield {
            name: p.name,
            version,
            source: p.source ?? '',
            size: 1000 + ((i * 7919) % 90_000),
            arch: p.arch,
            revision: dash < 0 ? '' : version.slice(dash + 1),
            status: 'install ok installed',
            maintainer:
              spec.os.platform === 'ubuntu'
                ? 'Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>'
                : 'Debian Developers <debian-devel@lists.debian.org>',
            section: 'admin',
            priority: 'optional',
            admindir: '/var/lib/dpkg',
            pid_with_namespace: 0,
            mount_namespace_id: '',
          };
        }
      },
    ]);
  } else {
    tables.push([
      'rpm_packages',
      function* (h) {
        const packages = inventory.packages;
        // Installed when the cohort was last patched: shared by its hosts, like the versions.
        const installed = 1_760_000_000 + (h.cohortSeed % (180 * 86_400));
        for (let i = 0; i < packages.length; i++) {
          const p = packages[i];
          if (p === undefined) continue;
          const { version, release } = hostVersion(h.cohortSeed, i, p);
          yield {
            name: p.name,
            version,
            release,
            source: p.source ?? '',
            size: 1000 + ((i * 7919) % 900_000),
            sha1: '',
            arch: p.arch,
            epoch: p.epoch === undefined || p.epoch === '' ? null : Number(p.epoch),
            install_time: installed + i,
            vendor: spec.os.platform === 'amzn' ? 'Amazon Linux' : 'Red Hat, Inc.',
            package_group: 'Unspecified',
            pid_with_namespace: 0,
            mount_namespace_id: '',
          };
        }
      },
    ]);
  }

  return {
    name: spec.name,
    platform: 'linux',
    platformType: '9',
    osPlatform: spec.os.platform,
    maxUptimeDays: isContainer ? 7 : 60,
    hostname: (seed, index) =>
      `${spec.hostPrefix}-${String(index).padStart(5, '0')}-${(seed % 0xfff).toString(16)}`,
    serial: (rand) => (isContainer ? '' : `ec2${hex(rand, 29)}`),
    tables: new Map(tables),
    // Package inventories: the same on every host of a patch cohort, whatever the time.
    sharedTables: new Set(['deb_packages', 'rpm_packages', 'python_packages']),
  };
}
