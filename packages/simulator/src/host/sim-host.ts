import type { Profile } from '../profiles/profile.js';
import { hash32, hex, rngFor, uuidFrom } from './random.js';
import type { Row, TableSource } from './sql-engine.js';

/** One scheduled query as osquery's `osquery_schedule` table reports it. */
export interface ScheduleStats {
  name: string;
  query: string;
  interval: number;
  executions: number;
  lastExecuted: number;
  outputSize: number;
  wallTimeMs: number;
  lastWallTimeMs: number;
  denylisted: boolean;
}

/** What osqueryd itself knows and exposes through `osquery_info`, `osquery_flags`, `osquery_schedule`. */
export interface OsqueryRuntime {
  pid: number;
  instanceId: string;
  startTime: number;
  configHash: string;
  configValid: boolean;
  /** Flag values overridden by the command line or the config's `options`. */
  flags: Readonly<Record<string, string>>;
  schedule: ReadonlyMap<string, ScheduleStats>;
}

/**
 * Hosts of a profile fall into this many patch cohorts: machines patched together run the
 * same package versions (a cohort's few older or newer packages differ from the next one's).
 */
export const PATCH_COHORTS = 32;

export interface SimHostOptions {
  /** Probability per host-minute that a Sigma-matching suspicious scenario is injected. */
  suspiciousRate?: number;
  /** Milliseconds since the epoch; tests pass a fixed clock. */
  clock?: () => number;
}

/**
 * A simulated machine. It stores only what differs from its profile (seed, names, a few
 * timestamps); every table is generated on demand from the profile and the seed, so the
 * same host always answers the same way and thousands fit in one process.
 */
export class SimHost implements TableSource {
  readonly profile: Profile;
  readonly index: number;
  readonly seed: number;
  /** Patch cohort (0 … PATCH_COHORTS-1) and the seed its package versions derive from. */
  readonly cohort: number;
  readonly cohortSeed: number;
  readonly hostname: string;
  readonly uuid: string;
  readonly bootTime: number;
  readonly suspiciousRate: number;
  readonly clock: () => number;
  runtime: OsqueryRuntime;
  /**
   * Lower bound (unix seconds) for evented tables while a scheduled query runs: osquery
   * hands each scheduled query only the events newer than its previous run.
   */
  eventsAfter: number | undefined;

  constructor(profile: Profile, index: number, fleetSeed = 1, options: SimHostOptions = {}) {
    this.profile = profile;
    this.index = index;
    this.seed = hash32(`${profile.name}/${index}`, fleetSeed);
    this.cohort = this.seed % PATCH_COHORTS;
    this.cohortSeed = hash32(`${profile.name}/cohort/${this.cohort}`, fleetSeed);
    this.clock = options.clock ?? Date.now;
    this.suspiciousRate = options.suspiciousRate ?? 0;
    const rand = rngFor(this.seed, 'identity');
    this.uuid = uuidFrom(rand);
    this.hostname = profile.hostname(this.seed, index);
    const now = Math.floor(this.clock() / 1000);
    // Up to 60 days of uptime; laptops reboot more often than servers.
    this.bootTime = now - Math.floor(rand() * profile.maxUptimeDays * 86_400) - 600;
    this.runtime = {
      pid: 400 + Math.floor(rand() * 30_000),
      instanceId: uuidFrom(rand).toLowerCase(),
      startTime: now,
      configHash: '',
      configValid: false,
      flags: {},
      schedule: new Map(),
    };
    this.eventsAfter = undefined;
  }

  /** Seconds since the epoch on this host's clock. */
  now(): number {
    return Math.floor(this.clock() / 1000);
  }

  /** A stable per-host random generator for one purpose (e.g. 'users', 'ports'). */
  rand(purpose: string): () => number {
    return rngFor(this.seed, purpose);
  }

  /** The host's serial number (hardware_serial), stable for its seed. */
  serial(): string {
    return this.profile.serial(this.rand('serial'));
  }

  /** A locally administered MAC address derived from the seed. */
  mac(nic = 0): string {
    const r = this.rand(`mac${nic}`);
    const bytes = [0x02, 0x42, ...Array.from({ length: 4 }, () => Math.floor(r() * 256))];
    return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
  }

  /** Primary private IPv4 address: 10.x.y.z spread by host index. */
  ipv4(): string {
    const n = this.index + 10;
    return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255 || 1}`;
  }

  ipv6LinkLocal(): string {
    return `fe80::${hex(this.rand('ip6'), 4)}:${hex(this.rand('ip6b'), 4)}`;
  }

  /**
   * Who else sees the same rows of `table`: the profile (a table it lacks is empty on every
   * host of it), its patch cohort for the profile's shared tables, or no one (undefined).
   */
  sharedScope(table: string): string | undefined {
    if (!this.profile.tables.has(table)) return this.profile.name;
    return this.profile.sharedTables?.has(table) === true
      ? `${this.profile.name}#${this.cohort}`
      : undefined;
  }

  rows(table: string): Iterable<Row> {
    const generate = this.profile.tables.get(table);
    return generate === undefined ? [] : generate(this, this.now());
  }
}
