const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isAlnum = (c: number): boolean => isDigit(c) || isAlpha(c);
const TILDE = 126;
const CARET = 94;

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** librpm's `rpmvercmp`: segment-wise comparison with `~` (sorts first) and `^` (sorts after the end). */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  for (;;) {
    while (
      i < a.length &&
      !isAlnum(a.charCodeAt(i)) &&
      a.charCodeAt(i) !== TILDE &&
      a.charCodeAt(i) !== CARET
    )
      i++;
    while (
      j < b.length &&
      !isAlnum(b.charCodeAt(j)) &&
      b.charCodeAt(j) !== TILDE &&
      b.charCodeAt(j) !== CARET
    )
      j++;
    const ca = i < a.length ? a.charCodeAt(i) : -1;
    const cb = j < b.length ? b.charCodeAt(j) : -1;
    if (ca === TILDE || cb === TILDE) {
      if (ca !== TILDE) return 1;
      if (cb !== TILDE) return -1;
      i++;
      j++;
      continue;
    }
    if (ca === CARET || cb === CARET) {
      if (ca === -1) return -1;
      if (cb === -1) return 1;
      if (ca !== CARET) return 1;
      if (cb !== CARET) return -1;
      i++;
      j++;
      continue;
    }
    if (ca === -1 || cb === -1) break;
    const numeric = isDigit(ca);
    const test = numeric ? isDigit : isAlpha;
    const si = i;
    const sj = j;
    while (i < a.length && test(a.charCodeAt(i))) i++;
    while (j < b.length && test(b.charCodeAt(j))) j++;
    // Segments of different kinds: a number is newer than letters.
    if (sj === j) return numeric ? 1 : -1;
    let segA = a.slice(si, i);
    let segB = b.slice(sj, j);
    if (numeric) {
      segA = segA.replace(/^0+/, '');
      segB = segB.replace(/^0+/, '');
      if (segA.length !== segB.length) return segA.length > segB.length ? 1 : -1;
    }
    const c = compareStrings(segA, segB);
    if (c !== 0) return c;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

/** An rpm EVR; `release` is null when the string has no `-`. */
export interface RpmEvr {
  epoch: string;
  version: string;
  release: string | null;
}

/** Splits `[epoch:]version[-release]`. A missing epoch is "0". */
export function parseRpmEvr(evr: string): RpmEvr {
  let epoch = '0';
  let rest = evr.trim();
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    epoch = rest.slice(0, colon) || '0';
    rest = rest.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  if (dash < 0) return { epoch, version: rest, release: null };
  return { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) };
}

/** Orders two rpm EVR strings (epoch, then version, then release; a missing release sorts first). */
export function compareRpmEvr(a: string, b: string): number {
  if (a === b) return 0;
  const x = parseRpmEvr(a);
  const y = parseRpmEvr(b);
  return compareParsedEvr(x, y);
}

function compareParsedEvr(x: RpmEvr, y: RpmEvr): number {
  const e = rpmvercmp(x.epoch, y.epoch);
  if (e !== 0) return e;
  const v = rpmvercmp(x.version, y.version);
  if (v !== 0) return v;
  if (x.release === null || y.release === null) {
    if (x.release === y.release) return 0;
    return x.release === null ? -1 : 1;
  }
  return rpmvercmp(x.release, y.release);
}

const KNOWN_ARCHES = new Set([
  'noarch',
  'src',
  'nosrc',
  'x86_64',
  'i386',
  'i486',
  'i586',
  'i686',
  'athlon',
  'aarch64',
  'armv7hl',
  'armv7l',
  'armv6hl',
  'ppc',
  'ppc64',
  'ppc64le',
  'ppc64p7',
  's390',
  's390x',
  'riscv',
  'riscv64',
  'ia64',
  'alpha',
  'sparc',
  'sparc64',
  'mips',
  'mipsel',
  'loongarch64',
]);

/** A parsed `name-[epoch:]version-release[.arch]`; absent parts are "". */
export interface Nevra {
  name: string;
  epoch: string;
  version: string;
  release: string;
  arch: string;
}

/** Parses a NEVRA; the arch is only split off when it is a known rpm architecture. */
export function parseNevra(input: string): Nevra {
  let s = input.trim();
  let arch = '';
  const dot = s.lastIndexOf('.');
  if (dot >= 0 && KNOWN_ARCHES.has(s.slice(dot + 1))) {
    arch = s.slice(dot + 1);
    s = s.slice(0, dot);
  }
  let release = '';
  const r = s.lastIndexOf('-');
  if (r >= 0) {
    release = s.slice(r + 1);
    s = s.slice(0, r);
  }
  let name = '';
  const v = s.lastIndexOf('-');
  let version = s;
  if (v >= 0) {
    name = s.slice(0, v);
    version = s.slice(v + 1);
  }
  let epoch = '';
  const colon = version.indexOf(':');
  if (colon >= 0) {
    epoch = version.slice(0, colon);
    version = version.slice(colon + 1);
  }
  return { name, epoch, version, release, arch };
}

/** Orders two NEVRA strings: name, then EVR, then arch (names and arches sort as plain strings). */
export function compareNevra(a: string, b: string): number {
  const x = parseNevra(a);
  const y = parseNevra(b);
  const n = compareStrings(x.name, y.name);
  if (n !== 0) return n;
  const evr = compareParsedEvr(
    { epoch: x.epoch || '0', version: x.version, release: x.release },
    { epoch: y.epoch || '0', version: y.version, release: y.release },
  );
  if (evr !== 0) return evr;
  return compareStrings(x.arch, y.arch);
}
