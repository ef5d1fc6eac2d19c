import { request as httpsRequest, Agent } from 'node:https';
import type { RequestOptions } from 'node:https';
import { isIP } from 'node:net';
import type { SecureContext } from 'node:tls';
import { gzipSync } from 'node:zlib';
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
   * A keep-alive pool shared by many simulated hosts instead of one connection each, for
   * fleets larger than the server's open-file limit allows (as behind a pooling proxy).
   */
  sharedAgent?: Agent;
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
  private agent: Agent | undefined;
  private agentCreated = 0;
  private readonly options: TransportOptions;

  constructor(options: TransportOptions) {
    this.options = options;
  }

  private currentAgent(): Agent {
    if (this.options.sharedAgent) return this.options.sharedAgent;
    const now = Date.now();
    if (
      this.agent !== undefined &&
      now - this.agentCreated > this.options.sessionTimeoutSeconds * 1000
    ) {
      this.agent.destroy();
      this.agent = undefined;
    }
    if (this.agent === undefined) {
      this.agent = new Agent({
        keepAlive: true,
        maxSockets: 1,
        maxFreeSockets: 1,
        scheduling: 'lifo',
      });
      this.agentCreated = now;
    }
    return this.agent;
  }

  post(
    path: string,
    body: string,
    nodeKey: string | undefined,
    gzip: boolean,
  ): Promise<TransportResponse> {
    const payload = gzip ? gzipSync(body) : Buffer.from(body);
    const headers = {
      ...requestHeaders(nodeKey, gzip, this.options.version),
      'Content-Length': String(payload.length),
    };
    const { server } = this.options;
    const servername = this.options.serverName ?? server.hostname;
    return new Promise((resolve, reject) => {
      // https.RequestOptions omits secureContext, but the agent hands it on to tls.connect.
      const options: RequestOptions & { secureContext: SecureContext } = {
        method: 'POST',
        host: server.hostname,
        port: server.port === '' ? 443 : Number(server.port),
        path: server.pathname.replace(/\/$/, '') + path,
        headers,
        agent: this.currentAgent(),
        secureContext: this.options.secureContext,
        // SNI must not carry an IP address; the certificate is then matched on its IP SAN.
        ...(isIP(servername) === 0 ? { servername } : {}),
        timeout: this.options.timeoutMs,
      };
      const req = httpsRequest(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text === '' ? {} : JSON.parse(text);
          } catch {
            reject(new TransportError(`invalid JSON from ${path} (HTTP ${status})`, status));
            return;
          }
          resolve({ status, body: parsed, text, bytesSent: payload.length });
        });
        res.on('error', reject);
      });
      req.on('timeout', () =>
        req.destroy(new TransportError(`timeout after ${this.options.timeoutMs} ms on ${path}`)),
      );
      req.on('error', (err) =>
        reject(err instanceof TransportError ? err : new TransportError(err.message)),
      );
      req.end(payload);
    });
  }

  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }
}
