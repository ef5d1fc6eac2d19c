import type { Datastore, HostRuntimeRow } from '@flotilla/db';
import { tokenHash } from '../crypto/secrets.js';

/** What the check-in path needs to know about a host, held in memory. */
export interface HostRuntime {
  id: number;
  nodeKeyHash: string;
  osqueryHostId: string;
  teamId: number | null;
  platform: string;
  /** When the next vitals refresh is due (epoch ms). */
  detailDueAt: number;
  /** When vitals were last asked for, so an unanswered ask is not repeated every check-in. */
  detailAskedAt: number;
  refetch: boolean;
  labelUpdatedAt: number;
  /** When label queries were last asked for (debounces unanswered asks). */
  labelAskedAt: number;
  policyUpdatedAt: number;
  policyAskedAt: number;
  seenAt: number;
  /** The node key itself once a check-in presented it (memory only, never stored or logged). */
  nodeKey?: string;
}

/** Spreads refreshes of one interval over up to 10% of it, stable per host. */
export function jitterMs(hostId: number, intervalS: number): number {
  const h = Math.imul(hostId, 2654435761) >>> 0;
  return Math.floor((h / 2 ** 32) * intervalS * 100);
}

const NEGATIVE_TTL_MS = 10_000;
const NEGATIVE_MAX = 10_000;

/**
 * Node key → host, in memory. A miss goes to the database once (another process may have
 * enrolled the host); unknown keys are remembered briefly so garbage keys cost no queries.
 */
export class HostCache {
  private readonly byKey = new Map<string, HostRuntime>();
  /** Keys already seen, so a check-in costs a map lookup instead of a SHA-256. */
  private readonly byRawKey = new Map<string, HostRuntime>();
  private readonly byId = new Map<number, HostRuntime>();
  private readonly negative = new Map<string, number>();

  constructor(
    private readonly ds: Datastore,
    private readonly detailIntervalS: number,
  ) {}

  async loadAll(): Promise<number> {
    const rows = await this.ds.hosts.runtimeAll();
    for (const r of rows) this.put(r);
    return rows.length;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Resolves a node key to its host, or undefined (answer `node_invalid`). */
  async authenticate(nodeKey: string, now: number): Promise<HostRuntime | undefined> {
    const known = this.byRawKey.get(nodeKey);
    if (known) return known;
    const hash = tokenHash(nodeKey);
    const hit = this.byKey.get(hash);
    if (hit) {
      hit.nodeKey = nodeKey;
      this.byRawKey.set(nodeKey, hit);
      return hit;
    }
    const neg = this.negative.get(hash);
    if (neg !== undefined && neg > now) return undefined;
    const row = await this.ds.hosts.runtimeByNodeKeyHash(hash);
    if (!row) {
      if (this.negative.size >= NEGATIVE_MAX) this.negative.clear();
      this.negative.set(hash, now + NEGATIVE_TTL_MS);
      return undefined;
    }
    const rt = this.put(row);
    rt.nodeKey = nodeKey;
    this.byRawKey.set(nodeKey, rt);
    return rt;
  }

  put(r: HostRuntimeRow): HostRuntime {
    this.drop(r.id);
    const rt: HostRuntime = {
      id: r.id,
      nodeKeyHash: r.node_key_hash,
      osqueryHostId: r.osquery_host_id,
      teamId: r.team_id,
      platform: r.platform,
      detailDueAt:
        r.detail_updated_at === 0
          ? 0
          : r.detail_updated_at +
            this.detailIntervalS * 1000 +
            jitterMs(r.id, this.detailIntervalS),
      detailAskedAt: 0,
      refetch: r.refetch_requested === 1,
      labelUpdatedAt: r.label_updated_at,
      labelAskedAt: 0,
      policyUpdatedAt: r.policy_updated_at,
      policyAskedAt: 0,
      seenAt: r.seen_time,
    };
    this.byKey.set(rt.nodeKeyHash, rt);
    this.byId.set(rt.id, rt);
    this.negative.delete(rt.nodeKeyHash);
    return rt;
  }

  getById(id: number): HostRuntime | undefined {
    return this.byId.get(id);
  }

  /** Forgets a host (deleted, re-keyed or changed elsewhere); the next check-in reloads it. */
  drop(id: number): void {
    const rt = this.byId.get(id);
    if (!rt) return;
    this.byId.delete(id);
    this.byKey.delete(rt.nodeKeyHash);
    if (rt.nodeKey !== undefined) this.byRawKey.delete(rt.nodeKey);
  }

  all(): IterableIterator<HostRuntime> {
    return this.byId.values();
  }
}
