import { mkdtempSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  addFeedFile,
  createScanner,
  cveDetails,
  emptyDatabase,
  FeedError,
  loadFeedsDir,
  nvdTime,
  parseAlpineSecdb,
  parseDebianTracker,
  parseEpss,
  parseKev,
  parseNvd,
  parseOsv,
  parseOval,
  runScan,
  vulnScanCommand,
} from '../src/index.js';
import type { HostInventory, InstalledPackage } from '../src/index.js';
import { readFeedText } from '../src/feeds/load.js';
import { cvss3BaseScore } from '../src/feeds/cvss.js';
import { fixture, readFixture } from './helpers.js';

const scan = (db: Partial<ReturnType<typeof emptyDatabase>>, host: HostInventory) =>
  createScanner({ ...emptyDatabase(), ...db }).scanHost(host);

const rpm = (name: string, version: string): InstalledPackage => ({
  name,
  version,
  type: 'rpm',
  arch: 'x86_64',
});

describe('Red Hat family OVAL', () => {
  const rhel9 = parseOval(
    readFixture('rhel-oval-samples', 'rhel-9-including-unpatched.oval.sample.xml'),
  );
  const rhelHost = (packages: InstalledPackage[]): HostInventory => ({
    os: { family: 'rhel', version: '9.0' },
    packages,
  });

  it('matches an RHSA when the package is older than the fix', () => {
    const f = scan({ oval: [rhel9] }, rhelHost([rpm('firefox', '91.8.0-1.el9_0')]));
    expect(f.map((x) => [x.cve, x.package, x.fixed_version, x.advisory, x.severity])).toEqual([
      ['CVE-2022-1529', 'firefox', '91.9.1-1.el9_0', 'RHSA-2022:4765', 'critical'],
      ['CVE-2022-1802', 'firefox', '91.9.1-1.el9_0', 'RHSA-2022:4765', 'critical'],
    ]);
  });

  it('does not match the fixed version, or a non-RHEL host (the "must be installed" gate)', () => {
    expect(scan({ oval: [rhel9] }, rhelHost([rpm('firefox', '91.9.1-1.el9_0')]))).toEqual([]);
    const alma = {
      os: { family: 'almalinux', version: '9.0' },
      packages: [rpm('firefox', '91.8.0-1.el9_0')],
    };
    expect(scan({ oval: [rhel9] }, alma)).toEqual([]);
    // Even when forced onto the feed (family alias), the release-file gate keeps Alma out.
    const forced = { ...rhel9, target: { family: 'almalinux', major: '9' } };
    expect(scan({ oval: [forced] }, alma)).toEqual([]);
  });

  it('reports unpatched ("Will not fix") CVEs with no fixed version, and ignores the unaffected class', () => {
    const f = scan(
      { oval: [rhel9] },
      rhelHost([rpm('tar', '2:1.34-3.el9'), rpm('zlib', '1.2.11-31.el9')]),
    );
    expect(f.map((x) => [x.cve, x.package, x.fixed_version])).toEqual([
      ['CVE-2005-2541', 'tar', null],
    ]);
  });

  it('handles epochs and module streams (AlmaLinux), and Oracle rpminfo OS gates', () => {
    const alma = parseOval(readFixture('rhel-oval-samples', 'org.almalinux.alsa-9.sample.xml'));
    expect(alma.target).toEqual({ family: 'almalinux', major: '9' });
    const host = {
      os: { family: 'almalinux', version: '9.1' },
      packages: [rpm('firefox', '102.3.0-6.el9_0.alma')],
    };
    expect(scan({ oval: [alma] }, host).map((x) => x.advisory)).toContain('ALSA-2022:7071');
    // Module tests read /etc/dnf/modules.d, which an inventory does not carry: unknown, so no finding.
    const node = { ...host, packages: [rpm('nodejs', '1:18.10.0-1.module_el9.1.0+13+d9a595ea')] };
    expect(scan({ oval: [alma] }, node)).toEqual([]);
    const oracle = parseOval(readFixture('rhel-oval-samples', 'oracle-ELSA-2007-0057.sample.xml'));
    expect(oracle.target).toEqual({ family: 'oracle', major: '5' });
  });
});

