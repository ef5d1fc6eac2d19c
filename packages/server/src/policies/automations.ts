import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Datastore, PolicyRow, QueuedDelivery } from '@flotilla/db';
import type { Logger } from 'pino';
import type { ActivityService } from '../activities/activity.service.js';
import type { Bus } from '../bus/bus.js';
import { iso } from '../http/format.js';

/**
 * Something that reacts when hosts start failing a policy. Its deliveries are queued durably
 * in the same transaction that records the transition (`policy_automation_queue`, one row per
 * policy and host), so a restart loses nothing; the automation sends them and removes them.
 * The webhook is the first; running a script or installing software hang off the same
 * transition by implementing this.
 */
export interface PolicyAutomation {
  /** The queue rows' `automation` value. */
  readonly name: string;
  /** Policies whose new failures are queued for this automation now. */
  policyIds(): ReadonlySet<number>;
  /** Re-reads its settings (they changed, here or in another process). */
  reload(): Promise<void>;
  start(): Promise<void>;
  /** Rows were queued: send them soon. */
  wake(): void;
  /** Stops sending; what is queued stays for the next start. */
  stop(): Promise<void>;
}

export const AUTOMATIONS_CHANGED = 'policies.automations-changed';

/** The automations, and which policies each wants queued (read by every results write). */
export class PolicyAutomations {
  private readonly list: PolicyAutomation[] = [];
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly ds: Datastore,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly clock: () => number,
  ) {}

  add(a: PolicyAutomation): void {
    this.list.push(a);
  }

  /** automation → policies whose new failures it wants queued, as `applyResults` takes it. */
  queueTargets(): ReadonlyMap<string, ReadonlySet<number>> {
    return new Map(this.list.map((a) => [a.name, a.policyIds()]));
  }

  /** Called after results were written: wakes the automations that got rows. */
  wake(names: readonly string[]): void {
    for (const a of this.list) if (names.includes(a.name)) a.wake();
  }

  /** Settings changed: this process re-reads them before returning, the others soon after. */
  async changed(): Promise<void> {
    for (const a of this.list) await a.reload();
    this.bus.publish(AUTOMATIONS_CHANGED, {});
  }

  /**
   * Fleet's automations reset: queues every host failing these policies now, for every
   * automation that wants the policy.
   */
  async reset(policyIds: readonly number[]): Promise<void> {
    const failing = await this.ds.policies.failingHosts(policyIds);
    for (const a of this.list) {
      const ids = a.policyIds();
      const rows = failing
        .filter((f) => ids.has(f.policy_id))
        .map((f) => ({ policyId: f.policy_id, hostId: f.host_id, hostname: f.hostname }));
      if (!rows.length) continue;
      await this.ds.policies.enqueueAutomation(a.name, rows, this.clock());
      a.wake();
    }
  }

  async start(): Promise<void> {
    this.unsubscribe = this.bus.subscribe(AUTOMATIONS_CHANGED, () => {
      for (const a of this.list)
        a.reload().catch((err: unknown) =>
          this.log.error({ err, automation: a.name }, 'reloading policy automations failed'),
        );
    });
    for (const a of this.list) await a.start();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    for (const a of this.list) await a.stop();
  }
}

/** Fleet's `failing_policies_webhook` settings, per scope (global, or one team). */
export interface FailingPoliciesWebhook {
  enable_failing_policies_webhook: boolean;
  destination_url: string;
  policy_ids: number[];
  /** Hosts per POST; 0 sends all of a policy's newly failing hosts in one. */
  host_batch_size: number;
}

export const DEFAULT_WEBHOOK: FailingPoliciesWebhook = {
  enable_failing_policies_webhook: false,
  destination_url: '',
  policy_ids: [],
  host_batch_size: 0,
};

export function policyToApi(
  p: PolicyRow,
  author?: { name: string; email: string },
): Record<string, unknown> {
  return {
    id: p.id,
    name: p.name,
    query: p.query,
    description: p.description,
    critical: p.critical === 1,
    author_id: p.author_id,
    author_name: author?.name ?? '',
    author_email: author?.email ?? '',
    team_id: p.team_id,
    resolution: p.resolution,
    platform: p.platform,
    created_at: iso(p.created_at),
    updated_at: iso(p.updated_at),
    passing_host_count: p.passing_host_count,
    failing_host_count: p.failing_host_count,
  };
}

