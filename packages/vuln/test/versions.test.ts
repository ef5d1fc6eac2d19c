import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  compareApk,
  compareDpkg,
  compareGeneric,
  compareNevra,
  comparePep440,
  compareRpmEvr,
  compareSemver,
  compareVersions,
  parseNevra,
  rpmvercmp,
} from '../src/versions/index.js';
import { readFixture, readVectors, signOf } from './helpers.js';

type Cmp = (a: string, b: string) => number;

const VECTOR_FILES: [string, Cmp, number][] = [
  ['osv-scanner-debian-versions.txt', compareDpkg, 30],
  ['osv-scanner-debian-versions-generated.txt', compareDpkg, 14_442],
  ['osv-scanner-redhat-versions.txt', compareRpmEvr, 153],
  ['claircore-rpmver-rpmvercmp.txt', rpmvercmp, 113],
  ['claircore-rpmver-compare.txt', compareNevra, 12],
  ['osv-scanner-alpine-versions.txt', compareApk, 768],
  ['osv-scanner-alpine-versions-generated.txt', compareApk, 13_979],
];

describe('version vectors', () => {
  for (const [file, cmp, count] of VECTOR_FILES) {
    it(`agrees with every line of ${file}`, () => {
      const vectors = readVectors(file);
      expect(vectors).toHaveLength(count);
      const failures = vectors
        .filter((v) => Math.sign(cmp(v.a, v.b)) !== signOf(v.op))
        .map((v) => v.line);
      expect(failures).toEqual([]);
      // Every comparison must also hold when the operands are swapped.
      const asymmetric = vectors
        .filter((v) => Math.sign(cmp(v.b, v.a)) !== -signOf(v.op))
        .map((v) => v.line);
      expect(asymmetric).toEqual([]);
    });
  }

  it('parses every NEVRA in claircore-rpmver-parse.txt', () => {
    const lines = readFixture('version-vectors', 'claircore-rpmver-parse.txt')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines).toHaveLength(4);
    for (const line of lines) {
      const [input, name, epoch, version, release, arch] = line
        .split(/\s+/)
        .map((f) => (f === "''" || f === '""' ? '' : f));
      expect(parseNevra(input ?? ''), line).toEqual({ name, epoch, version, release, arch });
    }
  });
});

const dpkgAvailable = spawnSync('dpkg', ['--version']).status === 0;

describe('independent check against the dpkg binary', () => {
  it.skipIf(!dpkgAvailable)('matches `dpkg --compare-versions` on a spread sample', () => {
    const vectors = readVectors('osv-scanner-debian-versions-generated.txt');
    // Every 25th pair, compared in both directions: ~1,150 dpkg calls in one shell.
    const sample = vectors.filter((_, i) => i % 25 === 0);
    const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
    const script = sample
      .flatMap((v) => [
        `dpkg --compare-versions ${q(v.a)} lt ${q(v.b)} && echo '<' || { dpkg --compare-versions ${q(v.a)} eq ${q(v.b)} && echo '=' || echo '>'; }`,
        `dpkg --compare-versions ${q(v.b)} lt ${q(v.a)} && echo '<' || { dpkg --compare-versions ${q(v.b)} eq ${q(v.a)} && echo '=' || echo '>'; }`,
      ])
      .join('\n');
    const out = execFileSync('sh', [], { input: script, encoding: 'utf8', maxBuffer: 1 << 24 })
      .trim()
      .split('\n');
    const ours = sample
      .flatMap((v) => [compareDpkg(v.a, v.b), compareDpkg(v.b, v.a)])
      .map((c) => (c < 0 ? '<' : c > 0 ? '>' : '='));
    expect(out).toHaveLength(ours.length);
    expect(ours).toEqual(out);
  });
  if (!dpkgAvailable) it.skip('dpkg is not installed: independent dpkg check skipped', () => {});
});

describe('semver, PEP 440 and generic orderings', () => {
  it.each([
    ['1.2.3', '<', '1.2.10'],
    ['1.0.0-alpha', '<', '1.0.0-alpha.1'],
    ['1.0.0-alpha.1', '<', '1.0.0-alpha.beta'],
    ['1.0.0-beta.11', '<', '1.0.0-rc.1'],
    ['1.0.0-rc.1', '<', '1.0.0'],
    ['v2.0.0', '=', '2.0.0+build.5'],
    ['1.2', '=', '1.2.0'],
  ] as const)('semver %s %s %s', (a, op, b) => {
    expect(Math.sign(compareSemver(a, b))).toBe(signOf(op));
  });

  it.each([
    ['1.0.dev1', '<', '1.0a1'],
    ['1.0a1', '<', '1.0b2'],
    ['1.0b2', '<', '1.0rc1'],
    ['1.0rc1', '<', '1.0'],
    ['1.0', '<', '1.0.post1'],
    ['1.0.post1.dev1', '<', '1.0.post1'],
    ['1.0', '=', '1.0.0'],
    ['1!0.1', '>', '2.0'],
    ['1.0+local.1', '>', '1.0'],
    ['1.0+abc', '<', '1.0+1'],
    ['2.0.0-1', '=', '2.0.0.post1'],
    ['1.0-alpha1', '=', '1.0a1'],
  ] as const)('pep440 %s %s %s', (a, op, b) => {
    expect(Math.sign(comparePep440(a, b))).toBe(signOf(op));
  });

  it.each([
    ['2.14.1', '<', '2.15.0'],
    ['2.0-rc1', '<', '2.0'],
    ['2.0-beta9', '<', '2.0-rc1'],
    ['1.0', '=', '1.0.0'],
    ['91.0.4472.77', '<', '91.0.4472.101'],
    ['1.0', '<', '1.0a'],
  ] as const)('generic %s %s %s', (a, op, b) => {
    expect(Math.sign(compareGeneric(a, b))).toBe(signOf(op));
  });
});

describe('odd inputs never throw', () => {
  const odd = [
    '',
    ' ',
    ':',
    '-',
    '~',
    '^',
    '::::',
    '1:',
    ':1',
    '-r',
    '9'.repeat(5000),
    'ü~^:-._+',
    '\u0000',
    'a'.repeat(100_000),
  ];
  it('for every scheme', () => {
    for (const scheme of ['dpkg', 'rpm', 'apk', 'semver', 'pep440', 'generic'] as const) {
      for (const a of odd) {
        for (const b of [...odd, '1.0']) {
          const c = compareVersions(scheme, a, b);
          expect([-1, 0, 1]).toContain(c);
        }
      }
    }
  });
  it('keeps long numbers exact in dpkg and rpm', () => {
    expect(compareDpkg('1.' + '9'.repeat(40), '1.' + '9'.repeat(39) + '8')).toBeGreaterThan(0);
    expect(rpmvercmp('1.' + '9'.repeat(40), '1.' + '9'.repeat(41))).toBeLessThan(0);
  });
});
