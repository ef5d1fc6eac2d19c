import { CompiledQuery, sql, type Kysely, type QueryResult, type SqlBool } from 'kysely';
import type { DialectName } from '../dialect.js';
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
  /** Policy id → result (a Map, or anything iterable the same way). */
  results: Iterable<readonly [number, PolicyResult]>;
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

/** How a policy's passing and failing host counts move. */
export interface CountDelta {
  pass: number;
  fail: number;
}

export interface ApplyOptions {
  /** automation → policies whose new failures it wants queued in the same transaction. */
  automations?: ReadonlyMap<string, ReadonlySet<number>> | undefined;
  /**
   * Collect the policies' count changes here instead of writing them (the caller writes them
   * once for many transactions with `addCounts`: every transaction would otherwise update
   * every policy's row).
   */
  counts?: Map<number, CountDelta> | undefined;
  /**
   * Awaited after every statement. On SQLite a statement holds the event loop while it runs
   * (better-sqlite3 is synchronous): a pace that yields now and then lets other work run in
   * the middle of a large transaction, which costs far less per row than many small ones.
   */
  pace?: (() => Promise<void> | undefined) | undefined;
  /**
   * Read the current results before taking the write lock, not inside the write transaction
   * (SQLite, with one connection that writes results): unchanged results then write only the
   * report time. A policy edit that discards results between the read and the write may keep
   * one batch's unchanged results from being rewritten; the edit asks every host again.
   */
  readFirst?: boolean | undefined;
}

