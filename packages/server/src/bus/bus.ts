import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export type BusHandler = (message: unknown) => void;

/**
 * Messages between server processes: cache invalidations and live-query fan-out.
 * In-process by default; Redis pub/sub when FLOTILLA_REDIS_URL is set.
 */
export interface Bus {
  publish(channel: string, message: unknown): void;
  /** Returns a function that removes this handler (and the Redis subscription with the last one). */
  subscribe(channel: string, handler: BusHandler): () => void;
  close(): Promise<void>;
  readonly kind: 'local' | 'redis';
}

export class LocalBus implements Bus {
  readonly kind = 'local' as const;
  private readonly handlers = new Map<string, Set<BusHandler>>();

  publish(channel: string, message: unknown): void {
    const set = this.handlers.get(channel);
    if (!set) return;
    for (const h of set) h(message);
  }

  subscribe(channel: string, handler: BusHandler): () => void {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    return () => {
      const s = this.handlers.get(channel);
      if (!s) return;
      s.delete(handler);
      if (s.size === 0) this.handlers.delete(channel);
    };
  }

  channels(): number {
    return this.handlers.size;
  }

  hasSubscribers(channel: string): boolean {
    return this.handlers.has(channel);
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
    this.pub = new Redis(url, { maxRetriesPerRequest: 3 });
    this.sub = new Redis(url, { maxRetriesPerRequest: 3 });
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

  /** The Redis client for commands (sets, hashes) that features keep beside pub/sub. */
  get redis(): Redis {
    return this.pub;
  }

  publish(channel: string, message: unknown): void {
    this.local.publish(channel, message);
    this.pub
      .publish(this.prefix + channel, JSON.stringify({ o: this.origin, m: message }))
      .catch((e: unknown) => {
        this.log.warn({ err: e, channel }, 'bus publish failed');
      });
  }

  subscribe(channel: string, handler: BusHandler): () => void {
    const first = !this.local.hasSubscribers(channel);
    const off = this.local.subscribe(channel, handler);
    if (first) {
      this.sub
        .subscribe(this.prefix + channel)
        .catch((e: unknown) => this.log.error({ err: e, channel }, 'bus subscribe failed'));
    }
    return () => {
      off();
      if (!this.local.hasSubscribers(channel)) {
        this.sub.unsubscribe(this.prefix + channel).catch(() => undefined);
      }
    };
  }

  /** Waits until Redis has confirmed every subscription made so far. */
  async settled(): Promise<void> {
    await this.sub.ping().catch(() => undefined);
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
  labelsChanged: 'labels.changed',
  packsChanged: 'packs.changed',
  campaignStarted: 'campaign.started',
  campaignHostDone: 'campaign.host-done',
  campaignStopped: 'campaign.stopped',
  campaignResults: (id: number) => `campaign.${id}.results`,
} as const;