describe('Debian tracker, Alpine secdb, OSV', () => {
  it('Debian tracker: resolved entries compare against the fix, open ones have no fix', () => {
    const idx = parseDebianTracker(
      readFixture('debian-tracker-samples', 'vunnel-debian-tracker.sample.json'),
    );
    const host = (v: string): HostInventory => ({
      os: { family: 'debian', version: '10', codename: 'buster' },
      packages: [{ name: 'libjs-prototype', source: 'prototypejs', version: v, type: 'deb' }],
    });
    const old = scan({ debianTracker: [idx] }, host('1.6.0.1-1'));
    expect(old.find((f) => f.cve === 'CVE-2008-7220')).toMatchObject({
      fixed_version: '1.6.0.2-1',
      severity: 'high',
      source_feed: 'debian_tracker',
    });
    expect(
      scan({ debianTracker: [idx] }, host('1.7.1-3')).find((f) => f.cve === 'CVE-2008-7220'),
    ).toBeUndefined();
  });

  it('Alpine secdb (YAML and JSON): a fix newer than the installed version is a finding', () => {
    const yaml = parseAlpineSecdb(
      readFixture('alpine-secdb-samples', 'vunnel-v3.15-main.sample.yaml'),
      'main.yaml',
    );
    const json = parseAlpineSecdb(
      readFixture('alpine-secdb-samples', 'claircore-v3.10-community.sample.json'),
      'c.json',
    );
    expect(yaml.release).toBe('3.15');
    const host = (v: string): HostInventory => ({
      os: { family: 'alpine', version: '3.15.4' },
      packages: [{ name: 'xz', version: v, type: 'apk' }],
    });
    expect(
      scan({ alpine: [yaml, json] }, host('5.2.5-r0')).map((f) => [f.cve, f.fixed_version]),
    ).toEqual([['CVE-2022-1271', '5.2.5-r1']]);
    expect(scan({ alpine: [yaml, json] }, host('5.2.5-r1'))).toEqual([]);
    const botan = {
      os: { family: 'alpine', version: '3.10.2' },
      packages: [{ name: 'botan', version: '2.8.0-r0', type: 'apk' }],
    };
    expect(scan({ alpine: [yaml, json] }, botan).map((f) => f.cve)).toEqual(['CVE-2018-20187']);
  });

  it('OSV: ECOSYSTEM ranges for Ubuntu binaries and AlmaLinux rpms; withdrawn records are ignored', () => {
    let idx = parseOsv(readFixture('osv-samples', 'ubuntu', 'USN-5614-1.json'));
    idx = parseOsv(readFixture('osv-samples', 'ubuntu', 'UBUNTU-CVE-2013-2208.json'), 'w', idx);
    idx = parseOsv(readFixture('osv-samples', 'almalinux', 'ALSA-2022_8194.json'), 'a', idx);
    const bionic = (v: string): HostInventory => ({
      os: { family: 'ubuntu', version: '18.04', codename: 'bionic' },
      packages: [{ name: 'libwayland-client0', source: 'wayland', version: v, type: 'deb' }],
    });
    // USN-5614-1 names CVE-2021-3782 only through its UBUNTU-CVE alias, which is not a CVE id.
    expect(scan({ osv: idx }, bionic('1.16.0-1ubuntu1.1~18.04.3'))).toEqual([]);
    const alma = (v: string): HostInventory => ({
      os: { family: 'almalinux', version: '9.0' },
      packages: [rpm('libtiff', v)],
    });
    const hit = scan({ osv: idx }, alma('4.2.0-1.el9'));
    expect(hit).toHaveLength(10);
    expect(hit[0]).toMatchObject({
      fixed_version: '4.4.0-2.el9',
      source_feed: 'osv',
      advisory: 'ALSA-2022:8194',
    });
    expect(scan({ osv: idx }, alma('4.4.0-2.el9'))).toEqual([]);
    expect(idx.byEcosystem.get('ubuntu:14.04')).toBeUndefined(); // UBUNTU-CVE-2013-2208 is withdrawn
  });

  it('OSV: introduced/fixed/last_affected and SEMVER ranges for language packages', () => {
    const rec = (events: object[], type = 'ECOSYSTEM') =>
      JSON.stringify({
        id: 'GHSA-x',
        aliases: ['CVE-2099-0001'],
        modified: 'x',
        affected: [{ package: { ecosystem: 'PyPI', name: 'Django' }, ranges: [{ type, events }] }],
      });
    const host = (v: string): HostInventory => ({
      os: { family: 'ubuntu', version: '22.04' },
      packages: [{ name: 'django', version: v, type: 'python' }],
    });
    const two = parseOsv(
      rec([
        { introduced: '3.0' },
        { fixed: '3.2.5' },
        { introduced: '4.0a1' },
        { last_affected: '4.0.2' },
      ]),
    );
    expect(scan({ osv: two }, host('2.2')).length).toBe(0);
    expect(scan({ osv: two }, host('3.1'))[0]?.fixed_version).toBe('3.2.5');
    expect(scan({ osv: two }, host('3.2.5')).length).toBe(0);
    expect(scan({ osv: two }, host('4.0.2'))[0]?.fixed_version).toBeNull();
    expect(scan({ osv: two }, host('4.0.3')).length).toBe(0);
  });
});

