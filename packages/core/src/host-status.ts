/** Extra seconds before a host counts as offline, so hosts don't flap (Fleet uses 60). */
export const ONLINE_INTERVAL_BUFFER_S = 60;
/** A host is "new" for a day after it first enrolled. */
export const NEW_HOST_WINDOW_MS = 24 * 3600 * 1000;
/** A host unseen for 30 days is "missing". */
export const MISSING_HOST_WINDOW_MS = 30 * 24 * 3600 * 1000;

export type HostStatus = 'online' | 'offline';
export type HostStatusFilter = 'online' | 'offline' | 'new' | 'missing' | 'mia';

/**
 * Online when seen within the shorter of its check-in intervals plus a buffer, as Fleet
 * computes it; otherwise offline.
 */
export function hostStatus(
  seenTimeMs: number,
  distributedInterval: number,
  configTlsRefresh: number,
  nowMs: number,
): HostStatus {
  const interval = Math.min(distributedInterval, configTlsRefresh) + ONLINE_INTERVAL_BUFFER_S;
  return seenTimeMs + interval * 1000 < nowMs ? 'offline' : 'online';
}
