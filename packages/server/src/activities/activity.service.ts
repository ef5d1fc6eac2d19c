import type { Actor } from '@flotilla/core';
import type { Datastore } from '@flotilla/db';

/**
 * The audit log: every mutating action by a person is recorded with who, what and when.
 * Callers pass the actor explicitly so no action can be logged anonymously by accident.
 */
export class ActivityService {
  constructor(
    private readonly ds: Datastore,
    private readonly clock: () => number,
  ) {}

  async record(
    actor: Pick<Actor, 'id' | 'name' | 'email'> | null,
    type: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.ds.activities.create({
      actorId: actor?.id ?? null,
      actorName: actor?.name ?? null,
      actorEmail: actor?.email ?? null,
      type,
      details,
      nowMs: this.clock(),
    });
  }
}
