import { CHANNELS, type Bus } from '../bus/bus.js';
import type { CampaignResult } from './campaign-registry.js';

/**
 * Rows one campaign delivers to its watchers before it says the cap was reached, unless the
 * server is configured otherwise (`live_query_max_rows`).
 */
export const MAX_CAMPAIGN_ROWS = 1_000_000;

/**
 * Rows a streamed campaign keeps to replay to a client that connects after its first results
 * (the usual race: the campaign is created, then the websocket opens). Keeping every row of a
 * 20,000-host campaign held 2,000,000 row objects in the heap until its deadline; each was
 * promoted through the garbage collector's generations while results were still arriving.
 */
export const REPLAY_MAX_ROWS = 100_000;

/**
 * Progress (`status`) goes to watchers at most this often while results arrive, and at once
 * when the campaign finishes: one per result doubled the messages of a 20,000-host campaign.
 */
const STATUS_EVERY_MS = 250;

export interface HostInfo {
  id: number;
  hostname: string;
  display_name: string;
  online: boolean;
}

export type SessionEvent =
  | {
      type: 'result';
      data: {
        distributed_query_execution_id: number;
        host: { id: number; hostname: string; display_name: string };
        rows: Array<Record<string, string>>;
        error: string | null;
        stats: unknown;
      };
    }
  | {
      type: 'totals';
      data: { count: number; online: number; offline: number; missing_in_action: number };
    }
  | {
      type: 'status';
      data: { expected_results: number; actual_results: number; status: 'pending' | 'finished' };
    }
  | { type: 'error'; data: string };

/**
 * Watches one campaign's answers for one consumer (a websocket, a synchronous run): counts
 * who responded, caps rows, and says when every online target has answered or time is up.
 * Disposing it drops the bus subscription, so a client that goes away leaks nothing.
 */
export class CampaignSession {
  readonly responded = new Set<number>();
  readonly results: CampaignResult[] = [];
  rows = 0;
  capped = false;
  /** The cap message and how many kept results came before it, for replay. */
  private capNotice: { event: SessionEvent; at: number } | undefined;
  /** Rows in `results`, and results not kept once `keepRows` was reached. */
  private keptRows = 0;
  private notKept = 0;
  private off: (() => void) | undefined;
  private listeners: Array<(e: SessionEvent) => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private done = false;
  private onlineCount: number | undefined;
  private readonly finishedWaiters: Array<() => void> = [];

  constructor(
    readonly campaignId: number,
    private readonly hosts: Map<number, HostInfo>,
    bus: Bus,
    readonly deadline: number,
    private readonly keepResults: boolean,
    private readonly maxRows = MAX_CAMPAIGN_ROWS,
    /** Rows kept for `results` and replay (all of them for a synchronous run). */
    private readonly keepRows = Infinity,
  ) {
    this.off = bus.subscribe(CHANNELS.campaignResults(campaignId), (m) =>
      this.onResult(m as CampaignResult),
    );
    this.timer = setTimeout(() => this.finish(), Math.max(0, deadline - Date.now()));
    this.timer.unref();
  }

  /** Targets online (counted once, then kept: it is read twice per result). */
  get online(): number {
    if (this.onlineCount === undefined) {
      let n = 0;
      for (const h of this.hosts.values()) if (h.online) n++;
      this.onlineCount = n;
    }
    return this.onlineCount;
  }

  get targets(): number {
    return this.hosts.size;
  }

  get finished(): boolean {
    return this.done;
  }

  totals(): SessionEvent {
    const online = this.online;
    return {
      type: 'totals',
      data: { count: this.targets, online, offline: this.targets - online, missing_in_action: 0 },
    };
  }

  status(): SessionEvent {
    return {
      type: 'status',
      data: {
        expected_results: this.online,
        actual_results: this.responded.size,
        status: this.done ? 'finished' : 'pending',
      },
    };
  }

  /** Adds a listener and replays what it missed (results kept, totals, status). */
  listen(fn: (e: SessionEvent) => void): () => void {
    this.listeners.push(fn);
    fn(this.totals());
    this.results.forEach((r, i) => {
      if (this.capNotice?.at === i) fn(this.capNotice.event);
      fn(this.toEvent(r));
    });
    if (this.capNotice !== undefined && this.capNotice.at >= this.results.length)
      fn(this.capNotice.event);
    if (this.notKept > 0)
      fn({
        type: 'error',
        data: `${this.notKept} earlier results are not replayed to clients that connect late (only the first ${this.keepRows} rows are kept); hosts are still counted`,
      });
    fn(this.status());
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }

  /** Resolves when every online target answered (or every target, with `all`), or at the deadline. */
  waitFinished(): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise((r) => this.finishedWaiters.push(r));
  }

  private toEvent(r: CampaignResult): SessionEvent {
    const h = this.hosts.get(r.host_id);
    return {
      type: 'result',
      data: {
        distributed_query_execution_id: this.campaignId,
        host: { id: r.host_id, hostname: h?.hostname ?? '', display_name: h?.display_name ?? '' },
        rows: r.rows,
        error: r.error,
        stats: r.stats,
      },
    };
  }

  private emit(e: SessionEvent): void {
    for (const l of this.listeners) l(e);
  }

  private onResult(r: CampaignResult): void {
    if (this.responded.has(r.host_id) || !this.hosts.has(r.host_id)) return;
    this.responded.add(r.host_id);
    const host = this.hosts.get(r.host_id)!;
    if (!host.online) {
      host.online = true; // it answered, so it is online now
      if (this.onlineCount !== undefined) this.onlineCount++;
    }
    let result = r;
    if (this.capped) result = { ...r, rows: [] };
    else if (this.rows + r.rows.length > this.maxRows) {
      this.capped = true;
      result = { ...r, rows: r.rows.slice(0, this.maxRows - this.rows) };
      this.capNotice = {
        event: {
          type: 'error',
          data: `result limit of ${this.maxRows} rows reached: further rows are dropped (hosts are still counted)`,
        },
        at: this.results.length,
      };
      this.emit(this.capNotice.event);
    }
    this.rows += result.rows.length;
    if (this.keepResults && this.keptRows + result.rows.length <= this.keepRows) {
      this.results.push(result);
      this.keptRows += result.rows.length;
    } else if (this.keepResults) this.notKept++;
    this.emit(this.toEvent(result));
    if (this.responded.size >= this.online) this.finish();
    else
      this.statusTimer ??= setTimeout(() => {
        this.statusTimer = undefined;
        if (!this.done) this.emit(this.status());
      }, STATUS_EVERY_MS).unref();
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.statusTimer) clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
    this.emit(this.status());
    for (const w of this.finishedWaiters.splice(0)) w();
  }

  dispose(): void {
    this.finish();
    if (this.timer) clearTimeout(this.timer);
    this.off?.();
    this.off = undefined;
    this.listeners = [];
  }
}
