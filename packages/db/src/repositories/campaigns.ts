import type { Kysely } from 'kysely';
import type { CampaignRow, Database } from '../schema.js';

/** The record of each live query (what was asked, by whom, of how many hosts). */
export class CampaignRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(c: {
    queryId: number | null;
    sql: string;
    userId: number | null;
    targets: number;
    nowMs: number;
  }): Promise<number> {
    const r = await this.db
      .insertInto('campaigns')
      .values({
        query_id: c.queryId,
        query_sql: c.sql,
        user_id: c.userId,
        status: 'waiting',
        targets_count: c.targets,
        created_at: c.nowMs,
        updated_at: c.nowMs,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  async get(id: number): Promise<CampaignRow | undefined> {
    return this.db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async setStatus(
    id: number,
    status: 'waiting' | 'running' | 'finished' | 'stopped',
    nowMs: number,
  ): Promise<void> {
    await this.db
      .updateTable('campaigns')
      .set({ status, updated_at: nowMs })
      .where('id', '=', id)
      .execute();
  }
}
