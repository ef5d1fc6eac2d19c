import { sql, type Kysely } from 'kysely';
import type { CarveRow, Database } from '../schema.js';

export class CarveRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async begin(c: Omit<CarveRow, 'id' | 'max_block' | 'error'>): Promise<number> {
    const r = await this.db
      .insertInto('carves')
      .values({ ...c, max_block: -1, error: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  async bySession(sessionId: string): Promise<CarveRow | undefined> {
    return this.db
      .selectFrom('carves')
      .selectAll()
      .where('session_id', '=', sessionId)
      .executeTakeFirst();
  }

  async putBlock(carveId: number, blockId: number, data: Uint8Array): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('carve_blocks')
        .values({ carve_id: carveId, block_id: blockId, data })
        .onConflict((oc) => oc.columns(['carve_id', 'block_id']).doUpdateSet({ data }))
        .execute();
      await trx
        .updateTable('carves')
        .set({
          max_block: sql<number>`CASE WHEN max_block < ${blockId} THEN ${blockId} ELSE max_block END`,
        })
        .where('id', '=', carveId)
        .execute();
    });
  }

  async get(id: number): Promise<CarveRow | undefined> {
    return this.db.selectFrom('carves').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(hostIds: 'all' | number[]): Promise<CarveRow[]> {
    let q = this.db.selectFrom('carves').selectAll();
    if (hostIds !== 'all') q = q.where('host_id', 'in', hostIds.length ? hostIds : [-1]);
    return q.orderBy('id', 'desc').execute();
  }

  async block(carveId: number, blockId: number): Promise<Uint8Array | undefined> {
    const r = await this.db
      .selectFrom('carve_blocks')
      .select('data')
      .where('carve_id', '=', carveId)
      .where('block_id', '=', blockId)
      .executeTakeFirst();
    return r?.data;
  }
}
