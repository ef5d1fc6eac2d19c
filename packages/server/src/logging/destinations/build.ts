import type { ServerConfig } from '../../config.js';
import type { Destination, LogType } from './destination.js';
import { FilesystemDestination, StdoutDestination } from './filesystem.js';
import { RedisStreamsDestination } from './redis-streams.js';
import { WebhookDestination } from './webhook.js';

/** One destination object per kind (shared by the log types that use it), routed per type. */
export function buildDestinations(
  config: ServerConfig,
): Array<{ type: LogType; destination: Destination }> {
  const made = new Map<string, Destination>();
  const make = (kind: string): Destination => {
    let d = made.get(kind);
    if (d) return d;
    const l = config.logging;
    switch (kind) {
      case 'filesystem':
        d = new FilesystemDestination({
          dir: l.filesystemDir,
          maxBytes: l.filesystemMaxBytes,
          maxAgeS: l.filesystemMaxAgeS,
          compress: l.filesystemCompress,
        });
        break;
      case 'stdout':
        d = new StdoutDestination();
        break;
      case 'webhook':
        d = new WebhookDestination({
          url: l.webhookUrl!,
          format: l.webhookFormat,
          token: l.webhookToken,
        });
        break;
      case 'redis_streams':
        d = new RedisStreamsDestination(l.redisUrl!);
        break;
      default:
        throw new Error(`unknown log destination ${kind}`);
    }
    made.set(kind, d);
    return d;
  };
  const routes: Array<{ type: LogType; destination: Destination }> = [];
  for (const type of ['result', 'status', 'audit'] as const) {
    for (const kind of config.logging[type])
      if (kind !== 'none') routes.push({ type, destination: make(kind) });
  }
  return routes;
}
