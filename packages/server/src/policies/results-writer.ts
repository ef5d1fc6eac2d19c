import type {
  CountDelta,
  Datastore,
  HostPolicyResults,
  PolicyFacts,
  PolicyTransition,
} from '@flotilla/db';
import type { Logger } from 'pino';
import { batchBuffers, packBatch, type PackedHostResults } from './packed-results.js';
import { ThreadClient } from '../util/thread-rpc.js';
import type { FromResultsWorker, ResultsWorkerData, ToResultsWorker } from './results-worker.js';

/**
 * Hosts per results transaction. On SQLite the commit (writing the transaction's pages to the
 * WAL) cannot be sliced: 20 hosts' first results commit in ~2 ms, 50 hosts' in ~3-10 ms.
 */
export const WRITE_CHUNK = { sqlite: 20, postgres: 50 } as const;

/** What a batch is written against: the policies as loaded, and the automations' policies. */
export interface WriteContext {
  facts: ReadonlyMap<number, PolicyFacts>;
  /** automation → policies whose new failures it wants queued in the same transaction. */
  automations: ReadonlyMap<string, ReadonlySet<number>> | undefined;
  /**
   * Policies whose transitions the caller wants back (undefined: all). A new library's first
   * results are a million transitions, which the writer thread would otherwise copy back to the
   * event loop for nobody (the result log wants them only where a scope turned it on).
   */
  report?: ReadonlySet<number> | undefined;
}

/** What writing a batch did. */
export interface WriteOutcome {
  /** The transitions of the policies in `report` (every transition when it is undefined). */
  transitions: PolicyTransition[];
  /** Automations that got new failures queued: they have deliveries to send. */
  wake: string[];
}

export interface ChunkedWriteOptions {
  /** Awaited after every statement inside a transaction (SQLite on the event loop). */
  pace?: (() => Promise<void> | undefined) | undefined;
  /** Awaited between transactions, with how long the last one took (ms). */
  between: (busyMs: number) => Promise<void>;
  onError: (err: unknown, hosts: number) => void;
  /** Compare with current results before taking the write lock (see ApplyOptions). */
  readFirst?: boolean;
}

/**
 * Writes a batch of hosts' results in transactions of WRITE_CHUNK hosts, then moves the
 * policies' counts once for the whole batch (in every transaction they would rewrite every
 * policy's row; the counts reconcile at start and every few minutes if a write is lost).
 * A chunk that fails is reported and skipped: its hosts are asked again at their next interval.
 */
export async function writeInChunks(
  ds: Datastore,
  batch: readonly HostPolicyResults[],
  ctx: WriteContext,
  opts: ChunkedWriteOptions,
): Promise<WriteOutcome> {
  const counts = new Map<number, CountDelta>();
  const size = WRITE_CHUNK[ds.dialect];
  const out: PolicyTransition[] = [];
  const wake = new Set<string>();
  for (let i = 0; i < batch.length; i += size) {
    const chunk = batch.slice(i, i + size);
    const t0 = performance.now();
    try {
      const transitions = await ds.policies.applyResults(chunk, ctx.facts, {
        automations: ctx.automations,
        counts,
        pace: opts.pace,
        readFirst: opts.readFirst,
      });
      for (const t of transitions) {
        if (!ctx.report || ctx.report.has(t.policyId)) out.push(t);
        if (t.passes === 0 && ctx.automations)
          for (const [name, ids] of ctx.automations) if (ids.has(t.policyId)) wake.add(name);
      }
    } catch (err) {
      opts.onError(err, chunk.length);
    }
    await opts.between(performance.now() - t0);
  }
  await ds.policies.addCounts(counts).catch((err: unknown) => opts.onError(err, 0));
  return { transitions: out, wake: [...wake] };
}

