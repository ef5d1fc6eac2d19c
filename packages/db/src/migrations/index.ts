import type { Kysely, Migration, MigrationProvider } from 'kysely';
import type { ColumnTypes } from '../dialect.js';
import * as m0001 from './0001-initial.js';
import * as m0002 from './0002-queries-labels-campaigns.js';
import * as m0005 from './0005-query-reports.js';
import * as m0006 from './0006-packs.js';
import * as m0007 from './0007-event-results.js';
import * as m0003 from './0003-policies.js';
import * as m0004 from './0004-software.js';
import * as m0008 from './0008-software-cves.js';
import * as m0009 from './0009-host-software-ingest.js';
import * as m0010 from './0010-cve-details.js';
import * as m0011 from './0011-policy-queue-and-membership.js';
import * as m0012 from './0012-vulnerability-host-counts.js';
import * as m0013 from './0013-software-host-counts.js';
import * as m0014 from './0014-host-seen-times.js';

interface Step {
  up(db: Kysely<unknown>, types: ColumnTypes): Promise<void>;
}

/** Forward-only: a migration is never edited once released; add a new file instead. */
const STEPS: Record<string, Step> = {
  '0001-initial': m0001,
  '0002-queries-labels-campaigns': m0002,
  '0003-policies': m0003,
  '0004-software': m0004,
  '0005-query-reports': m0005,
  '0006-packs': m0006,
  '0007-event-results': m0007,
  '0008-software-cves': m0008,
  '0009-host-software-ingest': m0009,
  '0010-cve-details': m0010,
  '0011-policy-queue-and-membership': m0011,
  '0012-vulnerability-host-counts': m0012,
  '0013-software-host-counts': m0013,
  '0014-host-seen-times': m0014,
};

export class CodeMigrationProvider implements MigrationProvider {
  constructor(private readonly types: ColumnTypes) {}

  getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const [name, step] of Object.entries(STEPS)) {
      out[name] = { up: (db) => step.up(db, this.types) };
    }
    return Promise.resolve(out);
  }
}
