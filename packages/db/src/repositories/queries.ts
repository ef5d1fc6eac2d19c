import type { Insertable, Kysely, Updateable } from 'kysely';
import type { Database, QueriesTable, QueryRow } from '../schema.js';

export type QueryInsert = Omit<Insertable<QueriesTable>, 'id'>;
export type QueryPatch = Updateable<QueriesTable>;

/** Saved queries, global (team_id null) or per team. */
export class QueryRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(q: QueryInsert): Promise<number> {
    return (await this.db.insertInto('queries').values(q).returning('id').executeTakeFirstOrThrow())
      .id;
  }

  async get(id: number): Promise<QueryRow | undefined> {
    return this.db.selectFrom('queries').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async getByName(name: string, teamId: number | null): Promise<QueryRow | undefined> {
    return this.db
      .selectFrom('queries')
      .selectAll()
      .where('name', '=', name)
      .where('team_id', teamId === null ? 'is' : '=', teamId)
      .executeTakeFirst();
  }

  /** Lists queries; `teamIds` limits team queries to those teams, `includeGlobal` adds global ones. */
  async list(opts: {
    teamIds: 'all' | number[];
    includeGlobal: boolean;
    onlyTeam?: number | null | undefined;
    query?: string | undefined;
    scheduledOnly?: boolean | undefined;
    orderKey: 'id' | 'name' | 'created_at' | 'updated_at';
    orderDirection: 'asc' | 'desc';
    page: number;
    perPage: number;
  }): Promise<QueryRow[]> {
    let q = this.db.selectFrom('queries').selectAll();
    if (opts.onlyTeam !== undefined) {
      q = q.where('team_id', opts.onlyTeam === null ? 'is' : '=', opts.onlyTeam);
    }
    if (opts.teamIds !== 'all') {
      const ids = opts.teamIds.length ? opts.teamIds : [-1];
      q = q.where((eb) =>
        opts.includeGlobal
          ? eb.or([eb('team_id', 'is', null), eb('team_id', 'in', ids)])
          : eb('team_id', 'in', ids),
      );
    } else if (!opts.includeGlobal) {
      q = q.where('team_id', 'is not', null);
    }
    if (opts.query) {
      const like = `%${opts.query.toLowerCase()}%`;
      q = q.where((eb) =>
        eb.or([
          eb(eb.fn('lower', ['name']), 'like', like),
          eb(eb.fn('lower', ['query']), 'like', like),
        ]),
      );
    }
    if (opts.scheduledOnly) q = q.where('interval', '>', 0);
    return q
      .orderBy(opts.orderKey, opts.orderDirection)
      .orderBy('id')
      .limit(opts.perPage)
      .offset(opts.page * opts.perPage)
      .execute();
  }

  async update(id: number, set: QueryPatch): Promise<void> {
    await this.db.updateTable('queries').set(set).where('id', '=', id).execute();
  }

  async delete(ids: readonly number[]): Promise<number> {
    if (!ids.length) return 0;
    return Number(
      (await this.db.deleteFrom('queries').where('id', 'in', ids).executeTakeFirst())
        .numDeletedRows,
    );
  }
}
