import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Destination, LogType } from './destination.js';

export interface WebhookOptions {
  url: string;
  /** generic: a JSON array of entries; splunk: Splunk HEC events, one JSON object per line. */
  format: 'generic' | 'splunk';
  /** Splunk HEC token (sent as `Authorization: Splunk <token>`). */
  token?: string | undefined;
  timeoutMs?: number;
}

/**
 * POSTs batches of log entries. Generic body: `{"log_type":"result","entries":[…]}`. Splunk
 * HEC body: `{"time":…,"sourcetype":"osquery:result","event":{…}}` per line. Any non-2xx or
 * network error fails the batch, which the pipeline retries.
 */
export class WebhookDestination implements Destination {
  readonly kind = 'webhook';
  private readonly url: URL;

  constructor(private readonly opts: WebhookOptions) {
    this.url = new URL(opts.url);
  }

  deliver(type: LogType, lines: readonly string[]): Promise<void> {
    let body: string;
    if (this.opts.format === 'splunk') {
      body = lines
        .map((l) => {
          const t = (JSON.parse(l) as { unixTime?: number; created_at?: number }).unixTime;
          return `{"time":${typeof t === 'number' ? t : Math.floor(Date.now() / 1000)},"sourcetype":"osquery:${type}","source":"flotilla","event":${l}}`;
        })
        .join('\n');
    } else body = `{"log_type":"${type}","entries":[${lines.join(',')}]}`;
    const payload = Buffer.from(body);
    const isHttps = this.url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (isHttps ? httpsRequest : httpRequest)(
        {
          hostname: this.url.hostname,
          port: this.url.port,
          path: this.url.pathname + this.url.search,
          method: 'POST',
          timeout: this.opts.timeoutMs ?? 10_000,
          headers: {
            'content-type': 'application/json',
            'content-length': payload.length,
            ...(this.opts.token
              ? {
                  authorization: `${this.opts.format === 'splunk' ? 'Splunk' : 'Bearer'} ${this.opts.token}`,
                }
              : {}),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            (res.statusCode ?? 500) < 300
              ? resolve()
              : reject(new Error(`webhook answered HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error('webhook timed out')));
      req.on('error', reject);
      req.end(payload);
    });
  }
}
