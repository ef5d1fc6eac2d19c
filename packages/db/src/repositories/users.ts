import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../schema.js';

export interface UserWithTeams extends UserRow {
  teams: Array<{ team_id: number; role: string; name: string }>;
}

export class UserRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async create(input: {
    name: string;
    email: string;
    passwordHash: string;
    globalRole: string | null;
    apiOnly: boolean;
    teams: Array<{ teamId: number; role: string }>;
    nowMs: number;
  }): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('users')
        .values({
          name: input.name,
          email: input.email,
          password_hash: input.passwordHash,
          global_role: input.globalRole,
          api_only: input.apiOnly ? 1 : 0,
          enabled: 1,
          force_password_reset: 0,
          created_at: input.nowMs,
          updated_at: input.nowMs,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      if (input.teams.length) {
        await trx
          .insertInto('user_teams')
          .values(input.teams.map((t) => ({ user_id: row.id, team_id: t.teamId, role: t.role })))
          .execute();
      }
      return row.id;
    });
  }

  async get(id: number): Promise<UserWithTeams | undefined> {
    const user = await this.db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return user ? (await this.withTeams([user]))[0] : undefined;
  }

  async getByEmail(email: string): Promise<UserWithTeams | undefined> {
    const user = await this.db
      .selectFrom('users')
      .selectAll()
      .where('email', '=', email)
      .executeTakeFirst();
    return user ? (await this.withTeams([user]))[0] : undefined;
  }

  async list(opts: {
    teamIds?: number[];
    query?: string;
    orderKey: 'id' | 'name' | 'email' | 'created_at';
    orderDirection: 'asc' | 'desc';
    page: number;
    perPage: number;
  }): Promise<UserWithTeams[]> {
    let q = this.db.selectFrom('users').selectAll();
    if (opts.teamIds) {
      const ids = opts.teamIds;
      q = q.where('id', 'in', (eb) =>
        eb
          .selectFrom('user_teams')
          .select('user_id')
          .where('team_id', 'in', ids.length ? ids : [-1]),
      );
    }
    if (opts.query) {
      const like = `%${opts.query.toLowerCase()}%`;
      q = q.where((eb) =>
        eb.or([
          eb(eb.fn('lower', ['name']), 'like', like),
          eb(eb.fn('lower', ['email']), 'like', like),
        ]),
      );
    }
    const users = await q
      .orderBy(opts.orderKey, opts.orderDirection)
      .orderBy('id')
      .limit(opts.perPage)
      .offset(opts.page * opts.perPage)
      .execute();
    return this.withTeams(users);
  }

  async update(
    id: number,
    set: {
      name?: string;
      email?: string;
      password_hash?: string;
      global_role?: string | null;
      force_password_reset?: number;
      enabled?: number;
    },
    teams: Array<{ teamId: number; role: string }> | undefined,
    nowMs: number,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set({ ...set, updated_at: nowMs })
        .where('id', '=', id)
        .execute();
      if (teams) {
        await trx.deleteFrom('user_teams').where('user_id', '=', id).execute();
        if (teams.length) {
          await trx
            .insertInto('user_teams')
            .values(teams.map((t) => ({ user_id: id, team_id: t.teamId, role: t.role })))
            .execute();
        }
      }
    });
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('users').where('id', '=', id).execute();
  }

  private async withTeams(users: UserRow[]): Promise<UserWithTeams[]> {
    if (users.length === 0) return [];
    const rows = await this.db
      .selectFrom('user_teams')
      .innerJoin('teams', 'teams.id', 'user_teams.team_id')
      .select(['user_teams.user_id', 'user_teams.team_id', 'user_teams.role', 'teams.name'])
      .where(
        'user_teams.user_id',
        'in',
        users.map((u) => u.id),
      )
      .orderBy('user_teams.team_id')
      .execute();
    return users.map((u) => ({
      ...u,
      teams: rows
        .filter((r) => r.user_id === u.id)
        .map((r) => ({ team_id: r.team_id, role: r.role, name: r.name })),
    }));
  }
}

export class SessionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(userId: number, tokenHash: string, nowMs: number): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({ user_id: userId, token_hash: tokenHash, created_at: nowMs, accessed_at: nowMs })
      .execute();
  }

  async findUserId(
    tokenHash: string,
  ): Promise<{ user_id: number; accessed_at: number } | undefined> {
    return this.db
      .selectFrom('sessions')
      .select(['user_id', 'accessed_at'])
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
  }

  async touch(tokenHash: string, nowMs: number): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ accessed_at: nowMs })
      .where('token_hash', '=', tokenHash)
      .execute();
  }

  async delete(tokenHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('token_hash', '=', tokenHash).execute();
  }

  async deleteForUser(userId: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }
}
