import type { SimHost } from '../host/sim-host.js';
import { hex, intBetween, pick } from '../host/random.js';
import type { Row } from '../host/sql-engine.js';
import { eventTables } from '../events/event-tables.js';
import { commonTables } from './common.js';
import { BREW_FORMULAE, LAPTOP_MODELS, MAC_APPS, WINDOWS_PROGRAMS } from './desktop-data.js';
import { HUMAN_NAMES } from './linux-data.js';
import type { Profile, TableGenerator } from './profile.js';

const GiB = 1024 ** 3;

function owner(h: SimHost): string {
  return pick(h.rand('owner'), HUMAN_NAMES);
}

function model(
  h: SimHost,
  platform: 'darwin' | 'windows',
): readonly [string, string, string, number, number] {
  return pick(h.rand('model'), LAPTOP_MODELS[platform]);
}

/** system_info for a laptop of `platform`'s models; `differs` holds what the OSes report differently. */
function laptopSystemInfo(
  h: SimHost,
  platform: 'darwin' | 'windows',
  differs: { hostname: string; cpu_type: string; cpu_subtype: string; computer_name: string },
): Row {
  const [vendor, hw, brand, cores, mem] = model(h, platform);
  return {
    hostname: differs.hostname,
    uuid: h.uuid,
    cpu_type: differs.cpu_type,
    cpu_subtype: differs.cpu_subtype,
    cpu_brand: brand,
    // Apple silicon reports every core as physical; Intel laptops have hyper-threads.
    cpu_physical_cores: platform === 'darwin' ? cores : Math.ceil(cores * 0.8),
    cpu_logical_cores: cores,
    cpu_sockets: 1,
    cpu_microcode: '',
    physical_memory: mem * GiB,
    hardware_vendor: vendor,
    hardware_model: hw,
    hardware_version: '',
    hardware_serial: h.serial(),
    board_vendor: vendor,
    board_model: hw,
    board_version: '',
    board_serial: h.serial(),
    computer_name: differs.computer_name,
    local_hostname: h.hostname,
  };
}

/** Rows shared by both laptop kinds: network as seen on Wi-Fi behind a home or office router. */
function networkTables(ifname: string, windows: boolean): [string, TableGenerator][] {
  const lan = (h: SimHost): string => `192.168.${(h.index >> 8) & 255}.${h.index & 255 || 2}`;
  return [
    [
      'interface_addresses',
      (h): Row[] => [
        {
          interface: windows ? lan(h) : 'lo0',
          address: '127.0.0.1',
          mask: '255.0.0.0',
          broadcast: '',
          point_to_point: '',
          type: windows ? 'unknown' : 'unknown',
          friendly_name: windows ? 'Loopback Pseudo-Interface 1' : '',
        },
        {
          interface: windows ? lan(h) : ifname,
          address: lan(h),
          mask: '255.255.255.0',
          broadcast: lan(h).replace(/\.\d+$/, '.255'),
          point_to_point: '',
          type: windows ? 'dhcp' : 'unknown',
          friendly_name: windows ? 'Wi-Fi' : '',
        },
      ],
    ],
    [
      'interface_details',
      (h): Row[] => [
        {
          interface: windows ? lan(h) : ifname,
          mac: h.mac(),
          type: windows ? 71 : 6,
          mtu: 1500,
          metric: 0,
          flags: 34915,
          ipackets: 1_000_000,
          opackets: 800_000,
          ibytes: 1_200_000_000,
          obytes: 300_000_000,
          ierrors: 0,
          oerrors: 0,
          idrops: 0,
          odrops: 0,
          collisions: 0,
          last_change: -1,
          link_speed: 866_000_000,
          pci_slot: '',
        },
      ],
    ],
    [
      'routes',
      (h): Row[] => [
        {
          destination: '0.0.0.0',
          netmask: 0,
          gateway: lan(h).replace(/\.\d+$/, '.1'),
          source: '',
          flags: 0,
          interface: windows ? lan(h) : ifname,
          mtu: 1500,
          metric: windows ? 35 : 0,
          type: windows ? 'remote' : 'gateway',
          hopcount: 0,
        },
        {
          destination: lan(h).replace(/\.\d+$/, '.0'),
          netmask: 24,
          gateway: '',
          source: '',
          flags: 0,
          interface: windows ? lan(h) : ifname,
          mtu: 1500,
          metric: windows ? 291 : 0,
          type: 'local',
          hopcount: 0,
        },
      ],
    ],
  ];
}

