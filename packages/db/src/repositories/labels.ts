import type { Kysely } from 'kysely';
import type { Database, LabelRow } from '../schema.js';

export interface LabelWithCount extends LabelRow {
  host_count: number;
}

/** Labels and their host membership (dynamic labels are written from host results). */
export class LabelRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(l: {
    name: string;
    description: string;
    query: string;
    platform: string;
    membershipType: 'dynamic' | 'manual';
    authorId: number | null;
    nowMs: number;
  }): Promise<number> {
    const r = await this.db
      .insertInto('labels')
      .values({
        name: l.name,
        description: l.description,
        query: l.query,
        platform: l.platform,
        label_type: 'regular',
        label_membership_type: l.membershipType,
        author_id: l.authorId,
        created_at: l.nowMs,
        updated_at: l.nowMs,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  async get(id: number): Promise<LabelWithCount | undefined> {
    return (await this.list({ ids: [id] }))[0];
  }

  async getByName(name: string): Promise<LabelRow | undefined> {
    return this.db.selectFrom('labels').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async list(opts: { ids?: number[] } = {}): Promise<LabelWithCount[]> {
    let q = this.db
      .selectFrom('labels')
      .selectAll('labels')
      .select((eb) =>
        eb
          .selectFrom('label_membership')
          .select((e) => e.fn.countAll<number>().as('n'))
          .whereRef('label_membership.label_id', '=', 'labels.id')
          .as('host_count'),
      );
    if (opts.ids) q = q.where('id', 'in', opts.ids.length ? opts.ids : [-1]);
    const rows = await q.orderBy('label_type').orderBy('name').execute();
    return rows.map((r) => ({ ...r, host_count: Number(r.host_count ?? 0) }));
  }

  async dynamic(): Promise<Array<Pick<LabelRow, 'id' | 'query' | 'platform'>>> {
    return this.db
      .selectFrom('labels')
      .select(['id', 'query', 'platform'])
      .where('label_membership_type', '=', 'dynamic')
      .orderBy('id')
      .execute();
  }

  async update(
    id: number,
    set: { name?: string; description?: string; query?: string; platform?: string },
    nowMs: number,
  ): Promise<void> {
    await this.db
      .updateTable('labels')
      .set({ ...set, updated_at: nowMs })
      .where('id', '=', id)
      .execute();
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('labels').where('id', '=', id).execute();
  }

  /** Applies membership changes from many hosts' label results in one transaction. */
  async applyMembership(
    changes: ReadonlyArray<{ hostId: number; add: number[]; remove: number[] }>,
    nowMs: number,
  ): Promise<void> {
    if (!changes.length) return;
    await this.db.transaction().execute(async (trx) => {
      for (const c of changes) {
        if (c.remove.length)
          await trx
            .deleteFrom('label_membership')
            .where('host_id', '=', c.hostId)
            .where('label_id', 'in', c.remove)
            .execute();
        if (c.add.length) {
          await trx
            .insertInto('label_membership')
            .values(c.add.map((l) => ({ label_id: l, host_id: c.hostId, updated_at: nowMs })))
            .onConflict((oc) => oc.columns(['label_id', 'host_id']).doNothing())
            .execute();
        }
      }
    });
  }

  /** Replaces a manual label's hosts. */
  async setHosts(labelId: number, hostIds: readonly number[], nowMs: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('label_membership').where('label_id', '=', labelId).execute();
      for (let i = 0; i < hostIds.length; i += 500) {
        const chunk = hostIds.slice(i, i + 500);
        if (chunk.length)
          await trx
            .insertInto('label_membership')
            .values(chunk.map((h) => ({ label_id: labelId, host_id: h, updated_at: nowMs })))
            .execute();
      }
    });
  }

  async labelIdsOfHost(hostId: number): Promise<number[]> {
    return (
      await this.db
        .selectFrom('label_membership')
        .select('label_id')
        .where('host_id', '=', hostId)
        .execute()
    ).map((r) => r.label_id);
  }

  async labelsOfHost(hostId: number): Promise<LabelRow[]> {
    return this.db
      .selectFrom('labels')
      .innerJoin('label_membership', 'label_membership.label_id', 'labels.id')
      .selectAll('labels')
      .where('label_membership.host_id', '=', hostId)
      .orderBy('labels.id')
      .execute();
  }

  /** Hosts in any of `labelIds`. */
  async hostIdsInAny(labelIds: readonly number[]): Promise<number[]> {
    if (!labelIds.length) return [];
    const rows = await this.db
      .selectFrom('label_membership')
      .select('host_id')
      .distinct()
      .where('label_id', 'in', labelIds)
      .execute();
    return rows.map((r) => r.host_id);
  }

  /** Hosts in every one of `labelIds`. */
  async hostIdsInAll(labelIds: readonly number[]): Promise<number[]> {
    if (!labelIds.length) return [];
    const rows = await this.db
      .selectFrom('label_membership')
      .select('host_id')
      .where('label_id', 'in', labelIds)
      .groupBy('host_id')
      .having((eb) => eb.fn.count('label_id').distinct(), '=', labelIds.length)
      .execute();
    return rows.map((r) => r.host_id);
  }
}
