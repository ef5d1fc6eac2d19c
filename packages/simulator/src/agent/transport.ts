import type { SecureContext } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { ConnectionPool } from './connection-pool.js';
import { requestHeaders } from './requests.js';

export interface TransportOptions {
  /** e.g. https://127.0.0.1:8412 */
  server: URL;
  /** Shared per process: one parsed CA bundle for every simulated host. */
  secureContext: SecureContext;
  /** Hostname checked against the server certificate (SNI); defaults to the URL's host. */
  serverName?: string;
  /** --tls_session_timeout: the connection is rebuilt after this many seconds. */
  sessionTimeoutSeconds: number;
  /** Request timeout in milliseconds (osquery: 16 s by default for most requests). */
  timeoutMs: number;
  version: string;
  /**
   * A connection (pool) shared with other simulated hosts instead of one of its own, for
   * fleets larger than the server's open-file limit allows (as behind a pooling proxy).
   */
  sharedAgent?: ConnectionPool;
  /** Called for every TLS connection this host opens. */
  onConnect?: () => void;
}

export interface TransportResponse {
  status: number;
  body: unknown;
  /** The response body as received (the config parser interns configs by it). */
  text: string;
  /** Bytes sent on the wire (after gzip). */
  bytesSent: number;
}

export class TransportError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'TransportError';
    this.status = status;
  }
}

/**
 * One simulated osqueryd's HTTPS client: a single keep-alive connection reused for every
 * request (--tls_session_reuse) and rebuilt after --tls_session_timeout, verifying the
 * server against the CA file (--tls_server_certs).
 */
export class Transport {
  private pool: ConnectionPool | undefined;
  private poolCreated = 0;
  private readonly options: TransportOptions;
  /** `Host` as node:https sent it (host:port), which the server sees from osquery too. */
  private readonly hostHeader: string;
  private readonly base: string;

  constructor(options: TransportOptions) {
    this.options = options;
    this.hostHeader = options.server.host;
    this.base = options.server.pathname.replace(/\/$/, '');
  }

  private currentPool(): ConnectionPool {
    if (this.options.sharedAgent) return this.options.sharedAgent;
    const now = Date.now();
    if (
      this.pool !== undefined &&
      now - this.poolCreated > this.options.sessionTimeoutSeconds * 1000
    ) {
      this.pool.destroy();
      this.pool = undefined;
    }
    if (this.pool === undefined) {
      this.pool = new ConnectionPool({
        server: this.options.server,
        secureContext: this.options.secureContext,
        ...(this.options.serverName === undefined ? {} : { serverName: this.options.serverName }),
        maxSockets: 1,
        scheduling: 'lifo',
        ...(this.options.onConnect === undefined ? {} : { onConnect: this.options.onConnect }),
      });
      this.poolCreated = now;
    }
    return this.pool;
  }

  async post(
    path: string,
    body: string,
    nodeKey: string | undefined,
    gzip: boolean,
  ): Promise<TransportResponse> {
    const payload = gzip ? gzipSync(body) : Buffer.from(body);
    let head = `POST ${this.base}${path} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(requestHeaders(nodeKey, gzip, this.options.version)))
      head += `${k}: ${v}\r\n`;
    head += `Content-Length: ${payload.length}\r\nHost: ${this.hostHeader}\r\nConnection: keep-alive\r\n\r\n`;
    let res;
    try {
      res = await this.currentPool().request(head, payload, this.options.timeoutMs);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new TransportError(message.startsWith('timeout') ? `${message} on ${path}` : message);
    }
    let parsed: unknown;
    try {
      parsed = res.text === '' ? {} : JSON.parse(res.text);
    } catch {
      throw new TransportError(`invalid JSON from ${path} (HTTP ${res.status})`, res.status);
    }
    return { status: res.status, body: parsed, text: res.text, bytesSent: payload.length };
  }

  close(): void {
    this.pool?.destroy();
    this.pool = undefined;
  }
}
