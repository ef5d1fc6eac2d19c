/** The platforms a Flotilla query, policy or label can target (Fleet's names). */
export const PLATFORMS = ['darwin', 'linux', 'windows', 'chrome'] as const;

export type Platform = (typeof PLATFORMS)[number];

/**
 * Names seen in osquery's schema (`win32`, `cygwin`, `posix`), in host inventories
 * (`ubuntu`, `rhel`, …) and in Fleet's API (`macos`), mapped to target platforms.
 * FreeBSD is not a Flotilla target, so `posix` means macOS and Linux here.
 */
const ALIASES: ReadonlyMap<string, readonly Platform[]> = new Map<string, readonly Platform[]>([
  ['darwin', ['darwin']],
  ['macos', ['darwin']],
  ['mac', ['darwin']],
  ['linux', ['linux']],
  ['ubuntu', ['linux']],
  ['debian', ['linux']],
  ['rhel', ['linux']],
  ['centos', ['linux']],
  ['fedora', ['linux']],
  ['amzn', ['linux']],
  ['arch', ['linux']],
  ['gentoo', ['linux']],
  ['opensuse', ['linux']],
  ['sles', ['linux']],
  ['windows', ['windows']],
  ['win32', ['windows']],
  ['cygwin', ['windows']],
  ['chrome', ['chrome']],
  ['chromeos', ['chrome']],
  ['posix', ['darwin', 'linux']],
]);

/** Maps a platform name (osquery, Fleet or distribution spelling) to target platforms; undefined when unknown. */
export function normalizePlatform(name: string): Platform[] | undefined {
  const found = ALIASES.get(name.trim().toLowerCase());
  return found === undefined ? undefined : [...found];
}

/** Normalises a list of platform names, dropping unknown ones, in {@link PLATFORMS} order. */
export function normalizePlatforms(names: Iterable<string>): Platform[] {
  const set = new Set<Platform>();
  for (const name of names) for (const p of normalizePlatform(name) ?? []) set.add(p);
  return sortPlatforms(set);
}

/** The platforms in canonical order without duplicates. */
export function sortPlatforms(platforms: Iterable<Platform>): Platform[] {
  const set = new Set(platforms);
  return PLATFORMS.filter((p) => set.has(p));
}

/** Platforms present in every list (an empty list of lists means every platform). */
export function intersectPlatforms(lists: Iterable<readonly Platform[]>): Platform[] {
  let result = new Set<Platform>(PLATFORMS);
  for (const list of lists) {
    const next = new Set(list);
    result = new Set([...result].filter((p) => next.has(p)));
  }
  return sortPlatforms(result);
}
