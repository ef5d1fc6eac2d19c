import { Worker } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type SqliteDialectConfig,
} from 'kysely';
import type { Database } from '../../schema.js';
import type { ColumnTypes } from '../../dialect.js';

export const sqliteTypes: ColumnTypes = {
  dialect: 'sqlite',
  id: 'integer',
  bigint: 'integer',
  blob: 'blob',
  double: 'real',
};

/** Opens (creating if needed) a SQLite database file in WAL mode. */
export function connectSqlite(file: string): { db: Kysely<Database>; raw: SQLite.Database } {
  const raw = new SQLite(file);
  raw.pragma('journal_mode = WAL');
  // WAL makes NORMAL durable across application crashes; only an OS crash may lose the tail.
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  raw.pragma('cache_size = -65536');
  cacheStatements(raw, 500);
  if (file !== ':memory:') checkpointInBackground(raw, file);
  const db = new Kysely<Database>({ dialect: new OffLoopBeginDialect({ database: raw }, raw) });
  return { db, raw };
}

const BUSY_TIMEOUT_MS = 5000;
const BEGIN = CompiledQuery.raw('begin');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');
/** Run as they are: transaction control, and statements that cannot run in a transaction. */
const AS_IS = /^\s*(begin|commit|end|rollback|savepoint|release|pragma|vacuum)\b/i;

/**
 * Kysely's SQLite dialect, except that a write waiting for another connection's write lock
 * (the policy results, vulnerability and checkpoint threads write through connections of
 * their own) waits on a timer instead of inside SQLite. better-sqlite3 is synchronous:
 * SQLite's busy handler sleeps inside the call, and every request on the event loop waited
 * with it (policy bench, 20,000 hosts sending first results: check-ins asked nothing had p99
 * 2.4 → 8.1 ms, the event loop stalled up to 47 ms; a thread holding the lock while it synced
 * the log's header stalled it 200-700 ms). Here the lock is tried without waiting; while it is
 * taken, the write retries after 1, 2, 4 … 16 ms, holding only this connection's mutex (other
 * queries on this connection queue behind it, asynchronously). After the busy timeout, one
 * last attempt blocks as before, so a write still fails only when SQLite's own timeout would
 * have failed it.
 *
 * This covers transactions (their BEGIN) and single writes outside one, which run as a
 * transaction of their own once the lock is taken. Reads never wait for the write lock (WAL).
 */
class OffLoopBeginDialect extends SqliteDialect {
  constructor(
    config: SqliteDialectConfig,
    private readonly raw: SQLite.Database,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    const raw = this.raw;
    const config = { database: raw };
    const lock = async (connection: DatabaseConnection): Promise<void> => {
      const deadline = performance.now() + BUSY_TIMEOUT_MS;
      for (let wait = 1; performance.now() < deadline; wait = Math.min(wait * 2, 16)) {
        raw.pragma('busy_timeout = 0');
        try {
          await connection.executeQuery(BEGIN);
          return;
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'SQLITE_BUSY') throw err;
        } finally {
          raw.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
        }
        await new Promise((r) => setTimeout(r, wait));
      }
      await connection.executeQuery(BEGIN);
    };
    // SQLite has one connection: Kysely's, and this wrapper of it that the driver hands out.
    let inner: DatabaseConnection;
    let wrapped: DatabaseConnection | undefined;
    const wrap = (): DatabaseConnection =>
      (wrapped ??= {
        async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
          // Inside a transaction the lock is held already; reads need none; a caller's own
          // BEGIN (IMMEDIATE) … COMMIT, a PRAGMA or VACUUM is run as it is.
          if (raw.inTransaction || AS_IS.test(query.sql) || raw.prepare(query.sql).readonly)
            return inner.executeQuery<R>(query);
          await lock(inner);
          try {
            const result = await inner.executeQuery<R>(query);
            await inner.executeQuery(COMMIT);
            return result;
          } catch (err) {
            if (raw.inTransaction) await inner.executeQuery(ROLLBACK);
            throw err;
          }
        },
        streamQuery: <R>(query: CompiledQuery, chunkSize?: number) =>
          inner.streamQuery<R>(query, chunkSize),
      });
    return new (class extends SqliteDriver {
      override async acquireConnection(): Promise<DatabaseConnection> {
        inner = await super.acquireConnection();
        return wrap();
      }

      override async beginTransaction(): Promise<void> {
        await lock(inner);
      }
    })(config);
  }
}

