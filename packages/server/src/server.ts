import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { openDatastore } from '@flotilla/db';
import { validateQuery } from '@flotilla/osquery';
import type { ServerConfig } from './config.js';
import { buildApp, REDACT } from './app.js';
import { LocalBus, RedisBus, type Bus } from './bus/bus.js';
import { randomToken } from './crypto/secrets.js';
import {
  ensureOwnCertificates,
  loadCertificateFiles,
  type TlsMaterial,
} from './tls/certificates.js';

/** The server key from config, or one generated once into the data directory. */
export function serverKey(config: ServerConfig): string {
  if (config.serverPrivateKey) return config.serverPrivateKey;
  const file = join(config.dataDir, 'server.key');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, randomToken(48), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

export interface RunningServer {
  url: string;
  tls: TlsMaterial | undefined;
  close(): Promise<void>;
}

/** Opens the database, migrates it, sets up TLS and listens; stops cleanly on close(). */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true });
  const unlock = lockDataDir(config.dataDir);
  try {
    const running = await startInDataDir(config);
    return {
      ...running,
      close: async () => {
        await running.close();
        unlock();
      },
    };
  } catch (err) {
    unlock();
    throw err;
  }
}

async function startInDataDir(config: ServerConfig): Promise<RunningServer> {
  const log = pino({ level: config.logLevel, redact: REDACT });
  const ds = openDatastore({
    databaseUrl: config.databaseUrl,
    sqliteFile: join(config.dataDir, 'flotilla.db'),
  });
  const applied = await ds.migrate();
  if (applied.length) log.info({ migrations: applied }, 'database migrated');

  let tls: TlsMaterial | undefined;
  if (config.tls.mode === 'auto')
    tls = await ensureOwnCertificates(config.dataDir, config.tls.hostnames);
  else if (config.tls.mode === 'files')
    tls = loadCertificateFiles(config.tls.certFile!, config.tls.keyFile!);

  let bus: Bus = new LocalBus();
  if (config.redisUrl) {
    const rb = new RedisBus(config.redisUrl, log);
    await rb.ready();
    bus = rb;
  }

  const { app } = await buildApp({
    config,
    ds,
    serverKey: serverKey(config),
    bus,
    tls,
    logger: log,
  });
  // The SQL checker's database (osquery's schema as virtual tables) is built on first use,
  // ~0.1-0.3 s of the event loop: here, not inside the first request that checks a query.
  validateQuery('SELECT 1 FROM osquery_info');
  // A fleet starting at once opens thousands of connections within seconds: a deeper accept
  // queue than Node's 511 (the kernel caps it at net.core.somaxconn) keeps them from resets.
  await app.listen({ host: config.host, port: config.port, backlog: 4096 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `${tls ? 'https' : 'http'}://localhost:${port}`;
  return {
    url,
    tls,
    close: async () => {
      await app.close();
      await bus.close();
      await ds.close();
    },
  };
}

/**
 * One server process per data dir: its write-ahead log of agent logs, TLS files and SQLite
 * file are its own. Two processes sharing one each shipped the other's log lines. The lock is
 * a file holding the owner's pid; one left by a process that is gone is taken over.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'server.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner))
        throw new Error(
          `data dir ${dataDir} is in use by process ${owner}: give each server process its own FLOTILLA_DATA_DIR (or stop that process)`,
        );
      rmSync(file, { force: true }); // left by a process that is gone (or by this one)
    }
  }
  throw new Error(`could not lock data dir ${dataDir}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
