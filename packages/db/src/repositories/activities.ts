import type { Kysely } from 'kysely';
import type { ActivityRow, Database } from '../schema.js';

export class ActivityRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(a: {
    actorId: number | null;
    actorName: string | null;
    actorEmail: string | null;
    type: string;
    details: unknown;
    nowMs: number;
  }): Promise<number> {
    const r = await this.db
      .insertInto('activities')
      .values({
        actor_id: a.actorId,
        actor_full_name: a.actorName,
        actor_email: a.actorEmail,
        type: a.type,
        details: JSON.stringify(a.details ?? {}),
        created_at: a.nowMs,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  /** Lists one page, fetching one extra row to know whether a next page exists. */
  async list(opts: {
    orderKey: 'id' | 'created_at' | 'type';
    orderDirection: 'asc' | 'desc';
    page: number;
    perPage: number;
    type?: string;
  }): Promise<{ rows: ActivityRow[]; hasNext: boolean }> {
    let q = this.db.selectFrom('activities').selectAll();
    if (opts.type) q = q.where('type', '=', opts.type);
    const rows = await q
      .orderBy(opts.orderKey, opts.orderDirection)
      .orderBy('id', opts.orderDirection)
      .limit(opts.perPage + 1)
      .offset(opts.page * opts.perPage)
      .execute();
    return { rows: rows.slice(0, opts.perPage), hasNext: rows.length > opts.perPage };
  }
}