/**
 * Every statement Kysely runs is prepared here. Kysely prepares every statement on every
 * execution; preparing is a large share of the server's SQLite time under load (profiled).
 * Statements are reusable once they finish, and Kysely runs them to completion synchronously,
 * so prepared statements are kept per SQL text (least recently used beyond `max`).
 */
function cacheStatements(raw: SQLite.Database, max: number): void {
  const prepare = raw.prepare.bind(raw);
  const cache = new Map<string, SQLite.Statement>();
  raw.prepare = ((text: string) => {
    // Kysely begins transactions with a plain (deferred) BEGIN. With a second writing
    // connection (the policy results and vulnerability threads have their own), a deferred
    // transaction that read before writing fails with SQLITE_BUSY when the other committed in
    // between, without waiting. IMMEDIATE takes the write lock first, waiting up to the busy
    // timeout.
    const sql = text === 'begin' ? 'begin immediate' : text;
    const hit = cache.get(sql);
    if (hit) {
      cache.delete(sql);
      cache.set(sql, hit);
      return hit;
    }
    const stmt = prepare(sql);
    cache.set(sql, stmt);
    if (cache.size > max) cache.delete(cache.keys().next().value!);
    return stmt;
  }) as typeof raw.prepare;
}

// Runs in a worker thread (CommonJS, `eval`): a connection of its own that checkpoints.
const CHECKPOINTER = `
const { workerData } = require('node:worker_threads');
const SQLite = require('better-sqlite3');
const db = new SQLite(workerData.file);
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = NORMAL');
let seen;
setInterval(() => {
  try {
    const version = db.pragma('data_version', { simple: true });
    if (version === seen) return; // nobody else committed since the last round
    seen = version;
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    if (r && r.busy === 0 && r.log > 0 && r.checkpointed === r.log) {
      db.exec('BEGIN IMMEDIATE');
      try {
        db.pragma('user_version = ' + db.pragma('user_version', { simple: true }));
        db.exec('COMMIT');
      } finally {
        if (db.inTransaction) db.exec('ROLLBACK');
      }
    }
  } catch {
    // busy or closing: the next round tries again
  }
}, workerData.intervalMs);
`;

/**
 * A WAL checkpoint copies the log's pages into the database file and syncs it: tens of
 * milliseconds under write load, spent by whichever commit crossed the threshold, on the event
 * loop (better-sqlite3 is synchronous), so every request waits behind it. Checkpoints run in a
 * background thread instead, with its own connection; PASSIVE never waits for or blocks
 * writers.
 *
 * Once a checkpoint has copied the whole log, the next commit starts the log over and syncs
 * its new header first (SQLite does so even with synchronous = NORMAL, so that a power cut
 * cannot mix old and new frames): 50-550 ms on this machine's disk while others write, and on
 * the event loop when that commit is the server's. So the thread makes that commit itself,
 * rewriting `user_version` unchanged, right after such a checkpoint; the server's next commit
 * appends. The round is skipped when no other connection has committed since the last one
 * (`data_version`), so an idle database is not rewritten every 250 ms.
 */
function checkpointInBackground(raw: SQLite.Database, file: string, intervalMs = 250): void {
  raw.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(CHECKPOINTER, { eval: true, workerData: { file, intervalMs } });
  worker.unref();
  worker.on('error', () => undefined); // checkpoints fall back to the close-time one
  const close = raw.close.bind(raw);
  raw.close = (() => {
    void worker.terminate();
    return close();
  }) as typeof raw.close;
}
