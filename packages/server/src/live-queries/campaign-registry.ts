import type { Logger } from 'pino';
import { CHANNELS, type Bus } from '../bus/bus.js';
import type { QuerySource } from '../osquery/checkin.service.js';
import type { HostRuntime } from '../osquery/host-cache.js';

export const CAMPAIGN_PREFIX = 'fleet_distributed_query_';
/** Rows kept from one host's answer; the rest are dropped and the host's result says so. */
export const MAX_ROWS_PER_HOST = 10_000;

/** One host's answer to a campaign, as it travels on the bus. */
export interface CampaignResult {
  campaign_id: number;
  host_id: number;
  rows: Array<Record<string, string>>;
  error: string | null;
  stats: unknown;
}

interface Started {
  id: number;
  sql: string;
  host_ids: number[];
  deadline: number;
}

/**
 * Active campaigns, mirrored in every process: which hosts still owe an answer. Asking "does
 * host H have pending questions?" is one map lookup per check-in, whatever the number of open
 * campaigns; answers go straight to the campaign's bus channel and are not stored.
 */
export class CampaignRegistry implements QuerySource {
  readonly prefix = CAMPAIGN_PREFIX;
  private readonly campaigns = new Map<
    number,
    { sql: string; name: string; deadline: number; hosts: Set<number> }
  >();
  private readonly byHost = new Map<number, Map<number, string>>();
  private sweeper: NodeJS.Timeout | undefined;
  readonly counters = { results: 0, rows: 0, truncated: 0 };

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly clock: () => number,
  ) {
    bus.subscribe(CHANNELS.campaignStarted, (m) => this.add(m as Started));
    bus.subscribe(CHANNELS.campaignStopped, (m) => this.remove((m as { id: number }).id));
    bus.subscribe(CHANNELS.campaignHostDone, (m) => {
      const { id, host_id } = m as { id: number; host_id: number };
      this.hostDone(id, host_id);
    });
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  /** Starts a campaign in every process. */
  start(id: number, sql: string, hostIds: number[], deadline: number): void {
    this.bus.publish(CHANNELS.campaignStarted, {
      id,
      sql,
      host_ids: hostIds,
      deadline,
    } satisfies Started);
  }

  stop(id: number): void {
    this.bus.publish(CHANNELS.campaignStopped, { id });
  }

  /** Hosts that still owe an answer to campaign `id` (those that answered are gone). */
  targetsOf(id: number): number[] {
    return [...(this.campaigns.get(id)?.hosts ?? [])];
  }

  isActive(id: number): boolean {
    return this.campaigns.has(id);
  }

  get active(): number {
    return this.campaigns.size;
  }

  pending(host: HostRuntime): Record<string, string> | undefined {
    const mine = this.byHost.get(host.id);
    if (!mine) return undefined;
    let out: Record<string, string> | undefined;
    for (const [id, name] of mine) {
      const c = this.campaigns.get(id);
      if (c) (out ??= {})[name] = c.sql;
    }
    return out;
  }

  ingest(
    host: HostRuntime,
    name: string,
    rows: Array<Record<string, string>>,
    status: number,
    message: string,
    stats: unknown,
  ): void {
    const id = Number(name.slice(CAMPAIGN_PREFIX.length));
    if (!this.campaigns.has(id)) return; // late answer to a finished campaign
    if (!this.byHost.get(host.id)?.has(id)) return; // not asked, or answered already
    let error: string | null =
      status === 0 ? null : message || `query failed with status ${status}`;
    let kept = rows;
    if (rows.length > MAX_ROWS_PER_HOST) {
      kept = rows.slice(0, MAX_ROWS_PER_HOST);
      error = `host returned ${rows.length} rows; only the first ${MAX_ROWS_PER_HOST} were kept`;
      this.counters.truncated++;
    }
    this.counters.results++;
    this.counters.rows += kept.length;
    this.bus.publish(CHANNELS.campaignResults(id), {
      campaign_id: id,
      host_id: host.id,
      rows: kept,
      error,
      stats: stats ?? null,
    } satisfies CampaignResult);
    this.bus.publish(CHANNELS.campaignHostDone, { id, host_id: host.id });
  }

  private add(s: Started): void {
    if (this.campaigns.has(s.id)) return;
    const name = CAMPAIGN_PREFIX + s.id;
    this.campaigns.set(s.id, {
      sql: s.sql,
      name,
      deadline: s.deadline,
      hosts: new Set(s.host_ids),
    });
    for (const h of s.host_ids) {
      let m = this.byHost.get(h);
      if (!m) {
        m = new Map();
        this.byHost.set(h, m);
      }
      m.set(s.id, name);
    }
    this.log.debug({ campaign: s.id, hosts: s.host_ids.length }, 'campaign started');
  }

  private hostDone(id: number, hostId: number): void {
    const m = this.byHost.get(hostId);
    if (m) {
      m.delete(id);
      if (m.size === 0) this.byHost.delete(hostId);
    }
    this.campaigns.get(id)?.hosts.delete(hostId);
  }

  private remove(id: number): void {
    const c = this.campaigns.get(id);
    if (!c) return;
    for (const h of c.hosts) this.hostDone(id, h);
    this.campaigns.delete(id);
  }

  private sweep(): void {
    const now = this.clock();
    for (const [id, c] of this.campaigns) if (c.deadline <= now) this.remove(id);
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }
}