/** macOS 14 laptop. */
export function macosProfile(): Profile {
  const tables: [string, TableGenerator][] = [
    ...commonTables('darwin', 'darwin', '10.14', 21),
    ...eventTables('darwin'),
    ...networkTables('en0', false),
    [
      'os_version',
      (): Row[] => [
        {
          name: 'macOS',
          version: '14.4.1',
          major: 14,
          minor: 4,
          patch: 1,
          build: '23E224',
          platform: 'darwin',
          platform_like: 'darwin',
          codename: 'Sonoma',
          arch: 'arm64',
          extra: '',
        },
      ],
    ],
    ['kernel_info', (): Row[] => [{ version: '23.4.0', arguments: '', path: '', device: '' }]],
    [
      'system_info',
      (h): Row[] => [
        laptopSystemInfo(h, 'darwin', {
          hostname: `${h.hostname}.local`,
          cpu_type: 'arm64e',
          cpu_subtype: 'ARM64E',
          computer_name: `${owner(h)}'s MacBook Pro`,
        }),
      ],
    ],
    [
      'platform_info',
      (): Row[] => [
        {
          vendor: 'Apple Inc.',
          version: '10151.101.3',
          date: '',
          revision: '',
          extra: 'iBoot-10151.101.3',
          firmware_type: 'iBoot',
          address: '',
          size: '',
          volume_size: 0,
        },
      ],
    ],
    [
      'users',
      (h): Row[] => [
        {
          uid: 0,
          gid: 0,
          uid_signed: 0,
          gid_signed: 0,
          username: 'root',
          description: 'System Administrator',
          directory: '/var/root',
          shell: '/bin/sh',
          uuid: 'FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000000',
        },
        {
          uid: 501,
          gid: 20,
          uid_signed: 501,
          gid_signed: 20,
          username: owner(h),
          description: owner(h),
          directory: `/Users/${owner(h)}`,
          shell: '/bin/zsh',
          uuid: h.uuid.replace(/^.{8}/, 'A1B2C3D4'),
        },
      ],
    ],
    [
      'groups',
      (): Row[] => [
        { gid: 0, gid_signed: 0, groupname: 'wheel' },
        { gid: 20, gid_signed: 20, groupname: 'staff' },
        { gid: 80, gid_signed: 80, groupname: 'admin' },
      ],
    ],
    [
      'processes',
      function* (h, now) {
        const names = [
          'launchd',
          'WindowServer',
          'Finder',
          'Dock',
          'Safari',
          'Google Chrome',
          'Slack',
          'osqueryd',
        ];
        let pid = 1;
        for (const name of names) {
          yield {
            pid,
            name,
            path: pid === 1 ? '/sbin/launchd' : `/Applications/${name}.app/Contents/MacOS/${name}`,
            cmdline: name,
            state: 'R',
            cwd: '/',
            root: '/',
            uid: pid === 1 ? 0 : 501,
            gid: 20,
            euid: 501,
            egid: 20,
            suid: 501,
            sgid: 20,
            on_disk: 1,
            wired_size: 0,
            resident_size: 100 * 1024 * 1024,
            total_size: 400 * 1024 * 1024,
            user_time: now - h.bootTime,
            system_time: 10,
            disk_bytes_read: 0,
            disk_bytes_written: 0,
            start_time: h.bootTime + 5,
            parent: pid === 1 ? 0 : 1,
            pgroup: pid,
            threads: 8,
            nice: 0,
            cgroup_path: '',
          };
          pid += intBetween(h.rand(`pid${name}`), 50, 900);
        }
      },
    ],
    [
      'listening_ports',
      (): Row[] => [
        {
          pid: 140,
          port: 5000,
          protocol: 6,
          family: 2,
          address: '0.0.0.0',
          fd: 7,
          socket: 0,
          path: '',
          net_namespace: '',
        },
      ],
    ],
    [
      'mounts',
      (h): Row[] => {
        const blocks = 244_190_646;
        return [
          {
            device: '/dev/disk3s1s1',
            device_alias: '/dev/disk3s1s1',
            path: '/',
            type: 'apfs',
            blocks_size: 4096,
            blocks,
            blocks_free: Math.floor(blocks * (0.2 + h.rand('disk')() * 0.6)),
            blocks_available: Math.floor(blocks * 0.3),
            inodes: 4_000_000,
            inodes_free: 3_000_000,
            flags: '',
          },
        ];
      },
    ],
    [
      'disk_encryption',
      (h): Row[] => {
        // FileVault: osquery names the unlocking user, which Fleet requires before calling it on.
        const on = h.rand('fv')() < 0.9;
        return [
          {
            name: '/dev/disk3s1',
            uuid: h.uuid,
            encrypted: on ? 1 : 0,
            type: on ? 'APFS Encryption' : '',
            encryption_status: on ? 'encrypted' : 'not encrypted',
            uid: on ? '501' : '',
            user_uuid: on ? h.uuid.replace(/^.{8}/, 'A1B2C3D4') : '',
            filevault_status: on ? 'on' : 'off',
          },
        ];
      },
    ],
    [
      'apps',
      function* (h) {
        for (const [name, id, short, build] of MAC_APPS) {
          if (h.rand(`app${id}`)() < 0.25) continue;
          yield {
            name: `${name}.app`,
            path: `/Applications/${name}.app`,
            bundle_executable: name,
            bundle_identifier: id,
            bundle_name: name,
            bundle_short_version: short,
            bundle_version: build,
            bundle_package_type: 'APPL',
            environment: '',
            element: '',
            compiler: 'com.apple.compilers.llvm.clang.1_0',
            development_region: 'en',
            display_name: name,
            info_string: '',
            minimum_system_version: '11.0',
            category: 'public.app-category.productivity',
            applescript_enabled: '',
            copyright: '',
            last_opened_time: h.bootTime,
          };
        }
      },
    ],
    [
      'homebrew_packages',
      function* (h) {
        for (const [name, version] of BREW_FORMULAE) {
          if (h.rand(`brew${name}`)() < 0.4) continue;
          yield {
            name,
            path: `/opt/homebrew/Cellar/${name}/${version}`,
            version,
            type: 'formula',
            auto_updates: 0,
            app_name: '',
            prefix: '/opt/homebrew',
          };
        }
      },
    ],
    ['sip_config', (): Row[] => [{ config_flag: 'sip', enabled: 1, enabled_nvram: 0 }]],
    [
      'gatekeeper',
      (): Row[] => [
        { assessments_enabled: 1, dev_id_enabled: 1, version: '5.0', opaque_version: '5.0' },
      ],
    ],
  ];
  return {
    name: 'macos-14',
    platform: 'darwin',
    platformType: '21',
    osPlatform: 'darwin',
    maxUptimeDays: 14,
    hostname: (seed, index) => `mbp-${index}-${(seed % 0xffff).toString(16)}`,
    serial: (rand) => `C02${hex(rand, 9).toUpperCase()}`,
    tables: new Map(tables),
  };
}

