import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * Messages between server processes: cache invalidations now, live-query fan-out later.
 * In-process by default; Redis pub/sub when FLOTILLA_REDIS_URL is set.
 */
export interface Bus {
  publish(channel: string, message: unknown): void;
  subscribe(channel: string, handler: (message: unknown) => void): void;
  close(): Promise<void>;
  readonly kind: 'local' | 'redis';
}

export class LocalBus implements Bus {
  readonly kind = 'local' as const;
  private readonly handlers = new Map<string, Array<(m: unknown) => void>>();

  publish(channel: string, message: unknown): void {
    for (const h of this.handlers.get(channel) ?? []) h(message);
  }

  subscribe(channel: string, handler: (message: unknown) => void): void {
    const list = this.handlers.get(channel) ?? [];
    list.push(handler);
    this.handlers.set(channel, list);
  }

  close(): Promise<void> {
    this.handlers.clear();
    return Promise.resolve();
  }
}

/** Redis pub/sub. Delivery to this process's own handlers is immediate, not via Redis. */
export class RedisBus implements Bus {
  readonly kind = 'redis' as const;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly local = new LocalBus();
  private readonly origin = `${process.pid}-${Math.random().toString(36).slice(2)}`;

  constructor(
    url: string,
    private readonly log: Logger,
    private readonly prefix = 'flotilla:',
  ) {
    this.pub = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
    this.sub = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
    this.pub.on('error', (e) => this.log.warn({ err: e }, 'redis publisher error'));
    this.sub.on('error', (e) => this.log.warn({ err: e }, 'redis subscriber error'));
    this.sub.on('message', (channel: string, raw: string) => {
      try {
        const { o, m } = JSON.parse(raw) as { o: string; m: unknown };
        if (o !== this.origin) this.local.publish(channel.slice(this.prefix.length), m);
      } catch (e) {
        this.log.warn({ err: e, channel }, 'bad bus message');
      }
    });
  }

  async ready(): Promise<void> {
    await Promise.all([this.pub.ping(), this.sub.ping()]);
  }

  publish(channel: string, message: unknown): void {
    this.local.publish(channel, message);
    this.pub
      .publish(this.prefix + channel, JSON.stringify({ o: this.origin, m: message }))
      .catch((e: unknown) => {
        this.log.warn({ err: e, channel }, 'bus publish failed');
      });
  }

  subscribe(channel: string, handler: (message: unknown) => void): void {
    this.local.subscribe(channel, handler);
    this.sub
      .subscribe(this.prefix + channel)
      .catch((e: unknown) => this.log.error({ err: e, channel }, 'bus subscribe failed'));
  }

  async close(): Promise<void> {
    await this.local.close();
    this.sub.disconnect();
    await this.pub.quit().catch(() => undefined);
  }
}

/** Channel names, in one place. */
export const CHANNELS = {
  hostChanged: 'host.changed',
  agentOptionsChanged: 'agent-options.changed',
} as const;
