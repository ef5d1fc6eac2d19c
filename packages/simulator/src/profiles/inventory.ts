import { readFileSync } from 'node:fs';
import { chance } from '../host/random.js';

/** One binary package of a real inventory (see data/SOURCES.md). */
export interface InventoryPackage {
  name: string;
  version: string;
  arch: string;
  source?: string;
  /** rpm only */
  release?: string;
  epoch?: string;
}

export interface Inventory {
  origin: string;
  family: string;
  release: string;
  kernel: string;
  format: 'deb' | 'rpm';
  packages: InventoryPackage[];
}

const cache = new Map<string, Inventory>();

/** Parses an inventory file: `# key: value` header lines, a column line, then tab-separated rows. */
export function parseInventory(text: string): Inventory {
  const meta = new Map<string, string>();
  const lines = text.split('\n').filter((l) => l !== '');
  while (lines[0]?.startsWith('# ') === true) {
    const line = lines.shift() ?? '';
    const colon = line.indexOf(':');
    meta.set(line.slice(2, colon).trim(), line.slice(colon + 1).trim());
  }
  const columns = (lines.shift() ?? '').split('\t');
  const format = meta.get('format') === 'rpm' ? 'rpm' : 'deb';
  const packages = lines.map((line) => {
    const cells = line.split('\t');
    const get = (name: string): string => cells[columns.indexOf(name)] ?? '';
    const pkg: InventoryPackage = { name: get('name'), version: get('version'), arch: get('arch') };
    if (get('source') !== '') pkg.source = get('source');
    if (format === 'rpm') {
      pkg.release = get('release');
      pkg.epoch = get('epoch');
    }
    return pkg;
  });
  return {
    origin: meta.get('origin') ?? '',
    family: meta.get('family') ?? '',
    release: meta.get('release') ?? '',
    kernel: meta.get('kernel') ?? '',
    format,
    packages,
  };
}

/** Loads `data/inventories/<name>.tsv` once per process. */
export function loadInventory(name: string): Inventory {
  let inv = cache.get(name);
  if (inv === undefined) {
    const url = new URL(`../../data/inventories/${name}.tsv`, import.meta.url);
    inv = parseInventory(readFileSync(url, 'utf8'));
    cache.set(name, inv);
  }
  return inv;
}

/** Moves the last number in `v` by `delta` (never below 0): "1.2-3ubuntu0.4" → "1.2-3ubuntu0.5". */
export function bumpLastNumber(v: string, delta: number): string {
  const m = /(\d+)(\D*)$/.exec(v);
  if (m === null || m[1] === undefined) return v;
  const next = Math.max(0, Number(m[1]) + delta);
  return v.slice(0, m.index) + String(next) + (m[2] ?? '');
}

/** Moves the leading number of an rpm release by `delta`: "4.el9_0" → "5.el9_0". */
export function bumpFirstNumber(v: string, delta: number): string {
  const m = /^(\d+)/.exec(v);
  if (m === null || m[1] === undefined) return v;
  return String(Math.max(0, Number(m[1]) + delta)) + v.slice(m[1].length);
}

/** Share of a host's packages that are one revision behind (not yet patched) or ahead. */
const OLDER = 0.04;
const NEWER = 0.02;

/**
 * The host's view of a package: most hosts of a profile share the inventory's version;
 * a few (chosen by seed) lag one revision behind or run one ahead, as patching drifts.
 */
export function hostVersion(
  seed: number,
  index: number,
  pkg: InventoryPackage,
): { version: string; release: string } {
  const r = chance(seed, index);
  const release = pkg.release ?? '';
  if (r >= OLDER + NEWER) return { version: pkg.version, release };
  const delta = r < OLDER ? -1 : 1;
  // deb: the Debian revision ends the version; rpm: the release starts with its build number.
  return pkg.release === undefined
    ? { version: bumpLastNumber(pkg.version, delta), release }
    : { version: pkg.version, release: bumpFirstNumber(release, delta) };
}
