import { conflict, forbidden, invalid, notFound, readableTeams, type Actor } from '@flotilla/core';
import type { PolicyInput, PolicyRow } from '@flotilla/db';
import { validateForPlatforms } from '@flotilla/osquery';
import type { AppContext } from '../context.js';
import { iso } from '../http/format.js';
import { checkSql } from '../queries/sql-check.js';
import { policyToApi } from './automations.js';
import type { PolicyQuerySource } from './policy-queries.js';
import { readPolicySpec, type PolicySpec } from './policy-yaml.js';

const PLATFORMS = new Set(['darwin', 'linux', 'windows', 'chrome']);

/** What a person sends to create or edit a policy (Fleet's fields plus label scoping). */
export interface PolicyBody {
  name?: string;
  query?: string;
  description?: string;
  resolution?: string;
  platform?: string;
  critical?: boolean;
  query_id?: number;
  labels_include_any?: string[];
  labels_exclude_any?: string[];
}

type Authorize = (
  action: 'read' | 'write',
  o: { type: 'policy'; teamId?: number | null; authorId?: number | null },
) => Actor;

/**
 * Checks a policy's SQL: it must parse against osquery's schema, only read, and (when the
 * policy names platforms) use only tables those platforms have.
 */
export function checkPolicySql(query: string, platform: string): void {
  checkSql(query);
  const platforms = platform
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (!platforms.length) return;
  const r = validateForPlatforms(query, platforms);
  if (!r.ok) {
    throw invalid(
      `invalid query for platform ${platforms.join(', ')}: ${r.errors.map((e) => e.message).join('; ')}`,
      r.errors.map((e) => ({ name: 'query', reason: e.message })),
      `SQL_${r.errors[0]?.code ?? 'INVALID'}`,
    );
  }
}

/** Policies: rules, authorization helpers, label scoping, specs (YAML) and host views. */
export class PolicyService {
  constructor(
    private readonly ctx: AppContext,
    readonly source: PolicyQuerySource,
  ) {}

  async load(
    authorize: Authorize,
    action: 'read' | 'write',
    id: number,
    teamId: number | null,
  ): Promise<{ p: PolicyRow; actor: Actor }> {
    const p = await this.ctx.ds.policies.get(id);
    const actor = authorize(action, { type: 'policy', teamId, authorId: p?.author_id ?? null });
    if (!p || p.team_id !== teamId) throw notFound('policy', 'POLICY_NOT_FOUND');
    return { p, actor };
  }

  async toApi(rows: PolicyRow[]): Promise<Array<Record<string, unknown>>> {
    await this.source.flush();
    const fresh = rows.length
      ? await this.ctx.ds.db
          .selectFrom('policies')
          .select(['id', 'passing_host_count', 'failing_host_count'])
          .where(
            'id',
            'in',
            rows.map((r) => r.id),
          )
          .execute()
      : [];
    const counts = new Map(fresh.map((f) => [f.id, f]));
    const ids = [...new Set(rows.map((r) => r.author_id).filter((a): a is number => a !== null))];
    const users = ids.length
      ? await this.ctx.ds.db
          .selectFrom('users')
          .select(['id', 'name', 'email'])
          .where('id', 'in', ids)
          .execute()
      : [];
    const by = new Map(users.map((u) => [u.id, u]));
    const labels = await this.ctx.ds.policies.labels(rows.map((r) => r.id));
    return rows.map((r) => {
      const c = counts.get(r.id);
      const refs = labels.get(r.id) ?? [];
      const api = policyToApi(
        { ...r, ...(c ?? {}) },
        r.author_id !== null ? by.get(r.author_id) : undefined,
      );
      return {
        ...api,
        labels_include_any: refs
          .filter((l) => !l.exclude)
          .map((l) => ({ id: l.labelId, name: l.name })),
        labels_exclude_any: refs
          .filter((l) => l.exclude)
          .map((l) => ({ id: l.labelId, name: l.name })),
      };
    });
  }

  async one(id: number): Promise<Record<string, unknown>> {
    const p = await this.ctx.ds.policies.get(id);
    if (!p) throw notFound('policy', 'POLICY_NOT_FOUND');
    return (await this.toApi([p]))[0]!;
  }

  private async labelIds(names: string[] | undefined, field: string): Promise<number[]> {
    const out: number[] = [];
    for (const n of names ?? []) {
      const l = await this.ctx.ds.labels.getByName(n);
      if (!l)
        throw invalid(
          `label "${n}" does not exist`,
          [{ name: field, reason: `no label named "${n}"` }],
          'LABEL_NOT_FOUND',
        );
      out.push(l.id);
    }
    return [...new Set(out)];
  }

