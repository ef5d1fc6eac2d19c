import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request, type Agent } from 'node:https';
import { join, resolve } from 'node:path';
import { FlotillaClient } from '@flotilla/api';

/** The repository root, for the server's entry point and bench/ paths. */
export const ROOT = resolve(import.meta.dirname, '../../..');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface BenchServer {
  server: ChildProcess;
  pid: number;
  /** The server's CA (PEM), generated into its data dir on first start. */
  ca: string;
  url: string;
  /** Signed in as the first admin, set up by startBenchServer. */
  admin: FlotillaClient;
}

/**
 * Starts `flotilla serve` in its own process as `npm start` runs it (HTTPS, 127.0.0.1:port,
 * data in `dir`, a larger young generation), waits for it to answer, creates the first admin
 * and adds `enrollSecret`. The server is killed when this process exits.
 */
export async function startBenchServer(opts: {
  dir: string;
  port: number;
  enrollSecret: string;
  env?: Record<string, string>;
  /** Extra node flags (e.g. --cpu-prof), before the entry point. */
  nodeArgs?: string[];
  /** Where the server's stdout goes (stderr is always shown). */
  stdout?: 'ignore' | 'inherit';
}): Promise<BenchServer> {
  const server = spawn(
    process.execPath,
    [
      '--max-semi-space-size=64',
      ...(opts.nodeArgs ?? []),
      '--import',
      'tsx',
      join(ROOT, 'packages/cli/src/main.ts'),
      'serve',
    ],
    {
      env: {
        ...process.env,
        FLOTILLA_DATA_DIR: opts.dir,
        FLOTILLA_PORT: String(opts.port),
        FLOTILLA_HOST: '127.0.0.1',
        FLOTILLA_LOG_LEVEL: 'warn',
        ...opts.env,
      },
      stdio: ['ignore', opts.stdout ?? 'ignore', 'inherit'],
    },
  );
  process.on('exit', () => server.kill('SIGKILL'));
  for (let i = 0; i < 150 && !existsSync(join(opts.dir, 'tls', 'ca.pem')); i++) await sleep(200);
  const ca = readFileSync(join(opts.dir, 'tls', 'ca.pem'), 'utf8');
  const url = `https://127.0.0.1:${opts.port}`;
  const admin = new FlotillaClient({ serverUrl: url, ca });
  for (let i = 0; ; i++) {
    try {
      await admin.request('GET', '/healthz');
      break;
    } catch (e) {
      if (i > 200) throw e;
      await sleep(300);
    }
  }
  await admin.setup({ email: 'bench@example.com', name: 'Bench', password: 'Benchmark-pass-1!' });
  await admin.request('POST', '/api/v1/fleet/spec/enroll_secret', {
    spec: { secrets: [{ secret: opts.enrollSecret }] },
  });
  return { server, pid: server.pid!, ca, url, admin };
}

/** User and system CPU of a process (µs), from its /proc accounting. */
export function processCpuUs(pid: number): { user: number; system: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return { user: Number(x[11]) * 10_000, system: Number(x[12]) * 10_000 };
}

/**
 * A process's CPU (µs, user + system) split by thread: its main thread (the event loop), its
 * threads running at a lower priority (the policy writer is niced), and the rest (V8's helpers,
 * libuv's pool). A thread that exited since the last call is missing from all three.
 */
export function threadCpuUs(pid: number): { main: number; niced: number; other: number } {
  const out = { main: 0, niced: 0, other: 0 };
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let f: string;
    try {
      f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // it exited meanwhile
    }
    const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
    const us = (Number(x[11]) + Number(x[12])) * 10_000;
    if (Number(tid) === pid) out.main += us;
    else if (Number(x[16]) > 0) out.niced += us;
    else out.other += us;
  }
  return out;
}

/** POSTs a JSON body over `agent`'s connections: the answer's status and text. */
export function postJson(
  agent: Agent,
  url: string,
  body: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
