import type { Kysely } from 'kysely';
import type { Database, EnrollSecretRow, TeamRow } from '../schema.js';

export interface TeamWithCounts extends TeamRow {
  user_count: number;
  host_count: number;
}

export class TeamRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(name: string, description: string, nowMs: number): Promise<number> {
    const r = await this.db
      .insertInto('teams')
      .values({ name, description, agent_options: null, created_at: nowMs, updated_at: nowMs })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  async get(id: number): Promise<TeamWithCounts | undefined> {
    return (await this.list({ ids: [id], page: 0, perPage: 1 }))[0];
  }

  async getByName(name: string): Promise<TeamRow | undefined> {
    return this.db.selectFrom('teams').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async list(opts: {
    ids?: number[];
    query?: string;
    page: number;
    perPage: number;
  }): Promise<TeamWithCounts[]> {
    let q = this.db
      .selectFrom('teams')
      .selectAll('teams')
      .select((eb) => [
        eb
          .selectFrom('user_teams')
          .select((e) => e.fn.countAll<number>().as('n'))
          .whereRef('user_teams.team_id', '=', 'teams.id')
          .as('user_count'),
        eb
          .selectFrom('hosts')
          .select((e) => e.fn.countAll<number>().as('n'))
          .whereRef('hosts.team_id', '=', 'teams.id')
          .as('host_count'),
      ]);
    if (opts.ids) q = q.where('id', 'in', opts.ids.length ? opts.ids : [-1]);
    if (opts.query)
      q = q.where((eb) => eb(eb.fn('lower', ['name']), 'like', `%${opts.query!.toLowerCase()}%`));
    const rows = await q
      .orderBy('name')
      .limit(opts.perPage)
      .offset(opts.page * opts.perPage)
      .execute();
    return rows.map((r) => ({
      ...r,
      user_count: Number(r.user_count ?? 0),
      host_count: Number(r.host_count ?? 0),
    }));
  }

  async update(
    id: number,
    set: { name?: string; description?: string; agent_options?: string | null },
    nowMs: number,
  ): Promise<void> {
    await this.db
      .updateTable('teams')
      .set({ ...set, updated_at: nowMs })
      .where('id', '=', id)
      .execute();
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('teams').where('id', '=', id).execute();
  }
}

export class EnrollSecretRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async findByHash(hash: string): Promise<EnrollSecretRow | undefined> {
    return this.db
      .selectFrom('enroll_secrets')
      .selectAll()
      .where('secret_hash', '=', hash)
      .executeTakeFirst();
  }

  async list(teamId: number | null): Promise<EnrollSecretRow[]> {
    return this.db
      .selectFrom('enroll_secrets')
      .selectAll()
      .where('team_id', teamId === null ? 'is' : '=', teamId)
      .orderBy('id')
      .execute();
  }

  /** Replaces all secrets of one scope (global or a team), keeping created_at of survivors. */
  async replace(
    teamId: number | null,
    secrets: Array<{ hash: string; enc: string }>,
    nowMs: number,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('enroll_secrets')
        .select(['secret_hash', 'created_at'])
        .where('team_id', teamId === null ? 'is' : '=', teamId)
        .execute();
      const kept = new Map(existing.map((e) => [e.secret_hash, e.created_at]));
      await trx
        .deleteFrom('enroll_secrets')
        .where('team_id', teamId === null ? 'is' : '=', teamId)
        .execute();
      for (const s of secrets) {
        await trx
          .insertInto('enroll_secrets')
          .values({
            secret_hash: s.hash,
            secret_enc: s.enc,
            team_id: teamId,
            created_at: kept.get(s.hash) ?? nowMs,
          })
          .execute();
      }
    });
  }

  /** Which of these hashes already belong to another scope (secrets are unique across teams). */
  async hashesOutside(teamId: number | null, hashes: string[]): Promise<string[]> {
    if (hashes.length === 0) return [];
    const rows = await this.db
      .selectFrom('enroll_secrets')
      .select('secret_hash')
      .where('secret_hash', 'in', hashes)
      .where((eb) =>
        teamId === null
          ? eb('team_id', 'is not', null)
          : eb.or([eb('team_id', 'is', null), eb('team_id', '!=', teamId)]),
      )
      .execute();
    return rows.map((r) => r.secret_hash);
  }
}