/** A queued automation delivery, leased to the process that claimed it. */
export interface QueuedDelivery {
  id: number;
  policy_id: number;
  host_id: number;
  hostname: string;
  failed_at: number;
  /** Attempts made before this one. */
  attempts: number;
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
const NO_AUTOMATIONS: ReadonlyMap<string, ReadonlySet<number>> = new Map();

// Hot-path statements, written once; `?` becomes `$n` on PostgreSQL.
const SELECT_HOSTS = 'SELECT id, hostname, computer_name FROM hosts WHERE id IN';
const SELECT_MEMBERSHIP =
  'SELECT policy_id, host_id, passes, last_known FROM policy_membership WHERE host_id IN';
const SELECT_POLICIES = 'SELECT id FROM policies WHERE id IN';
const UPSERT_MEMBERSHIP = [
  'INSERT INTO policy_membership (policy_id, host_id, passes, last_known, updated_at) VALUES',
  'ON CONFLICT (policy_id, host_id) DO UPDATE SET passes = excluded.passes, ' +
    'last_known = excluded.last_known, updated_at = excluded.updated_at',
] as const;
const UPDATE_COUNTS =
  'UPDATE policies SET passing_host_count = passing_host_count + ?, ' +
  'failing_host_count = failing_host_count + ? WHERE id = ?';
const UPSERT_HOST_STATUS = [
  'INSERT INTO policy_host_status (host_id, failing_count, failing_critical_count, updated_at) VALUES',
  'ON CONFLICT (host_id) DO UPDATE SET failing_count = excluded.failing_count, ' +
    'failing_critical_count = excluded.failing_critical_count, updated_at = excluded.updated_at',
] as const;
const INSERT_HISTORY = [
  'INSERT INTO policy_history (policy_id, policy_name, team_id, host_id, host_team_id, hostname, passes, at) VALUES',
  '',
] as const;
const ENQUEUE = [
  'INSERT INTO policy_automation_queue (automation, policy_id, host_id, hostname, failed_at, next_at) VALUES',
  'ON CONFLICT (automation, policy_id, host_id) DO NOTHING',
] as const;
const UNQUEUE = 'DELETE FROM policy_automation_queue WHERE policy_id = ? AND host_id = ?';
const MARK_REPORTED = 'UPDATE hosts SET policy_updated_at = ? WHERE id IN';

type Run = (text: string, params: readonly unknown[]) => Promise<QueryResult<unknown>>;

const pgTexts = new Map<string, string>();
/** A statement in the dialect's placeholders (`$1, $2 …` on PostgreSQL), built once. */
function text(d: DialectName, t: string): string {
  if (d === 'sqlite') return t;
  let out = pgTexts.get(t);
  if (out === undefined) {
    let n = 0;
    out = t.replace(/\?/g, () => `$${++n}`);
    pgTexts.set(t, out);
  }
  return out;
}

const valuesTexts = new Map<string, string>();

/** Powers of two only, so a handful of statement texts (and prepared statements) serve all. */
function roundUp(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** `head (?, ?, …)` for n values rounded up to a power of two (see `padded`). */
function inList(d: DialectName, head: string, n: number): string {
  const k = roundUp(n);
  const key = `${d}|${head}|${k}`;
  let out = valuesTexts.get(key);
  if (out === undefined) {
    out = text(d, `${head} (${Array.from({ length: k }, () => '?').join(', ')})`);
    valuesTexts.set(key, out);
  }
  return out;
}

/** Ids padded to a power of two by repeating the last one (same rows, fewer statement texts). */
function padded(ids: readonly number[]): number[] {
  const out = [...ids];
  const k = roundUp(ids.length);
  while (out.length < k) out.push(ids[ids.length - 1]!);
  return out;
}

/** `head VALUES (…), (…) tail` for `rows` rows of `cols` values. */
function valuesText(
  d: DialectName,
  [head, tail]: readonly [string, string],
  cols: number,
  rows: number,
): string {
  const key = `${d}|${head}|${rows}`;
  let out = valuesTexts.get(key);
  if (out === undefined) {
    const row = `(${Array.from({ length: cols }, () => '?').join(', ')})`;
    out = text(d, `${head} ${Array.from({ length: rows }, () => row).join(', ')} ${tail}`.trim());
    valuesTexts.set(key, out);
  }
  return out;
}

/** Inserts flat `params` (`cols` per row) in pieces of 64, 32 … 1 rows. */
async function insertRows(
  run: Run,
  d: DialectName,
  stmt: readonly [string, string],
  cols: number,
  params: readonly unknown[],
): Promise<void> {
  let at = 0;
  for (let size = 64; size >= 1; size /= 2) {
    while (params.length - at >= size * cols) {
      await run(valuesText(d, stmt, cols, size), params.slice(at, at + size * cols));
      at += size * cols;
    }
  }
}

async function markReported(
  run: Run,
  d: DialectName,
  hostIds: readonly number[],
  at: number,
): Promise<void> {
  const sorted = [...hostIds].sort((a, b) => a - b);
  for (const ids of chunks(sorted, 256))
    await run(inList(d, MARK_REPORTED, ids.length), [at, ...padded(ids)]);
}

// In id order, so concurrent writers (several processes) lock policy rows in one order.
async function writeCounts(
  run: Run,
  d: DialectName,
  deltas: ReadonlyMap<number, CountDelta>,
): Promise<void> {
  for (const [pid, dl] of [...deltas].sort((a, b) => a[0] - b[0])) {
    if (dl.pass || dl.fail) await run(text(d, UPDATE_COUNTS), [dl.pass, dl.fail, pid]);
  }
}

/** A host's failing and failing-critical counts from its results. */
/** What a results batch is compared with: the hosts' names, current results and live policies. */
interface ResultState {
  names: Map<number, string>;
  /** Hosts that still exist. */
  reported: number[];
  current: Map<number, Map<number, { passes: PolicyResult; known: PolicyResult }>>;
  /** Policies not deleted since the caller's copy was loaded (a team's deletion cascades). */
  live: Set<number>;
}

async function readState(
  run: Run,
  d: DialectName,
  hostIds: readonly number[],
  policies: ReadonlyMap<number, PolicyFacts>,
): Promise<ResultState> {
  const names = new Map<number, string>();
  const reported: number[] = [];
  for (const ids of chunks(hostIds, 256)) {
    const r = await run(inList(d, SELECT_HOSTS, ids.length), padded(ids));
    for (const h of r.rows as Array<{ id: number; hostname: string; computer_name: string }>) {
      names.set(h.id, h.hostname || h.computer_name);
      reported.push(h.id);
    }
  }
  const current: ResultState['current'] = new Map();
  // A few hosts per statement: each returns ~50 rows per host, and a statement runs whole.
  for (const ids of chunks(hostIds, 16)) {
    const r = await run(inList(d, SELECT_MEMBERSHIP, ids.length), padded(ids));
    for (const m of r.rows as Array<{
      policy_id: number;
      host_id: number;
      passes: PolicyResult;
      last_known: PolicyResult;
    }>) {
      let cur = current.get(m.host_id);
      if (!cur) current.set(m.host_id, (cur = new Map()));
      cur.set(m.policy_id, { passes: m.passes, known: m.last_known });
    }
  }
  const live = new Set<number>();
  for (const ids of chunks([...policies.keys()], 256)) {
    const r = await run(inList(d, SELECT_POLICIES, ids.length), padded(ids));
    for (const p of r.rows as Array<{ id: number }>) live.add(p.id);
  }
  return { names, reported, current, live };
}

/** The rows a results batch writes (flat statement parameters) and its transitions. */
interface ResultPlan {
  /** Whether anything but the report time is written. */
  written: boolean;
  upserts: unknown[];
  deltas: Map<number, CountDelta>;
  changes: Array<PolicyTransition & { hostTeamId: number | null }>;
  transitions: PolicyTransition[];
  statuses: unknown[];
  queued: unknown[];
  unqueue: Array<[number, number]>;
}

/** Compares a batch with the current results: only changed rows are written. */
function planResults(
  batch: readonly HostPolicyResults[],
  state: ResultState,
  policies: ReadonlyMap<number, PolicyFacts>,
  opts: ApplyOptions,
): ResultPlan {
  const automations = opts.automations ?? NO_AUTOMATIONS;
  const { names, current, live } = state;
  const upserts: unknown[] = [];
  const deltas = new Map<number, CountDelta>();
  const changes: ResultPlan['changes'] = [];
  const statuses: unknown[] = [];
  const queued: unknown[] = [];
  const unqueue: Array<[number, number]> = [];
  for (const b of batch) {
    const hostname = names.get(b.hostId);
    if (hostname === undefined) continue; // deleted meanwhile
    let cur = current.get(b.hostId);
    const known = cur !== undefined;
    if (!cur) current.set(b.hostId, (cur = new Map()));
    const failingBefore = known ? failingOf(cur, policies) : undefined;
    let changed = false;
    for (const [pid, passes] of b.results) {
      if (!live.has(pid)) continue; // deleted meanwhile
      const old = cur.get(pid);
      if (old && old.passes === passes) continue;
      const previous = old?.known ?? null;
      const lastKnown = passes ?? previous;
      upserts.push(pid, b.hostId, passes, lastKnown, b.at);
      let dl = deltas.get(pid);
      if (!dl) deltas.set(pid, (dl = { pass: 0, fail: 0 }));
      if (old?.passes === 1) dl.pass--;
      if (old?.passes === 0) dl.fail--;
      if (passes === 1) dl.pass++;
      if (passes === 0) dl.fail++;
      if (passes !== null && passes !== previous) {
        changes.push({
          policyId: pid,
          hostId: b.hostId,
          hostTeamId: b.hostTeamId,
          hostname,
          passes,
          previous,
          at: b.at,
        });
        for (const [name, ids] of automations) {
          if (!ids.has(pid)) continue;
          if (passes === 0) queued.push(name, pid, b.hostId, hostname, b.at, b.at);
          else unqueue.push([pid, b.hostId]);
        }
      }
      cur.set(pid, { passes, known: lastKnown });
      changed = true;
    }
    if (!changed) continue;
    const after = failingOf(cur, policies);
    if (
      !failingBefore ||
      after.failing !== failingBefore.failing ||
      after.critical !== failingBefore.critical
    )
      statuses.push(b.hostId, after.failing, after.critical, b.at);
  }
  return {
    written: upserts.length > 0 || statuses.length > 0,
    upserts,
    deltas,
    changes,
    transitions: changes.map(({ hostTeamId: _, ...t }) => t),
    statuses,
    queued,
    unqueue,
  };
}

async function writePlan(
  run: Run,
  d: DialectName,
  plan: ResultPlan,
  policies: ReadonlyMap<number, PolicyFacts>,
  opts: ApplyOptions,
): Promise<void> {
  await insertRows(run, d, UPSERT_MEMBERSHIP, 5, plan.upserts);
  if (opts.counts) {
    for (const [pid, dl] of plan.deltas) {
      const to = opts.counts.get(pid);
      if (to) {
        to.pass += dl.pass;
        to.fail += dl.fail;
      } else opts.counts.set(pid, dl);
    }
  } else await writeCounts(run, d, plan.deltas);
  await insertRows(run, d, UPSERT_HOST_STATUS, 4, plan.statuses);
  const history: unknown[] = [];
  for (const c of plan.changes) {
    const p = policies.get(c.policyId);
    history.push(
      c.policyId,
      p?.name ?? '',
      p?.teamId ?? null,
      c.hostId,
      c.hostTeamId,
      c.hostname,
      c.passes,
      c.at,
    );
  }
  await insertRows(run, d, INSERT_HISTORY, 8, history);
  await insertRows(run, d, ENQUEUE, 6, plan.queued);
  for (const [pid, hid] of plan.unqueue) await run(text(d, UNQUEUE), [pid, hid]);
}

function failingOf(
  results: ReadonlyMap<number, { passes: PolicyResult }>,
  policies: ReadonlyMap<number, PolicyFacts>,
): { failing: number; critical: number } {
  let failing = 0;
  let critical = 0;
  for (const [pid, r] of results) {
    if (r.passes !== 0) continue;
    const p = policies.get(pid);
    if (!p) continue;
    failing++;
    if (p.critical) critical++;
  }
  return { failing, critical };
}

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
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName = 'sqlite',
  ) {}

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
   * change (and a host's first pass or fail) is appended to the history. A host that starts
   * failing a policy listed in `automations` gets a queued delivery in the same transaction;
   * one that passes again leaves that queue. The hosts' `policy_updated_at` is set too.
   *
   * The statements are written by hand (fixed texts, reused prepared statements): this runs
   * for every reporting host, and compiling through the query builder showed in profiles.
   */
  async applyResults(
    batch: readonly HostPolicyResults[],
    policies: ReadonlyMap<number, PolicyFacts>,
    opts: ApplyOptions = {},
  ): Promise<PolicyTransition[]> {
    if (!batch.length) return [];
    const d = this.dialect;
    const hostIds = [...new Set(batch.map((b) => b.hostId))];
    // The hosts' `policy_updated_at` (one time for the batch: its earliest report).
    const reportedAt = Math.min(...batch.map((b) => b.at));
    const pace = opts.pace;
    const runner =
      (db: Kysely<Database>): Run =>
      async (text, params) => {
        const r = await db.executeQuery(CompiledQuery.raw(text, params as unknown[]));
        if (pace) await pace();
        return r;
      };

    if (opts.readFirst) {
      // Read outside the write transaction (SQLite's WAL lets this connection read while
      // another writes): the write lock is held only while writing, and a batch of unchanged
      // results takes it for one statement.
      const state = await readState(runner(this.db), d, hostIds, policies);
      const plan = planResults(batch, state, policies, opts);
      if (!plan.written) {
        await markReported(runner(this.db), d, state.reported, reportedAt);
        return [];
      }
      return this.db.transaction().execute(async (trx) => {
        const run = runner(trx);
        await writePlan(run, d, plan, policies, opts);
        await markReported(run, d, state.reported, reportedAt);
        return plan.transitions;
      });
    }

    let reported: number[] = [];
    const out = await this.db.transaction().execute(async (trx) => {
      const run = runner(trx);
      const state = await readState(run, d, hostIds, policies);
      reported = state.reported;
      const plan = planResults(batch, state, policies, opts);
      await writePlan(run, d, plan, policies, opts);
      // SQLite has one writer, so this cannot deadlock with the check-in path's host writes.
      if (d === 'sqlite') await markReported(run, d, reported, reportedAt);
      return plan.transitions;
    });
    // On PostgreSQL on its own, after the commit: host rows are locked briefly and alone.
    if (d === 'postgres')
      await markReported(runner(this.db), d, reported, reportedAt).catch(() => undefined); // only the host's "policies updated at" time; next report sets it
    return out;
  }

  /** Moves the policies' passing and failing counts (deltas `applyResults` collected). */
  async addCounts(deltas: ReadonlyMap<number, CountDelta>): Promise<void> {
    if (![...deltas.values()].some((dl) => dl.pass || dl.fail)) return;
    await this.db
      .transaction()
      .execute((trx) =>
        writeCounts(
          (t, p) => trx.executeQuery(CompiledQuery.raw(t, p as unknown[])),
          this.dialect,
          deltas,
        ),
      );
  }

  /**
   * Queues deliveries for an automation (Fleet's automations reset): rows already queued for
   * the same policy and host stay as they are.
   */
  async enqueueAutomation(
    automation: string,
    rows: ReadonlyArray<{ policyId: number; hostId: number; hostname: string }>,
    nowMs: number,
  ): Promise<void> {
    const params: unknown[] = [];
    for (const r of rows) params.push(automation, r.policyId, r.hostId, r.hostname, nowMs, nowMs);
    await this.db.transaction().execute(async (trx) => {
      await insertRows(
        (t, p) => trx.executeQuery(CompiledQuery.raw(t, p as unknown[])),
        this.dialect,
        ENQUEUE,
        6,
        params,
      );
    });
  }

  /** Up to `limit` of an automation's deliveries due at `nowMs`, oldest first. */
  async dueAutomation(automation: string, nowMs: number, limit: number): Promise<QueuedDelivery[]> {
    return this.db
      .selectFrom('policy_automation_queue')
      .select(['id', 'policy_id', 'host_id', 'hostname', 'failed_at', 'attempts'])
      .where('automation', '=', automation)
      .where('next_at', '<=', nowMs)
      .orderBy('next_at')
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /**
   * Leases due rows until `leaseUntil`, so no other process sends them meanwhile. Returns the
   * rows this call got: one another process claimed first no longer matches `next_at <= now`.
   */
  async claimAutomation(
    ids: readonly number[],
    nowMs: number,
    leaseUntil: number,
  ): Promise<QueuedDelivery[]> {
    if (!ids.length) return [];
    const rows = await this.db
      .updateTable('policy_automation_queue')
      .set({ next_at: leaseUntil })
      .where('id', 'in', [...ids])
      .where('next_at', '<=', nowMs)
      .returning(['id', 'policy_id', 'host_id', 'hostname', 'failed_at', 'attempts'])
      .execute();
    return rows.sort((a, b) => a.id - b.id);
  }

  /** Delivered (or given up on, or no longer wanted): the rows leave the queue. */
  async dequeueAutomation(ids: readonly number[]): Promise<void> {
    for (const part of chunks(ids)) {
      await this.db.deleteFrom('policy_automation_queue').where('id', 'in', part).execute();
    }
  }

  /** A failed attempt: counted, and tried again at `nextAt`. */
  async retryAutomation(ids: readonly number[], nextAt: number, error: string): Promise<void> {
    for (const part of chunks(ids)) {
      await this.db
        .updateTable('policy_automation_queue')
        .set((eb) => ({
          attempts: eb('attempts', '+', 1),
          next_at: nextAt,
          last_error: error.slice(0, 1000),
        }))
        .where('id', 'in', part)
        .execute();
    }
  }

  /** Ends leases (a stopping process hands its in-flight rows back at once). */
  async releaseAutomation(ids: readonly number[], nowMs: number): Promise<void> {
    for (const part of chunks(ids)) {
      await this.db
        .updateTable('policy_automation_queue')
        .set({ next_at: nowMs })
        .where('id', 'in', part)
        .execute();
    }
  }

  /** When the next queued delivery of an automation is due (undefined: none queued). */
  async nextAutomationDue(automation: string): Promise<number | undefined> {
    const r = await this.db
      .selectFrom('policy_automation_queue')
      .select((eb) => eb.fn.min('next_at').as('next'))
      .where('automation', '=', automation)
      .executeTakeFirst();
    return r?.next === null || r?.next === undefined ? undefined : Number(r.next);
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
