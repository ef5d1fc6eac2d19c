import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Datastore, PolicyRow, PolicyTransition } from '@flotilla/db';
import type { Logger } from 'pino';
import type { ActivityService } from '../activities/activity.service.js';
import { iso } from '../http/format.js';

/** A host that just started failing a policy. */
export interface FailingHost {
  id: number;
  hostname: string;
}

/**
 * Something that reacts when hosts start failing a policy. The webhook is the first; running
 * a script or installing software hang off the same transition by implementing this.
 */
export interface PolicyAutomation {
  readonly name: string;
  hostsStartedFailing(policyId: number, hosts: readonly FailingHost[]): void;
  /** Delivers or gives up on everything queued (shutdown, tests). */
  drain(): Promise<void>;
}

/** Fans pass→fail transitions out to every automation, grouped by policy. */
export class PolicyAutomations {
  readonly automations: PolicyAutomation[] = [];

  handle(transitions: readonly PolicyTransition[]): void {
    const byPolicy = new Map<number, FailingHost[]>();
    for (const t of transitions) {
      if (t.passes !== 0) continue;
      const list = byPolicy.get(t.policyId) ?? [];
      list.push({ id: t.hostId, hostname: t.hostname });
      byPolicy.set(t.policyId, list);
    }
    for (const [policyId, hosts] of byPolicy)
      for (const a of this.automations) a.hostsStartedFailing(policyId, hosts);
  }

  async drain(): Promise<void> {
    for (const a of this.automations) await a.drain();
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
  /** Wait this long for more failing hosts before sending (batches bursts of check-ins). */
  batchDelayMs?: number;
  /** First retry delay; doubles per attempt. */
  retryBaseMs?: number;
  maxAttempts?: number;
  timeoutMs?: number;
}

/**
 * POSTs newly failing hosts to the scope's `destination_url`: one request per policy and
 * batch of `host_batch_size` hosts, retried with exponential backoff; each delivery (or final
 * failure) is recorded as an activity. Queued deliveries live in memory.
 */
export class WebhookAutomation implements PolicyAutomation {
  readonly name = 'webhook';
  private pending = new Map<number, FailingHost[]>();
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly opts: Required<WebhookOptions>;

  constructor(
    private readonly ds: Datastore,
    private readonly activities: ActivityService,
    private readonly log: Logger,
    private readonly serverUrl: string,
    opts: WebhookOptions = {},
  ) {
    this.opts = {
      batchDelayMs: opts.batchDelayMs ?? 1000,
      retryBaseMs: opts.retryBaseMs ?? 1000,
      maxAttempts: opts.maxAttempts ?? 6,
      timeoutMs: opts.timeoutMs ?? 10_000,
    };
  }

  hostsStartedFailing(policyId: number, hosts: readonly FailingHost[]): void {
    const list = this.pending.get(policyId) ?? [];
    list.push(...hosts);
    this.pending.set(policyId, list);
    if (!this.timer) {
      this.timer = setTimeout(() => this.send(), this.opts.batchDelayMs);
      this.timer.unref();
    }
  }

  async drain(): Promise<void> {
    if (this.timer) this.send();
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  private send(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const work = this.pending;
    this.pending = new Map();
    for (const [policyId, hosts] of work) {
      const p = this.deliverPolicy(policyId, hosts).catch((err: unknown) => {
        this.log.error({ err, policy: policyId }, 'failing-policy webhook failed');
      });
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }
  }

  private async deliverPolicy(policyId: number, hosts: FailingHost[]): Promise<void> {
    const policy = await this.ds.policies.get(policyId);
    if (!policy) return;
    const settings = {
      ...DEFAULT_WEBHOOK,
      ...((await this.ds.policies.automation(policy.team_id ?? 0))?.['failing_policies_webhook'] as
        Partial<FailingPoliciesWebhook> | undefined),
    };
    if (
      !settings.enable_failing_policies_webhook ||
      !settings.destination_url ||
      !settings.policy_ids.includes(policyId)
    )
      return;
    const unique = [...new Map(hosts.map((h) => [h.id, h])).values()];
    const size = settings.host_batch_size > 0 ? settings.host_batch_size : unique.length;
    const author = policy.author_id
      ? await this.ds.db
          .selectFrom('users')
          .select(['name', 'email'])
          .where('id', '=', policy.author_id)
          .executeTakeFirst()
      : undefined;
    for (let i = 0; i < unique.length; i += size) {
      const batch = unique.slice(i, i + size);
      const payload = {
        timestamp: new Date().toISOString(),
        policy: policyToApi(policy, author),
        hosts: batch.map((h) => ({
          id: h.id,
          hostname: h.hostname,
          display_name: h.hostname,
          url: `${this.serverUrl}/hosts/${h.id}`,
        })),
      };
      const { ok, attempts, error } = await this.post(
        settings.destination_url,
        JSON.stringify(payload),
      );
      await this.activities.record(null, 'ran_policy_automation', {
        automation: 'webhook',
        policy_id: policy.id,
        policy_name: policy.name,
        team_id: policy.team_id,
        destination_url: settings.destination_url,
        host_ids: batch.map((h) => h.id),
        status: ok ? 'delivered' : 'failed',
        attempts,
        ...(error ? { error } : {}),
      });
    }
  }

  private async post(
    url: string,
    body: string,
  ): Promise<{ ok: boolean; attempts: number; error?: string }> {
    let error = '';
    for (let attempt = 1; attempt <= this.opts.maxAttempts; attempt++) {
      try {
        const status = await this.once(url, body);
        if (status >= 200 && status < 300) return { ok: true, attempts: attempt };
        error = `HTTP ${status}`;
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
      if (attempt < this.opts.maxAttempts) {
        await new Promise((r) => setTimeout(r, this.opts.retryBaseMs * 2 ** (attempt - 1)));
      }
    }
    this.log.warn({ url, error }, 'failing-policy webhook gave up');
    return { ok: false, attempts: this.opts.maxAttempts, error };
  }

  private once(url: string, body: string): Promise<number> {
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
