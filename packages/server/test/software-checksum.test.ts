import { describe, expect, it } from 'vitest';
import { softwareKey, type SoftwareInput } from '@flotilla/db';
import { sourceChecksum } from '../src/software/software-queries.js';

const pkg = (name: string, version: string, extra: Partial<SoftwareInput> = {}): SoftwareInput => ({
  name,
  version,
  source: 'deb_packages',
  arch: 'amd64',
  ...extra,
});

describe("a software source's digest", () => {
  const list = [
    pkg('bash', '5.1-6ubuntu1'),
    pkg('openssl', '3.0.2-0ubuntu1.15'),
    pkg('zlib1g', '1:1.2.11'),
  ];

  it('ignores order and sees every change of name, version, field or count', () => {
    const d = sourceChecksum(list);
    expect(sourceChecksum([...list].reverse())).toBe(d);
    expect(sourceChecksum([list[1]!, list[2]!, list[0]!])).toBe(d);
    const changed = [
      [pkg('bash', '5.1-6ubuntu1.1'), list[1]!, list[2]!],
      [pkg('bash', '5.1-6ubuntu1', { arch: 'i386' }), list[1]!, list[2]!],
      [pkg('bash', '5.1-6ubuntu1', { release: '1' }), list[1]!, list[2]!],
      [list[0]!, list[1]!],
      [...list, list[0]!],
      [...list, pkg('curl', '7.81.0-1ubuntu1.16')],
      [],
    ];
    const digests = new Set(changed.map(sourceChecksum));
    expect(digests.size).toBe(changed.length);
    expect(digests.has(d)).toBe(false);
  });

  it('keeps field boundaries: ("ab", "c") is not ("a", "bc")', () => {
    expect(sourceChecksum([pkg('ab', 'c')])).not.toBe(sourceChecksum([pkg('a', 'bc')]));
    expect(sourceChecksum([pkg('a', '')])).not.toBe(sourceChecksum([pkg('', 'a')]));
  });

  it('differs for any two of 20,000 distinct one-package lists', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(sourceChecksum([pkg(`lib${i}`, `1.${i % 97}`)]));
    expect(seen.size).toBe(20_000);
  });
});

describe('a software identity', () => {
  it('is every field joined, kept on the object but never serialised', () => {
    const s = pkg('bash', '5.1', { vendor: 'Ubuntu' });
    expect(softwareKey(s)).toBe(
      'bash\u00005.1\u0000deb_packages\u0000\u0000amd64\u0000Ubuntu\u0000\u0000\u0000\u0000',
    );
    expect(softwareKey(s)).toBe(softwareKey({ ...s }));
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });
});
