import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Migrator, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { ColumnTypes, DialectName } from './dialect.js';
import { connectSqlite, sqliteTypes } from './dialects/sqlite/connect.js';
import { connectPostgres, postgresTypes } from './dialects/postgres/connect.js';
import { CodeMigrationProvider } from './migrations/index.js';
import { HostRepository } from './repositories/hosts.js';
import { SessionRepository, UserRepository } from './repositories/users.js';
import { EnrollSecretRepository, TeamRepository } from './repositories/teams.js';
import { ActivityRepository } from './repositories/activities.js';
import { CarveRepository } from './repositories/carves.js';
import { AppConfigRepository } from './repositories/app-config.js';
import { QueryRepository } from './repositories/queries.js';
import { LabelRepository } from './repositories/labels.js';
import { CampaignRepository } from './repositories/campaigns.js';
import { QueryReportRepository } from './repositories/query-reports.js';
import { PolicyRepository } from './repositories/policies.js';
import { SoftwareRepository } from './repositories/software.js';
import { VulnerabilityRepository } from './repositories/vulnerabilities.js';

export interface DatastoreOptions {
  /** postgres://… selects PostgreSQL; otherwise `sqliteFile` is used. */
  databaseUrl?: string | undefined;
  sqliteFile?: string;
  maxConnections?: number;
}

/** The database and every repository over it. Only the server opens one. */
export class Datastore {
  readonly hosts: HostRepository;
  readonly users: UserRepository;
  readonly sessions: SessionRepository;
  readonly teams: TeamRepository;
  readonly enrollSecrets: EnrollSecretRepository;
  readonly activities: ActivityRepository;
  readonly carves: CarveRepository;
  readonly appConfig: AppConfigRepository;
  readonly queries: QueryRepository;
  readonly labels: LabelRepository;
  readonly campaigns: CampaignRepository;
  readonly queryReports: QueryReportRepository;
  readonly policies: PolicyRepository;
  readonly software: SoftwareRepository;
  readonly vulnerabilities: VulnerabilityRepository;
  /**
   * How to open another connection to this database (a worker thread's own); undefined for an
   * in-memory SQLite database, which no other connection can see.
   */
  location: DatastoreOptions | undefined;

  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: DialectName,
    private readonly types: ColumnTypes,
  ) {
    this.hosts = new HostRepository(db);
    this.users = new UserRepository(db);
    this.sessions = new SessionRepository(db);
    this.teams = new TeamRepository(db);
    this.enrollSecrets = new EnrollSecretRepository(db);
    this.activities = new ActivityRepository(db);
    this.carves = new CarveRepository(db);
    this.appConfig = new AppConfigRepository(db);
    this.queries = new QueryRepository(db);
    this.labels = new LabelRepository(db);
    this.campaigns = new CampaignRepository(db);
    this.queryReports = new QueryReportRepository(db);
    this.policies = new PolicyRepository(db, dialect);
    this.software = new SoftwareRepository(db, dialect);
    this.vulnerabilities = new VulnerabilityRepository(db);
  }

  /**
   * Applies pending forward-only migrations (up to and including `upTo`, by name, when given:
   * tests of an upgrade start from an older schema); returns the names applied.
   */
  async migrate(upTo?: string): Promise<string[]> {
    const migrator = new Migrator({ db: this.db, provider: new CodeMigrationProvider(this.types) });
    const { error, results } = await (upTo === undefined
      ? migrator.migrateToLatest()
      : migrator.migrateTo(upTo));
    if (error) throw error instanceof Error ? error : new Error(String(error));
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

export function openDatastore(opts: DatastoreOptions): Datastore {
  if (opts.databaseUrl && /^postgres(ql)?:\/\//.test(opts.databaseUrl)) {
    const { db } = connectPostgres(opts.databaseUrl, opts.maxConnections);
    const ds = new Datastore(db, 'postgres', postgresTypes);
    ds.location = { databaseUrl: opts.databaseUrl };
    return ds;
  }
  if (opts.databaseUrl)
    throw new Error(`unsupported database URL scheme: ${opts.databaseUrl.split(':')[0]}`);
  if (!opts.sqliteFile) throw new Error('sqliteFile is required when no database URL is given');
  if (opts.sqliteFile !== ':memory:') mkdirSync(dirname(opts.sqliteFile), { recursive: true });
  const { db } = connectSqlite(opts.sqliteFile);
  const ds = new Datastore(db, 'sqlite', sqliteTypes);
  if (opts.sqliteFile !== ':memory:') ds.location = { sqliteFile: opts.sqliteFile };
  return ds;
}
