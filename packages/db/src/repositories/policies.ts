import { sql, type Kysely, type SqlBool } from 'kysely';
import type { Database, PolicyHistoryRow, PolicyRow } from '../schema.js';

/** 1 pass, 0 fail, null did not run. */
export type PolicyResult = 0 | 1 | null;

export interface PolicyInput {
  name: string;
  query: string;
  description: string;
  resolution: string;
  platform: string;
  critical: boolean;
  teamId: number | null;
  authorId: number | null;
}

export interface PolicyLabelRef {
  labelId: number;
  name: string;
  exclude: boolean;
}

/** A policy as the result writer needs it (kept in memory by the server). */
export interface PolicyFacts {
  name: string;
  teamId: number | null;
  critical: boolean;
}

export interface HostPolicyResults {
  hostId: number;
  hostTeamId: number | null;
  /** When the host sent these results (epoch ms): the time history records. */
  at: number;
  results: ReadonlyMap<number, PolicyResult>;
}

/** One pass↔fail change (or a host's first pass or fail) written by `applyResults`. */
export interface PolicyTransition {
  policyId: number;
  hostId: number;
  hostname: string;
  passes: 0 | 1;
  /** The previous known pass/fail, or null for a host's first result. */
  previous: 0 | 1 | null;
  at: number;
}

export interface ComplianceScope {
  /** Teams the caller may see ('all' for global readers). */
  visibleTeams: 'all' | number[];
  /** A team id, or 0 for hosts in no team. */
  teamId?: number;
  labelId?: number;
}

export interface HistoryFilter {
  policyIds?: number[];
  hostId?: number;
  /** Team of the host at the time of the change (0 for no team). */
  teamId?: number;
  /** Hosts currently in this label. */
  labelId?: number;
  /** Teams whose hosts the caller may see. */
  visibleTeams: 'all' | number[];
  from: number;
  to: number;
  limit: number;
}

const CHUNK = 400;

