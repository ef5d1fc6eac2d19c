import type { Datastore, PolicyFacts, PolicyResult, PolicyTransition } from '@flotilla/db';
import type { Logger } from 'pino';
import { CHANNELS, type Bus } from '../bus/bus.js';
import type { QuerySource } from '../osquery/checkin.service.js';
import { BatchQueue } from '../util/batch-queue.js';
import { jitterMs, type HostRuntime } from '../osquery/host-cache.js';
import type { WriteBatcher } from '../osquery/write-batcher.js';
import { labelApplies } from '../labels/label-queries.js';
import type { PolicyAutomations } from './automations.js';
import { PackedResults, type PackedHostResults } from './packed-results.js';
import { InlineResultsWriter, type PolicyResultsWriter } from './results-writer.js';

export const POLICY_PREFIX = 'fleet_policy_query_';
export const POLICIES_CHANGED = 'policies.changed';

/** Re-read members of the labels policies are scoped to this often. */
const LABEL_REFRESH_MS = 10_000;
/** Recompute counts from results this often, to absorb deleted and moved hosts. */
const RECONCILE_MS = 10 * 60_000;
/** New or edited policies are asked of at most about this many hosts per second… */
const CHANGE_ASKS_PER_S = 500;
/** …and bring at most about this many first results per second (hosts × new policies)… */
const CHANGE_RESULTS_PER_S = 10_000;
/** …spread over at most this long. */
const CHANGE_SPREAD_MAX_MS = 180_000;
/** An unanswered ask is repeated after this long. */
const ASK_DEBOUNCE_MS = 60_000;

interface LivePolicy extends PolicyFacts {
  id: number;
  query: string;
  platform: string;
  updatedAt: number;
  /**
   * When this process first had this version of the policy: hosts asked before then did not
   * get it, even if they were asked after `updatedAt` (the write and this process's reload are
   * not one instant), so "changed since the host was asked" compares with this.
   */
  loadedAt: number;
  include: number[];
  exclude: number[];
}

/** Something that acts on pass↔fail transitions once written (the result log). */
export interface TransitionListener {
  /** The policies whose transitions it wants now: only these are sent back by the writer. */
  policyIds(): ReadonlySet<number>;
  handle(transitions: PolicyTransition[]): void;
}

/**
 * Policies as distributed queries: hosts evaluate `fleet_policy_query_<id>` when their results
 * are older than `policy_update_interval` (jittered per host), on refetch, and as soon as a
 * policy is created or changed. Rows mean pass, no rows fail, an error "did not run".
 * Results are written in batches; only transitions touch counts and history.
 */
export class PolicyQuerySource implements QuerySource {
  readonly prefix = POLICY_PREFIX;
  private policies: LivePolicy[] = [];
  private facts = new Map<number, LivePolicy>();
  private newest = 0;
  /** Host ids are sequential: the largest seen approximates the fleet's size. */
  private maxHostId = 0;
  private labelMembers = new Map<number, Set<number>>();
  private labelsLoadedAt = 0;
  private labelsLoading: Promise<void> | undefined;
  /** Hosts that joined or left a scoping label since they were last asked: ask them again. */
  private readonly recheck = new Set<number>();
  private readonly pendingResults = new Map<number, Map<number, PolicyResult>>();
  private readonly queue = new BatchQueue<PackedHostResults>(
    (batch) => this.writeResults(batch),
    200,
  );
  private reconcileTimer: NodeJS.Timeout | undefined;
  private readonly listeners: TransitionListener[] = [];
  /** Set by `useAutomations`. */
  automations: PolicyAutomations | undefined;
  private stopped = false;
  private reloading: Promise<void> = Promise.resolve();

  constructor(
    private readonly ds: Datastore,
    private readonly writes: WriteBatcher,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly intervalS: number,
    private readonly clock: () => number,
    private readonly writer: PolicyResultsWriter = new InlineResultsWriter(ds, log),
  ) {
    // A deleted label (or team) drops policy scopes and policies: reload on either.
    for (const channel of [POLICIES_CHANGED, CHANNELS.labelsChanged]) {
      bus.subscribe(channel, () => {
        if (this.stopped) return;
        this.reloading = this.reload().catch((err: unknown) =>
          this.log.error({ err }, 'reloading policies failed'),
        );
      });
    }
  }

  /** Gives a listener the transitions of its policies, every batch once written. */
  onTransitions(l: TransitionListener): void {
    this.listeners.push(l);
  }