/** Where queued policy results go: the event loop's own connection, or a writer thread. */
export interface PolicyResultsWriter {
  /** Gets ready to write (a thread starts before the first results, not with them). */
  prepare(): void;
  write(batch: PackedHostResults[], ctx: WriteContext): Promise<WriteOutcome>;
  /** Recomputes the maintained counts from the results. */
  reconcile(nowMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** On SQLite, the inline writer yields to the event loop after about this long. */
const WRITE_SLICE_MS = 1;

/**
 * Writes on this thread's connection. On PostgreSQL the database does the work elsewhere. On
 * SQLite (an in-memory database, which no other thread can open, or with the writer thread
 * turned off) a statement holds the event loop while it runs: large transactions (cheap per
 * row) are written in slices of about WRITE_SLICE_MS, each followed by a pause as long as it
 * was, so the writer never takes more than half of the event loop.
 */
export class InlineResultsWriter implements PolicyResultsWriter {
  constructor(
    private readonly ds: Datastore,
    private readonly log: Logger,
  ) {}

  prepare(): void {}

  write(batch: PackedHostResults[], ctx: WriteContext): Promise<WriteOutcome> {
    const onError = (err: unknown, hosts: number) =>
      this.log.error({ err, hosts }, 'writing policy results failed');
    if (this.ds.dialect !== 'sqlite') {
      return writeInChunks(this.ds, batch, ctx, {
        between: () => new Promise((r) => setImmediate(r)),
        onError,
      });
    }
    let sliceStart = performance.now();
    const rest = (busy: number) =>
      new Promise<void>((r) =>
        setTimeout(() => {
          sliceStart = performance.now();
          r();
        }, busy),
      );
    return writeInChunks(this.ds, batch, ctx, {
      pace: () => {
        const busy = performance.now() - sliceStart;
        return busy < WRITE_SLICE_MS ? undefined : rest(busy);
      },
      between: () => rest(performance.now() - sliceStart),
      onError,
    });
  }

  reconcile(nowMs: number): Promise<void> {
    return this.ds.policies.reconcile(nowMs);
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Writes in a worker thread with its own database connection, so that check-ins on the event
 * loop never wait for policy writes. On SQLite, reading a batch's current results, comparing
 * and writing 50 results per host ran on the event loop before (check-in p99 2 ms → 46 ms
 * while 20,000 hosts sent first results, 277 ms while they re-sent unchanged ones); on
 * PostgreSQL the thread takes building the statements and reading their answers off it. The
 * thread is started at the first write; if it dies, writes continue on the event loop.
 */
export class ThreadResultsWriter implements PolicyResultsWriter {
  private readonly thread: ThreadClient<ToResultsWorker, FromResultsWorker>;
  private failed = false;
  private stopped = false;
  private readonly inline: InlineResultsWriter;

  constructor(
    private readonly ds: Datastore,
    private readonly log: Logger,
    /**
     * The thread's niceness. A lower priority may leave it holding the write lock while
     * descheduled, but the event loop waits for that lock on a timer (sqlite/connect.ts), so
     * only batched writes wait, never a check-in. Policy bench, window B (a new library's
     * first million results), plain-read p99 over window A: +6.1 ms at niceness 0, +1.8 ms at
     * 10 (`bench/results/2026-11-25T01-43-15-169Z-policy-checkins-sqlite.md`, control at 0:
     * `…T01-50-19-061Z…`).
     */
    niceness = 10,
  ) {
    this.inline = new InlineResultsWriter(ds, log);
    const location = ds.location;
    if (!location) throw new Error('the results writer thread needs a database it can open');
    const data: ResultsWorkerData = { db: location, niceness };
    this.thread = new ThreadClient({
      url: new URL('./results-worker-boot.mjs', import.meta.url),
      workerData: data,
      name: 'policy results writer thread',
      log,
      onCrash: (code) => {
        // Writes carry on here; the lost batch's hosts are asked again at their interval.
        this.failed = true;
        log.error({ code }, 'policy results writer thread exited; writing on the main thread');
      },
    });
  }

  prepare(): void {
    if (!this.failed && !this.stopped) this.thread.start();
  }

  async write(batch: PackedHostResults[], ctx: WriteContext): Promise<WriteOutcome> {
    if (this.failed || this.stopped) return this.inline.write(batch, ctx);
    const packed = packBatch(batch);
    const m = await this.thread
      .request(
        {
          type: 'write',
          id: 0,
          batch: packed,
          facts: [...ctx.facts].map(([id, f]) => [
            id,
            { name: f.name, teamId: f.teamId, critical: f.critical },
          ]),
          automations: ctx.automations
            ? [...ctx.automations].map(([name, ids]) => [name, [...ids]])
            : null,
          report: ctx.report ? [...ctx.report] : null,
        },
        batchBuffers(packed),
      )
      .catch((err: unknown) => {
        this.log.error({ err, hosts: batch.length }, 'writing policy results failed');
        return null;
      });
    return m?.type === 'written' ? m.outcome : { transitions: [], wake: [] };
  }

  async reconcile(nowMs: number): Promise<void> {
    if (this.failed || this.stopped) return this.inline.reconcile(nowMs);
    await this.thread.request({ type: 'reconcile', id: 0, at: nowMs });
  }

  /** The thread finishes the batch in hand, closes its connection and exits. */
  stop(): Promise<void> {
    this.stopped = true;
    return this.thread.stop();
  }
}
