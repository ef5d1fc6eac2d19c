import { compareApk } from './apk.js';
import { compareDpkg } from './dpkg.js';
import { compareGeneric } from './generic.js';
import { comparePep440 } from './pep440.js';
import { compareRpmEvr } from './rpm.js';
import { compareSemver } from './semver.js';

export { compareApk } from './apk.js';
export { compareDpkg, parseDpkgVersion, verrevcmp } from './dpkg.js';
export type { DpkgVersion } from './dpkg.js';
export { compareGeneric } from './generic.js';
export { comparePep440 } from './pep440.js';
export { compareNevra, compareRpmEvr, parseNevra, parseRpmEvr, rpmvercmp } from './rpm.js';
export type { Nevra, RpmEvr } from './rpm.js';
export { compareSemver } from './semver.js';

/** The version orderings the engine knows. */
export type VersionScheme = 'dpkg' | 'rpm' | 'apk' | 'semver' | 'pep440' | 'generic';

/** Version strings longer than this are never compared (they cannot be real, and cost time). */
export const MAX_VERSION_LENGTH = 256;

const COMPARATORS: Record<VersionScheme, (a: string, b: string) => number> = {
  dpkg: compareDpkg,
  rpm: compareRpmEvr,
  apk: compareApk,
  semver: compareSemver,
  pep440: comparePep440,
  generic: compareGeneric,
};

/** Compares two versions under a scheme; returns -1, 0 or 1. */
export function compareVersions(scheme: VersionScheme, a: string, b: string): number {
  return Math.sign(COMPARATORS[scheme](a, b));
}
