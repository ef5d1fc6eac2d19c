import { macosProfile, windowsProfile } from './desktop.js';
import { linuxProfile } from './linux.js';
import type { Profile } from './profile.js';

const builders: Record<string, () => Profile> = {
  'ubuntu-22.04': () =>
    linuxProfile({
      name: 'ubuntu-22.04',
      inventory: 'ubuntu_2204',
      hostPrefix: 'ubuntu-jammy',
      family: 'debian',
      encryptedShare: 0.1,
      os: {
        name: 'Ubuntu',
        version: '22.04.2 LTS (Jammy Jellyfish)',
        major: 22,
        minor: 4,
        patch: 0,
        build: '',
        platform: 'ubuntu',
        platform_like: 'debian',
        codename: 'jammy',
      },
    }),
  'ubuntu-24.04': () =>
    linuxProfile({
      name: 'ubuntu-24.04',
      inventory: 'ubuntu_2404',
      hostPrefix: 'ubuntu-noble',
      family: 'debian',
      encryptedShare: 0.1,
      os: {
        name: 'Ubuntu',
        version: '24.04 LTS (Noble Numbat)',
        major: 24,
        minor: 4,
        patch: 0,
        build: '',
        platform: 'ubuntu',
        platform_like: 'debian',
        codename: 'noble',
      },
    }),
  'debian-12': () =>
    linuxProfile({
      name: 'debian-12',
      inventory: 'debian_12',
      hostPrefix: 'debian-ctr',
      family: 'debian',
      container: true,
      encryptedShare: 0,
      os: {
        name: 'Debian GNU/Linux',
        version: '12 (bookworm)',
        major: 12,
        minor: 0,
        patch: 0,
        build: '',
        platform: 'debian',
        platform_like: '',
        codename: 'bookworm',
      },
    }),
  'rhel-9': () =>
    linuxProfile({
      name: 'rhel-9',
      inventory: 'rhel_90',
      hostPrefix: 'rhel9',
      family: 'rhel',
      encryptedShare: 0.3,
      os: {
        name: 'Red Hat Enterprise Linux',
        version: '9.0 (Plow)',
        major: 9,
        minor: 0,
        patch: 0,
        build: '',
        platform: 'rhel',
        platform_like: 'fedora',
        codename: '',
      },
    }),
  'amazon-linux-2023': () =>
    linuxProfile({
      name: 'amazon-linux-2023',
      inventory: 'amazon_2023',
      hostPrefix: 'ip',
      family: 'rhel',
      encryptedShare: 0,
      os: {
        name: 'Amazon Linux',
        version: '2023',
        major: 2023,
        minor: 3,
        patch: 20_240_312,
        build: '',
        platform: 'amzn',
        platform_like: 'fedora',
        codename: '',
      },
    }),
  'macos-14': macosProfile,
  'windows-11': windowsProfile,
};

/** Names accepted by `--profiles`. */
export const PROFILE_NAMES: readonly string[] = Object.keys(builders);

const built = new Map<string, Profile>();

/** The profile called `name`, built once per process (its shared data is loaded then). */
export function getProfile(name: string): Profile {
  let p = built.get(name);
  if (p === undefined) {
    const build = builders[name];
    if (build === undefined)
      throw new Error(`unknown profile "${name}" (known: ${PROFILE_NAMES.join(', ')})`);
    p = build();
    built.set(name, p);
  }
  return p;
}

/** Default mix when `--profiles` is not given (percentages). */
export const DEFAULT_MIX: Readonly<Record<string, number>> = {
  'ubuntu-22.04': 30,
  'ubuntu-24.04': 20,
  'debian-12': 10,
  'rhel-9': 15,
  'amazon-linux-2023': 10,
  'macos-14': 10,
  'windows-11': 5,
};
