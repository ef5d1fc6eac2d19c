import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatastore, type Datastore } from './datastore.js';
import type { DialectName } from './dialect.js';

/** Where tests find PostgreSQL; CI sets nothing and gets the machine's local server. */
export const TEST_POSTGRES_URL =
  process.env['FLOTILLA_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

let pgReachable: Promise<boolean> | undefined;

/** Whether PostgreSQL tests can run. Under CI=true absence is an error, not a skip. */
export function postgresAvailable(): Promise<boolean> {
  pgReachable ??= (async () => {
    const client = new pg.Client({
      connectionString: TEST_POSTGRES_URL,
      connectionTimeoutMillis: 2000,
    });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch (e) {
      if (process.env['CI'] === 'true') {
        throw new Error(
          `PostgreSQL is required in CI but unreachable at ${TEST_POSTGRES_URL}: ${String(e)}`,
        );
      }
      console.warn(
        `\n[flotilla] PostgreSQL unreachable at ${TEST_POSTGRES_URL}: PostgreSQL tests are SKIPPED\n`,
      );
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return pgReachable;
}

export interface TestDatabase {
  dialect: DialectName;
  /** URL for PostgreSQL, file path for SQLite. */
  location: string;
  open(): Datastore;
  drop(): Promise<void>;
}

/** A fresh, empty database of the given dialect (a temp file, or a new PostgreSQL database). */
export async function createTestDatabase(dialect: DialectName): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-test-'));
    const file = join(dir, 'flotilla.db');
    return {
      dialect,
      location: file,
      open: () => openDatastore({ sqliteFile: file }),
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `flotilla_t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    dialect,
    location: url.toString(),
    open: () => openDatastore({ databaseUrl: url.toString(), maxConnections: 5 }),
    drop: async () => {
      const c = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** The dialects to run a suite on: SQLite always, PostgreSQL when reachable (required in CI). */
export async function testDialects(): Promise<DialectName[]> {
  return (await postgresAvailable()) ? ['sqlite', 'postgres'] : ['sqlite'];
}