  /** Queues deliveries for these automations in the transactions that write transitions. */
  useAutomations(a: PolicyAutomations): void {
    this.automations = a;
  }

  async start(): Promise<void> {
    await this.reload();
    await this.automations?.start();
    await this.writer.reconcile(this.clock()).catch((err: unknown) => {
      this.log.error({ err }, 'reconciling policy counts failed');
    });
    this.reconcileTimer = setInterval(() => void this.reconcile(), RECONCILE_MS);
    this.reconcileTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    await this.reloading;
    await this.labelsLoading;
    await this.flush();
    await this.writer.stop();
    await this.automations?.stop();
  }

  /** Recomputes maintained counts from results (after pending writes land). */
  async reconcile(): Promise<void> {
    await this.flush();
    await this.writer.reconcile(this.clock()).catch((err: unknown) => {
      this.log.error({ err }, 'reconciling policy counts failed');
    });
  }

  async reload(): Promise<void> {
    const rows = await this.ds.policies.all();
    const labels = await this.ds.policies.labels(rows.map((r) => r.id));
    const before = this.facts;
    const first = this.policies.length === 0 && this.newest === 0;
    const now = this.clock();
    this.policies = rows.map((r) => {
      const refs = labels.get(r.id) ?? [];
      const prev = before.get(r.id);
      const loadedAt =
        prev?.updatedAt === r.updated_at
          ? prev.loadedAt
          : first
            ? r.updated_at
            : Math.max(r.updated_at, now);
      return {
        loadedAt,
        id: r.id,
        name: r.name,
        query: r.query,
        platform: r.platform,
        teamId: r.team_id,
        critical: r.critical === 1,
        updatedAt: r.updated_at,
        include: refs.filter((l) => !l.exclude).map((l) => l.labelId),
        exclude: refs.filter((l) => l.exclude).map((l) => l.labelId),
      };
    });
    this.facts = new Map(this.policies.map((p) => [p.id, p]));
    this.newest = this.policies.reduce((m, p) => Math.max(m, p.loadedAt), 1);
    // Starting a writer thread takes a moment: not while the first results arrive.
    if (this.policies.length && !this.stopped) this.writer.prepare();
    await this.loadLabelMembers();
  }

  /** Every process reloads its policy list. */
  changed(): void {
    this.bus.publish(POLICIES_CHANGED, {});
  }

  /** The in-memory facts of current policies (critical flag, team, name). */
  policyFacts(): ReadonlyMap<number, PolicyFacts> {
    return this.facts;
  }

  private async loadLabelMembers(): Promise<void> {
    const ids = [...new Set(this.policies.flatMap((p) => [...p.include, ...p.exclude]))];
    const next = new Map<number, Set<number>>();
    for (const id of ids) next.set(id, new Set(await this.ds.labels.hostIdsInAny([id])));
    for (const [id, members] of next) {
      const before = this.labelMembers.get(id);
      if (!before) continue; // a newly referenced label: its policy is new or changed anyway
      for (const h of members) if (!before.has(h)) this.recheck.add(h);
      for (const h of before) if (!members.has(h)) this.recheck.add(h);
    }
    this.labelMembers = next;
    this.labelsLoadedAt = this.clock();
  }

  /** Whether a policy is asked of a host (team, platform and label scope). */
  appliesTo(policyId: number, host: Pick<HostRuntime, 'id' | 'teamId' | 'platform'>): boolean {
    const p = this.policies.find((x) => x.id === policyId);
    return p !== undefined && this.applies(p, host);
  }

  private applies(p: LivePolicy, host: Pick<HostRuntime, 'id' | 'teamId' | 'platform'>): boolean {
    if (p.teamId !== null && p.teamId !== host.teamId) return false;
    if (p.platform && !labelApplies(p.platform, host.platform)) return false;
    if (p.include.length && !p.include.some((l) => this.labelMembers.get(l)?.has(host.id)))
      return false;
    if (p.exclude.some((l) => this.labelMembers.get(l)?.has(host.id))) return false;
    return true;
  }