/** Windows 11 laptop. */
export function windowsProfile(): Profile {
  const tables: [string, TableGenerator][] = [
    ...commonTables('windows', 'windows', '10', 2),
    ...networkTables('', true),
    [
      'os_version',
      (): Row[] => [
        {
          name: 'Microsoft Windows 11 Enterprise',
          version: '10.0.22631',
          major: 10,
          minor: 0,
          patch: 0,
          build: '22631',
          platform: 'windows',
          platform_like: 'windows',
          codename: 'Microsoft Windows 11 Enterprise',
          arch: '64-bit',
          install_date: 1_704_067_200,
          revision: 3527,
        },
      ],
    ],
    [
      'kernel_info',
      (): Row[] => [
        {
          version: '10.0.22631.3527',
          arguments: '',
          path: 'C:\\Windows\\system32\\ntoskrnl.exe',
          device: '',
        },
      ],
    ],
    [
      'system_info',
      (h): Row[] => [
        laptopSystemInfo(h, 'windows', {
          hostname: h.hostname,
          cpu_type: 'x86_64',
          cpu_subtype: '-1',
          computer_name: h.hostname,
        }),
      ],
    ],
    [
      'platform_info',
      (): Row[] => [
        {
          vendor: 'Dell Inc.',
          version: '1.14.0',
          date: '03/14/2024',
          revision: '1.14',
          extra: '',
          firmware_type: 'uefi',
          address: '',
          size: '',
          volume_size: 0,
        },
      ],
    ],
    [
      'users',
      (h): Row[] => [
        {
          uid: 500,
          gid: 513,
          uid_signed: 500,
          gid_signed: 513,
          username: 'Administrator',
          description: 'Built-in account for administering the computer/domain',
          directory: '',
          shell: 'C:\\Windows\\system32\\cmd.exe',
          uuid: 'S-1-5-21-1004336348-1177238915-682003330-500',
          type: 'local',
        },
        {
          uid: 1001,
          gid: 513,
          uid_signed: 1001,
          gid_signed: 513,
          username: owner(h),
          description: '',
          directory: `C:\\Users\\${owner(h)}`,
          shell: 'C:\\Windows\\system32\\cmd.exe',
          uuid: 'S-1-5-21-1004336348-1177238915-682003330-1001',
          type: 'local',
        },
      ],
    ],
    [
      'groups',
      (): Row[] => [
        {
          gid: 544,
          gid_signed: 544,
          groupname: 'Administrators',
          group_sid: 'S-1-5-32-544',
          comment: '',
        },
        { gid: 545, gid_signed: 545, groupname: 'Users', group_sid: 'S-1-5-32-545', comment: '' },
      ],
    ],
    [
      'processes',
      function* (h) {
        const names = [
          'System',
          'smss.exe',
          'csrss.exe',
          'wininit.exe',
          'services.exe',
          'lsass.exe',
          'svchost.exe',
          'explorer.exe',
          'chrome.exe',
          'osqueryd.exe',
        ];
        let pid = 4;
        for (const name of names) {
          yield {
            pid,
            name,
            path: pid === 4 ? '' : `C:\\Windows\\System32\\${name}`,
            cmdline: name,
            state: 'STILL_ACTIVE',
            cwd: '',
            root: '',
            uid: -1,
            gid: -1,
            euid: -1,
            egid: -1,
            suid: -1,
            sgid: -1,
            on_disk: 1,
            wired_size: 0,
            resident_size: 50 * 1024 * 1024,
            total_size: 200 * 1024 * 1024,
            user_time: 100,
            system_time: 20,
            disk_bytes_read: 0,
            disk_bytes_written: 0,
            start_time: h.bootTime,
            parent: 4,
            pgroup: -1,
            threads: 12,
            nice: 32,
            cgroup_path: '',
          };
          pid += intBetween(h.rand(`pid${name}`), 40, 4000) * 4;
        }
      },
    ],
    [
      'listening_ports',
      (): Row[] => [
        {
          pid: 1044,
          port: 135,
          protocol: 6,
          family: 2,
          address: '0.0.0.0',
          fd: -1,
          socket: -1,
          path: '',
          net_namespace: '',
        },
        {
          pid: 4,
          port: 445,
          protocol: 6,
          family: 2,
          address: '0.0.0.0',
          fd: -1,
          socket: -1,
          path: '',
          net_namespace: '',
        },
      ],
    ],
    [
      'programs',
      function* (h) {
        for (const [name, version, publisher, location] of WINDOWS_PROGRAMS) {
          if (h.rand(`prog${name}`)() < 0.2) continue;
          yield {
            name,
            version,
            install_location: location,
            install_source: '',
            language: '',
            publisher,
            uninstall_string: '',
            install_date: '20240315',
            identifying_number: `{${h.uuid}}`,
            package_family_name: '',
            upgrade_code: '',
          };
        }
      },
    ],
    [
      'bitlocker_info',
      (h): Row[] => [
        {
          device_id: '\\\\?\\Volume{d1e2f3a4-0000-0000-0000-100000000000}\\',
          drive_letter: 'C:',
          persistent_volume_id: '',
          conversion_status: 1,
          protection_status: h.rand('bl')() < 0.85 ? 1 : 0,
          encryption_method: 'XTS_AES_128',
          version: 2,
          percentage_encrypted: 100,
          lock_status: 0,
        },
      ],
    ],
    [
      'logical_drives',
      (h): Row[] => [
        {
          device_id: 'C:',
          type: 'Local Disk',
          description: 'Local Fixed Disk',
          free_space: Math.floor((100 + h.rand('disk')() * 300) * GiB),
          size: 511 * GiB,
          file_system: 'NTFS',
          boot_partition: 1,
        },
      ],
    ],
    [
      'windows_security_center',
      (): Row[] => [
        {
          firewall: 'Good',
          autoupdate: 'Good',
          antivirus: 'Good',
          internet_settings: 'Good',
          windows_security_center_service: 'Good',
          user_account_control: 'Good',
        },
      ],
    ],
  ];
  return {
    name: 'windows-11',
    platform: 'windows',
    platformType: '2',
    osPlatform: 'windows',
    maxUptimeDays: 10,
    hostname: (_seed, index) => `DESKTOP-${index.toString(36).toUpperCase().padStart(7, 'X')}`,
    serial: (rand) => hex(rand, 7).toUpperCase(),
    tables: new Map(tables),
  };
}
