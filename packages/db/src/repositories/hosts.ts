import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import {
  MISSING_HOST_WINDOW_MS,
  NEW_HOST_WINDOW_MS,
  ONLINE_INTERVAL_BUFFER_S,
  type HostStatusFilter,
} from '@flotilla/core';
import type { Database, HostRow, HostUpdate } from '../schema.js';

/** Columns a caller may order the host list by. */
export const HOST_ORDER_KEYS = [
  'id',
  'hostname',
  'computer_name',
  'display_name',
  'platform',
  'os_version',
  'osquery_version',
  'seen_time',
  'created_at',
  'updated_at',
  'detail_updated_at',
  'last_enrolled_at',
  'memory',
  'primary_ip',
  'uuid',
  'hardware_serial',
  'team_id',
  'uptime',
  'cpu_brand',
  'gigs_disk_space_available',
  'percent_disk_space_available',
] as const;
export type HostOrderKey = (typeof HOST_ORDER_KEYS)[number];

export interface HostFilter {
  /** Teams the caller may see ('all' for global readers). Always applied. */
  visibleTeams: 'all' | number[];
  /** Explicit team filter: a team id, or 0 for hosts in no team. */
  teamId?: number;
  status?: HostStatusFilter;
  /** Free text over hostname, computer name, UUID, serial and primary IP. */
  query?: string;
  platform?: string;
  /** Restrict to these ids (e.g. label members, computed elsewhere). */
  hostIds?: number[];
  /** Only hosts in this label. */
  labelId?: number;
  /** Only hosts with a result for this policy; with `policyResponse`, only that result. */
  policyId?: number;
  policyResponse?: 'passing' | 'failing';
  /** Only hosts with this software version installed. */
  softwareVersionId?: number;
  /** Only hosts with any version of this software title. */
  softwareTitleId?: number;
  /** Only hosts with this CVE open. */
  cve?: string;
  nowMs: number;
}

export interface Page {
  page: number;
  perPage: number;
  orderKey: HostOrderKey;
  orderDirection: 'asc' | 'desc';
}

/** Cheap per-host facts the check-in path keeps in memory. */
export interface HostRuntimeRow {
  id: number;
  node_key_hash: string;
  osquery_host_id: string;
  team_id: number | null;
  platform: string;
  detail_updated_at: number;
  label_updated_at: number;
  policy_updated_at: number;
  refetch_requested: number;
  seen_time: number;
}

const RUNTIME_COLUMNS = [
  'id',
  'node_key_hash',
  'osquery_host_id',
  'team_id',
  'platform',
  'detail_updated_at',
  'label_updated_at',
  'policy_updated_at',
  'refetch_requested',
] as const;

