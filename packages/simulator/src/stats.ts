import type { AgentObserver, Endpoint } from './agent/agent.js';

export const ENDPOINTS: readonly Endpoint[] = [
  'enroll',
  'config',
  'distributed_read',
  'distributed_write',
  'log',
];

/** Bucket i holds latencies up to MIN_MS * GROWTH^i; 2 % steps from 10 µs to ~2 min. */
const MIN_MS = 0.01;
const GROWTH = 1.02;
const BUCKETS = Math.ceil(Math.log(120_000 / MIN_MS) / Math.log(GROWTH)) + 1;

/** A log-bucketed latency histogram: fixed size, mergeable across workers. */
export class LatencyHistogram {
  readonly counts: number[];

  constructor(counts?: readonly number[]) {
    this.counts = counts === undefined ? new Array<number>(BUCKETS).fill(0) : [...counts];
  }

  record(ms: number): void {
    const i =
      ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / Math.log(GROWTH)));
    this.counts[i] = (this.counts[i] ?? 0) + 1;
  }

  merge(other: { counts: readonly number[] }): void {
    for (let i = 0; i < BUCKETS; i++)
      this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
  }

  /** Takes away an earlier state of the same histogram, leaving what was recorded since. */
  subtract(earlier: { counts: readonly number[] }): void {
    for (let i = 0; i < BUCKETS; i++) {
      const n = (this.counts[i] ?? 0) - (earlier.counts[i] ?? 0);
      if (n < 0) throw new Error('subtract: not an earlier state of this histogram');
      this.counts[i] = n;
    }
  }

  get total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  /** Upper bound of the bucket holding the q-quantile, in ms (0 when empty). */
  quantile(q: number): number {
    const total = this.total;
    if (total === 0) return 0;
    const target = Math.max(1, Math.ceil(q * total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= target) return MIN_MS * GROWTH ** i;
    }
    return MIN_MS * GROWTH ** (BUCKETS - 1);
  }

  /** Upper bound of the highest non-empty bucket, in ms (0 when empty). */
  max(): number {
    for (let i = BUCKETS - 1; i >= 0; i--)
      if ((this.counts[i] ?? 0) > 0) return MIN_MS * GROWTH ** i;
    return 0;
  }
}

export interface EndpointSnapshot {
  requests: number;
  errors: number;
  counts: number[];
}

/** Plain-data statistics one runner (or worker) reports; summed across workers. */
export interface StatsSnapshot {
  endpoints: Record<Endpoint, EndpointSnapshot>;
  events: Record<string, number>;
  hosts: number;
  enrolled: number;
}

/** Per-endpoint summary in FleetStats. Latencies are milliseconds. */
export interface EndpointStats {
  requests: number;
  errors: number;
  p50: number;
  p95: number;
  p99: number;
  /** Upper bound of the slowest request's histogram bucket (2 % resolution). */
  max: number;
}

/** What `runFleet` resolves to and what periodic reports carry. */
export interface FleetStats {
  hosts: number;
  /** Hosts currently holding a node key. */
  enrolled: number;
  elapsedSeconds: number;
  endpoints: Record<Endpoint, EndpointStats>;
  /**
   * Latency histogram bucket counts per endpoint, cumulative since the start: reports of
   * several processes merge exactly (`mergeFleetStats`), and an earlier report taken from a
   * later one leaves the requests in between (`statsBetween`).
   */
  histograms: Record<Endpoint, number[]>;
  /** enrolled, reenroll, distributed_query, scheduled_query, log_lines counters. */
  events: Record<string, number>;
  /** Whole-process figures at the time of the report. */
  rssBytes: number;
  heapUsedBytes: number;
}

/** Counts requests, errors and latencies; the agent observer for a set of hosts. */
export class StatsCollector implements AgentObserver {
  private readonly histograms = new Map<Endpoint, LatencyHistogram>(
    ENDPOINTS.map((e) => [e, new LatencyHistogram()]),
  );
  private readonly requests = new Map<Endpoint, { requests: number; errors: number }>(
    ENDPOINTS.map((e) => [e, { requests: 0, errors: 0 }]),
  );
  private readonly events = new Map<string, number>();

  request(endpoint: Endpoint, milliseconds: number, ok: boolean): void {
    const r = this.requests.get(endpoint);
    if (r === undefined) return;
    r.requests += 1;
    if (!ok) r.errors += 1;
    this.histograms.get(endpoint)?.record(milliseconds);
  }

  event(name: string, count = 1): void {
    this.events.set(name, (this.events.get(name) ?? 0) + count);
  }

  snapshot(hosts: number, enrolled: number): StatsSnapshot {
    const endpoints = {} as Record<Endpoint, EndpointSnapshot>;
    for (const e of ENDPOINTS) {
      const r = this.requests.get(e) ?? { requests: 0, errors: 0 };
      endpoints[e] = {
        requests: r.requests,
        errors: r.errors,
        counts: [...(this.histograms.get(e)?.counts ?? [])],
      };
    }
    return { endpoints, events: Object.fromEntries(this.events), hosts, enrolled };
  }
}

