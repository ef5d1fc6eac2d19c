import { Redis } from 'ioredis';
import type { Destination, LogType } from './destination.js';

/**
 * Redis Streams: each line is one entry (`XADD flotilla:logs:<type> MAXLEN ~ N * line <json>`),
 * so consumers can read with XREAD or consumer groups and acknowledge at their own pace.
 */
export class RedisStreamsDestination implements Destination {
  readonly kind = 'redis_streams';
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix = 'flotilla:logs:',
    private readonly maxLen = 1_000_000,
  ) {
    this.redis = new Redis(url, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: false,
    });
    this.redis.on('error', () => undefined); // failures surface as rejected deliveries
  }

  stream(type: LogType): string {
    return this.prefix + type;
  }

  async deliver(type: LogType, lines: readonly string[]): Promise<void> {
    const p = this.redis.multi();
    for (const l of lines) p.xadd(this.stream(type), 'MAXLEN', '~', this.maxLen, '*', 'line', l);
    const res = await p.exec();
    const failed = res?.find(([err]) => err);
    if (!res || failed) throw failed?.[0] ?? new Error('redis transaction aborted');
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
