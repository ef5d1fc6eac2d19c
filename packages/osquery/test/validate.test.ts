import { describe, expect, it } from 'vitest';
import { MAX_QUERY_LENGTH, validateQuery } from '../src/index.js';
import type { ValidationError, ValidationResult } from '../src/index.js';

function ok(sql: string): Extract<ValidationResult, { ok: true }> {
  const result = validateQuery(sql);
  if (!result.ok) throw new Error(`expected valid: ${sql}\n${JSON.stringify(result.errors)}`);
  return result;
}

function error(sql: string): ValidationError {
  const result = validateQuery(sql);
  if (result.ok) throw new Error(`expected invalid: ${sql}`);
  expect(result.errors).toHaveLength(1);
  return result.errors[0] as ValidationError;
}

describe('validateQuery accepts what osquery accepts', () => {
  it.each([
    ['SELECT 1', []],
    ['select * from osquery_info;', ['osquery_info']],
    // detail-query style: scalar subqueries over one-row tables
    [
      `SELECT
         (SELECT value FROM osquery_flags WHERE name = 'distributed_interval') AS distributed_interval,
         (SELECT value FROM osquery_flags WHERE name = 'logger_tls_period') AS logger_tls_period`,
      ['osquery_flags'],
    ],
    [
      `SELECT si.hostname, si.uuid, si.cpu_brand, os.name AS os_name, os.version, u.total_seconds
         FROM system_info si, os_version os, uptime u`,
      ['os_version', 'system_info', 'uptime'],
    ],
    [
      `SELECT ia.address, id.mac FROM interface_addresses ia
         JOIN interface_details id ON id.interface = ia.interface
         JOIN routes r ON r.interface = ia.address
        WHERE r.destination = '0.0.0.0' AND ia.address NOT LIKE '127.%'
        ORDER BY r.metric ASC LIMIT 1`,
      ['interface_addresses', 'interface_details', 'routes'],
    ],
    [
      `WITH cached_users AS (SELECT uid, username FROM users WHERE uid >= 500)
       SELECT cu.username, c.name AS extension FROM cached_users cu
         JOIN chrome_extensions c USING (uid)`,
      ['chrome_extensions', 'users'],
    ],
    [
      `WITH RECURSIVE counter(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM counter)
       SELECT n FROM counter LIMIT 10`,
      [],
    ],
    ["SELECT * FROM file WHERE path = '/etc/passwd'", ['file']],
    [
      "SELECT path, sha256 FROM hash WHERE path IN (SELECT path FROM file WHERE directory = '/etc')",
      ['file', 'hash'],
    ],
    ["SELECT result FROM curl WHERE url = 'https://example.com'", ['curl']],
    ["SELECT split(version, '.', 0) AS major FROM os_version", ['os_version']],
    ["SELECT regex_match(name, '^lib(.*)$', 1) AS stem FROM deb_packages", ['deb_packages']],
    [
      "SELECT concat(name, '-', version), concat_ws('/', 'a', 'b'), sha256(name), md5(name), to_base64(name) FROM rpm_packages",
      ['rpm_packages'],
    ],
    ["SELECT version_compare(version, '13.0') FROM os_version", ['os_version']],
    ["SELECT version_compare('1:1.2-1', '1:1.3', 'DPKG')", []],
    [
      "SELECT community_id_v1('1.2.3.4', '5.6.7.8', 1, 2, 6), community_id_v1('1.2.3.4', '5.6.7.8', 1, 2, 6, 1)",
      [],
    ],
    [
      "SELECT inet_aton('10.0.0.1'), in_cidr_block('10.0.0.0/8', '10.0.0.1'), sqrt(4), pi(), power(2, 8), log10(100), cot(1)",
      [],
    ],
    ["SELECT name FROM deb_packages WHERE version > '1.2' COLLATE version_dpkg", ['deb_packages']],
    ["SELECT json_extract('{\"a\":1}', '$.a'), count(*) FROM processes GROUP BY 1", ['processes']],
    ['SELECT * FROM Users', ['users']],
  ])('%s', (sql, tables) => {
    expect(ok(sql).tables).toEqual(tables);
  });

  it('accepts hidden columns by name but leaves them out of SELECT *', () => {
    expect(ok('SELECT pid_with_namespace, name FROM apt_sources').columns).toEqual([
      'pid_with_namespace',
      'name',
    ]);
    expect(ok("SELECT * FROM file WHERE path = '/etc/hosts'").columns).not.toContain(
      'pid_with_namespace',
    );
  });

  it('reports result columns in order, with aliases', () => {
    expect(ok('SELECT uid AS id, username, 1 + 1 FROM users').columns).toEqual([
      'id',
      'username',
      '1 + 1',
    ]);
  });

  it('treats "double-quoted" words as strings where no column has that name, like osquery', () => {
    const result = ok(
      'SELECT "name", username FROM users WHERE username = "root" AND shell LIKE "%sh"',
    );
    expect(result.columns).toEqual(['"name"', 'username']);
    expect(ok(`SELECT * FROM users WHERE username = "o'brien"`).tables).toEqual(['users']);
    // a double-quoted word that is a column stays a column
    expect(ok('SELECT "username" FROM users').columns).toEqual(['username']);
  });

  it('settles many "strings" at once, and names declared in double quotes one by one', () => {
    const names = Array.from({ length: 3_000 }, (_, i) => `"App ${i}.app"`).join(', ');
    const started = Date.now();
    expect(ok(`SELECT name FROM apps WHERE name IN (${names})`).tables).toEqual(['apps']);
    expect(Date.now() - started).toBeLessThan(1000);
    const cte = ok('WITH x("a") AS (SELECT 1) SELECT "a", "b" FROM x');
    expect(cte.columns).toEqual(['a', '"b"']);
  });

  it('does not count CTE names, subquery aliases or SQLite table functions as osquery tables', () => {
    const result = ok(`WITH apps AS (SELECT 1 AS x)
      SELECT j.value FROM apps, json_each('[1,2]') AS j, (SELECT 2 AS y) AS users`);
    expect(result.tables).toEqual([]);
  });

  it('only prepares: stubs are never called and recursive CTEs never run', () => {
    const started = Date.now();
    ok('SELECT sleep(100000)');
    ok('WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('validateQuery refuses', () => {
  it('syntax errors, with the position SQLite stopped at', () => {
    expect(error('SELEC 1')).toEqual({
      code: 'SYNTAX',
      message: 'near "SELEC": syntax error',
      position: { offset: 0, line: 1, column: 1 },
    });
    // the second `=` is the bad one
    expect(error('SELECT uid FROM users\nWHERE uid = = 1').position).toEqual({
      offset: 34,
      line: 2,
      column: 13,
    });
    expect(error('SELECT uid FROM users WHERE').message).toBe('incomplete input');
    expect(error("SELECT 'unterminated").code).toBe('SYNTAX');
  });

  it('unknown tables, with position', () => {
    expect(error('SELECT name\n  FROM no_such_table')).toEqual({
      code: 'UNKNOWN_TABLE',
      message: 'no such table: no_such_table',
      position: { offset: 19, line: 2, column: 8 },
    });
    // the table name, not the same word in a string or a comment
    const e = error("SELECT 'bogus' -- bogus\nFROM users JOIN bogus");
    expect(e.position).toEqual({ offset: 40, line: 2, column: 17 });
  });

  it('unknown columns, with position', () => {
    expect(error('SELECT uid, shoe_size FROM users')).toEqual({
      code: 'UNKNOWN_COLUMN',
      message: 'no such column: shoe_size',
      position: { offset: 12, line: 1, column: 13 },
    });
    expect(error('SELECT u.uid FROM users u WHERE u.nope = 1')).toMatchObject({
      code: 'UNKNOWN_COLUMN',
      message: 'no such column: u.nope',
      position: { offset: 32 },
    });
    // a column of another platform's table is still a column; one of no table is not
    expect(error('SELECT bundle_identifier FROM users').code).toBe('UNKNOWN_COLUMN');
  });

  it('functions osquery does not have, or the wrong number of arguments', () => {
    expect(error('SELECT no_such_fn(1)').message).toBe('no such function: no_such_fn');
    expect(error('SELECT ln(2)')).toMatchObject({
      message: 'no such function: ln',
      position: { offset: 7 },
    });
    expect(error("SELECT split('a.b', '.')").message).toBe(
      'wrong number of arguments to function split()',
    );
  });

  it.each([
    'INSERT INTO users (uid) VALUES (1)',
    'UPDATE users SET uid = 1',
    'DELETE FROM users',
    'DROP TABLE users',
    'CREATE TABLE t (a)',
    'CREATE TEMP VIEW v AS SELECT 1',
    "ATTACH DATABASE '/tmp/x.db' AS x",
    'DETACH DATABASE x',
    'PRAGMA table_info(users)',
    'pragma writable_schema = 1',
    'EXPLAIN SELECT 1',
    'VACUUM',
    'BEGIN',
  ])('writes and administration: %s', (sql) => {
    expect(error(sql)).toMatchObject({ code: 'NOT_READ_ONLY', position: { offset: 0 } });
  });

  it('writes hidden behind a WITH clause', () => {
    expect(error('WITH x AS (SELECT 1) DELETE FROM users')).toMatchObject({
      code: 'NOT_READ_ONLY',
      position: { offset: 21 },
    });
    expect(
      error(
        "WITH x AS (SELECT replace(CASE WHEN 1 THEN 'a' END, 'a', 'b')) UPDATE users SET uid = 1",
      ),
    ).toMatchObject({ code: 'NOT_READ_ONLY', position: { offset: 63 } });
  });

  it('more than one statement, pointing at the second', () => {
    expect(error('SELECT 1; SELECT 2')).toEqual({
      code: 'MULTIPLE_STATEMENTS',
      message: 'only one statement is allowed',
      position: { offset: 10, line: 1, column: 11 },
    });
    expect(error('SELECT 1;\nDROP TABLE users;').code).toBe('MULTIPLE_STATEMENTS');
    // trailing semicolons and comments are fine; a semicolon in a string is not a separator
    ok('SELECT 1; ;  -- done');
    ok("SELECT ';' AS semicolon;");
  });

  it('empty and over-long queries', () => {
    expect(error('').code).toBe('EMPTY');
    expect(error('  \n -- nothing\n ; ').code).toBe('EMPTY');
    const long = `SELECT 1 ${' '.repeat(MAX_QUERY_LENGTH)}`;
    expect(error(long)).toEqual({
      code: 'TOO_LONG',
      message: `query is longer than ${MAX_QUERY_LENGTH} characters`,
    });
  });
});

describe('validateQuery stays fast and in one piece on hostile input', () => {
  it('deep nesting is an error, not a crash', () => {
    const deep = `SELECT ${'('.repeat(20_000)}1${')'.repeat(20_000)}`;
    expect(error(deep).code).toBe('SYNTAX');
    const expr = `SELECT ${Array.from({ length: 5_000 }, () => 'abs(').join('')}1${')'.repeat(5_000)}`;
    expect(error(expr).code).toBe('SYNTAX');
  });

  it('a near-limit query with many repeats of the bad token', () => {
    const started = Date.now();
    const sql = `SELECT ${'1, '.repeat(30_000)}, 1`;
    const e = error(sql);
    expect(e.message).toBe('near ",": syntax error');
    expect(e.position?.offset).toBe(sql.lastIndexOf(', 1'));
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a wide join', () => {
    const names = ['users', 'groups', 'processes', 'os_version', 'system_info', 'uptime'];
    const joins = Array.from({ length: 60 }, (_, i) => `${names[i % names.length]} t${i}`);
    const result = ok(`SELECT t0.uid FROM ${joins.join(', ')}`);
    expect(result.tables).toEqual([...names].sort());
  });

  it('odd characters', () => {
    expect(error('SELECT 1;\u0000DROP TABLE users')).toMatchObject({
      code: 'SYNTAX',
      position: { offset: 9 },
    });
    ok("SELECT '😀' AS emoji, 'naïve' FROM users");
    expect(error('SELECT ✓ FROM users').code).toBe('UNKNOWN_COLUMN');
  });
});

describe('hidden columns', () => {
  it('are left out of every kind of * expansion', () => {
    const file = ok("SELECT * FROM file WHERE path = '/etc/hosts'").columns;
    expect(file).toContain('symlink_target_path');
    expect(file).not.toContain('pid_with_namespace');
    const joined = ok(
      "SELECT * FROM hash JOIN file USING (path) WHERE file.path = '/etc/hosts'",
    ).columns;
    expect(joined.filter((c) => c === 'pid_with_namespace')).toEqual([]);
    expect(joined.filter((c) => c === 'path')).toHaveLength(1);
    expect(ok('SELECT b.*, 1 AS one FROM battery b').columns).not.toContain('health');
    expect(ok('SELECT a.* FROM apt_sources a, apt_sources b').columns).toHaveLength(8);
    expect(ok('SELECT * FROM (SELECT * FROM apt_sources)').columns).toHaveLength(8);
  });

  it('can be selected, compared with any operator and joined on', () => {
    expect(ok('SELECT name, pid_with_namespace FROM apt_sources').columns).toEqual([
      'name',
      'pid_with_namespace',
    ]);
    ok("SELECT pid FROM processes WHERE cgroup_path LIKE '/system.slice/%' AND elevated_token > 0");
    ok('SELECT * FROM battery b JOIN users u ON b.health = u.username AND u.uid = b.cycle_count');
    ok("SELECT * FROM file WHERE pid_with_namespace IN (1, 2) AND path = '/etc/hosts'");
  });
});