describe('NVD CPE matching, KEV and EPSS enrichment', () => {
  const nvd = parseNvd(readFixture('nvd', 'vuls-data-update-CVE-2021-44228.json'));
  parseNvd(readFixture('nvd', 'vunnel-nvd-api2-full-page.json'), 'page', nvd);
  const kev = parseKev(readFeedText(fixture('kev', 'known_exploited_vulnerabilities.json.gz')));
  const log4j = (v: string): HostInventory => ({
    os: { family: 'ubuntu', version: '22.04' },
    packages: [{ name: 'org.apache.logging.log4j:log4j-core', version: v, type: 'maven' }],
  });

  it('matches curated CPEs inside versionStart/End ranges and enriches with KEV', () => {
    const f = scan({ nvd, kev }, log4j('2.14.1')).find((x) => x.cve === 'CVE-2021-44228');
    expect(f).toMatchObject({
      source_feed: 'nvd',
      cvss3_score: 10,
      severity: 'critical',
      known_exploited: true,
      kev_date_added: '2021-12-10',
    });
    expect(
      scan({ nvd, kev }, log4j('2.15.0')).find((x) => x.cve === 'CVE-2021-44228'),
    ).toBeUndefined();
    expect(scan({ nvd, kev }, log4j('2.12.1')).map((x) => x.cve)).toContain('CVE-2021-44228');
  });

  it('keeps the publication date, English description and CISA date of each CVE', () => {
    expect(cveDetails({ ...emptyDatabase(), nvd }, 'CVE-2021-44228')).toEqual({
      published: '2021-12-10T10:15:09.143Z',
      description: expect.stringMatching(/^Apache Log4j2 2\.0-beta9 through 2\.15\.0/),
    });
    const sample = parseNvd(readFixture('nvd', 'vuls-data-update-nvdcve-2.0-2021.sample.json'));
    const first = [...sample.cves.values()][0]!;
    expect(first.published).toBe('2021-01-01T19:15:11.077Z');
    // The English text, not the Spanish one listed after it.
    expect(first.description).toBe(
      'Seo Panel 4.8.0 allows reflected XSS via the seo/seopanel/login.php?sec=forgot email parameter.',
    );
    expect(cveDetails({ ...emptyDatabase(), nvd }, 'CVE-1999-0001')).toBeUndefined();
    // Without a KEV file, NVD's copy of the CISA date still marks the CVE as known exploited.
    expect(scan({ nvd }, log4j('2.14.1')).find((x) => x.cve === 'CVE-2021-44228')).toMatchObject({
      known_exploited: true,
      kev_date_added: '2021-12-10',
    });
    expect(nvdTime('2023-10-12T19:15:11.747')).toBe('2023-10-12T19:15:11.747Z');
    expect(nvdTime('2023-10-12T19:15:11+02:00')).toBe('2023-10-12T17:15:11.000Z');
    expect(nvdTime('yesterday')).toBeNull();
    expect(nvdTime(42)).toBeNull();
  });

  it('never maps OS packages or unknown apps to a CPE', () => {
    const host: HostInventory = {
      os: { family: 'ubuntu', version: '22.04' },
      packages: [
        { name: 'log4j', version: '2.14.1', type: 'deb' },
        { name: 'liblog4j2-java', version: '2.14.1', type: 'deb' },
        { name: 'log4j', version: '2.14.1', type: 'app' },
      ],
    };
    expect(scan({ nvd }, host)).toEqual([]);
  });

  it('adds EPSS scores and fills CVSS/severity from NVD for distro findings', () => {
    const epss = parseEpss(readFixture('epss', 'claircore-epss-data.csv'));
    expect(epss.scores.get('CVE-1999-0005')).toEqual({ epss: 0.91963, percentile: 0.9903 });
    const rhel9 = parseOval(
      readFixture('rhel-oval-samples', 'rhel-9-including-unpatched.oval.sample.xml'),
    );
    const withScore = {
      ...epss,
      scores: new Map([['CVE-2022-1529', { epss: 0.5, percentile: 0.9 }]]),
    };
    const f = scan(
      { oval: [rhel9], epss: withScore, kev },
      { os: { family: 'rhel', version: '9.0' }, packages: [rpm('firefox', '91.0-1.el9')] },
    );
    expect(f.find((x) => x.cve === 'CVE-2022-1529')).toMatchObject({
      epss: 0.5,
      known_exploited: false,
      kev_date_added: null,
    });
  });

  it('computes CVSS 3 base scores from vectors', () => {
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H')).toBe(9.8);
    expect(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H')).toBe(10);
    expect(cvss3BaseScore('CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N')).toBe(5.5);
    expect(cvss3BaseScore('nonsense')).toBeNull();
  });
});

describe('bad feeds are refused with a FeedError', () => {
  const usn = readFixture('ubuntu-oval', 'samples', 'com.ubuntu.jammy.usn.oval.sample.xml');
  const refuse = (fn: () => unknown, reason: string): void => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(FeedError);
      expect((e as FeedError).reason).toBe(reason);
      return;
    }
    expect.fail('expected a FeedError');
  };

  it('truncated, corrupt, empty and unknown documents', () => {
    refuse(() => parseOval(usn.slice(0, Math.floor(usn.length / 2))), 'truncated');
    refuse(() => parseOval(''), 'empty');
    refuse(() => parseOval('<html><body>502 Bad Gateway</body></html>'), 'unknown_format');
    refuse(() => parseOval(usn.replace('</definitions>', '</definitionz>')), 'corrupt');
    refuse(() => parseOval(usn.replace(/test_ref="[^"]+"/, 'test_ref="oval:x:tst:1"')), 'corrupt');
    const kev = readFeedText(fixture('kev', 'known_exploited_vulnerabilities.json.gz'));
    refuse(() => parseKev(kev.slice(0, 5000)), 'truncated');
    refuse(() => parseKev('{"title": "something else"}'), 'unknown_format');
    refuse(
      () => parseNvd('{"resultsPerPage": 3, "format": "NVD_CVE", "vulnerabilities": []}'),
      'truncated',
    );
    refuse(() => parseNvd('{"hello": 1}'), 'unknown_format');
    refuse(() => parseEpss('cve,score\nCVE-1-1,0.1\n'), 'unknown_format');
    refuse(
      () => parseEpss('cve,epss,percentile\nCVE-2020-0001,0.1,0.5\nCVE-2020-0002,0.'),
      'truncated',
    );
    refuse(() => parseOsv('{"id": "X"}'), 'unknown_format');
    refuse(() => parseDebianTracker('[1,2]'), 'unknown_format');
    refuse(() => parseAlpineSecdb('{"packages": []}', 'x.json'), 'unknown_format');
  });

  it('a bad file in a feeds directory is reported, the good feeds still load, and nothing is half-added', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vuln-feeds-'));
    mkdirSync(join(dir, 'oval'));
    copyFileSync(
      fixture('rhel-oval-samples', 'rhel-9-including-unpatched.oval.sample.xml'),
      join(dir, 'oval', 'rhel-9.xml'),
    );
    writeFileSync(join(dir, 'oval', 'broken.xml.gz'), gzipSync(usn).subarray(0, 200));
    writeFileSync(
      join(dir, 'nvd.json'),
      '{"format": "NVD_CVE", "resultsPerPage": 1, "vulnerabilities": [{"cve": {"id": "CVE-1"}}, ',
    );
    writeFileSync(join(dir, 'README.md'), '# feeds');
    const loaded = loadFeedsDir(dir);
    expect(loaded.loaded.map((l) => l.kind)).toEqual(['oval']);
    expect(loaded.errors.map((e) => [e.file, e.reason])).toEqual([
      ['nvd.json', 'truncated'],
      [join('oval', 'broken.xml.gz'), 'truncated'],
    ]);
    expect(loaded.skipped).toEqual(['README.md']);
    expect(loaded.db.nvd).toBeNull();
    const db = emptyDatabase();
    expect(() =>
      addFeedFile(db, 'osv', '[{"id":"A","affected":[]}, {"nope":1}]', 'x.json'),
    ).toThrow(FeedError);
    expect(db.osv).toBeNull();
  });
});

