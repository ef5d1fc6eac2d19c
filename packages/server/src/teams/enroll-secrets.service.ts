import { conflict, invalid } from '@flotilla/core';
import type { AppContext } from '../context.js';
import { iso } from '../http/format.js';

/** Enroll secrets, global or per team: encrypted at rest, unique across all scopes. */
export class EnrollSecretService {
  constructor(private readonly ctx: AppContext) {}

  async list(teamId: number | null) {
    const rows = await this.ctx.ds.enrollSecrets.list(teamId);
    return rows.map((r) => ({
      secret: this.ctx.secrets.open(r.secret_enc),
      created_at: iso(r.created_at),
      team_id: r.team_id,
    }));
  }

  async replace(teamId: number | null, secrets: string[]): Promise<void> {
    const cleaned = secrets.map((s) => s.trim());
    if (cleaned.some((s) => s.length < 8))
      throw invalid('Validation Failed', [
        { name: 'secret', reason: 'must be at least 8 characters' },
      ]);
    if (new Set(cleaned).size !== cleaned.length)
      throw invalid('Validation Failed', [{ name: 'secret', reason: 'duplicate secret' }]);
    const entries = cleaned.map((s) => ({
      hash: this.ctx.secrets.lookupHash(s),
      enc: this.ctx.secrets.seal(s),
    }));
    const taken = await this.ctx.ds.enrollSecrets.hashesOutside(
      teamId,
      entries.map((e) => e.hash),
    );
    if (taken.length)
      throw conflict(
        'an enroll secret is already in use by another team or globally',
        'ENROLL_SECRET_TAKEN',
      );
    await this.ctx.ds.enrollSecrets.replace(teamId, entries, this.ctx.clock());
  }
}
