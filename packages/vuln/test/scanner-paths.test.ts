import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createScanner, emptyDatabase, parseOval } from '../src/index.js';
import type { Finding, HostInventory } from '../src/index.js';
import { readFeedText } from '../src/feeds/load.js';
import { fixture } from './helpers.js';

interface RawInventory {
  os: { version: string; codename: string };
  kernel: string | null;
  packages: { name: string; version: string; source?: string }[];
}

const key = (f: Finding): string => `${f.package}|${f.cve}|${f.fixed_version}|${f.advisory}`;

describe('scanner fast path (shared per-package findings)', () => {
  const feed = parseOval(
    readFeedText(fixture('ubuntu-oval', 'com.ubuntu.kinetic.usn.oval.xml.gz')),
    'kinetic',
  );
  const raw = JSON.parse(
    readFileSync(
      fixture('inventories', 'synthetic', 'synthetic-ubuntu-22.10-kinetic.json'),
      'utf8',
    ),
  ) as RawInventory;
  const host: HostInventory = {
    os: { family: 'ubuntu', version: raw.os.version, codename: raw.os.codename },
    ...(raw.kernel ? { kernel: raw.kernel } : {}),
    packages: raw.packages.map((p) => ({
      name: p.name,
      version: p.version,
      type: 'deb',
      ...(p.source ? { source: p.source } : {}),
    })),
  };
  const db = { ...emptyDatabase(), oval: [feed] };

  it('grouped findings equal the flat list, and groups are shared between hosts', () => {
    const scanner = createScanner(db);
    const flat = scanner.scanHost(host).map(key).sort();
    const groups = scanner.scanHostGrouped(host);
    expect(groups.flat().map(key).sort()).toEqual(flat);
    const again = scanner.scanHostGrouped({ ...host, packages: [...host.packages] });
    expect(again.length).toBe(groups.length);
    expect(again.every((g, i) => g === groups[i])).toBe(true);
    expect(Object.isFrozen(groups[0]?.[0])).toBe(true);
  });

  it('a host with two packages of one name (multi-arch) takes the whole-host path, same result', () => {
    const scanner = createScanner(db);
    const target = host.packages.find((p) => p.name === 'libexpat1-dev');
    expect(target).toBeDefined();
    if (!target) return;
    const single = scanner.scanHost(host).filter((f) => f.package === 'libexpat1-dev');
    const twice = scanner
      .scanHost({ ...host, packages: [...host.packages, { ...target, arch: 'i386' }] })
      .filter((f) => f.package === 'libexpat1-dev');
    expect(twice.map(key).sort()).toEqual(single.map(key).sort());
    expect(single.length).toBeGreaterThan(0);
  });

  it('odd names and versions never crash the matcher', () => {
    const scanner = createScanner(db);
    const odd: HostInventory = {
      os: host.os,
      packages: [
        { name: '', version: '1.0', type: 'deb' },
        { name: 'x'.repeat(100_000), version: '1', type: 'deb' },
        { name: 'libexpat1', version: '', type: 'deb' },
        { name: 'libexpat1', version: '9'.repeat(10_000), type: 'deb' },
        { name: "na'me\u0000;DROP", version: '1:2~3', type: 'deb' },
        { name: 'libexpat1', version: '2.4.8-2', type: 'deb' },
      ],
    };
    expect(() => scanner.scanHostGrouped(odd)).not.toThrow();
    expect(scanner.scanHost(odd).some((f) => f.package === 'libexpat1')).toBe(true);
  });
});
