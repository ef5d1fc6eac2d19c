import type { Finding } from '../types.js';

/** A finding before KEV/EPSS enrichment. */
export type RawFinding = Omit<Finding, 'known_exploited' | 'kev_date_added' | 'epss'>;
