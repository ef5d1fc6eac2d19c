import type { PolicyFacts, PolicyTransition } from '@flotilla/db';

/**
 * Pass/fail changes as osquery result-log events, so they reach the same log destinations as
 * scheduled query results (SIEMs see a host start or stop failing a policy). The query name is
 * `pack/flotilla_policies/<policy name>`; `action` is `added` for every change.
 */
export function policyResultLogLines(
  transitions: readonly PolicyTransition[],
  policies: ReadonlyMap<number, PolicyFacts>,
): string[] {
  return transitions.map((t) => {
    const p = policies.get(t.policyId);
    const unixTime = Math.floor(t.at / 1000);
    return JSON.stringify({
      name: `pack/flotilla_policies/${p?.name ?? `policy_${t.policyId}`}`,
      hostIdentifier: t.hostname,
      calendarTime: new Date(t.at).toUTCString().replace('GMT', 'UTC'),
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
