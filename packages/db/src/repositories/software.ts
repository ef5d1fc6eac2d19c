import { createHash } from 'node:crypto';
import { CompiledQuery, sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { DialectName } from '../dialect.js';
import type { Database } from '../schema.js';

/** One installed software item as a host reports it (already trimmed to sane lengths). */
export interface SoftwareInput {
  name: string;
  version: string;
  source: string;
  release?: string;
  arch?: string;
  vendor?: string;
  bundle_identifier?: string;
  extension_id?: string;
  browser?: string;
  package_source?: string;
}

/** A host's new software list; only the listed sources are replaced (a failed query keeps its rows). */
export interface HostSoftwareUpdate {
  hostId: number;
  checksum: string;
  sources: readonly string[];
  items: readonly SoftwareInput[];
}

export interface SoftwareRow {
  id: number;
  title_id: number;
  name: string;
  version: string;
  source: string;
  release: string;
  arch: string;
  vendor: string;
  bundle_identifier: string;
  extension_id: string;
  browser: string;
  package_source: string;
}

/** Which hosts a read may see: `all`, or hosts of these teams; `teamId` narrows (0: no team). */
export interface TeamScope {
  visibleTeams: 'all' | number[];
  teamId?: number | undefined;
}

export interface PageSpec {
  page: number;
  perPage: number;
}

const CHUNK = 400;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const field = (v: string | undefined): string => v ?? '';

/** Where an input object keeps its identity once built (a symbol: never serialised). */
const KEY = Symbol('softwareKey');
type Keyed = SoftwareInput & { [KEY]?: string };

/**
 * Identity of a software version: every field that tells two versions apart. Kept on the
 * object: a host's report asks it of every package (~1,000) on its way to the database.
 */
export function softwareKey(s: SoftwareInput): string {
  const keyed = s as Keyed;
  let key = keyed[KEY];
  if (key === undefined) {
    // One template literal: a flat string, hashed once by the Maps it is looked up in.
    key = `${s.name}\u0000${s.version}\u0000${s.source}\u0000${field(s.release)}\u0000${field(s.arch)}\u0000${field(s.vendor)}\u0000${field(s.bundle_identifier)}\u0000${field(s.extension_id)}\u0000${field(s.browser)}\u0000${field(s.package_source)}`;
    // Not enumerable: copies and deep comparisons of the input see only its fields.
    Object.defineProperty(keyed, KEY, { value: key });
  }
  return key;
}

/** The stored form of that identity (the `software.checksum` column). */
export function softwareChecksum(s: SoftwareInput): string {
  return createHash('sha1').update(softwareKey(s)).digest('hex');
}

/**
 * `insert … values (…), (…)` for `rows` rows, with the dialect's placeholders. Compiled once
 * per shape: the hot inventory writes skip the query builder (its compile showed in profiles).
 */
const insertTexts = new Map<string, string>();
function insertText(
  dialect: DialectName,
  head: string,
  columns: number,
  rows: number,
  tail = '',
): string {
  const key = `${dialect}|${head}|${columns}|${rows}|${tail}`;
  let text = insertTexts.get(key);
  if (text === undefined) {
    const groups: string[] = [];
    let n = 0;
    for (let r = 0; r < rows; r++) {
      const ps: string[] = [];
      for (let c = 0; c < columns; c++) ps.push(dialect === 'postgres' ? `$${++n}` : '?');
      groups.push(`(${ps.join(', ')})`);
    }
    text = `${head} values ${groups.join(', ')}${tail ? ` ${tail}` : ''}`;
    if (insertTexts.size > 200) insertTexts.clear();
    insertTexts.set(key, text);
  }
  return text;
}

/** Titles group versions: by bundle id for apps, otherwise by (name, source, browser). */
export function titleChecksum(s: SoftwareInput): string {
  const key = s.bundle_identifier
    ? ['bundle', s.bundle_identifier, s.source]
    : ['name', s.name, s.source, field(s.browser)];
  return createHash('sha1').update(key.join('\u0000')).digest('hex');
}

/** `lower(col) LIKE %q%` with the wildcards in q escaped, on both dialects. */
export function likeAny(column: RawBuilder<unknown>, q: string): RawBuilder<unknown> {
  const pattern = `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql`lower(${column}) like ${pattern} escape '\\'`;
}

/** SQL condition on a hosts alias `h` for a team scope (a raw fragment, always valid). */
export function teamCondition(scope: TeamScope): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  if (scope.visibleTeams !== 'all') {
    parts.push(
      scope.visibleTeams.length ? sql`h.team_id in (${sql.join(scope.visibleTeams)})` : sql`1 = 0`,
    );
  }
  if (scope.teamId !== undefined)
    parts.push(scope.teamId === 0 ? sql`h.team_id is null` : sql`h.team_id = ${scope.teamId}`);
  return parts.length ? sql.join(parts, sql` and `) : sql`1 = 1`;
}

/** The team key of the stored host counts of every host (0 is hosts in no team). */
export const ALL_TEAMS = -1;

/** Hosts of one team key with a software version, as the count pass stores them. */
export interface SoftwareCountRow {
  software_id: number;
  team_id: number;
  hosts_count: number;
  vulnerable_hosts_count: number;
}

/** Hosts of one team key with a version of a title, as the count pass stores them. */
export interface TitleCountRow {
  title_id: number;
  team_id: number;
  hosts_count: number;
  versions_count: number;
  vulnerable_hosts_count: number;
}

/**
 * The stored counts a scope reads, as `c`: one team key (every host, one team, or no team), or
 * the sum over the teams of a user of several teams (`teams`: hosts are in one team each).
 */
function countSource(
  scope: TeamScope,
  table: 'software_host_counts' | 'software_title_host_counts',
  key: 'software_id' | 'title_id',
): { from: RawBuilder<unknown>; cond: RawBuilder<unknown>; teams?: number[] } {
  const visible = scope.visibleTeams;
  let one: number | undefined;
  if (scope.teamId !== undefined) {
    if (visible === 'all' || visible.includes(scope.teamId)) one = scope.teamId;
  } else if (visible === 'all') one = ALL_TEAMS;
  const from = sql`${sql.table(table)} c`;
  if (one !== undefined) return { from, cond: sql`c.team_id = ${one}` };
  const teams = visible === 'all' ? [] : visible;
  if (scope.teamId !== undefined || teams.length === 0) return { from, cond: sql`1 = 0` };
  const extra = table === 'software_title_host_counts' ? sql`, 0 as versions_count` : sql``;
  return {
    from: sql`(select ${sql.ref(key)}, sum(hosts_count) as hosts_count,
        sum(vulnerable_hosts_count) as vulnerable_hosts_count, max(updated_at) as updated_at
        ${extra}
      from ${sql.table(table)} where team_id in (${sql.join(teams)}) group by ${sql.ref(key)}) c`,
    cond: sql`1 = 1`,
    teams,
  };
}

/** When a host became exposed to a shared finding: the later of install and discovery. */
export const firstDetected = sql`case when hs.first_seen_at > sc.created_at then hs.first_seen_at else sc.created_at end`;

/** Upsert clause for resolution rows (one row per host, CVE and package holds the latest). */
export const onResolvedConflict = sql`on conflict (host_id, cve, package) do update set
  software_id = excluded.software_id, installed_version = excluded.installed_version,
  fixed_version = excluded.fixed_version, source = excluded.source, advisory = excluded.advisory,
  first_detected_at = excluded.first_detected_at, resolved_at = excluded.resolved_at,
  updated_at = excluded.updated_at`;

/**
 * Software inventory: distinct versions stored once, host links diffed and written in bulk.
 */
export class SoftwareRepository {
  /**
   * Software versions never change or go away once created, so their ids are kept in memory
   * (by identity): a host's ~1,000 packages resolve without hashing or a query. Entries are
   * added only after the transaction that saw them committed.
   */
  private readonly known = new Map<string, number>();
  private static readonly KNOWN_MAX = 500_000;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName = 'sqlite',
  ) {}

  private remember(learned: ReadonlyMap<string, number>): void {
    if (this.known.size + learned.size > SoftwareRepository.KNOWN_MAX) this.known.clear();
    for (const [k, id] of learned) this.known.set(k, id);
  }

  /** Every host's last reported checksum and time (loaded once at start). */
  async states(): Promise<Array<{ host_id: number; checksum: string; seen_at: number }>> {
    return this.db
      .selectFrom('host_software_state')
      .select(['host_id', 'checksum', 'seen_at'])
      .execute();
  }

  /** Records that these hosts reported an unchanged list. */
  async touch(hostIds: readonly number[], nowMs: number): Promise<void> {
    for (const ids of chunks(hostIds)) {
      await this.db
        .updateTable('host_software_state')
        .set({ seen_at: nowMs })
        .where('host_id', 'in', ids)
        .execute();
    }
  }

  /**
   * Ids of the software versions (created when new), by `softwareKey`. Ids not yet in memory
   * are put in `learned`, for the caller to remember once its transaction commits.
   */
  private async ensure(
    trx: Transaction<Database>,
    items: readonly SoftwareInput[],
    nowMs: number,
    learned: Map<string, number>,
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const byChecksum = new Map<string, SoftwareInput>();
    const keyOfChecksum = new Map<string, string>();
    for (const s of items) {
      const key = softwareKey(s);
      if (out.has(key)) continue;
      const id = this.known.get(key);
      if (id !== undefined) {
        out.set(key, id);
        continue;
      }
      const checksum = createHash('sha1').update(key).digest('hex');
      if (byChecksum.has(checksum)) continue;
      byChecksum.set(checksum, s);
      keyOfChecksum.set(checksum, key);
    }
    if (byChecksum.size === 0) return out;
    const ids = await this.idsByChecksum(trx, byChecksum, nowMs);
    for (const [checksum, id] of ids) {
      const key = keyOfChecksum.get(checksum)!;
      out.set(key, id);
      learned.set(key, id);
    }
    return out;
  }

  /** Ids of software versions by checksum, creating the missing ones (and their titles). */
  private async idsByChecksum(
    trx: Transaction<Database>,
    byChecksum: ReadonlyMap<string, SoftwareInput>,
    nowMs: number,
  ): Promise<Map<string, number>> {
    const ids = new Map<string, number>();
    for (const part of chunks([...byChecksum.keys()])) {
      const rows = await trx
        .selectFrom('software')
        .select(['id', 'checksum'])
        .where('checksum', 'in', part)
        .execute();
      for (const r of rows) ids.set(r.checksum, r.id);
    }
    const missing = [...byChecksum].filter(([c]) => !ids.has(c));
    if (missing.length === 0) return ids;

    const titles = new Map<string, SoftwareInput>();
    for (const [, s] of missing) titles.set(titleChecksum(s), s);
    const titleIds = new Map<string, number>();
    for (const part of chunks([...titles.keys()])) {
      const rows = await trx
        .selectFrom('software_titles')
        .select(['id', 'checksum'])
        .where('checksum', 'in', part)
        .execute();
      for (const r of rows) titleIds.set(r.checksum, r.id);
    }
    const newTitles = [...titles].filter(([c]) => !titleIds.has(c));
    for (const part of chunks(newTitles)) {
      await trx
        .insertInto('software_titles')
        .values(
          part.map(([checksum, s]) => ({
            checksum,
            name: s.name,
            source: s.source,
            browser: field(s.browser),
            bundle_identifier: field(s.bundle_identifier),
            created_at: nowMs,
          })),
        )
        .onConflict((oc) => oc.column('checksum').doNothing())
        .execute();
    }
    for (const part of chunks(newTitles.map(([c]) => c))) {
      const rows = await trx
        .selectFrom('software_titles')
        .select(['id', 'checksum'])
        .where('checksum', 'in', part)
        .execute();
      for (const r of rows) titleIds.set(r.checksum, r.id);
    }
    for (const part of chunks(missing)) {
      await trx
        .insertInto('software')
        .values(
          part.map(([checksum, s]) => ({
            checksum,
            title_id: titleIds.get(titleChecksum(s)) ?? 0,
            name: s.name,
            version: s.version,
            source: s.source,
            release: field(s.release),
            arch: field(s.arch),
            vendor: field(s.vendor),
            bundle_identifier: field(s.bundle_identifier),
            extension_id: field(s.extension_id),
            browser: field(s.browser),
            package_source: field(s.package_source),
            created_at: nowMs,
          })),
        )
        .onConflict((oc) => oc.column('checksum').doNothing())
        .execute();
    }
    for (const part of chunks(missing.map(([c]) => c))) {
      const rows = await trx
        .selectFrom('software')
        .select(['id', 'checksum'])
        .where('checksum', 'in', part)
        .execute();
      for (const r of rows) ids.set(r.checksum, r.id);
    }
    return ids;
  }

  /**
   * Applies hosts' new lists in one transaction: new versions are created once, and per host
   * only the links that changed (within the reported sources) are inserted or deleted.
   */
  async apply(batch: readonly HostSoftwareUpdate[], nowMs: number): Promise<void> {
    if (batch.length === 0) return;
    const learned = new Map<string, number>();
    await this.db.transaction().execute(async (trx) => {
      const ids = await this.ensure(
        trx,
        batch.flatMap((b) => b.items),
        nowMs,
        learned,
      );
      const hostIds = batch.map((b) => b.hostId);
      const existing = new Map<number, Map<number, string>>();
      for (const part of chunks(hostIds)) {
        const rows = await trx
          .selectFrom('host_software as hs')
          .innerJoin('software as s', 's.id', 'hs.software_id')
          .select(['hs.host_id', 'hs.software_id', 's.source'])
          .where('hs.host_id', 'in', part)
          .execute();
        for (const r of rows) {
          let m = existing.get(r.host_id);
          if (!m) existing.set(r.host_id, (m = new Map()));
          m.set(r.software_id, r.source);
        }
      }
      // Flat (host_id, software_id, first_seen_at) triples.
      const inserts: number[] = [];
      const deletes: Array<{ hostId: number; ids: number[] }> = [];
      for (const b of batch) {
        const want = new Set<number>();
        for (const s of b.items) {
          const id = ids.get(softwareKey(s));
          if (id !== undefined) want.add(id);
        }
        const have = existing.get(b.hostId) ?? new Map<number, string>();
        const sources = new Set(b.sources);
        for (const id of want) if (!have.has(id)) inserts.push(b.hostId, id, nowMs);
        const gone = [...have]
          .filter(([id, source]) => sources.has(source) && !want.has(id))
          .map(([id]) => id);
        if (gone.length) deletes.push({ hostId: b.hostId, ids: gone });
      }
      for (const d of deletes) {
        for (const part of chunks(d.ids)) {
          // Shared findings of software leaving the host are resolved now (upgrade, removal).
          await sql`
            insert into host_vulnerabilities (host_id, software_id, cve, package,
              installed_version, fixed_version, source, advisory, first_detected_at,
              resolved_at, updated_at)
            select hs.host_id, sc.software_id, sc.cve, sc.package, sc.installed_version,
              sc.fixed_version, sc.source, sc.advisory, ${firstDetected}, ${nowMs}, ${nowMs}
            from host_software hs
            join host_software_state st on st.host_id = hs.host_id
            join software_cves sc on sc.software_id = hs.software_id
              and sc.release_key = st.release_key
            where hs.host_id = ${d.hostId} and hs.software_id in (${sql.join(part)})
            ${onResolvedConflict}`.execute(trx);
          await trx
            .deleteFrom('host_software')
            .where('host_id', '=', d.hostId)
            .where('software_id', 'in', part)
            .execute();
        }
      }
      const ROWS = 300;
      for (let i = 0; i < inserts.length; i += ROWS * 3) {
        const params = inserts.slice(i, i + ROWS * 3);
        const text = insertText(
          this.dialect,
          'insert into host_software (host_id, software_id, first_seen_at)',
          3,
          params.length / 3,
          'on conflict (host_id, software_id) do nothing',
        );
        await trx.executeQuery(CompiledQuery.raw(text, params));
      }
      for (let i = 0; i < batch.length; i += ROWS) {
        const params: Array<number | string> = [];
        for (const b of batch.slice(i, i + ROWS)) params.push(b.hostId, b.checksum, nowMs, nowMs);
        const text = insertText(
          this.dialect,
          'insert into host_software_state (host_id, checksum, seen_at, changed_at)',
          4,
          params.length / 4,
          'on conflict (host_id) do update set checksum = excluded.checksum, ' +
            'seen_at = excluded.seen_at, changed_at = excluded.changed_at',
        );
        await trx.executeQuery(CompiledQuery.raw(text, params));
      }
    });
    this.remember(learned);
  }

  /**
   * Records each host's running kernel as software (`source` "kernel"), replacing the one it
   * ran before, so kernel findings are shared like any package's. Returns kernel → software id.
   */
  async linkKernels(
    items: ReadonlyArray<{ hostId: number; kernel: string }>,
    nowMs: number,
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (items.length === 0) return out;
    const learned = new Map<string, number>();
    await this.db.transaction().execute(async (trx) => {
      const inputs = new Map<string, SoftwareInput>();
      for (const i of items)
        inputs.set(i.kernel, { name: 'linux', version: i.kernel, source: 'kernel' });
      const ids = await this.ensure(trx, [...inputs.values()], nowMs, learned);
      for (const [kernel, input] of inputs) {
        const id = ids.get(softwareKey(input));
        if (id !== undefined) out.set(kernel, id);
      }
      for (const i of items) {
        const id = out.get(i.kernel);
        if (id === undefined) continue;
        await trx
          .deleteFrom('host_software')
          .where('host_id', '=', i.hostId)
          .where('software_id', '<>', id)
          .where('software_id', 'in', (sub) =>
            sub.selectFrom('software').select('id').where('source', '=', 'kernel'),
          )
          .execute();
        await trx
          .insertInto('host_software')
          .values({ host_id: i.hostId, software_id: id, first_seen_at: nowMs })
          .onConflict((oc) => oc.columns(['host_id', 'software_id']).doNothing())
          .execute();
      }
    });
    this.remember(learned);
    return out;
  }

  /** A host's software with first-seen times. */
  async forHost(hostId: number): Promise<Array<SoftwareRow & { first_seen_at: number }>> {
    return this.db
      .selectFrom('host_software as hs')
      .innerJoin('software as s', 's.id', 'hs.software_id')
      .select([
        's.id',
        's.title_id',
        's.name',
        's.version',
        's.source',
        's.release',
        's.arch',
        's.vendor',
        's.bundle_identifier',
        's.extension_id',
        's.browser',
        's.package_source',
        'hs.first_seen_at',
      ])
      .where('hs.host_id', '=', hostId)
      .orderBy('s.name')
      .orderBy('s.id')
      .execute();
  }

  async lastSeen(hostId: number): Promise<number | null> {
    const r = await this.db
      .selectFrom('host_software_state')
      .select('seen_at')
      .where('host_id', '=', hostId)
      .executeTakeFirst();
    return r?.seen_at ?? null;
  }

  async version(id: number): Promise<SoftwareRow | undefined> {
    return this.db
      .selectFrom('software')
      .select([
        'id',
        'title_id',
        'name',
        'version',
        'source',
        'release',
        'arch',
        'vendor',
        'bundle_identifier',
        'extension_id',
        'browser',
        'package_source',
      ])
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async title(id: number) {
    return this.db
      .selectFrom('software_titles')
      .select(['id', 'name', 'source', 'browser', 'bundle_identifier'])
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /**
   * Software versions on visible hosts, with host counts as of the last count pass (the scan
   * job's): filtered, ordered and paged on the stored counts, never on `host_software`.
   */
  async listVersions(
    scope: TeamScope,
    f: {
      query?: string | undefined;
      vulnerable?: boolean;
      titleIds?: readonly number[];
      ids?: readonly number[];
    },
    page: PageSpec | null,
    order: { key: 'hosts_count' | 'name' | 'version' | 'id'; direction: 'asc' | 'desc' },
  ): Promise<{
    rows: Array<SoftwareRow & { hosts_count: number }>;
    count: number;
    countsUpdatedAt: number | null;
  }> {
    const src = countSource(scope, 'software_host_counts', 'software_id');
    const conds: RawBuilder<unknown>[] = [src.cond, sql`c.hosts_count > 0`];
    if (f.query) conds.push(likeAny(sql.ref('s.name'), f.query));
    if (f.titleIds)
      conds.push(f.titleIds.length ? sql`s.title_id in (${sql.join(f.titleIds)})` : sql`1 = 0`);
    if (f.ids) conds.push(f.ids.length ? sql`s.id in (${sql.join(f.ids)})` : sql`1 = 0`);
    if (f.vulnerable) conds.push(sql`c.vulnerable_hosts_count > 0`);
    const base = sql`from ${src.from} join software s on s.id = c.software_id
      where ${sql.join(conds, sql` and `)}`;
    const dir = order.direction === 'desc' ? sql`desc` : sql`asc`;
    const orderBy =
      order.key === 'hosts_count'
        ? sql`c.hosts_count ${dir}, s.id asc`
        : order.key === 'id'
          ? sql`s.id ${dir}`
          : sql`${sql.ref(`s.${order.key}`)} ${dir}, s.id asc`;
    const limit = page ? sql`limit ${page.perPage} offset ${page.page * page.perPage}` : sql``;
    const rows = await sql<SoftwareRow & { hosts_count: number }>`
      select s.id, s.title_id, s.name, s.version, s.source, s.release, s.arch, s.vendor,
        s.bundle_identifier, s.extension_id, s.browser, s.package_source, c.hosts_count
      ${base} order by ${orderBy} ${limit}`.execute(this.db);
    const count = await sql<{ n: number; at: number | null }>`
      select count(*) as n, max(c.updated_at) as at ${base}`.execute(this.db);
    const at = count.rows[0]?.at;
    return {
      rows: rows.rows.map((r) => ({ ...r, hosts_count: Number(r.hosts_count) })),
      count: Number(count.rows[0]?.n ?? 0),
      countsUpdatedAt: at === null || at === undefined ? null : Number(at),
    };
  }

  /**
   * Titles with a version on a visible host, with host and version counts as of the last count
   * pass (see listVersions).
   */
  async listTitles(
    scope: TeamScope,
    f: { query?: string | undefined; vulnerable?: boolean; ids?: readonly number[] },
    page: PageSpec | null,
    order: { key: 'hosts_count' | 'name' | 'id'; direction: 'asc' | 'desc' },
  ): Promise<{
    rows: Array<{
      id: number;
      name: string;
      source: string;
      browser: string;
      bundle_identifier: string;
      hosts_count: number;
      versions_count: number;
    }>;
    count: number;
    countsUpdatedAt: number | null;
  }> {
    const src = countSource(scope, 'software_title_host_counts', 'title_id');
    const conds: RawBuilder<unknown>[] = [src.cond, sql`c.hosts_count > 0`];
    if (f.query) conds.push(likeAny(sql.ref('st.name'), f.query));
    if (f.ids) conds.push(f.ids.length ? sql`st.id in (${sql.join(f.ids)})` : sql`1 = 0`);
    if (f.vulnerable) conds.push(sql`c.vulnerable_hosts_count > 0`);
    const base = sql`from ${src.from} join software_titles st on st.id = c.title_id
      where ${sql.join(conds, sql` and `)}`;
    const dir = order.direction === 'desc' ? sql`desc` : sql`asc`;
    const orderBy =
      order.key === 'hosts_count'
        ? sql`c.hosts_count ${dir}, st.id asc`
        : order.key === 'id'
          ? sql`st.id ${dir}`
          : sql`st.name ${dir}, st.id asc`;
    const limit = page ? sql`limit ${page.perPage} offset ${page.page * page.perPage}` : sql``;
    const rows = await sql<{
      id: number;
      name: string;
      source: string;
      browser: string;
      bundle_identifier: string;
      hosts_count: number;
      versions_count: number;
    }>`
      select st.id, st.name, st.source, st.browser, st.bundle_identifier, c.hosts_count,
        c.versions_count
      ${base} order by ${orderBy} ${limit}`.execute(this.db);
    const count = await sql<{ n: number; at: number | null }>`
      select count(*) as n, max(c.updated_at) as at ${base}`.execute(this.db);
    const out = rows.rows.map((r) => ({
      ...r,
      hosts_count: Number(r.hosts_count),
      versions_count: Number(r.versions_count),
    }));
    if (src.teams && out.length > 0) {
      // Several teams: a version on hosts of two of them is one version, so count them again.
      const teams = src.teams;
      const n = await sql<{ title_id: number; n: number }>`
        select s.title_id, count(distinct c.software_id) as n
        from software_host_counts c join software s on s.id = c.software_id
        where c.team_id in (${sql.join(teams)}) and c.hosts_count > 0
          and s.title_id in (${sql.join(out.map((r) => r.id))})
        group by s.title_id`.execute(this.db);
      const byTitle = new Map(n.rows.map((r) => [Number(r.title_id), Number(r.n)]));
      for (const r of out) r.versions_count = byTitle.get(r.id) ?? 0;
    }
    const at = count.rows[0]?.at;
    return {
      rows: out,
      count: Number(count.rows[0]?.n ?? 0),
      countsUpdatedAt: at === null || at === undefined ? null : Number(at),
    };
  }

  /** Replaces stored host counts (upserts, in one transaction); see dropHostCounts. */
  async writeHostCounts(
    versions: readonly SoftwareCountRow[],
    titles: readonly TitleCountRow[],
    nowMs: number,
  ): Promise<void> {
    if (versions.length === 0 && titles.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const part of chunks(versions, 200)) {
        await trx
          .insertInto('software_host_counts')
          .values(part.map((r) => ({ ...r, updated_at: nowMs })))
          .onConflict((oc) =>
            oc.columns(['software_id', 'team_id']).doUpdateSet((eb) => ({
              hosts_count: eb.ref('excluded.hosts_count'),
              vulnerable_hosts_count: eb.ref('excluded.vulnerable_hosts_count'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
      for (const part of chunks(titles, 200)) {
        await trx
          .insertInto('software_title_host_counts')
          .values(part.map((r) => ({ ...r, updated_at: nowMs })))
          .onConflict((oc) =>
            oc.columns(['title_id', 'team_id']).doUpdateSet((eb) => ({
              hosts_count: eb.ref('excluded.hosts_count'),
              versions_count: eb.ref('excluded.versions_count'),
              vulnerable_hosts_count: eb.ref('excluded.vulnerable_hosts_count'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
    });
  }

  /** The keys of every stored host count (to find those a count pass no longer writes). */
  async hostCountKeys(): Promise<{
    versions: Array<{ id: number; team_id: number }>;
    titles: Array<{ id: number; team_id: number }>;
  }> {
    const versions = await this.db
      .selectFrom('software_host_counts')
      .select(['software_id as id', 'team_id'])
      .execute();
    const titles = await this.db
      .selectFrom('software_title_host_counts')
      .select(['title_id as id', 'team_id'])
      .execute();
    return { versions, titles };
  }

  /** Deletes these stored host counts (no host of that team has the software any more). */
  async dropHostCounts(
    versions: ReadonlyArray<{ id: number; team_id: number }>,
    titles: ReadonlyArray<{ id: number; team_id: number }>,
  ): Promise<void> {
    if (versions.length === 0 && titles.length === 0) return;
    const byTeam = (keys: ReadonlyArray<{ id: number; team_id: number }>) => {
      const m = new Map<number, number[]>();
      for (const k of keys) {
        const list = m.get(k.team_id);
        if (list) list.push(k.id);
        else m.set(k.team_id, [k.id]);
      }
      return m;
    };
    await this.db.transaction().execute(async (trx) => {
      for (const [team, ids] of byTeam(versions))
        for (const part of chunks(ids))
          await trx
            .deleteFrom('software_host_counts')
            .where('team_id', '=', team)
            .where('software_id', 'in', part)
            .execute();
      for (const [team, ids] of byTeam(titles))
        for (const part of chunks(ids))
          await trx
            .deleteFrom('software_title_host_counts')
            .where('team_id', '=', team)
            .where('title_id', 'in', part)
            .execute();
    });
  }

  /**
   * Open CVEs per software version on visible hosts. A finding holds for the hosts of one OS
   * release; the count pass stored how many hosts of each team have the version with a finding
   * on their release, so a version with none in the scope has no CVEs, and one whose findings
   * are all for one release has all of them. Only a version with findings on several releases
   * is probed (per release: is a visible host of it linked to the version?).
   */
  async cvesFor(
    scope: TeamScope,
    softwareIds: readonly number[],
  ): Promise<Map<number, Array<{ cve: string; fixed_version: string | null }>>> {
    const out = new Map<number, Array<{ cve: string; fixed_version: string | null }>>();
    for (const part of chunks(softwareIds)) {
      const src = countSource(scope, 'software_host_counts', 'software_id');
      const exposed = await sql<{ software_id: number }>`
        select c.software_id from ${src.from}
        where ${src.cond} and c.vulnerable_hosts_count > 0
          and c.software_id in (${sql.join(part)})`.execute(this.db);
      const ids = exposed.rows.map((r) => Number(r.software_id));
      if (ids.length === 0) continue;
      const rows = await sql<{
        software_id: number;
        release_key: string;
        cve: string;
        fixed_version: string | null;
      }>`
        select software_id, release_key, cve, fixed_version from software_cves
        where software_id in (${sql.join(ids)}) order by cve`.execute(this.db);
      const releases = new Map<number, Set<string>>();
      for (const r of rows.rows) {
        const set = releases.get(r.software_id);
        if (set) set.add(r.release_key);
        else releases.set(r.software_id, new Set([r.release_key]));
      }
      const holds = new Set<string>();
      for (const [id, set] of releases) {
        if (set.size === 1) {
          holds.add(`${id}\u0000${[...set][0]!}`);
          continue;
        }
        for (const release of set) {
          const hit = await sql<{ host_id: number }>`
            select st.host_id from host_software_state st join hosts h on h.id = st.host_id
            where st.release_key = ${release} and ${teamCondition(scope)}
              and exists (select 1 from host_software hs
                where hs.host_id = st.host_id and hs.software_id = ${id})
            limit 1`.execute(this.db);
          if (hit.rows.length > 0) holds.add(`${id}\u0000${release}`);
        }
      }
      for (const r of rows.rows) {
        if (!holds.has(`${r.software_id}\u0000${r.release_key}`)) continue;
        let list = out.get(r.software_id);
        if (!list) out.set(r.software_id, (list = []));
        if (!list.some((x) => x.cve === r.cve))
          list.push({ cve: r.cve, fixed_version: r.fixed_version });
      }
    }
    return out;
  }

  /**
   * Ids of visible hosts that have a software version (or any version of a title), one page of
   * `limit` visible hosts after `afterId` at a time (`next`: the cursor for the next page, null
   * when done). There is no index by software: each host's (host_id, software_id) key is
   * probed for each version, so a page costs `limit` × versions index seeks.
   */
  async hostIdsWith(
    scope: TeamScope,
    by: { softwareId?: number; titleId?: number },
    afterId: number,
    limit: number,
  ): Promise<{ hostIds: number[]; next: number | null }> {
    const versions =
      by.softwareId !== undefined
        ? [by.softwareId]
        : (
            await this.db
              .selectFrom('software')
              .select('id')
              .where('title_id', '=', by.titleId ?? -1)
              .execute()
          ).map((r) => r.id);
    if (versions.length === 0) return { hostIds: [], next: null };
    const hosts = await sql<{ id: number }>`
      select h.id from hosts h where h.id > ${afterId} and ${teamCondition(scope)}
      order by h.id limit ${limit}`.execute(this.db);
    const ids = hosts.rows.map((r) => r.id);
    if (ids.length === 0) return { hostIds: [], next: null };
    const hostIds: number[] = [];
    for (const part of chunks(versions)) {
      const rows = await this.db
        .selectFrom('host_software')
        .select('host_id')
        .distinct()
        .where('host_id', 'in', ids)
        .where('software_id', 'in', part)
        .execute();
      for (const r of rows) hostIds.push(r.host_id);
    }
    return {
      hostIds: [...new Set(hostIds)].sort((x, y) => x - y),
      next: ids.length < limit ? null : ids[ids.length - 1]!,
    };
  }
}
