import type { Actor } from '@flotilla/core';
import type { Datastore } from '@flotilla/db';

/**
 * The audit log: every mutating action by a person is recorded with who, what and when.
 * Callers pass the actor explicitly so no action can be logged anonymously by accident.
 */
export class ActivityService {
  /** Also copies each activity to the audit log destinations (set once the pipeline exists). */
  copyTo: ((line: string) => Promise<void>) | undefined;

  constructor(
    private readonly ds: Datastore,
    private readonly clock: () => number,
  ) {}

  async record(
    actor: Pick<Actor, 'id' | 'name' | 'email'> | null,
    type: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    const now = this.clock();
    const id = await this.ds.activities.create({
      actorId: actor?.id ?? null,
      actorName: actor?.name ?? null,
      actorEmail: actor?.email ?? null,
      type,
      details,
      nowMs: now,
    });
    await this.copyTo?.(
      JSON.stringify({
        id,
        created_at: new Date(now).toISOString(),
        actor_id: actor?.id ?? null,
        actor_full_name: actor?.name ?? null,
        actor_email: actor?.email ?? null,
        type,
        details,
      }),
    );
  }
}
