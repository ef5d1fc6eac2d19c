import type { SimHost } from '../host/sim-host.js';
import { chance, intBetween, pick, uuidFrom } from '../host/random.js';
import type { Row } from '../host/sql-engine.js';
import {
  HUMAN_NAMES,
  RHEL_BASE_PROCESSES,
  ROLES,
  UBUNTU_BASE_PROCESSES,
  VM_SHAPES,
} from './linux-data.js';
import type { ProcessSpec, Role } from './linux-data.js';

/** Facts about one Linux host derived from its seed, shared by several tables. */

export interface LinuxSpec {
  name: string;
  inventory: string;
  hostPrefix: string;
  os: {
    name: string;
    version: string;
    major: number;
    minor: number;
    patch: number;
    build: string;
    platform: string;
    platform_like: string;
    codename: string;
  };
  family: 'debian' | 'rhel';
  /** A container: no systemd, one workload, overlay root, no kernel of its own to speak of. */
  container?: boolean;
  /** Share of hosts whose root filesystem is LUKS-encrypted. */
  encryptedShare: number;
}

export const GiB = 1024 ** 3;

export function shape(h: SimHost): (typeof VM_SHAPES)[number] {
  return pick(h.rand('shape'), VM_SHAPES);
}

export function roles(h: SimHost, spec: LinuxSpec): Role[] {
  if (spec.container === true) return ROLES.filter((r) => r.name === 'app');
  const r = h.rand('roles');
  return ROLES.filter(() => r() < 0.35);
}

export interface ProcessRow {
  pid: number;
  name: string;
  path: string;
  cmdline: string;
  uid: number;
  parent: number;
}

export function processTree(h: SimHost, spec: LinuxSpec): ProcessRow[] {
  const base: ProcessSpec[] =
    spec.container === true
      ? [['node', '/usr/local/bin/node', 'node /app/index.js', 1000, '']]
      : [...(spec.family === 'rhel' ? RHEL_BASE_PROCESSES : UBUNTU_BASE_PROCESSES)];
  for (const role of roles(h, spec)) base.push(...role.processes);
  const rand = h.rand('pids');
  const out: ProcessRow[] = [];
  const byName = new Map<string, number>();
  let pid = 1;
  for (const [name, path, cmdline, uid, parentName] of base) {
    const parent = parentName === '' ? 0 : (byName.get(parentName) ?? 1);
    out.push({ pid, name, path, cmdline, uid, parent });
    if (!byName.has(name)) byName.set(name, pid);
    pid += intBetween(rand, 1, 900);
  }
  // Interactive sessions on some servers.
  if (spec.container !== true && rand() < 0.3) {
    const sshd = byName.get('sshd') ?? 1;
    const user = humanUsers(h)[0];
    if (user !== undefined) {
      out.push({
        pid: pid + 11,
        name: 'sshd',
        path: '/usr/sbin/sshd',
        cmdline: `sshd: ${user.name}@pts/0`,
        uid: user.uid,
        parent: sshd,
      });
      out.push({
        pid: pid + 12,
        name: 'bash',
        path: '/usr/bin/bash',
        cmdline: '-bash',
        uid: user.uid,
        parent: pid + 11,
      });
    }
  }
  return out;
}

export function humanUsers(h: SimHost): { name: string; uid: number }[] {
  const r = h.rand('users');
  const count = intBetween(r, 1, 4);
  const names = new Set<string>();
  while (names.size < count) names.add(pick(r, HUMAN_NAMES));
  return [...names].map((name, i) => ({ name, uid: 1000 + i }));
}

export function mountsFor(h: SimHost, spec: LinuxSpec): Row[] {
  const r = h.rand('disk');
  const sizeGiB = pick(r, [8, 20, 30, 50, 100, 200, 500]);
  const used = 0.15 + r() * 0.7;
  const blockSize = 4096;
  const blocks = Math.floor((sizeGiB * GiB) / blockSize);
  const free = Math.floor(blocks * (1 - used));
  const encrypted = chance(h.seed, 'luks') < spec.encryptedShare;
  const disk = (
    device: string,
    alias: string,
    path: string,
    type: string,
    bl: number,
    fr: number,
    flags: string,
  ): Row => ({
    device,
    device_alias: alias,
    path,
    type,
    blocks_size: blockSize,
    blocks: bl,
    blocks_free: fr,
    blocks_available: Math.max(0, fr - Math.floor(bl * 0.05)),
    inodes: Math.floor(bl / 4),
    inodes_free: Math.floor(fr / 4),
    flags,
  });
  const pseudo = (device: string, path: string, type: string, flags: string): Row =>
    disk(device, device, path, type, 0, 0, flags);
  if (spec.container === true) {
    return [
      disk(
        'overlay',
        'overlay',
        '/',
        'overlay',
        blocks,
        free,
        'rw,relatime,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B',
      ),
      pseudo('proc', '/proc', 'proc', 'rw,nosuid,nodev,noexec,relatime'),
      pseudo('tmpfs', '/dev', 'tmpfs', 'rw,nosuid,size=65536k,mode=755'),
      pseudo('shm', '/dev/shm', 'tmpfs', 'rw,nosuid,nodev,noexec,relatime,size=65536k'),
      pseudo('sysfs', '/sys', 'sysfs', 'ro,nosuid,nodev,noexec,relatime'),
    ];
  }
  const rootType = spec.family === 'rhel' ? 'xfs' : 'ext4';
  const rootDevice = encrypted
    ? `/dev/mapper/luks-${uuidFrom(h.rand('luks-uuid')).toLowerCase()}`
    : '/dev/nvme0n1p1';
  const rootAlias = encrypted ? '/dev/dm-0' : '/dev/nvme0n1p1';
  return [
    disk(rootDevice, rootAlias, '/', rootType, blocks, free, 'rw,relatime'),
    disk(
      '/dev/nvme0n1p15',
      '/dev/nvme0n1p15',
      '/boot/efi',
      'vfat',
      26_129,
      19_000,
      'rw,relatime,fmask=0077,dmask=0077',
    ),
    pseudo('proc', '/proc', 'proc', 'rw,nosuid,nodev,noexec,relatime'),
    pseudo('sysfs', '/sys', 'sysfs', 'rw,nosuid,nodev,noexec,relatime'),
    pseudo(
      'udev',
      '/dev',
      'devtmpfs',
      'rw,nosuid,relatime,size=1967696k,nr_inodes=491924,mode=755',
    ),
    disk(
      'tmpfs',
      'tmpfs',
      '/run',
      'tmpfs',
      98_402,
      98_200,
      'rw,nosuid,nodev,noexec,relatime,size=393608k,mode=755',
    ),
    pseudo(
      'cgroup2',
      '/sys/fs/cgroup',
      'cgroup2',
      'rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot',
    ),
  ];
}
