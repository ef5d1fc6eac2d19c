import {
  forbidden,
  invalid,
  notFound,
  readableTeams,
  type Actor,
  type HostStatusFilter,
} from '@flotilla/core';
import { HOST_ORDER_KEYS, type HostFilter, type HostOrderKey, type HostRow } from '@flotilla/db';
import type { AppContext } from '../context.js';
import { tokenHash } from '../crypto/secrets.js';
import { hostToApi, iso } from '../http/format.js';

export interface HostListQuery {
  page?: number | undefined;
  per_page?: number | undefined;
  order_key?: string | undefined;
  order_direction?: 'asc' | 'desc' | undefined;
  status?: HostStatusFilter | undefined;
  query?: string | undefined;
  team_id?: number | undefined;
  platform?: string | undefined;
  label_id?: number | undefined;
  policy_id?: number | undefined;
  policy_response?: 'passing' | 'failing' | undefined;
  software_version_id?: number | undefined;
  software_title_id?: number | undefined;
  vulnerability?: string | undefined;
}

/** Host inventory: listing with filters, detail, refetch, transfer and delete. */
export class HostService {
  /** Set by the policies feature: the policies a host answered, with its responses. */
  hostPolicies?: (hostId: number, teamId: number | null) => Promise<Array<Record<string, unknown>>>;
  /** Set by the software feature: the host's open vulnerabilities and upgrade targets. */
  hostVulnerabilities?: (
    hostId: number,
  ) => Promise<{ vulnerabilities: unknown[]; upgrades: unknown[] }>;
  /** Set by the policies feature: writes queued policy results before a filtered read. */
  flushPolicies?: () => Promise<void>;

  constructor(private readonly ctx: AppContext) {}

  filterFor(actor: Actor, q: HostListQuery): HostFilter {
    const visible = readableTeams(actor, 'host');
    if (q.team_id !== undefined && visible !== 'all' && !visible.includes(q.team_id))
      throw forbidden();
    return {
      visibleTeams: visible,
      nowMs: this.ctx.clock(),
      ...(q.team_id !== undefined ? { teamId: q.team_id } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.query ? { query: q.query } : {}),
      ...(q.platform ? { platform: q.platform } : {}),
      ...(q.label_id !== undefined ? { labelId: q.label_id } : {}),
      ...(q.policy_id !== undefined ? { policyId: q.policy_id } : {}),
      ...(q.policy_response ? { policyResponse: q.policy_response } : {}),
      ...(q.software_version_id !== undefined ? { softwareVersionId: q.software_version_id } : {}),
      ...(q.software_title_id !== undefined ? { softwareTitleId: q.software_title_id } : {}),
      ...(q.vulnerability ? { cve: q.vulnerability.toUpperCase() } : {}),
    };
  }

  async list(actor: Actor, q: HostListQuery) {
    const orderKey = (q.order_key ?? 'hostname') as HostOrderKey;
    if (!HOST_ORDER_KEYS.includes(orderKey)) {
      throw invalid(`order_key must be one of ${HOST_ORDER_KEYS.join(', ')}`, [
        { name: 'order_key', reason: 'unsupported' },
      ]);
    }
    await this.ctx.checkin.writes.flush();
    if (q.policy_id !== undefined) await this.flushPolicies?.();
    const rows = await this.ctx.ds.hosts.list(this.filterFor(actor, q), {
      page: q.page ?? 0,
      perPage: q.per_page ?? 100,
      orderKey,
      orderDirection: q.order_direction ?? 'asc',
    });
    return this.toApi(rows);
  }

  async count(actor: Actor, q: HostListQuery): Promise<number> {
    if (q.policy_id !== undefined) await this.flushPolicies?.();
    return this.ctx.ds.hosts.count(this.filterFor(actor, q));
  }