/** Sums worker snapshots into one FleetStats. */
export function summarize(snapshots: readonly StatsSnapshot[], elapsedSeconds: number): FleetStats {
  const endpoints = {} as Record<Endpoint, EndpointStats>;
  const histograms = {} as Record<Endpoint, number[]>;
  for (const e of ENDPOINTS) {
    const h = new LatencyHistogram();
    let requests = 0;
    let errors = 0;
    for (const s of snapshots) {
      requests += s.endpoints[e].requests;
      errors += s.endpoints[e].errors;
      h.merge(s.endpoints[e]);
    }
    endpoints[e] = endpointStats(requests, errors, h);
    histograms[e] = h.counts;
  }
  const mem = process.memoryUsage();
  return {
    hosts: snapshots.reduce((a, s) => a + s.hosts, 0),
    enrolled: snapshots.reduce((a, s) => a + s.enrolled, 0),
    elapsedSeconds: round(elapsedSeconds),
    endpoints,
    histograms,
    events: sumEvents(snapshots.map((s) => s.events)),
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
  };
}

/**
 * Sums the reports of fleets running side by side (one per simulator process): counts add up,
 * percentiles come from the merged histograms, memory is the processes' total.
 */
export function mergeFleetStats(reports: readonly FleetStats[]): FleetStats {
  const endpoints = {} as Record<Endpoint, EndpointStats>;
  const histograms = {} as Record<Endpoint, number[]>;
  for (const e of ENDPOINTS) {
    const h = new LatencyHistogram();
    for (const r of reports) h.merge({ counts: r.histograms[e] });
    endpoints[e] = endpointStats(
      reports.reduce((a, r) => a + r.endpoints[e].requests, 0),
      reports.reduce((a, r) => a + r.endpoints[e].errors, 0),
      h,
    );
    histograms[e] = h.counts;
  }
  return {
    hosts: reports.reduce((a, r) => a + r.hosts, 0),
    enrolled: reports.reduce((a, r) => a + r.enrolled, 0),
    elapsedSeconds: Math.max(0, ...reports.map((r) => r.elapsedSeconds)),
    endpoints,
    histograms,
    events: sumEvents(reports.map((r) => r.events)),
    rssBytes: reports.reduce((a, r) => a + r.rssBytes, 0),
    heapUsedBytes: reports.reduce((a, r) => a + r.heapUsedBytes, 0),
  };
}

/**
 * The requests answered between two reports of the same fleet: counts, errors, events and
 * latency percentiles of that window alone (hosts and memory as at `end`).
 *
 * @example
 * const start = await fleet.stats();
 * await sleep(60_000);
 * const steady = statsBetween(start, await fleet.stats());
 */
export function statsBetween(start: FleetStats, end: FleetStats): FleetStats {
  const endpoints = {} as Record<Endpoint, EndpointStats>;
  const histograms = {} as Record<Endpoint, number[]>;
  for (const e of ENDPOINTS) {
    const h = new LatencyHistogram(end.histograms[e]);
    h.subtract({ counts: start.histograms[e] });
    endpoints[e] = endpointStats(
      end.endpoints[e].requests - start.endpoints[e].requests,
      end.endpoints[e].errors - start.endpoints[e].errors,
      h,
    );
    histograms[e] = h.counts;
  }
  const events: Record<string, number> = {};
  for (const [k, v] of Object.entries(end.events)) events[k] = v - (start.events[k] ?? 0);
  return {
    ...end,
    elapsedSeconds: round(end.elapsedSeconds - start.elapsedSeconds),
    endpoints,
    histograms,
    events,
  };
}

function endpointStats(requests: number, errors: number, h: LatencyHistogram): EndpointStats {
  return {
    requests,
    errors,
    p50: round(h.quantile(0.5)),
    p95: round(h.quantile(0.95)),
    p99: round(h.quantile(0.99)),
    max: round(h.max()),
  };
}

function sumEvents(all: ReadonlyArray<Readonly<Record<string, number>>>): Record<string, number> {
  const events: Record<string, number> = {};
  for (const ev of all) for (const [k, v] of Object.entries(ev)) events[k] = (events[k] ?? 0) + v;
  return events;
}

const round = (n: number): number => Math.round(n * 100) / 100;

/** A one-screen text report of `s`. */
export function formatStats(s: FleetStats): string {
  const lines = [
    `t=${s.elapsedSeconds}s hosts=${s.hosts} enrolled=${s.enrolled} rss=${(s.rssBytes / 2 ** 20).toFixed(0)}MiB`,
    'endpoint            requests  errors     p50ms    p95ms    p99ms    maxms',
  ];
  for (const e of ENDPOINTS) {
    const x = s.endpoints[e];
    lines.push(
      `${e.padEnd(18)} ${String(x.requests).padStart(9)} ${String(x.errors).padStart(7)} ${x.p50.toFixed(2).padStart(9)} ${x.p95.toFixed(2).padStart(8)} ${x.p99.toFixed(2).padStart(8)} ${x.max.toFixed(2).padStart(8)}`,
    );
  }
  const ev = Object.entries(s.events)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  if (ev !== '') lines.push(ev);
  return lines.join('\n');
}
