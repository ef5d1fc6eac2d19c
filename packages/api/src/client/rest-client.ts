import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    const msg =
      typeof body === 'object' && body && 'message' in body
        ? String((body as { message: unknown }).message)
        : `HTTP ${status}`;
    super(msg);
    this.name = 'ApiError';
  }
}

export interface ClientOptions {
  /** e.g. https://flotilla.example.com:8412 */
  serverUrl: string;
  /** PEM CA bundle to verify the server with (our own CA by default). */
  ca?: string | undefined;
  token?: string | undefined;
  /** Skip certificate verification (never by default). */
  insecure?: boolean;
}

/** A small typed client for Flotilla's (Fleet-compatible) REST API, used by the CLI and tests. */
export class FlotillaClient {
  private readonly url: URL;
  private readonly agent: HttpsAgent | HttpAgent;
  token: string | undefined;

  constructor(private readonly opts: ClientOptions) {
    this.url = new URL(opts.serverUrl);
    this.token = opts.token;
    this.agent =
      this.url.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, ca: opts.ca, rejectUnauthorized: !opts.insecure })
        : new HttpAgent({ keepAlive: true });
  }

  /** Sends a request; resolves the parsed JSON body, throws ApiError for non-2xx. */
  request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const isHttps = this.url.protocol === 'https:';
    return new Promise<T>((resolve, reject) => {
      const req = (isHttps ? httpsRequest : httpRequest)(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          path,
          method,
          agent: this.agent,
          headers: {
            accept: 'application/json',
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
              : {}),
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : {};
            } catch {
              /* keep text */
            }
            if ((res.statusCode ?? 500) >= 400) reject(new ApiError(res.statusCode ?? 500, parsed));
            else resolve(parsed as T);
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  async login(
    email: string,
    password: string,
  ): Promise<{ token: string; user: Record<string, unknown> }> {
    const r = await this.request<{ token: string; user: Record<string, unknown> }>(
      'POST',
      '/api/v1/fleet/login',
      { email, password },
    );
    this.token = r.token;
    return r;
  }

  async setup(
    admin: { email: string; name: string; password: string },
    orgName = 'Flotilla',
  ): Promise<{ token: string }> {
    const r = await this.request<{ token: string }>('POST', '/api/v1/setup', {
      admin: { admin: true, ...admin, password_confirmation: admin.password },
      org_info: { org_name: orgName },
      server_url: this.opts.serverUrl,
    });
    this.token = r.token;
    return r;
  }

  listHosts(
    query: Record<string, string | number | undefined> = {},
  ): Promise<{ hosts: Array<Record<string, unknown>> }> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
    return this.request('GET', `/api/v1/fleet/hosts${qs.size ? `?${qs}` : ''}`);
  }

  getHost(id: number): Promise<{ host: Record<string, unknown> }> {
    return this.request('GET', `/api/v1/fleet/hosts/${id}`);
  }

  getHostByIdentifier(identifier: string): Promise<{ host: Record<string, unknown> }> {
    return this.request('GET', `/api/v1/fleet/hosts/identifier/${encodeURIComponent(identifier)}`);
  }

  close(): void {
    this.agent.destroy();
  }
}
