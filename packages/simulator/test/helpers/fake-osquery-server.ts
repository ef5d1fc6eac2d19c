import { createServer } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { TlsFixture } from './tls-fixture.js';

/** One request as the fake server saw it. */
export interface Recorded {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
  /** Remote port: equal ports mean the same reused connection. */
  remotePort: number;
  /** Date.now() when the request arrived. */
  at: number;
}

export type Handler = (req: Recorded) => unknown;

/**
 * A stand-in for the *external* peer (an osquery TLS server) in unit tests only: it records
 * what the agent sends and answers from per-path handlers.
 */
export class FakeOsqueryServer {
  readonly requests: Recorded[] = [];
  readonly handlers = new Map<string, Handler>();
  /** HTTP status for a request (200 unless set; 404 for a path without a handler). */
  status: (req: Recorded) => number = () => 200;
  /** Answers wait this long (ms) after the request arrived; change it at any time. */
  delayMs = 0;
  private server: Server | undefined;
  url = '';

  private readonly record: boolean;

  constructor(
    private readonly tls: TlsFixture,
    options: { record?: boolean } = {},
  ) {
    this.record = options.record ?? true;
    this.handlers.set('/api/v1/osquery/enroll', () => ({ node_key: 'nk-1', node_invalid: false }));
    this.handlers.set('/api/v1/osquery/config', () => ({
      options: { distributed_interval: 1, logger_tls_period: 1 },
      schedule: {},
    }));
    this.handlers.set('/api/v1/osquery/distributed/read', () => ({ queries: {} }));
    this.handlers.set('/api/v1/osquery/distributed/write', () => ({}));
    this.handlers.set('/api/v1/osquery/log', () => ({}));
  }

  async listen(port = 0): Promise<void> {
    this.server = createServer(
      { cert: this.tls.cert, key: this.tls.key, keepAliveTimeout: 60_000 },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          let buf = Buffer.concat(chunks);
          if (req.headers['content-encoding'] === 'gzip') buf = gunzipSync(buf);
          const raw = buf.toString('utf8');
          const recorded: Recorded = {
            path: req.url ?? '',
            headers: req.headers,
            raw,
            body: raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>),
            remotePort: req.socket.remotePort ?? 0,
            at: Date.now(),
          };
          if (this.record) this.requests.push(recorded);
          const handler = this.handlers.get(recorded.path);
          const answer = handler === undefined ? { error: 'not found' } : handler(recorded);
          const respond = (): void => {
            res.writeHead(handler === undefined ? 404 : this.status(recorded), {
              'Content-Type': 'application/json',
            });
            res.end(JSON.stringify(answer));
          };
          if (this.delayMs > 0) setTimeout(respond, this.delayMs);
          else respond();
        });
      },
    );
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  to(path: string): Recorded[] {
    return this.requests.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = undefined;
  }
}
