import { describe, expect, it } from 'vitest';
import {
  compatibleWith,
  normalizePlatform,
  platformsForTables,
  validateForPlatforms,
  validateQuery,
} from '../src/index.js';

function platformsOf(sql: string): string[] {
  const result = validateQuery(sql);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.platforms;
}

describe('platforms of a query', () => {
  it.each([
    ['SELECT * FROM apps', ['darwin']],
    ['SELECT * FROM deb_packages', ['linux']],
    ['SELECT * FROM programs', ['windows']],
    ['SELECT * FROM users', ['darwin', 'linux', 'windows']],
    ['SELECT * FROM battery', ['darwin', 'windows']],
    // a darwin-only table joined to a windows-only one runs nowhere
    ['SELECT * FROM apps JOIN programs USING (name)', []],
    // a table only in a subquery still counts
    ["SELECT 1 WHERE EXISTS (SELECT 1 FROM apps WHERE name = 'Safari.app')", ['darwin']],
    ['SELECT uid FROM users WHERE uid IN (SELECT uid FROM deb_packages, users)', ['linux']],
    // a query that reads no table runs everywhere, ChromeOS included
    ['SELECT 1', ['darwin', 'linux', 'windows', 'chrome']],
  ])('%s → %j', (sql, platforms) => {
    expect(platformsOf(sql)).toEqual(platforms);
  });

  it('narrows by platform-specific columns only when they are named', () => {
    expect(platformsOf('SELECT * FROM battery')).toEqual(['darwin', 'windows']);
    expect(platformsOf('SELECT health FROM battery')).toEqual(['darwin']);
    expect(platformsOf("SELECT model FROM battery WHERE chemistry = 'LION'")).toEqual(['windows']);
    expect(platformsOf('SELECT health, chemistry FROM battery')).toEqual([]);
  });
});

describe('platformsForTables', () => {
  it('intersects the tables’ platforms', () => {
    expect(platformsForTables(['users', 'apps'])).toEqual(['darwin']);
    expect(platformsForTables(['USERS'])).toEqual(['darwin', 'linux', 'windows']);
    expect(platformsForTables(['no_such_table'])).toEqual([]);
    expect(platformsForTables([])).toEqual(['darwin', 'linux', 'windows', 'chrome']);
  });
});

describe('compatibleWith', () => {
  it('answers per platform, in any spelling', () => {
    expect(compatibleWith('SELECT * FROM apps', 'darwin')).toBe(true);
    expect(compatibleWith('SELECT * FROM apps', 'macos')).toBe(true);
    expect(compatibleWith('SELECT * FROM apps', 'linux')).toBe(false);
    expect(compatibleWith('SELECT * FROM deb_packages', 'ubuntu')).toBe(true);
    expect(compatibleWith('SELECT * FROM users', 'posix')).toBe(true);
    expect(compatibleWith('SELECT * FROM apps', 'posix')).toBe(false);
    expect(compatibleWith('SELECT * FROM users', 'plan9')).toBe(false);
    expect(compatibleWith('SELECT * FROM nope', 'darwin')).toBe(false);
  });
});

describe('normalizePlatform', () => {
  it('maps osquery, Fleet and distribution names', () => {
    expect(normalizePlatform('Darwin')).toEqual(['darwin']);
    expect(normalizePlatform('win32')).toEqual(['windows']);
    expect(normalizePlatform('rhel')).toEqual(['linux']);
    expect(normalizePlatform('posix')).toEqual(['darwin', 'linux']);
    expect(normalizePlatform('chrome')).toEqual(['chrome']);
    expect(normalizePlatform('amiga')).toBeUndefined();
  });
});

describe('validateForPlatforms', () => {
  it('passes when every table runs on every target', () => {
    const result = validateForPlatforms('SELECT * FROM users', ['darwin', 'linux', 'windows']);
    expect(result.ok).toBe(true);
  });

  it('names each table that a target lacks, with its position', () => {
    const result = validateForPlatforms(
      'SELECT a.name FROM apps a\n  JOIN users u ON u.uid = 1\n  JOIN deb_packages d',
      ['darwin', 'linux'],
    );
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          code: 'UNSUPPORTED_PLATFORM',
          message: 'table apps is not available on linux',
          position: { offset: 19, line: 1, column: 20 },
        },
        {
          code: 'UNSUPPORTED_PLATFORM',
          message: 'table deb_packages is not available on darwin',
          position: { offset: 61, line: 3, column: 8 },
        },
      ],
    });
  });

  it('names platform-specific columns', () => {
    const result = validateForPlatforms('SELECT health FROM battery', ['windows']);
    expect(result).toMatchObject({
      ok: false,
      errors: [
        {
          code: 'UNSUPPORTED_PLATFORM',
          message: 'column battery.health is not available on windows',
          position: { offset: 7 },
        },
      ],
    });
  });

  it('refuses unknown platform names, and reports invalid SQL first', () => {
    expect(validateForPlatforms('SELECT 1', ['beos'])).toEqual({
      ok: false,
      errors: [{ code: 'UNSUPPORTED_PLATFORM', message: 'unknown platform: beos' }],
    });
    const invalid = validateForPlatforms('SELECT * FROM nope', ['linux']);
    expect(invalid.ok || invalid.errors[0]?.code).toBe('UNKNOWN_TABLE');
  });

  it('checks nothing more for an empty target list (every host)', () => {
    expect(validateForPlatforms('SELECT * FROM apps', []).ok).toBe(true);
  });
});
