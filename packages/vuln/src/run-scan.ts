import { FeedError } from './errors.js';
import { loadFeedsDir, readInventory } from './feeds/load.js';
import type { FeedError as FeedErrorType } from './errors.js';
import { createScanner } from './match/scanner.js';
import type { Finding, HostInventory } from './types.js';

export interface RunScanOptions {
  feedsDir: string;
  inventoryFile: string;
}

export interface RunScanResult {
  host: HostInventory;
  findings: Finding[];
  feedsLoaded: number;
  /** Feed files that were refused (corrupt, truncated, unknown format). */
  feedErrors: FeedErrorType[];
}

/**
 * Scans one inventory file against every feed under a local directory (no network).
 * @example
 *   const { findings } = runScan({ feedsDir: './feeds', inventoryFile: './host.json' });
 */
export function runScan(options: RunScanOptions): RunScanResult {
  const feeds = loadFeedsDir(options.feedsDir);
  if (feeds.loaded.length === 0) {
    throw new FeedError('feeds', 'empty', `no usable feed files under ${options.feedsDir}`);
  }
  const host = readInventory(options.inventoryFile);
  const findings = createScanner(feeds.db).scanHost(host);
  return { host, findings, feedsLoaded: feeds.loaded.length, feedErrors: feeds.errors };
}