/** A host's last-seen time (0 for a host without a row there, e.g. inserted by hand). */
const SEEN = sql<number>`coalesce(host_seen_times.seen_time, 0)`;

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export class HostRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Creates the host, or re-enrolls an existing one (same osquery host identifier) with a new
   * node key, so a re-enroll never duplicates a host.
   */
  async enroll(input: {
    osqueryHostId: string;
    nodeKeyHash: string;
    teamId: number | null;
    nowMs: number;
    details: HostUpdate;
  }): Promise<{ host: HostRow; created: boolean }> {
    const { osqueryHostId, nodeKeyHash, teamId, nowMs, details } = input;
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('hosts')
        .select('id')
        .where('osquery_host_id', '=', osqueryHostId)
        .executeTakeFirst();
      if (existing) {
        const host = await trx
          .updateTable('hosts')
          .set({
            ...details,
            node_key_hash: nodeKeyHash,
            team_id: teamId,
            last_enrolled_at: nowMs,
            updated_at: nowMs,
            // Ask for fresh vitals right after a re-enroll.
            detail_updated_at: 0,
            label_updated_at: 0,
            policy_updated_at: 0,
          })
          .where('id', '=', existing.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        await markSeenOnEnroll(trx, host.id, nowMs);
        return { host: { ...host, seen_time: nowMs }, created: false };
      }
      const host = await trx
        .insertInto('hosts')
        .values({
          ...details,
          osquery_host_id: osqueryHostId,
          node_key_hash: nodeKeyHash,
          team_id: teamId,
          created_at: nowMs,
          updated_at: nowMs,
          last_enrolled_at: nowMs,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await markSeenOnEnroll(trx, host.id, nowMs);
      return { host: { ...host, seen_time: nowMs }, created: true };
    });
  }

  /** Hosts with their last-seen times. */
  private withSeen() {
    return this.db
      .selectFrom('hosts')
      .leftJoin('host_seen_times', 'host_seen_times.host_id', 'hosts.id');
  }

  private rows() {
    return this.withSeen().selectAll('hosts').select(SEEN.as('seen_time'));
  }

  async runtimeAll(): Promise<HostRuntimeRow[]> {
    return this.withSeen().select(RUNTIME_COLUMNS).select(SEEN.as('seen_time')).execute();
  }

  async runtimeByNodeKeyHash(hash: string): Promise<HostRuntimeRow | undefined> {
    return this.withSeen()
      .select(RUNTIME_COLUMNS)
      .select(SEEN.as('seen_time'))
      .where('node_key_hash', '=', hash)
      .executeTakeFirst();
  }

  async get(id: number): Promise<HostRow | undefined> {
    return this.rows().where('id', '=', id).executeTakeFirst();
  }

  /** What a live query needs of its targets: names, team and whether each looks online. */
  async targetInfo(ids: readonly number[]) {
    if (ids.length === 0) return [];
    return this.withSeen()
      .select([
        'id',
        'hostname',
        'computer_name',
        'team_id',
        'distributed_interval',
        'config_tls_refresh',
      ])
      .select(SEEN.as('seen_time'))
      .where('id', 'in', ids)
      .execute();
  }

  /** Finds a host by UUID, osquery host identifier, hostname or node key hash. */
  async getByIdentifier(identifier: string, nodeKeyHash: string): Promise<HostRow | undefined> {
    return this.rows()
      .where((eb) =>
        eb.or([
          eb('uuid', '=', identifier),
          eb('osquery_host_id', '=', identifier),
          eb('hostname', '=', identifier),
          eb('node_key_hash', '=', nodeKeyHash),
        ]),
      )
      .orderBy('id')
      .executeTakeFirst();
  }

  /** Applies many hosts' detail updates in one transaction (ingestion batches). */
  async applyUpdates(
    updates: ReadonlyArray<{ id: number; set: HostUpdate; users?: HostUserInput[] | undefined }>,
  ): Promise<void> {
    if (updates.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const u of updates) {
        if (Object.keys(u.set).length > 0) {
          await trx.updateTable('hosts').set(u.set).where('id', '=', u.id).execute();
        }
        if (u.users) {
          await trx.deleteFrom('host_users').where('host_id', '=', u.id).execute();
          for (let i = 0; i < u.users.length; i += 200) {
            const chunk = u.users.slice(i, i + 200).map((x) => ({ ...x, host_id: u.id }));
            if (chunk.length) await trx.insertInto('host_users').values(chunk).execute();
          }
        }
      }
    });
  }

  /** Records that these hosts were seen at `timeMs` (one statement per chunk of ids). */
  async markSeen(ids: readonly number[], timeMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < ids.length; i += 500) {
        await trx
          .updateTable('host_seen_times')
          .set({ seen_time: timeMs })
          .where('host_id', 'in', ids.slice(i, i + 500))
          .execute();
      }
    });
  }

  async users(hostId: number) {
    return this.db
      .selectFrom('host_users')
      .select(['uid', 'username', 'type', 'groupname', 'shell'])
      .where('host_id', '=', hostId)
      .orderBy('uid')
      .execute();
  }

  async list(filter: HostFilter, page: Page): Promise<HostRow[]> {
    const orderColumn =
      page.orderKey === 'display_name'
        ? 'computer_name'
        : page.orderKey === 'uptime'
          ? 'uptime_s'
          : page.orderKey;
    return this.rows()
      .where((eb) => this.where(eb, filter))
      .orderBy(orderColumn === 'seen_time' ? SEEN : orderColumn, page.orderDirection)
      .orderBy('id', page.orderDirection)
      .limit(page.perPage)
      .offset(page.page * page.perPage)
      .execute();
  }

  async count(filter: HostFilter): Promise<number> {
    const row = await this.withSeen()
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where((eb) => this.where(eb, filter))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Counts by status and platform in one pass, for the host summary. */
  async summary(filter: HostFilter) {
    const now = filter.nowMs;
    const rows = await this.withSeen()
      .select((eb) => [
        'platform',
        eb.fn.countAll<number>().as('total'),
        eb.fn.sum<number>(sql`CASE WHEN ${onlineExpr(now)} THEN 1 ELSE 0 END`).as('online'),
        eb.fn
          .sum<number>(sql`CASE WHEN created_at > ${now - NEW_HOST_WINDOW_MS} THEN 1 ELSE 0 END`)
          .as('new'),
        eb.fn
          .sum<number>(sql`CASE WHEN ${SEEN} < ${now - MISSING_HOST_WINDOW_MS} THEN 1 ELSE 0 END`)
          .as('missing'),
      ])
      .where((eb) => this.where(eb, filter))
      .groupBy('platform')
      .execute();
    return rows.map((r) => ({
      platform: r.platform,
      total: Number(r.total),
      online: Number(r.online ?? 0),
      new: Number(r.new ?? 0),
      missing: Number(r.missing ?? 0),
    }));
  }

  async delete(ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const res = await this.db.deleteFrom('hosts').where('id', 'in', ids).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  async setRefetch(id: number, requested: boolean): Promise<void> {
    await this.db
      .updateTable('hosts')
      .set({ refetch_requested: requested ? 1 : 0 })
      .where('id', '=', id)
      .execute();
  }

  async transfer(teamId: number | null, ids: readonly number[], nowMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable('hosts')
      .set({ team_id: teamId, updated_at: nowMs })
      .where('id', 'in', ids)
      .execute();
  }

  async idsNodeKeyHashes(
    ids: readonly number[],
  ): Promise<Array<{ id: number; node_key_hash: string; team_id: number | null }>> {
    if (ids.length === 0) return [];
    return this.db
      .selectFrom('hosts')
      .select(['id', 'node_key_hash', 'team_id'])
      .where('id', 'in', ids)
      .execute();
  }

  private where(
    eb: ExpressionBuilder<Database, 'hosts' | 'host_seen_times'>,
    f: HostFilter,
  ): Expression<SqlBool> {
    const parts: Expression<SqlBool>[] = [];
    if (f.visibleTeams !== 'all') {
      parts.push(f.visibleTeams.length ? eb('team_id', 'in', f.visibleTeams) : sql<SqlBool>`1 = 0`);
    }
    if (f.teamId !== undefined) {
      parts.push(f.teamId === 0 ? eb('team_id', 'is', null) : eb('team_id', '=', f.teamId));
    }
    if (f.platform) parts.push(eb('platform', '=', f.platform));
    if (f.labelId !== undefined) {
      const labelId = f.labelId;
      parts.push(
        eb('id', 'in', (sub) =>
          sub.selectFrom('label_membership').select('host_id').where('label_id', '=', labelId),
        ),
      );
    }
    if (f.policyId !== undefined) {
      const policyId = f.policyId;
      const response = f.policyResponse;
      parts.push(
        eb('id', 'in', (sub) => {
          const q = sub
            .selectFrom('policy_membership')
            .select('host_id')
            .where('policy_id', '=', policyId);
          return response ? q.where('passes', '=', response === 'passing' ? 1 : 0) : q;
        }),
      );
    }
    if (f.softwareVersionId !== undefined) {
      const id = f.softwareVersionId;
      // Probes the (host_id, software_id) key per host: there is no index by software.
      parts.push(
        sql<SqlBool>`exists (select 1 from host_software hs where hs.host_id = hosts.id and hs.software_id = ${id})`,
      );
    }
    if (f.softwareTitleId !== undefined) {
      const id = f.softwareTitleId;
      parts.push(
        sql<SqlBool>`exists (select 1 from software s join host_software hs on hs.host_id = hosts.id and hs.software_id = s.id where s.title_id = ${id})`,
      );
    }
    if (f.cve !== undefined) {
      const cve = f.cve;
      // The CVE's few software versions, probed per host (no index by software).
      parts.push(sql<SqlBool>`(exists (select 1 from software_cves sc
          join host_software_state st on st.host_id = hosts.id and st.release_key = sc.release_key
          join host_software hs on hs.host_id = hosts.id and hs.software_id = sc.software_id
          where sc.cve = ${cve})
        or exists (select 1 from host_vulnerabilities hv where hv.host_id = hosts.id
          and hv.cve = ${cve} and hv.resolved_at is null and hv.software_id is null))`);
    }
    if (f.hostIds) parts.push(f.hostIds.length ? eb('id', 'in', f.hostIds) : sql<SqlBool>`1 = 0`);
    if (f.query) {
      const like = `%${escapeLike(f.query.toLowerCase())}%`;
      parts.push(
        eb.or(
          (
            [
              'hostname',
              'computer_name',
              'uuid',
              'hardware_serial',
              'primary_ip',
              'osquery_host_id',
            ] as const
          ).map((c) => sql<SqlBool>`lower(${sql.ref(c)}) LIKE ${like} ESCAPE '\\'`),
        ),
      );
    }
    switch (f.status) {
      case undefined:
        break;
      case 'online':
        parts.push(onlineExpr(f.nowMs));
        break;
      case 'offline':
        parts.push(sql<SqlBool>`NOT (${onlineExpr(f.nowMs)})`);
        break;
      case 'new':
        parts.push(eb('created_at', '>', f.nowMs - NEW_HOST_WINDOW_MS));
        break;
      case 'missing':
      case 'mia':
        parts.push(sql<SqlBool>`${SEEN} < ${f.nowMs - MISSING_HOST_WINDOW_MS}`);
        break;
    }
    return parts.length ? eb.and(parts) : sql<SqlBool>`1 = 1`;
  }
}

/** A new host is seen as it enrolls; one enrolling again keeps its row. */
async function markSeenOnEnroll(trx: Kysely<Database>, hostId: number, nowMs: number) {
  await trx
    .insertInto('host_seen_times')
    .values({ host_id: hostId, seen_time: nowMs })
    .onConflict((oc) => oc.column('host_id').doUpdateSet({ seen_time: nowMs }))
    .execute();
}

/** Same rule as core's hostStatus(), in SQL that both dialects accept. */
function onlineExpr(nowMs: number) {
  return sql<SqlBool>`(${SEEN} + 1000 * ((CASE WHEN distributed_interval < config_tls_refresh THEN distributed_interval ELSE config_tls_refresh END) + ${ONLINE_INTERVAL_BUFFER_S})) >= ${nowMs}`;
}

export interface HostUserInput {
  uid: number;
  username: string;
  type: string;
  groupname: string;
  shell: string;
}
