import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { FlotillaClient } from '@flotilla/api';

/** Where `flotilla login` keeps the server URL, CA and token (like fleetctl's config). */
export const contextFile = () =>
  process.env['FLOTILLA_CLI_CONFIG'] ?? join(homedir(), '.flotilla', 'cli.json');

export interface CliContext {
  server_url: string;
  ca_file?: string | undefined;
  token?: string | undefined;
  email?: string | undefined;
}

export function readContext(): CliContext | undefined {
  const f = contextFile();
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as CliContext) : undefined;
}

export function writeContext(ctx: CliContext): void {
  const f = contextFile();
  mkdirSync(dirname(f), { recursive: true });
  writeFileSync(f, JSON.stringify(ctx, null, 2), { mode: 0o600 });
}

/** A client from explicit options, else the saved login context. */
export function clientFrom(opts: {
  server?: string | undefined;
  ca?: string | undefined;
  token?: string | undefined;
}): FlotillaClient {
  const saved = readContext();
  const serverUrl = opts.server ?? saved?.server_url;
  if (!serverUrl) throw new Error('no server: pass --server or run `flotilla login` first');
  const caFile = opts.ca ?? saved?.ca_file;
  return new FlotillaClient({
    serverUrl,
    ca: caFile ? readFileSync(caFile, 'utf8') : undefined,
    token: opts.token ?? process.env['FLOTILLA_API_TOKEN'] ?? saved?.token,
  });
}
