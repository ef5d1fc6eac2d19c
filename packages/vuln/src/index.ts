export { FeedError } from './errors.js';
export type { FeedErrorReason } from './errors.js';
export type {
  Finding,
  HostInventory,
  InstalledPackage,
  OsRelease,
  PackageType,
  Severity,
  SourceFeed,
} from './types.js';
export { normalizeSeverity, severityFromCvss } from './types.js';

export {
  compareApk,
  compareDpkg,
  compareGeneric,
  compareNevra,
  comparePep440,
  compareRpmEvr,
  compareSemver,
  compareVersions,
  parseDpkgVersion,
  parseNevra,
  parseRpmEvr,
  rpmvercmp,
} from './versions/index.js';
export type { VersionScheme } from './versions/index.js';

export { parseOval } from './feeds/oval.js';
export type { OvalFeed } from './feeds/oval.js';
export { parseDebianTracker } from './feeds/debian-tracker.js';
export type { DebianTrackerIndex } from './feeds/debian-tracker.js';
export { parseAlpineSecdb } from './feeds/alpine-secdb.js';
export type { AlpineSecdb } from './feeds/alpine-secdb.js';
export { parseOsv, emptyOsvIndex } from './feeds/osv.js';
export type { OsvIndex } from './feeds/osv.js';
export { parseNvd, emptyNvdIndex, nvdTime } from './feeds/nvd.js';
export type { NvdIndex } from './feeds/nvd.js';
export { parseEpss, parseKev } from './feeds/kev-epss.js';
export type { EpssIndex, KevIndex } from './feeds/kev-epss.js';
export {
  addFeedFile,
  detectFeedKind,
  inventoryFromJson,
  loadFeedsDir,
  readFeedText,
  readInventory,
} from './feeds/load.js';
export type { FeedKind, LoadedFeeds } from './feeds/load.js';

export { createScanner, cveDetails, emptyDatabase } from './match/scanner.js';
export type { CveDetails, ScanStats, Scanner, VulnDatabase } from './match/scanner.js';
export { cpeFor } from './match/cpe-map.js';
export type { CpeTarget } from './match/cpe-map.js';

export { runScan } from './run-scan.js';
export type { RunScanOptions, RunScanResult } from './run-scan.js';
export { formatFindingsTable, vulnScanCommand } from './cli.js';
export type { VulnScanCliOptions } from './cli.js';