  async toApi(rows: HostRow[]) {
    const teamIds = [...new Set(rows.map((r) => r.team_id).filter((t): t is number => t !== null))];
    const teams = teamIds.length
      ? await this.ctx.ds.teams.list({ ids: teamIds, page: 0, perPage: teamIds.length })
      : [];
    const names = new Map(teams.map((t) => [t.id, t.name]));
    const failing = await this.ctx.ds.policies.failingCounts(rows.map((r) => r.id));
    const now = this.ctx.clock();
    return rows.map((r) =>
      hostToApi(
        r,
        now,
        r.team_id === null ? null : (names.get(r.team_id) ?? null),
        failing.get(r.id) ?? 0,
      ),
    );
  }

  /** Loads a host and checks the actor may act on it (its team decides). */
  async authorized(
    req: {
      authorize: (
        a: 'read' | 'write' | 'refetch' | 'transfer',
        o: { type: 'host'; teamId: number | null },
      ) => Actor;
    },
    action: 'read' | 'write' | 'refetch' | 'transfer',
    id: number,
  ) {
    await this.ctx.checkin.writes.flush();
    const host = await this.ctx.ds.hosts.get(id);
    if (!host) {
      req.authorize(action, { type: 'host', teamId: null });
      throw notFound('host', 'HOST_NOT_FOUND');
    }
    const actor = req.authorize(action, { type: 'host', teamId: host.team_id });
    return { host, actor };
  }

  async byIdentifier(identifier: string) {
    await this.ctx.checkin.writes.flush();
    return this.ctx.ds.hosts.getByIdentifier(identifier, tokenHash(identifier));
  }

  async detail(host: HostRow) {
    const [api] = await this.toApi([host]);
    const users = await this.ctx.ds.hosts.users(host.id);
    const labels = (await this.ctx.ds.labels.labelsOfHost(host.id)).map((l) => ({
      id: l.id,
      name: l.name,
      description: l.description,
      query: l.query,
      platform: l.platform,
      label_type: l.label_type,
      label_membership_type: l.label_membership_type,
      created_at: iso(l.created_at),
      updated_at: iso(l.updated_at),
    }));
    const policies = this.hostPolicies ? await this.hostPolicies(host.id, host.team_id) : [];
    const vulns = this.hostVulnerabilities ? await this.hostVulnerabilities(host.id) : undefined;
    return { ...api!, users, labels, policies, ...(vulns ?? {}) };
  }

  async delete(actor: Actor, hosts: HostRow[]): Promise<void> {
    await this.ctx.ds.hosts.delete(hosts.map((h) => h.id));
    for (const h of hosts) {
      this.ctx.checkin.hostChanged(h.id);
      await this.ctx.activities.record(actor, 'deleted_host', {
        host_id: h.id,
        host_display_name: h.computer_name || h.hostname,
        host_serial: h.hardware_serial,
      });
    }
  }

  async refetch(actor: Actor, host: HostRow): Promise<void> {
    await this.ctx.ds.hosts.setRefetch(host.id, true);
    this.ctx.checkin.hostChanged(host.id);
    void actor;
  }

  async transfer(actor: Actor, teamId: number | null, ids: number[]): Promise<void> {
    let teamName: string | null = null;
    if (teamId !== null) {
      const team = await this.ctx.ds.teams.get(teamId);
      if (!team) throw notFound('team', 'TEAM_NOT_FOUND');
      teamName = team.name;
    }
    const hosts = await this.ctx.ds.hosts.idsNodeKeyHashes(ids);
    if (hosts.length !== new Set(ids).size) throw notFound('one or more hosts', 'HOST_NOT_FOUND');
    await this.ctx.ds.hosts.transfer(teamId, ids, this.ctx.clock());
    for (const h of hosts) this.ctx.checkin.hostChanged(h.id);
    await this.ctx.activities.record(actor, 'transferred_hosts', {
      team_id: teamId,
      team_name: teamName,
      host_ids: ids,
    });
  }
}