export interface WebhookOptions {
  /** Wait this long after a host starts failing for others (batches bursts of check-ins). */
  batchDelayMs?: number;
  /** First retry delay; doubles per attempt. */
  retryBaseMs?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  /** Look for rows queued by other processes (and due retries) at least this often. */
  pollMs?: number;
}

/** Rows looked at per round; the next round starts at once when a round was full. */
const CLAIM_LIMIT = 1000;

/**
 * POSTs hosts that started failing to the scope's `destination_url`: one request per policy
 * and batch of `host_batch_size` hosts, retried with exponential backoff; each delivery (or
 * final failure) is recorded as an activity. The queue is durable: a row leaves it only once
 * delivered or given up on, so delivery is at least once, also across restarts. Several
 * processes may share the queue: a claimed row is leased to one of them.
 */
export class WebhookAutomation implements PolicyAutomation {
  readonly name = 'webhook';
  private settings = new Map<number, FailingPoliciesWebhook>();
  private ids: ReadonlySet<number> = new Set();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private running: Promise<void> | undefined;
  private wantAt = Infinity;
  private stopped = true;
  private readonly abort = new Set<AbortController>();
  private readonly opts: Required<WebhookOptions>;

  constructor(
    private readonly ds: Datastore,
    private readonly activities: ActivityService,
    private readonly log: Logger,
    private readonly serverUrl: string,
    private readonly clock: () => number,
    opts: WebhookOptions = {},
  ) {
    this.opts = {
      batchDelayMs: opts.batchDelayMs ?? 1000,
      retryBaseMs: opts.retryBaseMs ?? 1000,
      maxAttempts: opts.maxAttempts ?? 6,
      timeoutMs: opts.timeoutMs ?? 10_000,
      pollMs: opts.pollMs ?? 5000,
    };
  }