  /**
   * New or edited policies reach a large fleet at CHANGE_ASKS_PER_S hosts and about
   * CHANGE_RESULTS_PER_S first results per second, each host at its own offset (by id) after
   * the change: asking every host at its next check-in made 20,000 hosts report 50 new
   * policies within one 10-second interval, a burst whose requests alone took half of the
   * event loop, and 500 hosts per second (25,000 first results) still raised check-in p99 by
   * ~1.8 ms. A small fleet or a single new policy is asked at once.
   */
  private changeReady(host: HostRuntime, now: number): boolean {
    let oldest = Infinity;
    let changed = 0;
    for (const p of this.policies)
      if (p.loadedAt > host.policyUpdatedAt) {
        changed++;
        if (p.loadedAt < oldest) oldest = p.loadedAt;
      }
    const perSecond = Math.min(CHANGE_ASKS_PER_S, CHANGE_RESULTS_PER_S / Math.max(1, changed));
    const spreadMs = Math.min(CHANGE_SPREAD_MAX_MS, (this.maxHostId / perSecond) * 1000);
    if (spreadMs < 1000) return true;
    const offset = ((Math.imul(host.id, 2654435761) >>> 0) / 2 ** 32) * spreadMs;
    return now >= oldest + offset;
  }

  pending(host: HostRuntime, now: number): Record<string, string> | undefined {
    // Tracked before any policy exists, so the first policies are spread over the whole fleet.
    if (host.id > this.maxHostId) this.maxHostId = host.id;
    if (!this.policies.length) return undefined;
    if (now - this.labelsLoadedAt > LABEL_REFRESH_MS && !this.labelsLoading) {
      this.labelsLoading = this.loadLabelMembers()
        .catch((err: unknown) => this.log.error({ err }, 'loading policy label members failed'))
        .finally(() => (this.labelsLoading = undefined));
    }
    const recheck = this.recheck.has(host.id);
    // A host that never reported is not "due" by the interval: its first policies are new to
    // it and take the spread below (a fleet's first library would otherwise reach every host
    // at its next check-in, a million first results within one interval).
    const due =
      host.refetch ||
      recheck ||
      (host.policyUpdatedAt > 0 &&
        now >= host.policyUpdatedAt + this.intervalS * 1000 + jitterMs(host.id, this.intervalS));
    const changed = this.newest > host.policyUpdatedAt && this.changeReady(host, now);
    if (!due && !changed) return undefined;
    // An ask is repeated only when it went unanswered for a while or policies changed since
    // (a host that just joined or left a scoping label is asked once at once).
    if (!recheck && now - host.policyAskedAt < ASK_DEBOUNCE_MS && this.newest <= host.policyAskedAt)
      return undefined;
    this.recheck.delete(host.id);
    let out: Record<string, string> | undefined;
    for (const p of this.policies) {
      if (!due && p.loadedAt <= host.policyUpdatedAt) continue;
      if (!this.applies(p, host)) continue;
      (out ??= {})[POLICY_PREFIX + p.id] = p.query;
    }
    host.policyAskedAt = now;
    return out;
  }

  ingest(
    host: HostRuntime,
    name: string,
    rows: Array<Record<string, string>>,
    status: number,
  ): void {
    const id = Number(name.slice(POLICY_PREFIX.length));
    if (!Number.isSafeInteger(id) || id <= 0 || !this.facts.has(id)) return;
    let r = this.pendingResults.get(host.id);
    if (!r) this.pendingResults.set(host.id, (r = new Map()));
    r.set(id, status !== 0 ? null : rows.length > 0 ? 1 : 0);
  }

  endWrite(host: HostRuntime, now: number): void {
    const pending = this.pendingResults.get(host.id);
    this.pendingResults.delete(host.id);
    if (!pending) return;
    // As of the ask: a policy created between the read and this write is asked next time.
    host.policyUpdatedAt = host.policyAskedAt > 0 ? Math.min(now, host.policyAskedAt) : now;
    // The stored `policy_updated_at` is written with the results (one statement per batch).
    this.queue.push({
      hostId: host.id,
      hostTeamId: host.teamId,
      at: now,
      results: PackedResults.of(pending),
    });
  }

  /** Writes queued results (also what read APIs call so users see what agents sent). */
  flush(): Promise<void> {
    return this.queue.flush();
  }

  private async writeResults(batch: PackedHostResults[]): Promise<void> {
    // The host row must exist before results reference it.
    await this.writes.flush().catch(() => undefined);
    const wanted = this.listeners.map((l) => l.policyIds());
    const report = new Set<number>();
    for (const ids of wanted) for (const id of ids) report.add(id);
    const { transitions, wake } = await this.writer.write(batch, {
      facts: this.facts,
      automations: this.automations?.queueTargets(),
      report,
    });
    if (wake.length) this.automations?.wake(wake);
    if (!transitions.length) return;
    this.listeners.forEach((l, i) => {
      const ids = wanted[i]!;
      const mine = transitions.filter((t) => ids.has(t.policyId));
      if (mine.length) l.handle(mine);
    });
  }
}
