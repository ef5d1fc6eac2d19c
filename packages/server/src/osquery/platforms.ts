/** osquery `os_version.platform` values that are Linux distributions. */
const LINUX = new Set([
  'linux',
  'ubuntu',
  'debian',
  'rhel',
  'centos',
  'fedora',
  'amzn',
  'rocky',
  'almalinux',
  'ol',
  'sles',
  'opensuse',
  'opensuse-leap',
  'opensuse-tumbleweed',
  'suse',
  'arch',
  'manjaro',
  'gentoo',
  'linuxmint',
  'pop',
  'kali',
  'alpine',
  'nixos',
  'raspbian',
]);

export type PlatformFamily = 'linux' | 'darwin' | 'windows' | 'other';

export function platformFamily(platform: string): PlatformFamily {
  if (platform === 'darwin') return 'darwin';
  if (platform === 'windows') return 'windows';
  if (LINUX.has(platform)) return 'linux';
  return 'other';
}

/**
 * osquery reports RHEL clones and Amazon Linux under their own ids; agent option overrides use
 * osquery's platform names (linux, darwin, windows…).
 */
export function overridePlatformKeys(platform: string): string[] {
  const family = platformFamily(platform);
  return family === 'other' ? [platform] : [platform, family];
}