describe('runScan, the CLI entry and odd inputs', () => {
  it('scans an inventory file against a feeds directory (Vuls result format, gzipped feeds)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vuln-run-'));
    copyFileSync(
      fixture('ubuntu-oval', 'com.ubuntu.lunar.usn.oval.xml.gz'),
      join(dir, 'lunar.xml.gz'),
    );
    copyFileSync(
      fixture('kev', 'known_exploited_vulnerabilities.json.gz'),
      join(dir, 'kev.json.gz'),
    );
    const inv = fixture('inventories', 'docker-images', 'ubuntu-23.04-lunar-20230102.json');
    const result = runScan({ feedsDir: dir, inventoryFile: inv });
    expect(result.feedsLoaded).toBe(2);
    expect(result.findings.length).toBeGreaterThan(30);
    let out = '';
    expect(vulnScanCommand({ feeds: dir, inventory: inv }, (t) => (out += t))).toBe(1);
    expect(out).toMatch(/^CVE\s+PACKAGE\s+INSTALLED/);
    expect(out).toContain(`${result.findings.length} findings`);
    out = '';
    vulnScanCommand({ feeds: dir, inventory: inv, format: 'json' }, (t) => (out += t));
    expect((JSON.parse(out) as { findings: unknown[] }).findings).toHaveLength(
      result.findings.length,
    );
    const rhel = runScan({
      feedsDir: dir,
      inventoryFile: fixture('inventories', 'vuls-integration', 'rhel_90.json.gz'),
    });
    expect(rhel.host.os).toEqual({ family: 'redhat', version: '9.0' });
    expect(rhel.host.packages.find((p) => p.name === 'NetworkManager')?.version).toBe(
      '1:1.36.0-4.el9_0',
    );
    expect(rhel.findings).toEqual([]);
  });

  it('never throws on absurd package data', () => {
    const feed = parseOval(
      readFeedText(fixture('ubuntu-oval', 'com.ubuntu.kinetic.usn.oval.xml.gz')),
    );
    const nvd = parseNvd(readFixture('nvd', 'vuls-data-update-CVE-2021-44228.json'));
    const weird: unknown[] = [
      { name: 'libexpat1', version: '', type: 'deb' },
      { name: 'libexpat1', version: '9'.repeat(100_000), type: 'deb' },
      { name: 'libexpat1', version: '\u0000:~^-', type: 'deb' },
      { name: 'x'.repeat(10_000), version: '1', type: 'deb' },
      { name: 'org.apache.logging.log4j:log4j-core', version: '(((((', type: 'maven' },
      { name: 'django', version: '🙂', type: 'python' },
      { name: 42, version: null, type: 'deb' },
      null,
    ];
    const host = {
      os: { family: 'ubuntu', version: '22.10', codename: 'kinetic' },
      kernel: '((',
      packages: weird,
    } as unknown as HostInventory;
    expect(() => scan({ oval: [feed], nvd }, host)).not.toThrow();
    expect(() =>
      scan({ oval: [feed] }, { os: { family: '', version: '' }, packages: [] }),
    ).not.toThrow();
  });
});
