import type { Datastore, PolicyFacts, PolicyTransition } from '@flotilla/db';
import type { Logger } from 'pino';
import type { Bus } from '../bus/bus.js';
import { AUTOMATIONS_CHANGED } from './automations.js';

/**
 * Appends policy pass/fail changes to the result log, for the scopes (global: 0, or a team)
 * whose automations settings turn `policy_result_logging` on; off by default, as a first
 * evaluation of many policies on many hosts is a burst of a million lines.
 */
export class PolicyResultLog {
  private scopes = new Set<number>();

  constructor(
    private readonly ds: Datastore,
    bus: Bus,
    private readonly log: Logger,
    private readonly append: (lines: string[]) => Promise<void>,
  ) {
    bus.subscribe(AUTOMATIONS_CHANGED, () => void this.reload());
    void this.reload();
  }

  async reload(): Promise<void> {
    try {
      const next = new Set<number>();
      for (const [teamId, s] of await this.ds.policies.allAutomations())
        if ((s['policy_result_logging'] as { enabled?: boolean } | undefined)?.enabled)
          next.add(teamId);
      this.scopes = next;
    } catch (err) {
      this.log.error({ err }, 'loading policy result logging settings failed');
    }
  }

  /** The policies whose changes are logged: those of the scopes that turned logging on. */
  policyIds(policies: ReadonlyMap<number, PolicyFacts>): ReadonlySet<number> {
    const ids = new Set<number>();
    if (!this.scopes.size) return ids;
    for (const [id, p] of policies) if (this.scopes.has(p.teamId ?? 0)) ids.add(id);
    return ids;
  }

  handle(
    transitions: readonly PolicyTransition[],
    policies: ReadonlyMap<number, PolicyFacts>,
  ): void {
    const ids = this.policyIds(policies);
    const mine = transitions.filter((t) => ids.has(t.policyId));
    if (!mine.length) return;
    this.append(policyResultLogLines(mine, policies)).catch((err: unknown) =>
      this.log.error({ err }, 'logging policy changes failed'),
    );
  }
}

/**
 * Pass/fail changes as osquery result-log events, so they reach the same log destinations as
 * scheduled query results (SIEMs see a host start or stop failing a policy). The query name is
 * `pack/flotilla_policies/<policy name>`; `action` is `added` for every change.
 */
export function policyResultLogLines(
  transitions: readonly PolicyTransition[],
  policies: ReadonlyMap<number, PolicyFacts>,
): string[] {
  // Results written together share their second: format its calendar time once.
  let second = NaN;
  let calendarTime = '';
  return transitions.map((t) => {
    const p = policies.get(t.policyId);
    const unixTime = Math.floor(t.at / 1000);
    if (unixTime !== second) {
      second = unixTime;
      calendarTime = new Date(t.at).toUTCString().replace('GMT', 'UTC');
    }
    return JSON.stringify({
      name: `pack/flotilla_policies/${p?.name ?? `policy_${t.policyId}`}`,
      hostIdentifier: t.hostname,
      calendarTime,
      unixTime,
      epoch: 0,
      counter: 0,
      numerics: false,
      decorations: { host_id: String(t.hostId) },
      columns: {
        policy_id: String(t.policyId),
        policy_name: p?.name ?? '',
        critical: p?.critical ? '1' : '0',
        response: t.passes === 1 ? 'pass' : 'fail',
        previous: t.previous === null ? '' : t.previous === 1 ? 'pass' : 'fail',
      },
      action: 'added',
      host_id: t.hostId,
    });
  });
}
