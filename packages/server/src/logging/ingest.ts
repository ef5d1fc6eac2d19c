import { invalid } from '@flotilla/core';
import type { Logger } from 'pino';
import type { HostRuntime } from '../osquery/host-cache.js';
import type { LogPipeline } from './pipeline.js';

/** Largest single log line accepted (serialized); larger ones are counted and dropped. */
export const MAX_LINE_BYTES = 1024 * 1024;

type Entry = Record<string, unknown>;

export interface LogHooks {
  /** Result entries after they are durable (query reports). Returns how many matched no query. */
  results?(host: HostRuntime, entries: Entry[], now: number): number;
  /** Status entries after they are durable (scheduled query errors). */
  statuses?(host: HostRuntime, entries: Entry[], now: number): void;
}

/**
 * Turns an agent's /log body into durable lines: each entry is checked on its own, so a
 * malformed, oversized or wrongly typed entry is counted and skipped without losing the rest
 * of the batch. The agent is answered only after the good lines are on disk.
 */
export class LogIngest {
  hooks: LogHooks = {};

  constructor(
    readonly pipeline: LogPipeline,
    private readonly log: Logger,
    private readonly clock: () => number,
  ) {}

  async ingest(host: HostRuntime, body: Record<string, unknown>): Promise<void> {
    const type = body['log_type'];
    const data = body['data'];
    if (type !== 'result' && type !== 'status') {
      throw invalid('log_type must be "result" or "status"', [
        { name: 'log_type', reason: 'must be result or status' },
      ]);
    }
    if (!Array.isArray(data))
      throw invalid('data must be an array of log entries', [
        { name: 'data', reason: 'must be an array' },
      ]);
    const c = this.pipeline.counters;
    const lines: string[] = [];
    const entries: Entry[] = [];
    for (const raw of data) {
      let entry: unknown = raw;
      if (typeof raw === 'string') {
        if (raw.length > MAX_LINE_BYTES) {
          c.oversized++;
          continue;
        }
        try {
          entry = JSON.parse(raw);
        } catch {
          c.malformed++;
          continue;
        }
      }
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        c.wrong_type++;
        continue;
      }
      const e = entry as Entry;
      if (type === 'result' && typeof e['name'] !== 'string') {
        c.malformed++;
        continue;
      }
      const line = JSON.stringify({ host_id: host.id, host_identifier: host.osqueryHostId, ...e });
      if (line.length > MAX_LINE_BYTES) {
        c.oversized++;
        continue;
      }
      lines.push(line);
      entries.push(e);
    }
    await this.pipeline.append(type, lines);
    const now = this.clock();
    try {
      if (type === 'result') c.unknown_query += this.hooks.results?.(host, entries, now) ?? 0;
      else this.hooks.statuses?.(host, entries, now);
    } catch (err) {
      this.log.warn({ err, host: host.id }, 'log post-processing failed; lines are stored');
    }
  }
}
