import type { Datastore } from '@flotilla/db';
import type { Logger } from 'pino';
import { CHANNELS, type Bus } from '../bus/bus.js';
import type { QuerySource } from '../osquery/checkin.service.js';
import { jitterMs, type HostRuntime } from '../osquery/host-cache.js';
import type { WriteBatcher } from '../osquery/write-batcher.js';
import { BatchQueue } from '../util/batch-queue.js';
import { platformFamily } from '../osquery/platforms.js';

export const LABEL_PREFIX = 'fleet_label_query_';

interface DynamicLabel {
  id: number;
  name: string;
  query: string;
  platform: string;
  updatedAt: number;
}

/** Whether a label restricted to `labelPlatform` applies to a host on `hostPlatform`. */
export function labelApplies(labelPlatform: string, hostPlatform: string): boolean {
  if (!labelPlatform) return true;
  const family = platformFamily(hostPlatform);
  return labelPlatform.split(',').some((p) => {
    const want = p.trim();
    return want === hostPlatform || want === family;
  });
}

/**
 * Dynamic label membership: hosts evaluate each label's SQL as `fleet_label_query_<id>` when
 * their membership is stale (hourly by default, jittered, and at once after enroll) and as soon
 * as a label is created or its query changes. One or more rows means "member".
 */
export class LabelQuerySource implements QuerySource {
  readonly prefix = LABEL_PREFIX;
  private labels: DynamicLabel[] = [];
  private newest = 0;
  private readonly results = new Map<number, { add: number[]; remove: number[] }>();
  private readonly membership = new BatchQueue<{ hostId: number; add: number[]; remove: number[] }>(
    (batch) => this.writeMembership(batch),
    200,
  );

  constructor(
    private readonly ds: Datastore,
    private readonly writes: WriteBatcher,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly intervalS: number,
  ) {
    bus.subscribe(CHANNELS.labelsChanged, () => void this.reload());
  }

  async reload(): Promise<void> {
    const rows = await this.ds.db
      .selectFrom('labels')
      .select(['id', 'name', 'query', 'platform', 'updated_at'])
      .where('label_membership_type', '=', 'dynamic')
      .orderBy('id')
      .execute();
    this.labels = rows.map((r) => ({
      id: r.id,
      name: r.name,
      query: r.query,
      platform: r.platform,
      updatedAt: r.updated_at,
    }));
    this.newest = this.labels.reduce((m, l) => Math.max(m, l.updatedAt), 0);
  }

  /** Every process reloads its label list. */
  changed(): void {
    this.bus.publish(CHANNELS.labelsChanged, {});
  }

  pending(host: HostRuntime, now: number): Record<string, string> | undefined {
    const due =
      now >= host.labelUpdatedAt + this.intervalS * 1000 + jitterMs(host.id, this.intervalS);
    const changedSince = this.newest > host.labelUpdatedAt;
    if (!due && !changedSince) return undefined;
    if (now - host.labelAskedAt < 60_000) return undefined;
    let out: Record<string, string> | undefined;
    for (const l of this.labels) {
      if (!due && l.updatedAt <= host.labelUpdatedAt) continue;
      if (!labelApplies(l.platform, host.platform)) continue;
      (out ??= {})[LABEL_PREFIX + l.id] = l.query;
    }
    host.labelAskedAt = now;
    return out;
  }

  ingest(
    host: HostRuntime,
    name: string,
    rows: Array<Record<string, string>>,
    status: number,
  ): void {
    const id = Number(name.slice(LABEL_PREFIX.length));
    if (!Number.isInteger(id) || id <= 0) return;
    if (status !== 0) return; // an error leaves membership as it was
    let r = this.results.get(host.id);
    if (!r) {
      r = { add: [], remove: [] };
      this.results.set(host.id, r);
    }
    (rows.length > 0 ? r.add : r.remove).push(id);
  }

  endWrite(host: HostRuntime, now: number): void {
    const r = this.results.get(host.id);
    this.results.delete(host.id);
    if (!r) return;
    host.labelUpdatedAt = now;
    host.labelAskedAt = 0; // answered: a label created from now on is asked at the next check-in
    this.writes.update(host.id, { label_updated_at: now });
    this.membership.push({ hostId: host.id, ...r });
  }

  flush(): Promise<void> {
    return this.membership.flush();
  }

  private async writeMembership(
    batch: Array<{ hostId: number; add: number[]; remove: number[] }>,
  ): Promise<void> {
    try {
      // The host row must exist before membership references it.
      await this.writes.flush();
      await this.ds.labels.applyMembership(batch, Date.now());
    } catch (err) {
      this.log.error({ err, hosts: batch.length }, 'writing label membership failed');
    }
  }
}
