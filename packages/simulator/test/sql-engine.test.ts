import { afterAll, describe, expect, it } from 'vitest';
import { formatDouble, requoteDoubleQuoted, SqlEngine } from '../src/host/sql-engine.js';
import { SimHost } from '../src/host/sim-host.js';
import { tablesFor } from '../src/host/schema.js';
import { getProfile } from '../src/profiles/catalog.js';
import type { TableSource } from '../src/host/sql-engine.js';

const linux = new SqlEngine('linux');
afterAll(() => linux.close());

const users: TableSource = {
  rows: (t) =>
    t === 'users'
      ? [
          { uid: 0, gid: 0, username: 'root', type: 'local' },
          { uid: '1000', gid: 1000, username: 'alice' },
        ]
      : [],
};

describe('SqlEngine', () => {
  it('registers exactly the platform tables of osquery 5.23.1', () => {
    expect(linux.tables.size).toBe(tablesFor('linux').length);
    expect(linux.tables.has('deb_packages')).toBe(true);
    expect(linux.tables.has('apps')).toBe(false);
  });

  it('answers unknown tables and syntax errors with SQLite messages and status 1', () => {
    expect(linux.run(users, 'SELECT * FROM foo')).toEqual({
      status: 1,
      message: 'no such table: foo',
      columns: [],
      rows: [],
    });
    expect(linux.run(users, 'SELECT * FROM apps')).toMatchObject({
      status: 1,
      message: 'no such table: apps',
    });
    expect(linux.run(users, 'SELEC * FROM users')).toMatchObject({
      status: 1,
      message: 'near "SELEC": syntax error',
    });
    expect(linux.run(users, 'SELECT nope FROM users')).toMatchObject({
      status: 1,
      message: 'no such column: nope',
    });
  });

  it('returns every value as a string and NULL as the empty string', () => {
    const r = linux.run(
      users,
      'SELECT uid, gid, description, NULL AS n, 1.5 AS d, 2 AS i FROM users WHERE uid = 0',
    );
    expect(r.rows).toEqual([{ uid: '0', gid: '0', description: '', n: '', d: '1.5', i: '2' }]);
    expect(r.columns).toEqual(['uid', 'gid', 'description', 'n', 'd', 'i']);
  });

  it('gives integer columns integer affinity, so text literals compare as in osquery', () => {
    expect(linux.run(users, "SELECT username FROM users WHERE uid = '1000'").rows).toEqual([
      { username: 'alice' },
    ]);
    expect(linux.run(users, 'SELECT username FROM users WHERE uid > 10').rows).toEqual([
      { username: 'alice' },
    ]);
  });

  it('hides hidden columns from SELECT * but lets them be named', () => {
    const star = linux.run(users, 'SELECT * FROM users WHERE uid = 0');
    expect(star.columns).not.toContain('type');
    expect(star.columns).toContain('username');
    expect(linux.run(users, 'SELECT type FROM users WHERE uid = 0').rows).toEqual([
      { type: 'local' },
    ]);
  });

  it("accepts double-quoted strings where no column matches, like osquery's SQLite", () => {
    const flags: TableSource = {
      rows: (t) =>
        t === 'osquery_flags'
          ? [
              { name: 'distributed_interval', value: '10' },
              { name: 'x', value: '1' },
            ]
          : [],
    };
    const r = linux.run(
      flags,
      'select name, value from osquery_flags where name in ("distributed_interval", "config_tls_refresh")',
    );
    expect(r).toMatchObject({ status: 0, rows: [{ name: 'distributed_interval', value: '10' }] });
    // A double-quoted identifier that is a column stays a column.
    expect(linux.run(flags, 'select "name" from osquery_flags where "value" = \'1\'').rows).toEqual(
      [{ name: 'x' }],
    );
    expect(requoteDoubleQuoted(`select 'a "b"' , "b" -- "b"`, 'b')).toBe(
      `select 'a "b"' , 'b' -- "b"`,
    );
  });

  it("implements osquery's extra SQL functions with the documented results", () => {
    const row = linux.run(
      users,
      `SELECT concat('hello', NULL, ' ', 'world') c, concat_ws(' ', 'hello', NULL, 'world') cw,
        split('1001', '1', 0) s, split('a.b.c', '.', 5) s5, regex_split('a1b2c', '[0-9]', 1) rs,
        regex_match('hello world. Goodbye', '(\\w+) \\w+', 0) m0, regex_match('hello world. Goodbye', '(\\w+) \\w+', 1) m1,
        inet_aton('1.0.1.5') ip, inet_aton('::1') ip6, sha1('Guest') h, md5('') m, to_base64('CPU0') b,
        from_base64('Q1BVMA==') fb, from_base64('***') bad, conditional_to_base64('CPU0') cb, conditional_to_base64('CPU0' || char(183)) cb2,
        version_compare('1.0', '1.0') v0, version_compare('50.4.1b', '50.4.1c') v1, version_compare('1:1.2.13-2', '4.2.1', 'ARCH') v2,
        version_compare('1.0.0~rc2^2021', '1.0.0', 'RHEL') v3, in_cidr_block('10.0.0.0/26', '10.0.0.24') cidr,
        in_cidr_block('2001:db8::/48', '2001:db8:0:ffff:ffff:ffff:ffff:ffff') cidr6,
        community_id_v1('66.35.250.204', '128.232.110.120', 80, 34855, 6) ci,
        community_id_v1('66.35.250.204', '2001:0:3238:DFE1:63::FEFB', 80, 2347, 6, 37) ci6`,
    );
    expect(row.status).toBe(0);
    expect(row.rows[0]).toEqual({
      c: 'hello world',
      cw: 'hello world',
      s: '00',
      s5: '',
      rs: 'b',
      m0: 'hello world',
      m1: 'hello',
      ip: '16777477',
      ip6: '',
      h: 'face83ee3014bdc8f98203cc94e2e89222452e90',
      m: 'd41d8cd98f00b204e9800998ecf8427e',
      b: 'Q1BVMA==',
      fb: 'CPU0',
      bad: '',
      cb: 'CPU0',
      cb2: 'Q1BVMMK3',
      v0: '0',
      v1: '-1',
      v2: '1',
      v3: '-1',
      cidr: '1',
      cidr6: '1',
      ci: '1:LQU9qZlK+B5F3KDmev6m5PMibrg=',
      ci6: '1:jmJ2ORP31di4mtsQPIKzyoEb3yo=',
    });
  });

  it("formats doubles as osquery's CastVisitor does", () => {
    expect([0, 0.5, 100, 1 / 3, 1e22, 1e-5].map(formatDouble)).toEqual([
      '0.0',
      '0.5',
      '100.0',
      '0.333333333333333',
      '1e+22.0',
      '1e-05.0',
    ]);
  });

  it('runs SELECT * on every table of every profile without error', () => {
    const engines = { linux, darwin: new SqlEngine('darwin'), windows: new SqlEngine('windows') };
    for (const name of ['ubuntu-22.04', 'debian-12', 'rhel-9', 'macos-14', 'windows-11']) {
      const profile = getProfile(name);
      const engine = engines[profile.platform];
      const host = new SimHost(profile, 3);
      const failures = [...engine.tables.keys()].filter(
        (t) => engine.run(host, `SELECT * FROM "${t}"`).status !== 0,
      );
      expect(failures, name).toEqual([]);
    }
    engines.darwin.close();
    engines.windows.close();
  });

  it('hands hosts of one patch cohort the same answer over shared tables, and no one else', () => {
    const profile = getProfile('ubuntu-22.04');
    const hosts = Array.from({ length: 200 }, (_, i) => new SimHost(profile, i));
    const [a, b] = hosts.filter((h) => h.cohort === hosts[0]?.cohort);
    const other = hosts.find((h) => h.cohort !== hosts[0]?.cohort);
    if (a === undefined || b === undefined || other === undefined) throw new Error('cohorts');
    const engine = new SqlEngine('linux');
    const fresh = new SqlEngine('linux');
    try {
      const software = "SELECT name, version FROM deb_packages WHERE status LIKE '% ok installed'";
      const first = engine.run(a, software);
      const second = engine.run(b, software);
      expect(second).toBe(first);
      // What a run from scratch gives each host: the shared answer is b's own.
      expect(second).toEqual(fresh.run(b, software));
      const third = engine.run(other, software);
      expect(third).not.toBe(first);
      expect(third).toEqual(fresh.run(other, software));
      expect(third.rows).not.toEqual(first.rows);
      // Anything per host (users), or volatile (time), is run for every host.
      const mixed = 'SELECT count(*) AS n, (SELECT count(*) FROM users) AS u FROM deb_packages';
      expect(engine.run(b, mixed)).not.toBe(engine.run(a, mixed));
      const timed = "SELECT name, datetime('now') AS t FROM deb_packages LIMIT 1";
      expect(engine.run(b, timed)).not.toBe(engine.run(a, timed));
      // A table this profile lacks is empty on all its hosts: shared by the profile.
      const rpm = 'SELECT count(*) AS n FROM rpm_packages';
      expect(engine.run(other, rpm)).toBe(engine.run(a, rpm));
      // Sources that share nothing (no sharedScope) are always run.
      expect(engine.run(users, 'SELECT username FROM users')).not.toBe(
        engine.run(users, 'SELECT username FROM users'),
      );
    } finally {
      engine.close();
      fresh.close();
    }
  });

  it('generates a table once per statement, however often a join scans it', () => {
    let calls = 0;
    const counted: TableSource = {
      rows: (t) => {
        if (t !== 'users') return [];
        calls += 1;
        return [
          { uid: 0, username: 'root' },
          { uid: 1000, username: 'alice' },
          { uid: 1001, username: 'bob' },
        ];
      },
    };
    const r = linux.run(
      counted,
      'SELECT a.username AS a, b.username AS b FROM users a, users b WHERE a.uid < b.uid ORDER BY a, b',
    );
    expect(r.rows).toEqual([
      { a: 'alice', b: 'bob' },
      { a: 'root', b: 'alice' },
      { a: 'root', b: 'bob' },
    ]);
    // Once for the outer side, once for the inner (not once per outer row: 1 + 3).
    expect(calls).toBe(2);
    linux.run(counted, 'SELECT count(*) FROM users');
    expect(calls).toBe(3); // the next statement generates its own
  });
});
