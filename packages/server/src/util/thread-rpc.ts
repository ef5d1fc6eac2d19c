import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, Worker, type ResourceLimits, type Transferable } from 'node:worker_threads';
import type { Logger } from 'pino';

/*
 * Requests to a worker thread and their answers. The server keeps its slow database work
 * (vulnerability scans, policy results on SQLite) in threads with their own connections, so
 * that check-ins on the event loop never wait for it; both sides of that conversation live
 * here. A request is `{type, id, …}`; the thread answers with the same id, or with
 * `{type: 'failed', id, message}`; it may also send `{type: 'log', …}` lines at any time.
 */

type LogLevel = 'info' | 'warn' | 'error';

export interface ThreadLog {
  type: 'log';
  level: LogLevel;
  fields: Record<string, unknown>;
  msg: string;
}
type Failed = { type: 'failed'; id: number; message: string };
type Stopped = { type: 'stopped' };
type Stop = { type: 'stop' };

/** Errors cross the thread boundary as plain objects. */
function portable(fields: Record<string, unknown>): Record<string, unknown> {
  const err = fields['err'];
  return err instanceof Error
    ? { ...fields, err: { message: err.message, stack: err.stack } }
    : fields;
}

/**
 * Inside the worker thread: answers requests one at a time, in arrival order. On `stop` it
 * calls `interrupt` at once (to cut long work short), finishes what is queued, runs `close`,
 * says `stopped` and lets the thread end.
 */
export function serveRequests<Req extends { type: string; id: number }, Res>(
  handle: (m: Req) => Promise<Res>,
  close: () => Promise<void>,
  interrupt?: () => void,
): { log(level: LogLevel, fields: Record<string, unknown>, msg: string): void } {
  const port = parentPort;
  if (!port) throw new Error('serveRequests must run in a worker thread');
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (m: Req | Stop) => {
    if (m.type === 'stop') {
      interrupt?.();
      queue = queue.then(async () => {
        await close();
        port.postMessage({ type: 'stopped' } satisfies Stopped);
        port.close();
      });
      return;
    }
    const req = m as Req;
    queue = queue.then(async () => {
      try {
        port.postMessage(await handle(req));
      } catch (e) {
        port.postMessage({
          type: 'failed',
          id: req.id,
          message: e instanceof Error ? e.message : String(e),
        } satisfies Failed);
      }
    });
  });
  return {
    log: (level, fields, msg) =>
      port.postMessage({ type: 'log', level, fields: portable(fields), msg } satisfies ThreadLog),
  };
}

/**
 * Lowers the calling thread's priority (Linux, where the nice value is per thread, see
 * setpriority(2) "Bugs"), so the event loop wins the CPU when both want it. Best effort.
 */
export function lowerThreadPriority(niceness: number): void {
  if (niceness <= 0 || process.platform !== 'linux') return;
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), niceness);
  } catch {
    // Not permitted: the thread runs at the process's priority.
  }
}

interface Pending<Res> {
  resolve(m: Res): void;
  reject(e: Error): void;
}

export interface ThreadClientOptions {
  /** The thread's entry module (a `.mjs` that registers tsx, then imports the worker). */
  url: URL;
  workerData: unknown;
  /** What the thread is called in logs and errors. */
  name: string;
  log: Logger;
  resourceLimits?: ResourceLimits;
  /** Called when the thread exits with an error (it is started again on the next request). */
  onCrash?: (code: number) => void;
}

/**
 * The event loop's side: starts the thread at the first request (or `start()`), matches
 * answers to requests, forwards the thread's log lines, and fails the requests in flight if
 * the thread dies. The thread never keeps the process alive on its own.
 */
export class ThreadClient<Req extends { type: string; id: number }, Res extends { id: number }> {
  private worker: Worker | null = null;
  private exited: Promise<void> = Promise.resolve();
  private readonly pending = new Map<number, Pending<Res>>();
  private nextId = 1;

  constructor(private readonly opts: ThreadClientOptions) {}

  get started(): boolean {
    return this.worker !== null;
  }

  start(): void {
    if (this.worker) return;
    const w = new Worker(this.opts.url, {
      workerData: this.opts.workerData,
      ...(this.opts.resourceLimits ? { resourceLimits: this.opts.resourceLimits } : {}),
    });
    w.unref();
    w.on('message', (m: Res | Failed | ThreadLog | Stopped) => this.onMessage(m));
    w.on('error', (err) => this.opts.log.error({ err }, `${this.opts.name} failed`));
    this.exited = new Promise((resolve) => {
      w.once('exit', (code) => {
        this.worker = null;
        const err = new Error(`${this.opts.name} exited (code ${code})`);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        if (code !== 0) this.opts.onCrash?.(code);
        resolve();
      });
    });
    this.worker = w;
  }

  /** Sends a request (its `id` is assigned here) and resolves with the thread's answer. */
  request(m: Req, transfer: readonly Transferable[] = []): Promise<Res> {
    this.start();
    const w = this.worker!;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...m, id }, transfer);
    });
  }

  /** Lets the thread finish its current work and close; terminates it after `graceMs`. */
  async stop(graceMs = 30_000): Promise<void> {
    const w = this.worker;
    if (!w) return;
    w.postMessage({ type: 'stop' } satisfies Stop);
    const done = await Promise.race([
      this.exited.then(() => true),
      sleep(graceMs, false, { ref: false }),
    ]);
    if (!done) await w.terminate();
  }

  private onMessage(m: Res | Failed | ThreadLog | Stopped): void {
    if ('type' in m && m.type === 'log') {
      const l = m as ThreadLog;
      this.opts.log[l.level](l.fields, l.msg);
      return;
    }
    if ('type' in m && m.type === 'stopped') return;
    const r = m as Res | Failed;
    const p = this.pending.get(r.id);
    this.pending.delete(r.id);
    if ('type' in r && r.type === 'failed') p?.reject(new Error((r as Failed).message));
    else p?.resolve(r as Res);
  }
}
