import { createSecureContext } from 'node:tls';
import { ConnectionPool } from './agent/connection-pool.js';
import { createSimulatedAgent } from './agent/factory.js';
import type { OsqueryAgent } from './agent/agent.js';
import { EngineSet } from './host/engine-set.js';
import { hash32 } from './host/random.js';
import { StatsCollector } from './stats.js';
import type { StatsSnapshot } from './stats.js';

const LAG_TICK_MS = 100;

/** Serializable settings shared by the main thread and workers. */
export interface RunnerSettings {
  server: string;
  enrollSecret: string;
  /** PEM text of the CA bundle. */
  caPem: string;
  gzip: boolean;
  hostIdentifier: 'uuid' | 'hostname';
  suspiciousRate: number;
  fleetSeed: number;
  /** Hosts start spread evenly over this many seconds. */
  startSpreadSeconds: number;
  /**
   * At most this many connections for this runner's hosts together (a shared keep-alive
   * pool); unset: one connection per host, as osquery keeps.
   */
  maxConnections?: number;
}

/** One host to run: its global index and profile name. */
export interface HostSlot {
  index: number;
  profile: string;
}

/**
 * Runs a set of simulated hosts in this thread: one SQL engine per platform, one parsed
 * CA, one statistics collector, one keep-alive connection per host.
 */
export class HostRunner {
  readonly stats = new StatsCollector();
  private readonly agents: OsqueryAgent[] = [];
  private readonly engines = new EngineSet();
  private readonly pool: ConnectionPool | undefined;
  private lagTimer: NodeJS.Timeout | undefined;

  constructor(settings: RunnerSettings, slots: readonly HostSlot[]) {
    const secureContext = createSecureContext({ ca: settings.caPem });
    const spreadMs = settings.startSpreadSeconds * 1000;
    const max = settings.maxConnections;
    this.pool =
      max !== undefined && max < slots.length
        ? new ConnectionPool({
            server: new URL(settings.server),
            secureContext,
            maxSockets: max,
            scheduling: 'fifo',
            onConnect: () => this.stats.event('connection_opened'),
          })
        : undefined;
    for (const slot of slots) {
      this.agents.push(
        createSimulatedAgent({
          profile: slot.profile,
          index: slot.index,
          fleetSeed: settings.fleetSeed,
          server: settings.server,
          secureContext,
          enrollSecret: settings.enrollSecret,
          gzip: settings.gzip,
          hostIdentifier: settings.hostIdentifier,
          suspiciousRate: settings.suspiciousRate,
          observer: this.stats,
          engines: this.engines,
          ...(this.pool ? { sharedAgent: this.pool } : {}),
          // Spread by a hash of the index so neighbours do not start together.
          startDelayMs:
            spreadMs === 0
              ? 0
              : ((hash32(String(slot.index), settings.fleetSeed) % 10_000) / 10_000) * spreadMs,
        }),
      );
    }
  }

  start(): void {
    for (const agent of this.agents) void agent.start();
    // How late this thread's timers fire: a simulator that falls behind its hosts' schedule
    // (and times its own requests out) shows here, not in the server's figures.
    let last = performance.now();
    this.lagTimer = setInterval(() => {
      const now = performance.now();
      const lag = now - last - LAG_TICK_MS;
      last = now;
      if (lag > 0) this.stats.event('loop_lag_ms', Math.round(lag));
      if (lag > 1000) this.stats.event('loop_stalls_over_1s');
    }, LAG_TICK_MS);
    this.lagTimer.unref();
  }

  /** Opens every shared connection the hosts may use (see ConnectionPool.warm). */
  warm(): Promise<number> {
    return this.pool?.warm() ?? Promise.resolve(0);
  }

  stop(): void {
    if (this.lagTimer) clearInterval(this.lagTimer);
    for (const agent of this.agents) agent.stop();
    this.pool?.destroy();
    this.engines.close();
  }

  snapshot(): StatsSnapshot {
    return this.stats.snapshot(
      this.agents.length,
      this.agents.filter((a) => a.nodeKey !== undefined).length,
    );
  }
}
