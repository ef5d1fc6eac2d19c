import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** The single row of organisation-wide settings, stored as JSON. */
export class AppConfigRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async get(): Promise<Record<string, unknown> | undefined> {
    const r = await this.db
      .selectFrom('app_config')
      .select('json')
      .where('id', '=', 1)
      .executeTakeFirst();
    return r ? (JSON.parse(r.json) as Record<string, unknown>) : undefined;
  }

  async put(value: Record<string, unknown>, nowMs: number): Promise<void> {
    const json = JSON.stringify(value);
    await this.db
      .insertInto('app_config')
      .values({ id: 1, json, updated_at: nowMs })
      .onConflict((oc) => oc.column('id').doUpdateSet({ json, updated_at: nowMs }))
      .execute();
  }
}
