import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { OSQUERY_FUNCTIONS, OSQUERY_SCHEMA_VERSION, table, tables } from '../src/index.js';
import { FUNCTIONS_MISSING_IN_OSQUERY } from '../src/functions.js';

describe('schema', () => {
  it('holds every osquery 5.23.1 table', () => {
    expect(OSQUERY_SCHEMA_VERSION).toBe('5.23.1');
    expect(tables()).toHaveLength(286);
    expect(tables().filter((t) => t.platforms.includes('linux'))).toHaveLength(158);
  });

  it('looks tables up case-insensitively', () => {
    expect(table('USERS')?.name).toBe('users');
    expect(table('no_such_table')).toBeUndefined();
  });

  it('describes columns with types and hidden/required flags', () => {
    const file = table('file');
    expect(file?.platforms).toEqual(['darwin', 'linux', 'windows']);
    expect(file?.evented).toBe(false);
    expect(file?.columns.find((c) => c.name === 'path')).toMatchObject({
      type: 'text',
      required: true,
      hidden: false,
    });
    expect(file?.columns.find((c) => c.name === 'pid_with_namespace')?.hidden).toBe(true);
    expect(table('process_events')?.evented).toBe(true);
  });

  it('normalises platform names (win32/cygwin → windows) and keeps only narrowing column platforms', () => {
    const battery = table('battery');
    expect(battery?.platforms).toEqual(['darwin', 'windows']);
    expect(battery?.columns.find((c) => c.name === 'chemistry')?.platforms).toEqual(['windows']);
    expect(battery?.columns.find((c) => c.name === 'model')?.platforms).toBeUndefined();
    const platforms = new Set(tables().flatMap((t) => t.platforms));
    expect([...platforms].sort()).toEqual(['darwin', 'linux', 'windows']);
  });
});

describe('function lists', () => {
  it('the SQLite we validate with really has the built-ins we refuse for osquery', () => {
    const db = new Database(':memory:');
    const names = new Set(
      (db.prepare('SELECT name FROM pragma_function_list').all() as { name: string }[]).map(
        (r) => r.name,
      ),
    );
    db.close();
    expect([...FUNCTIONS_MISSING_IN_OSQUERY].filter((f) => !names.has(f))).toEqual([]);
    expect(
      [...OSQUERY_FUNCTIONS.keys()].filter((f) => FUNCTIONS_MISSING_IN_OSQUERY.has(f)),
    ).toEqual([]);
  });
});
