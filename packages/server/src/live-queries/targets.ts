import { forbidden, invalid, readableTeams, type Actor } from '@flotilla/core';
import type { Datastore } from '@flotilla/db';

/** What a caller targets: hosts, labels (any of / all of / none of) and teams (0 = no team). */
export interface TargetSelection {
  hosts?: number[] | undefined;
  labels?: number[] | undefined;
  labels_include_all?: number[] | undefined;
  labels_exclude?: number[] | undefined;
  teams?: number[] | undefined;
}

/**
 * Resolves a selection to host ids once, when a campaign starts. Explicit hosts or teams the
 * caller may not see are refused; label members are narrowed to what the caller may see.
 */
export async function resolveTargets(
  ds: Datastore,
  actor: Actor,
  sel: TargetSelection,
): Promise<number[]> {
  const visible = readableTeams(actor, 'host');
  const canSee = (teamId: number | null) =>
    visible === 'all' || (teamId !== null && visible.includes(teamId));
  const ids = new Set<number>();
  const explicit = [...new Set(sel.hosts ?? [])];
  if (explicit.length) {
    const rows = await ds.hosts.idsNodeKeyHashes(explicit);
    if (rows.length !== explicit.length)
      throw invalid('some selected hosts do not exist', [
        { name: 'selected.hosts', reason: 'unknown host id' },
      ]);
    for (const r of rows) {
      if (!canSee(r.team_id)) throw forbidden('you may not target some of the selected hosts');
      ids.add(r.id);
    }
  }
  for (const t of sel.teams ?? []) {
    if (visible !== 'all' && !visible.includes(t)) throw forbidden('you may not target that team');
    const rows = await ds.db
      .selectFrom('hosts')
      .select('id')
      .where('team_id', t === 0 ? 'is' : '=', t === 0 ? null : t)
      .execute();
    for (const r of rows) ids.add(r.id);
  }
  const any = sel.labels ?? [];
  if (any.length) for (const h of await ds.labels.hostIdsInAny(any)) ids.add(h);

  let result: Set<number>;
  const all = sel.labels_include_all ?? [];
  if (all.length) {
    const inAll = new Set(await ds.labels.hostIdsInAll(all));
    const base = explicit.length || (sel.teams ?? []).length || any.length ? ids : inAll;
    result = new Set([...base].filter((h) => inAll.has(h)));
  } else result = ids;
  const none = sel.labels_exclude ?? [];
  if (none.length) {
    if (!explicit.length && !(sel.teams ?? []).length && !any.length && !all.length) {
      // "Everything except …": start from every host the caller may see.
      const every = await ds.db.selectFrom('hosts').select(['id', 'team_id']).execute();
      result = new Set(every.filter((h) => canSee(h.team_id)).map((h) => h.id));
    }
    for (const h of await ds.labels.hostIdsInAny(none)) result.delete(h);
  }
  if (visible !== 'all' && result.size) {
    const rows = await ds.hosts.idsNodeKeyHashes([...result]);
    return rows.filter((r) => canSee(r.team_id)).map((r) => r.id);
  }
  return [...result];
}