function chunks<T>(xs: readonly T[], n = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/**
 * Policies, per-host results with maintained counts, and the pass/fail history. Counts
 * (`passing_host_count`, `failing_host_count`, `policy_host_status`) change only with the
 * transitions written here, so reading them never scans results.
 */
export class PolicyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(p: PolicyInput, nowMs: number): Promise<number> {
    const r = await this.db
      .insertInto('policies')
      .values({
        name: p.name,
        query: p.query,
        description: p.description,
        resolution: p.resolution,
        platform: p.platform,
        critical: p.critical ? 1 : 0,
        team_id: p.teamId,
        author_id: p.authorId,
        created_at: nowMs,
        updated_at: nowMs,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  async get(id: number): Promise<PolicyRow | undefined> {
    return this.db.selectFrom('policies').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async getByName(name: string, teamId: number | null): Promise<PolicyRow | undefined> {
    return this.db
      .selectFrom('policies')
      .selectAll()
      .where('name', '=', name)
      .where((eb) => (teamId === null ? eb('team_id', 'is', null) : eb('team_id', '=', teamId)))
      .executeTakeFirst();
  }

  /** Policies of one team (or global ones with `teamId` null), ordered by id. */
  async list(opts: {
    teamId: number | null;
    query?: string | undefined;
    page?: number | undefined;
    perPage?: number | undefined;
  }): Promise<PolicyRow[]> {
    let q = this.db
      .selectFrom('policies')
      .selectAll()
      .where((eb) =>
        opts.teamId === null ? eb('team_id', 'is', null) : eb('team_id', '=', opts.teamId),
      );
    if (opts.query) q = q.where(sql<SqlBool>`lower(name) LIKE ${`%${opts.query.toLowerCase()}%`}`);
    q = q.orderBy('id');
    if (opts.perPage !== undefined)
      q = q.limit(opts.perPage).offset((opts.page ?? 0) * opts.perPage);
    return q.execute();
  }

  async count(teamId: number | null, query?: string): Promise<number> {
    let q = this.db
      .selectFrom('policies')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where((eb) => (teamId === null ? eb('team_id', 'is', null) : eb('team_id', '=', teamId)));
    if (query) q = q.where(sql<SqlBool>`lower(name) LIKE ${`%${query.toLowerCase()}%`}`);
    return Number((await q.executeTakeFirstOrThrow()).n);
  }

  /** Every policy (for the check-in path's in-memory copy). */
  async all(): Promise<PolicyRow[]> {
    return this.db.selectFrom('policies').selectAll().orderBy('id').execute();
  }

  async labels(policyIds: readonly number[]): Promise<Map<number, PolicyLabelRef[]>> {
    const out = new Map<number, PolicyLabelRef[]>();
    if (!policyIds.length) return out;
    for (const ids of chunks(policyIds)) {
      const rows = await this.db
        .selectFrom('policy_labels')
        .innerJoin('labels', 'labels.id', 'policy_labels.label_id')
        .select([
          'policy_labels.policy_id',
          'policy_labels.label_id',
          'policy_labels.exclude',
          'labels.name',
        ])
        .where('policy_labels.policy_id', 'in', ids)
        .orderBy('labels.name')
        .execute();
      for (const r of rows) {
        const list = out.get(r.policy_id) ?? [];
        list.push({ labelId: r.label_id, name: r.name, exclude: r.exclude === 1 });
        out.set(r.policy_id, list);
      }
    }
    return out;
  }

  async setLabels(policyId: number, include: number[], exclude: number[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('policy_labels').where('policy_id', '=', policyId).execute();
      const values = [
        ...include.map((l) => ({ policy_id: policyId, label_id: l, exclude: 0 })),
        ...exclude.map((l) => ({ policy_id: policyId, label_id: l, exclude: 1 })),
      ];
      if (values.length) await trx.insertInto('policy_labels').values(values).execute();
    });
  }

  /**
   * Updates a policy. A new query (or platform) discards its results, as they answered a
   * different question; a change of `critical` moves its failing hosts' critical counts.
   */
  async update(
    id: number,
    set: Partial<Omit<PolicyInput, 'teamId' | 'authorId'>>,
    nowMs: number,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const cur = await trx
        .selectFrom('policies')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst();
      if (!cur) return;
      const { critical, ...rest } = set;
      const values: Record<string, unknown> = { ...rest, updated_at: nowMs };
      if (critical !== undefined) values['critical'] = critical ? 1 : 0;
      const reset =
        (set.query !== undefined && set.query !== cur.query) ||
        (set.platform !== undefined && set.platform !== cur.platform);
      if (reset) {
        await this.forgetResults(trx, id, cur.critical === 1);
        values['passing_host_count'] = 0;
        values['failing_host_count'] = 0;
      } else if (critical !== undefined && (critical ? 1 : 0) !== cur.critical) {
        await trx
          .updateTable('policy_host_status')
          .set((eb) => ({
            failing_critical_count: eb('failing_critical_count', critical ? '+' : '-', 1),
            updated_at: nowMs,
          }))
          .where('host_id', 'in', (sub) =>
            sub
              .selectFrom('policy_membership')
              .select('host_id')
              .where('policy_id', '=', id)
              .where('passes', '=', 0),
          )
          .execute();
      }
      await trx.updateTable('policies').set(values).where('id', '=', id).execute();
    });
  }

  /** Deletes policies and their results; their history stays. Returns how many went. */
  async delete(ids: readonly number[]): Promise<number> {
    if (!ids.length) return 0;
    return this.db.transaction().execute(async (trx) => {
      let n = 0;
      for (const id of ids) {
        const cur = await trx
          .selectFrom('policies')
          .select(['id', 'critical'])
          .where('id', '=', id)
          .executeTakeFirst();
        if (!cur) continue;
        await this.forgetResults(trx, id, cur.critical === 1);
        await trx.deleteFrom('policies').where('id', '=', id).execute();
        n++;
      }
      return n;
    });
  }

  // Results first, then per-host counts: the order applyResults locks them in, so a deletion
  // and a results batch running at once cannot deadlock.
  private async forgetResults(
    trx: Kysely<Database>,
    policyId: number,
    critical: boolean,
  ): Promise<void> {
    const gone = await trx
      .deleteFrom('policy_membership')
      .where('policy_id', '=', policyId)
      .returning(['host_id', 'passes'])
      .execute();
    const failing = gone
      .filter((g) => g.passes === 0)
      .map((g) => g.host_id)
      .sort((a, b) => a - b);
    for (const ids of chunks(failing)) {
      await trx
        .updateTable('policy_host_status')
        .set((eb) => ({
          failing_count: eb('failing_count', '-', 1),
          failing_critical_count: eb('failing_critical_count', '-', critical ? 1 : 0),
        }))
        .where('host_id', 'in', ids)
        .execute();
    }
  }

  /**
   * Writes a batch of hosts' results in one transaction: only changed rows are written, the
   * policy counts and per-host failing counts move by the transitions, and every pass↔fail
   * change (and a host's first pass or fail) is appended to the history.
   */
  async applyResults(
    batch: readonly HostPolicyResults[],
    policies: ReadonlyMap<number, PolicyFacts>,
  ): Promise<PolicyTransition[]> {
    if (!batch.length) return [];
    return this.db.transaction().execute(async (trx) => {
      const hostIds = [...new Set(batch.map((b) => b.hostId))];
      const current = new Map<number, Map<number, { passes: PolicyResult; known: PolicyResult }>>();
      for (const ids of chunks(hostIds)) {
        const rows = await trx
          .selectFrom('policy_membership')
          .select(['policy_id', 'host_id', 'passes', 'last_known'])
          .where('host_id', 'in', ids)
          .execute();
        for (const r of rows) {
          let m = current.get(r.host_id);
          if (!m) current.set(r.host_id, (m = new Map()));
          m.set(r.policy_id, {
            passes: r.passes as PolicyResult,
            known: r.last_known as PolicyResult,
          });
        }
      }
      // Policies deleted since the caller's copy was loaded (a team's deletion cascades).
      const live = new Set(
        (
          await trx
            .selectFrom('policies')
            .select('id')
            .where('id', 'in', [...policies.keys(), -1])
            .execute()
        ).map((r) => r.id),
      );
      const existingHosts = new Set<number>();
      for (const ids of chunks(hostIds)) {
        for (const r of await trx.selectFrom('hosts').select('id').where('id', 'in', ids).execute())
          existingHosts.add(r.id);
      }

      const upserts: Array<{
        policy_id: number;
        host_id: number;
        passes: number | null;
        last_known: number | null;
        updated_at: number;
      }> = [];
      const deltas = new Map<number, { pass: number; fail: number }>();
      const changes: Array<Omit<PolicyTransition, 'hostname'> & { hostTeamId: number | null }> = [];
      const touched = new Map<number, number>();
      const delta = (pid: number) => {
        let d = deltas.get(pid);
        if (!d) deltas.set(pid, (d = { pass: 0, fail: 0 }));
        return d;
      };
      for (const b of batch) {
        if (!existingHosts.has(b.hostId)) continue; // deleted meanwhile
        let cur = current.get(b.hostId);
        if (!cur) current.set(b.hostId, (cur = new Map()));
        for (const [pid, passes] of b.results) {
          if (!live.has(pid)) continue; // deleted meanwhile
          const old = cur.get(pid);
          if (old && old.passes === passes) continue;
          const known = passes ?? old?.known ?? null;
          upserts.push({
            policy_id: pid,
            host_id: b.hostId,
            passes,
            last_known: known,
            updated_at: b.at,
          });
          const d = delta(pid);
          if (old?.passes === 1) d.pass--;
          if (old?.passes === 0) d.fail--;
          if (passes === 1) d.pass++;
          if (passes === 0) d.fail++;
          if (passes !== null && passes !== (old?.known ?? null)) {
            changes.push({
              policyId: pid,
              hostId: b.hostId,
              hostTeamId: b.hostTeamId,
              passes,
              previous: old?.known ?? null,
              at: b.at,
            });
          }
          cur.set(pid, { passes, known });
          touched.set(b.hostId, b.at);
        }
      }

      for (const rows of chunks(upserts, 250)) {
        await trx
          .insertInto('policy_membership')
          .values(rows)
          .onConflict((oc) =>
            oc.columns(['policy_id', 'host_id']).doUpdateSet((eb) => ({
              passes: eb.ref('excluded.passes'),
              last_known: eb.ref('excluded.last_known'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
      // In id order, so concurrent writers (several processes) lock policy rows in one order.
      for (const [pid, d] of [...deltas].sort((a, b) => a[0] - b[0])) {
        if (!d.pass && !d.fail) continue;
        await trx
          .updateTable('policies')
          .set((eb) => ({
            passing_host_count: eb('passing_host_count', '+', d.pass),
            failing_host_count: eb('failing_host_count', '+', d.fail),
          }))
          .where('id', '=', pid)
          .execute();
      }
      const statuses = [...touched]
        .sort((a, b) => a[0] - b[0])
        .map(([hostId, at]) => {
          let failing = 0;
          let critical = 0;
          for (const [pid, r] of current.get(hostId) ?? []) {
            if (r.passes !== 0) continue;
            const p = policies.get(pid);
            if (!p) continue;
            failing++;
            if (p.critical) critical++;
          }
          return {
            host_id: hostId,
            failing_count: failing,
            failing_critical_count: critical,
            updated_at: at,
          };
        });
      for (const rows of chunks(statuses, 250)) {
        await trx
          .insertInto('policy_host_status')
          .values(rows)
          .onConflict((oc) =>
            oc.column('host_id').doUpdateSet((eb) => ({
              failing_count: eb.ref('excluded.failing_count'),
              failing_critical_count: eb.ref('excluded.failing_critical_count'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }

      if (!changes.length) return [];
      const names = new Map<number, string>();
      for (const ids of chunks([...new Set(changes.map((c) => c.hostId))])) {
        const rows = await trx
          .selectFrom('hosts')
          .select(['id', 'hostname', 'computer_name'])
          .where('id', 'in', ids)
          .execute();
        for (const r of rows) names.set(r.id, r.hostname || r.computer_name);
      }
      const out: PolicyTransition[] = changes.map((c) => ({
        policyId: c.policyId,
        hostId: c.hostId,
        hostname: names.get(c.hostId) ?? '',
        passes: c.passes,
        previous: c.previous,
        at: c.at,
      }));
      for (const rows of chunks(changes, 250)) {
        await trx
          .insertInto('policy_history')
          .values(
            rows.map((c) => ({
              policy_id: c.policyId,
              policy_name: policies.get(c.policyId)?.name ?? '',
              team_id: policies.get(c.policyId)?.teamId ?? null,
              host_id: c.hostId,
              host_team_id: c.hostTeamId,
              hostname: names.get(c.hostId) ?? '',
              passes: c.passes,
              at: c.at,
            })),
          )
          .execute();
      }
      return out;
    });
  }

  /** Hosts failing these policies now, with their names (automations reset). */
  async failingHosts(
    policyIds: readonly number[],
  ): Promise<Array<{ policy_id: number; host_id: number; hostname: string }>> {
    if (!policyIds.length) return [];
    return this.db
      .selectFrom('policy_membership as m')
      .innerJoin('hosts as h', 'h.id', 'm.host_id')
      .select(['m.policy_id', 'm.host_id', 'h.hostname'])
      .where('m.policy_id', 'in', policyIds)
      .where('m.passes', '=', 0)
      .orderBy('m.policy_id')
      .orderBy('m.host_id')
      .execute();
  }

  /** A host's results for the given policies (host detail). */
  async resultsOfHost(hostId: number): Promise<Map<number, PolicyResult>> {
    const rows = await this.db
      .selectFrom('policy_membership')
      .select(['policy_id', 'passes'])
      .where('host_id', '=', hostId)
      .execute();
    return new Map(rows.map((r) => [r.policy_id, r.passes as PolicyResult]));
  }

  /** Failing policy counts for hosts (host list and detail `issues`). */
  async failingCounts(hostIds: readonly number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const ids of chunks(hostIds)) {
      const rows = await this.db
        .selectFrom('policy_host_status')
        .select(['host_id', 'failing_count'])
        .where('host_id', 'in', ids)
        .execute();
      for (const r of rows) out.set(r.host_id, r.failing_count);
    }
    return out;
  }

  /**
   * Share of hosts passing every critical policy, from the maintained per-host counts.
   * `evaluated` hosts have reported at least one policy result.
   */
  async compliance(
    scope: ComplianceScope,
  ): Promise<{ hosts: number; evaluated: number; compliant: number }> {
    let q = this.db
      .selectFrom('hosts')
      .leftJoin('policy_host_status as s', 's.host_id', 'hosts.id')
      .select((eb) => [
        eb.fn.countAll<number>().as('hosts'),
        eb.fn.count<number>('s.host_id').as('evaluated'),
        eb.fn
          .sum<number>(sql`CASE WHEN s.failing_critical_count = 0 THEN 1 ELSE 0 END`)
          .as('compliant'),
      ]);
    if (scope.visibleTeams !== 'all') {
      q = q.where(
        scope.visibleTeams.length
          ? sql<SqlBool>`hosts.team_id IN (${sql.join(scope.visibleTeams)})`
          : sql<SqlBool>`1 = 0`,
      );
    }
    if (scope.teamId !== undefined) {
      const t = scope.teamId;
      q = q.where((eb) =>
        t === 0 ? eb('hosts.team_id', 'is', null) : eb('hosts.team_id', '=', t),
      );
    }
    if (scope.labelId !== undefined) {
      const l = scope.labelId;
      q = q.where('hosts.id', 'in', (sub) =>
        sub.selectFrom('label_membership').select('host_id').where('label_id', '=', l),
      );
    }
    const r = await q.executeTakeFirstOrThrow();
    return {
      hosts: Number(r.hosts),
      evaluated: Number(r.evaluated),
      compliant: Number(r.compliant ?? 0),
    };
  }

  /** The latest recorded pass/fail of a host for a policy at `at`, and since when. */
  async stateAt(
    hostId: number,
    policyId: number,
    at: number,
  ): Promise<{ passes: 0 | 1; since: number } | undefined> {
    const r = await this.db
      .selectFrom('policy_history')
      .select(['passes', 'at'])
      .where('host_id', '=', hostId)
      .where('policy_id', '=', policyId)
      .where('at', '<=', at)
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return r ? { passes: r.passes === 1 ? 1 : 0, since: r.at } : undefined;
  }

  /** History rows in a period, oldest first. */
  async history(f: HistoryFilter): Promise<PolicyHistoryRow[]> {
    return this.historyQuery(f)
      .selectAll()
      .where('at', '>=', f.from)
      .where('at', '<=', f.to)
      .orderBy('at')
      .orderBy('id')
      .limit(f.limit)
      .execute();
  }

  /** Each (policy, host)'s state at `at`: the latest history row at or before it. */
  async statesAt(
    f: Omit<HistoryFilter, 'from' | 'to' | 'limit'>,
    at: number,
  ): Promise<Array<{ policy_id: number; host_id: number; passes: number }>> {
    const latest = this.historyQuery(f)
      .where('at', '<=', at)
      .select(['policy_id as pid', 'host_id as hid'])
      .select((eb) => eb.fn.max('id').as('mid'))
      .groupBy(['policy_id', 'host_id']);
    return this.db
      .selectFrom('policy_history as h')
      .innerJoin(latest.as('x'), 'x.mid', 'h.id')
      .select(['h.policy_id', 'h.host_id', 'h.passes'])
      .execute();
  }

  private historyQuery(f: Omit<HistoryFilter, 'from' | 'to' | 'limit'>) {
    let q = this.db.selectFrom('policy_history');
    if (f.policyIds) q = q.where('policy_id', 'in', f.policyIds.length ? f.policyIds : [-1]);
    if (f.hostId !== undefined) q = q.where('host_id', '=', f.hostId);
    if (f.teamId !== undefined) {
      const t = f.teamId;
      q = q.where((eb) => (t === 0 ? eb('host_team_id', 'is', null) : eb('host_team_id', '=', t)));
    }
    if (f.visibleTeams !== 'all')
      q = q.where('host_team_id', 'in', f.visibleTeams.length ? f.visibleTeams : [-1]);
    if (f.labelId !== undefined) {
      const l = f.labelId;
      q = q.where('host_id', 'in', (sub) =>
        sub.selectFrom('label_membership').select('host_id').where('label_id', '=', l),
      );
    }
    return q;
  }

  /**
   * Recomputes counts from results and drops results that no longer apply (a host moved
   * to another team, or left a policy's labels). A full scan: run at start and rarely.
   */
  async reconcile(nowMs: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('policy_membership')
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('policies as p')
              .innerJoin('hosts as h', (j) => j.onTrue())
              .select(sql`1`.as('one'))
              .whereRef('p.id', '=', 'policy_membership.policy_id')
              .whereRef('h.id', '=', 'policy_membership.host_id')
              .where(
                sql<SqlBool>`p.team_id IS NOT NULL AND (h.team_id IS NULL OR h.team_id <> p.team_id)`,
              ),
          ),
        )
        .execute();
      // Included labels: the host must be in one of them; excluded: in none.
      await trx
        .deleteFrom('policy_membership')
        .where(
          sql<SqlBool>`EXISTS (SELECT 1 FROM policy_labels pl WHERE pl.policy_id = policy_membership.policy_id AND pl.exclude = 0)
          AND NOT EXISTS (SELECT 1 FROM policy_labels pl JOIN label_membership lm ON lm.label_id = pl.label_id
            WHERE pl.policy_id = policy_membership.policy_id AND pl.exclude = 0 AND lm.host_id = policy_membership.host_id)`,
        )
        .execute();
      await trx
        .deleteFrom('policy_membership')
        .where(
          sql<SqlBool>`EXISTS (SELECT 1 FROM policy_labels pl JOIN label_membership lm ON lm.label_id = pl.label_id
            WHERE pl.policy_id = policy_membership.policy_id AND pl.exclude = 1 AND lm.host_id = policy_membership.host_id)`,
        )
        .execute();
      await trx
        .updateTable('policies')
        .set({
          passing_host_count: sql<number>`(SELECT count(*) FROM policy_membership m WHERE m.policy_id = policies.id AND m.passes = 1)`,
          failing_host_count: sql<number>`(SELECT count(*) FROM policy_membership m WHERE m.policy_id = policies.id AND m.passes = 0)`,
        })
        .execute();
      await trx.deleteFrom('policy_host_status').execute();
      await sql`INSERT INTO policy_host_status (host_id, failing_count, failing_critical_count, updated_at)
        SELECT m.host_id,
          SUM(CASE WHEN m.passes = 0 THEN 1 ELSE 0 END),
          SUM(CASE WHEN m.passes = 0 AND p.critical = 1 THEN 1 ELSE 0 END),
          ${nowMs}
        FROM policy_membership m JOIN policies p ON p.id = m.policy_id
        GROUP BY m.host_id`.execute(trx);
    });
  }

  async automation(teamId: number): Promise<Record<string, unknown> | undefined> {
    const r = await this.db
      .selectFrom('policy_automations')
      .select('settings')
      .where('team_id', '=', teamId)
      .executeTakeFirst();
    return r ? (JSON.parse(r.settings) as Record<string, unknown>) : undefined;
  }

  async allAutomations(): Promise<Map<number, Record<string, unknown>>> {
    const rows = await this.db
      .selectFrom('policy_automations')
      .select(['team_id', 'settings'])
      .execute();
    return new Map(rows.map((r) => [r.team_id, JSON.parse(r.settings) as Record<string, unknown>]));
  }

  async putAutomation(
    teamId: number,
    settings: Record<string, unknown>,
    nowMs: number,
  ): Promise<void> {
    const json = JSON.stringify(settings);
    await this.db
      .insertInto('policy_automations')
      .values({ team_id: teamId, settings: json, updated_at: nowMs })
      .onConflict((oc) => oc.column('team_id').doUpdateSet({ settings: json, updated_at: nowMs }))
      .execute();
  }
}