  private validate(b: PolicyBody): void {
    if (b.platform !== undefined) {
      const bad = b.platform
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p && !PLATFORMS.has(p));
      if (bad.length)
        throw invalid('Validation Failed', [
          {
            name: 'platform',
            reason: `unknown platform ${bad.join(', ')}; use darwin, linux, windows or chrome`,
          },
        ]);
    }
    if (b.labels_include_any?.length && b.labels_exclude_any?.length) {
      throw invalid('a policy may include labels or exclude labels, not both', [
        { name: 'labels_exclude_any', reason: 'not allowed with labels_include_any' },
      ]);
    }
  }

  async create(actor: Actor, teamId: number | null, b: PolicyBody): Promise<number> {
    this.validate(b);
    let { name, query, description } = b;
    if (b.query_id !== undefined) {
      if (query !== undefined)
        throw invalid('give either query or query_id, not both', [
          { name: 'query_id', reason: 'not allowed with query' },
        ]);
      const q = await this.ctx.ds.queries.get(b.query_id);
      if (!q) throw notFound('query', 'QUERY_NOT_FOUND');
      ({ name, query, description } = q);
    }
    if (!name) throw invalid('Validation Failed', [{ name: 'name', reason: 'required' }]);
    if (!query) throw invalid('Validation Failed', [{ name: 'query', reason: 'required' }]);
    checkPolicySql(query, b.platform ?? '');
    if (teamId !== null && !(await this.ctx.ds.teams.get(teamId)))
      throw notFound('team', 'TEAM_NOT_FOUND');
    if (await this.ctx.ds.policies.getByName(name, teamId))
      throw conflict(`a policy named "${name}" already exists`, 'POLICY_NAME_TAKEN');
    const include = await this.labelIds(b.labels_include_any, 'labels_include_any');
    const exclude = await this.labelIds(b.labels_exclude_any, 'labels_exclude_any');
    const input: PolicyInput = {
      name,
      query,
      description: description ?? '',
      resolution: b.resolution ?? '',
      platform: b.platform ?? '',
      critical: b.critical ?? false,
      teamId,
      authorId: actor.id,
    };
    const id = await this.ctx.ds.policies.create(input, this.ctx.clock());
    if (include.length || exclude.length)
      await this.ctx.ds.policies.setLabels(id, include, exclude);
    await this.ctx.activities.record(actor, 'created_policy', {
      policy_id: id,
      policy_name: name,
      team_id: teamId,
    });
    await this.source.reload();
    this.source.changed();
    return id;
  }

  async update(actor: Actor, p: PolicyRow, b: PolicyBody): Promise<void> {
    this.validate(b);
    if (b.query !== undefined || b.platform !== undefined)
      checkPolicySql(b.query ?? p.query, b.platform ?? p.platform);
    if (b.name && b.name !== p.name && (await this.ctx.ds.policies.getByName(b.name, p.team_id))) {
      throw conflict(`a policy named "${b.name}" already exists`, 'POLICY_NAME_TAKEN');
    }
    const set: Partial<Omit<PolicyInput, 'teamId' | 'authorId'>> = {};
    for (const k of [
      'name',
      'query',
      'description',
      'resolution',
      'platform',
      'critical',
    ] as const) {
      if (b[k] !== undefined) (set as Record<string, unknown>)[k] = b[k];
    }
    // Labels are resolved before anything is written, so a bad name changes nothing.
    const labels =
      b.labels_include_any !== undefined || b.labels_exclude_any !== undefined
        ? {
            include: await this.labelIds(b.labels_include_any, 'labels_include_any'),
            exclude: await this.labelIds(b.labels_exclude_any, 'labels_exclude_any'),
          }
        : undefined;
    await this.source.flush();
    await this.ctx.ds.policies.update(p.id, set, this.ctx.clock());
    if (labels) await this.ctx.ds.policies.setLabels(p.id, labels.include, labels.exclude);
    await this.ctx.activities.record(actor, 'edited_policy', {
      policy_id: p.id,
      policy_name: b.name ?? p.name,
      team_id: p.team_id,
    });
    await this.source.reload();
    this.source.changed();
  }

  async delete(actor: Actor, rows: PolicyRow[]): Promise<number> {
    await this.source.flush();
    const n = await this.ctx.ds.policies.delete(rows.map((r) => r.id));
    for (const p of rows)
      await this.ctx.activities.record(actor, 'deleted_policy', {
        policy_id: p.id,
        policy_name: p.name,
        team_id: p.team_id,
      });
    await this.source.reload();
    this.source.changed();
    return n;
  }

  /**
   * Applies specs (Fleet's `apply`): a policy is matched by name within its team, created
   * when new and updated otherwise. Everything is checked before anything is written.
   */
  async applySpecs(
    authorize: Authorize,
    specs: readonly unknown[],
    defaultTeamId: number | null = null,
  ): Promise<{ created: number; updated: number }> {
    const checked: Array<{ spec: PolicySpec; teamId: number | null }> = [];
    for (const [i, raw] of specs.entries()) {
      const spec = readPolicySpec(raw, `specs[${i}]`);
      let teamId = defaultTeamId;
      if (spec.team) {
        const t = await this.ctx.ds.db
          .selectFrom('teams')
          .select('id')
          .where('name', '=', spec.team)
          .executeTakeFirst();
        if (!t)
          throw invalid(
            `team "${spec.team}" does not exist`,
            [{ name: `specs[${i}].team`, reason: 'unknown team' }],
            'TEAM_NOT_FOUND',
          );
        teamId = t.id;
      }
      authorize('write', { type: 'policy', teamId });
      this.validate(spec);
      try {
        checkPolicySql(spec.query, spec.platform ?? '');
      } catch (e) {
        if (e instanceof Error) e.message = `policy "${spec.name}": ${e.message}`;
        throw e;
      }
      await this.labelIds(spec.labels_include_any, `specs[${i}].labels_include_any`);
      await this.labelIds(spec.labels_exclude_any, `specs[${i}].labels_exclude_any`);
      checked.push({ spec, teamId });
    }
    const actor = authorize('write', {
      type: 'policy',
      teamId: checked[0]?.teamId ?? defaultTeamId,
    });
    let created = 0;
    let updated = 0;
    for (const { spec, teamId } of checked) {
      const body: PolicyBody = {
        name: spec.name,
        query: spec.query,
        description: spec.description ?? '',
        resolution: spec.resolution ?? '',
        platform: spec.platform ?? '',
        critical: spec.critical ?? false,
        labels_include_any: spec.labels_include_any ?? [],
        labels_exclude_any: spec.labels_exclude_any ?? [],
      };
      const existing = await this.ctx.ds.policies.getByName(spec.name, teamId);
      if (existing) {
        await this.update(actor, existing, body);
        updated++;
      } else {
        await this.create(actor, teamId, body);
        created++;
      }
    }
    await this.ctx.activities.record(actor, 'applied_spec_policy', {
      policies: checked.map((c) => ({ name: c.spec.name, team_id: c.teamId })),
    });
    return { created, updated };
  }

  /** A team's (or the global) policies as specs. */
  async specs(teamId: number | null): Promise<PolicySpec[]> {
    const rows = await this.ctx.ds.policies.list({ teamId });
    const team = teamId !== null ? await this.ctx.ds.teams.get(teamId) : undefined;
    const labels = await this.ctx.ds.policies.labels(rows.map((r) => r.id));
    return rows.map((r) => {
      const refs = labels.get(r.id) ?? [];
      const spec: PolicySpec = {
        name: r.name,
        query: r.query,
        description: r.description,
        resolution: r.resolution,
        platform: r.platform,
        critical: r.critical === 1,
      };
      if (team) spec.team = team.name;
      const inc = refs.filter((l) => !l.exclude).map((l) => l.name);
      const exc = refs.filter((l) => l.exclude).map((l) => l.name);
      if (inc.length) spec.labels_include_any = inc;
      if (exc.length) spec.labels_exclude_any = exc;
      return spec;
    });
  }

  /** The policies that apply to a host (global and its team's) with its latest response. */
  async hostPolicies(
    hostId: number,
    teamId: number | null,
  ): Promise<Array<Record<string, unknown>>> {
    await this.source.flush();
    const results = await this.ctx.ds.policies.resultsOfHost(hostId);
    const platform = (await this.ctx.ds.hosts.get(hostId))?.platform ?? '';
    const rows = [
      ...(await this.ctx.ds.policies.list({ teamId: null })),
      ...(teamId !== null ? await this.ctx.ds.policies.list({ teamId }) : []),
    ];
    // Like Fleet: every policy the host is asked, answered or not yet ("" = no result).
    const mine = rows.filter(
      (r) => results.has(r.id) || this.source.appliesTo(r.id, { id: hostId, teamId, platform }),
    );
    const api = await this.toApi(mine);
    return api.map((p) => {
      const r = results.get(p['id'] as number);
      return { ...p, response: r === 1 ? 'pass' : r === 0 ? 'fail' : '' };
    });
  }

  /** Fleet's automations reset: every host failing these policies now is sent again. */
  async resetAutomations(policyIds: readonly number[]): Promise<void> {
    await this.source.flush();
    await this.source.automations?.reset(policyIds);
  }

  /** Automation settings were written: every process re-reads them (this one before returning). */
  async automationsChanged(): Promise<void> {
    await this.source.automations?.changed();
  }

  /** Teams whose hosts' history the actor may read. */
  visibleTeams(actor: Actor, teamId: number | undefined): 'all' | number[] {
    const visible = readableTeams(actor, 'policy');
    if (teamId !== undefined && teamId !== 0 && visible !== 'all' && !visible.includes(teamId))
      throw forbidden();
    return visible;
  }
}

/** RFC 3339 or epoch-ms query parameter → epoch ms. */
export function parseTime(v: string | undefined, field: string, fallback: number): number {
  if (v === undefined || v === '') return fallback;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n))
    throw invalid(`${field} must be an RFC 3339 time or epoch milliseconds`, [
      { name: field, reason: 'not a time' },
    ]);
  return n;
}

export { iso };
