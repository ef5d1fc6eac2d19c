import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createScanner, emptyDatabase, parseOval } from '../src/index.js';
import type { HostInventory } from '../src/index.js';
import { compareDpkg } from '../src/versions/dpkg.js';
import { fixture } from './helpers.js';
import { dpkgAvailable, expectedUsnFindings } from './independent-oval.js';

const feedXml = (codename: string): string =>
  gunzipSync(
    readFileSync(fixture('ubuntu-oval', `com.ubuntu.${codename}.usn.oval.xml.gz`)),
  ).toString('utf8');

interface RawInventory {
  os: { name: string; version: string; codename: string };
  kernel: string | null;
  packages: { name: string; version: string; arch?: string; source?: string }[];
}

const CASES: [string, string, number][] = [
  // inventory, feed codename, minimum expected findings (guards against a vacuous pass)
  ['docker-images/ubuntu-22.10-kinetic-20221130.json', 'kinetic', 30],
  ['docker-images/ubuntu-23.04-lunar-20230102.json', 'lunar', 30],
  ['synthetic/synthetic-ubuntu-22.10-kinetic.json', 'kinetic', 3000],
  ['synthetic/synthetic-ubuntu-23.04-lunar.json', 'lunar', 3000],
  ['synthetic/synthetic-ubuntu-23.10-mantic.json', 'mantic', 3000],
];

describe(`Ubuntu USN OVAL accuracy against an independent evaluation (${dpkgAvailable ? 'dpkg binary' : 'version vectors only: dpkg absent'})`, () => {
  const feeds = new Map<string, { xml: string; feed: ReturnType<typeof parseOval> }>();
  const get = (codename: string): { xml: string; feed: ReturnType<typeof parseOval> } => {
    let f = feeds.get(codename);
    if (!f) {
      const xml = feedXml(codename);
      f = { xml, feed: parseOval(xml, codename) };
      feeds.set(codename, f);
    }
    return f;
  };

  for (const [file, codename, minimum] of CASES) {
    it(`${file}: every (package, CVE) the OVAL implies and nothing else`, () => {
      const raw = JSON.parse(readFileSync(fixture('inventories', file), 'utf8')) as RawInventory;
      const { xml, feed } = get(codename);
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
      const got = new Set(
        createScanner(db)
          .scanHost(host)
          .map((f) => `${f.package}|${f.cve}`),
      );
      const expected = expectedUsnFindings(
        xml,
        { codename: raw.os.codename, kernel: raw.kernel, packages: raw.packages },
        (a, b) => compareDpkg(a, b) < 0,
      );
      expect(expected.size).toBeGreaterThanOrEqual(minimum);
      const missing = [...expected].filter((k) => !got.has(k));
      const extra = [...got].filter((k) => !expected.has(k));
      expect({ missing, extra }).toEqual({ missing: [], extra: [] });
    });
  }

  it('a feed for another release is not applied', () => {
    const raw = JSON.parse(
      readFileSync(fixture('inventories', CASES[2]?.[0] ?? ''), 'utf8'),
    ) as RawInventory;
    const db = { ...emptyDatabase(), oval: [get('lunar').feed] };
    const findings = createScanner(db).scanHost({
      os: { family: 'ubuntu', version: '22.10', codename: 'kinetic' },
      packages: raw.packages.map((p) => ({ name: p.name, version: p.version, type: 'deb' })),
    });
    expect(findings).toEqual([]);
  });

  it('reports fixed versions, severity and CVSS from the definition', () => {
    const db = { ...emptyDatabase(), oval: [get('kinetic').feed] };
    const findings = createScanner(db).scanHost({
      os: { family: 'ubuntu', version: '22.10', codename: 'kinetic' },
      packages: [{ name: 'libexpat1', version: '2.4.8-2', type: 'deb' }],
    });
    const f = findings.find((x) => x.cve === 'CVE-2022-43680');
    expect(f).toMatchObject({
      package: 'libexpat1',
      installed_version: '2.4.8-2',
      fixed_version: '2.4.8-2ubuntu0.22.10.1',
      source_feed: 'oval',
      advisory: 'USN-5638-3',
      severity: 'medium',
      cvss3_score: 7.5,
    });
    const patched = createScanner(db).scanHost({
      os: { family: 'ubuntu', version: '22.10', codename: 'kinetic' },
      packages: [{ name: 'libexpat1', version: '2.4.8-2ubuntu0.22.10.1', type: 'deb' }],
    });
    expect(patched.filter((x) => x.cve === 'CVE-2022-43680')).toEqual([]);
  });

  it('evaluates each distinct package version once across hosts', () => {
    const raw = JSON.parse(
      readFileSync(fixture('inventories', CASES[2]?.[0] ?? ''), 'utf8'),
    ) as RawInventory;
    const scanner = createScanner({ ...emptyDatabase(), oval: [get('kinetic').feed] });
    const host: HostInventory = {
      os: { family: 'ubuntu', version: '22.10', codename: 'kinetic' },
      packages: raw.packages.map((p) => ({ name: p.name, version: p.version, type: 'deb' })),
    };
    const first = scanner.scanHost(host);
    const after = scanner.stats().evaluations;
    for (let i = 0; i < 5; i++) expect(scanner.scanHost(host)).toEqual(first);
    expect(scanner.stats().evaluations).toBe(after);
    expect(after).toBeLessThanOrEqual(raw.packages.length);
  });
});
