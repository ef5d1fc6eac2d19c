import type { SimHost } from '../host/sim-host.js';
import type { OsqueryPlatform } from '../host/schema.js';
import type { Row } from '../host/sql-engine.js';

/** Produces one table's rows for a host at `now` (unix seconds). */
export type TableGenerator = (host: SimHost, now: number) => Iterable<Row>;

/** A kind of machine: its OS, shared data and how each host of the kind varies. */
export interface Profile {
  /** e.g. `ubuntu-22.04`, as used by `--profiles`. */
  name: string;
  platform: OsqueryPlatform;
  /** osquery's PlatformType bitmask as sent in enroll: linux "9", darwin "21", windows "2". */
  platformType: string;
  /** Value of `platform` in os_version (ubuntu, rhel, darwin, windows …), used by pack `platform` filters too. */
  osPlatform: string;
  maxUptimeDays: number;
  hostname(seed: number, index: number): string;
  serial(rand: () => number): string;
  tables: ReadonlyMap<string, TableGenerator>;
  /**
   * Tables whose rows depend only on the profile and the host's patch cohort (package
   * inventories), never on the host itself or the time: hosts of one cohort share the
   * answers to queries that read only these (see SqlEngine's shared results).
   */
  sharedTables?: ReadonlySet<string>;
}