  policyIds(): ReadonlySet<number> {
    return this.ids;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.reload();
    // Whatever an earlier run left queued (or another process queued) goes out now.
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const a of this.abort) a.abort();
    await this.running;
  }

  wake(): void {
    this.schedule(this.opts.batchDelayMs);
  }

  async reload(): Promise<void> {
    const all = await this.ds.policies.allAutomations();
    const next = new Map<number, FailingPoliciesWebhook>();
    const ids = new Set<number>();
    for (const [teamId, raw] of all) {
      const w = {
        ...DEFAULT_WEBHOOK,
        ...(raw['failing_policies_webhook'] as Partial<FailingPoliciesWebhook> | undefined),
      };
      next.set(teamId, w);
      if (w.enable_failing_policies_webhook && w.destination_url)
        for (const id of w.policy_ids) ids.add(id);
    }
    this.settings = next;
    this.ids = ids;
  }

  /** A round in `ms`, unless one is due sooner; while a round runs, right after it. */
  private schedule(ms: number): void {
    if (this.stopped) return;
    const at = Date.now() + ms;
    if (this.running) {
      this.wantAt = Math.min(this.wantAt, at);
      return;
    }
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.running = this.loop();
    }, ms);
    this.timer.unref();
  }

  private async loop(): Promise<void> {
    let full = false;
    try {
      full = await this.round();
    } catch (err) {
      this.log.error({ err }, 'failing-policy webhook round failed');
    }
    // Then at once if the round was full, else at the next retry, wake-up or poll.
    let at = full ? Date.now() : Math.min(this.wantAt, Date.now() + this.opts.pollMs);
    if (!full) {
      const due = await this.ds.policies.nextAutomationDue(this.name).catch(() => undefined);
      if (due !== undefined) at = Math.min(at, Date.now() + Math.max(0, due - this.clock()));
    }
    this.wantAt = Infinity;
    this.running = undefined;
    this.schedule(Math.max(0, at - Date.now()));
  }

  /** Sends the due rows, one request per policy and host batch; true if there may be more. */
  private async round(): Promise<boolean> {
    const due = await this.ds.policies.dueAutomation(this.name, this.clock(), CLAIM_LIMIT);
    const byPolicy = new Map<number, QueuedDelivery[]>();
    for (const r of due) {
      const list = byPolicy.get(r.policy_id) ?? [];
      list.push(r);
      byPolicy.set(r.policy_id, list);
    }
    for (const [policyId, rows] of byPolicy) {
      if (this.stopped) break;
      await this.deliverPolicy(policyId, rows);
    }
    return due.length === CLAIM_LIMIT;
  }

  private async deliverPolicy(policyId: number, rows: QueuedDelivery[]): Promise<void> {
    const policy = await this.ds.policies.get(policyId);
    const settings = policy ? this.settings.get(policy.team_id ?? 0) : undefined;
    if (
      !policy ||
      !settings?.enable_failing_policies_webhook ||
      !settings.destination_url ||
      !settings.policy_ids.includes(policyId)
    ) {
      // Turned off (or the policy removed from the list) since: nothing to send.
      await this.ds.policies.dequeueAutomation(rows.map((r) => r.id));
      return;
    }
    const size = settings.host_batch_size > 0 ? settings.host_batch_size : rows.length;
    const author = policy.author_id
      ? await this.ds.db
          .selectFrom('users')
          .select(['name', 'email'])
          .where('id', '=', policy.author_id)
          .executeTakeFirst()
      : undefined;
    for (let i = 0; i < rows.length && !this.stopped; i += size) {
      // Leased for one attempt, so no other process sends the same rows meanwhile.
      const now = this.clock();
      const batch = await this.ds.policies.claimAutomation(
        rows.slice(i, i + size).map((r) => r.id),
        now,
        now + this.opts.timeoutMs * 2 + 30_000,
      );
      if (!batch.length) continue;
      const ids = batch.map((r) => r.id);
      const payload = {
        timestamp: new Date(this.clock()).toISOString(),
        policy: policyToApi(policy, author),
        hosts: batch.map((h) => ({
          id: h.host_id,
          hostname: h.hostname,
          display_name: h.hostname,
          url: `${this.serverUrl}/hosts/${h.host_id}`,
        })),
      };
      const attempt = Math.max(...batch.map((r) => r.attempts)) + 1;
      const result = await this.post(settings.destination_url, JSON.stringify(payload));
      if (result === 'aborted') {
        // Stopping: the next start sends it (it may have arrived; at least once).
        await this.ds.policies.releaseAutomation(ids, this.clock());
        continue;
      }
      const ok = result === 'ok';
      if (!ok && attempt < this.opts.maxAttempts) {
        await this.ds.policies.retryAutomation(
          ids,
          this.clock() + this.opts.retryBaseMs * 2 ** (attempt - 1),
          result,
        );
        continue;
      }
      if (!ok)
        this.log.warn(
          { url: settings.destination_url, error: result },
          'failing-policy webhook gave up',
        );
      await this.ds.policies.dequeueAutomation(ids);
      await this.activities.record(null, 'ran_policy_automation', {
        automation: 'webhook',
        policy_id: policy.id,
        policy_name: policy.name,
        team_id: policy.team_id,
        destination_url: settings.destination_url,
        host_ids: batch.map((h) => h.host_id),
        status: ok ? 'delivered' : 'failed',
        attempts: attempt,
        ...(ok ? {} : { error: result }),
      });
    }
  }

  /** One attempt: 'ok' for a 2xx, 'aborted' when stopping, else the error. */
  private async post(url: string, body: string): Promise<string> {
    const abort = new AbortController();
    this.abort.add(abort);
    try {
      const status = await this.once(url, body, abort.signal);
      return status >= 200 && status < 300 ? 'ok' : `HTTP ${status}`;
    } catch (err) {
      if (abort.signal.aborted) return 'aborted';
      return err instanceof Error ? err.message : String(err);
    } finally {
      this.abort.delete(abort);
    }
  }

  private once(url: string, body: string, signal: AbortSignal): Promise<number> {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        u,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'flotilla-policy-webhook',
          },
          timeout: this.opts.timeoutMs,
          signal,
          // A fresh connection per attempt: a kept-alive socket the receiver has just closed
          // would fail a request it never saw.
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }
}
