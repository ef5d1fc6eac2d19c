import { isIP } from 'node:net';
import { connect } from 'node:tls';
import type { SecureContext, TLSSocket } from 'node:tls';

export interface ConnectionPoolOptions {
  /** e.g. https://127.0.0.1:8412 */
  server: URL;
  secureContext: SecureContext;
  /** Hostname checked against the server certificate (SNI); defaults to the URL's host. */
  serverName?: string;
  /** Connections at most; requests beyond wait for one to come free. */
  maxSockets: number;
  /** Which idle connection serves the next request: the newest (lifo) or the oldest (fifo). */
  scheduling?: 'lifo' | 'fifo';
  /** Called for every TLS connection opened (the simulator's statistics count them). */
  onConnect?: () => void;
}

/** A raw HTTP/1.1 answer: status, and the body as text. */
export interface RawResponse {
  status: number;
  text: string;
}

interface Pending {
  head: string;
  payload: Buffer;
  timeoutMs: number;
  resolve: (r: RawResponse) => void;
  reject: (e: Error) => void;
}

const HEADER_END = Buffer.from('\r\n\r\n');

// Node's own check (checkServerIdentity) first builds a JS object of the whole certificate
// chain with three fingerprints per certificate; X509Certificate.checkHost/checkIP is the
// same RFC 6125 match done by OpenSSL, at a fraction of the cost per handshake.
const NO_CHAIN_OBJECT = (() => ({})) as unknown as TLSSocket['getPeerCertificate'];

/** Why the server's certificate is refused, or undefined when it is accepted. */
function verifyServer(socket: TLSSocket, name: string): Error | undefined {
  if (!socket.authorized)
    return new Error(String(socket.authorizationError ?? 'server certificate not trusted'));
  if (socket.isSessionReused()) return undefined;
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) return new Error('server sent no certificate');
  const ok =
    isIP(name) === 0 ? cert.checkHost(name) !== undefined : cert.checkIP(name) !== undefined;
  return ok ? undefined : new Error(`Hostname/IP does not match certificate's altnames: ${name}`);
}

/**
 * One TLS connection carrying one HTTP/1.1 request at a time (keep-alive, no pipelining),
 * parsing just what osquery's endpoints answer: Content-Length or chunked bodies.
 */
class Connection {
  readonly socket: TLSSocket;
  /** Set once the handshake and the server check passed. */
  private ready = false;
  private closed = false;
  private current: Pending | undefined;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly pool: ConnectionPool;

  constructor(pool: ConnectionPool, session: Buffer | undefined) {
    this.pool = pool;
    const { server, secureContext, serverName } = pool.options;
    const name = serverName ?? server.hostname;
    this.socket = connect({
      host: server.hostname,
      port: server.port === '' ? 443 : Number(server.port),
      secureContext,
      // SNI must not carry an IP address; the certificate is then matched on its IP SAN.
      ...(isIP(name) === 0 ? { servername: name } : {}),
      // Verified in verifyServer below, before a byte of the request is written.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      ...(session === undefined ? {} : { session }),
    });
    this.socket.getPeerCertificate = NO_CHAIN_OBJECT;
    this.socket.setNoDelay(true);
    this.socket.on('session', (s: Buffer) => pool.rememberSession(s));
    this.socket.once('secureConnect', () => {
      const refused = verifyServer(this.socket, name);
      if (refused !== undefined) {
        this.socket.destroy(refused);
        return;
      }
      this.ready = true;
      if (this.current !== undefined) this.write(this.current);
    });
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('timeout', () => {
      // Timers run before socket reads in each turn of the event loop: when this thread was
      // busy with other hosts, the answer may be waiting unread. Read it first (setImmediate
      // runs after the poll phase); only a request still unanswered then has timed out, as a
      // real osqueryd, a process of its own, would see it.
      const p = this.current;
      setImmediate(() => {
        if (p !== undefined && this.current === p)
          this.socket.destroy(new Error(`timeout after ${p.timeoutMs} ms`));
      });
    });
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('socket hang up')));
  }

  get usable(): boolean {
    return !this.closed;
  }

  send(p: Pending): void {
    this.current = p;
    this.chunks = [];
    this.buffered = 0;
    this.socket.setTimeout(p.timeoutMs);
    if (this.ready) this.write(p);
  }

  private write(p: Pending): void {
    this.socket.write(Buffer.concat([Buffer.from(p.head, 'latin1'), p.payload]));
  }

  private onData(d: Buffer): void {
    if (this.current === undefined) {
      // Nothing asked: the server broke the protocol; never reuse this connection.
      this.socket.destroy();
      return;
    }
    this.chunks.push(d);
    this.buffered += d.length;
    const all = this.chunks.length === 1 ? d : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    let parsed: Parsed | undefined;
    try {
      parsed = parseResponse(all);
    } catch (err) {
      // A response we cannot frame: fail this request, never reuse the connection.
      this.socket.destroy(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (parsed === undefined) return;
    const p = this.current;
    this.current = undefined;
    this.chunks = [];
    this.buffered = 0;
    this.socket.setTimeout(0);
    if (parsed.close) {
      this.closed = true;
      this.socket.end();
    }
    p.resolve({ status: parsed.status, text: parsed.body });
    this.pool.released(this);
  }

  private fail(err: Error): void {
    if (!this.closed) {
      this.closed = true;
      this.pool.released(this);
    }
    const p = this.current;
    this.current = undefined;
    p?.reject(err);
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

interface Parsed {
  status: number;
  body: string;
  close: boolean;
}

/** A complete response in `buf`, or undefined while more bytes are needed. */
export function parseResponse(buf: Buffer): Parsed | undefined {
  const end = buf.indexOf(HEADER_END);
  if (end < 0) return undefined;
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const status = Number((lines[0] ?? '').split(' ')[1]);
  if (!/^HTTP\/1\.[01] /.test(lines[0] ?? '') || !(status >= 100 && status < 600))
    throw new Error(`malformed HTTP status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  let length: number | undefined;
  let chunked = false;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const colon = line.indexOf(':');
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line
      .slice(colon + 1)
      .trim()
      .toLowerCase();
    if (key === 'content-length') length = Number(value);
    else if (key === 'transfer-encoding') chunked = value.includes('chunked');
    else if (key === 'connection') close = value === 'close';
  }
  const start = end + HEADER_END.length;
  if (chunked) {
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol < 0) return undefined;
      const size = parseInt(buf.toString('latin1', at, eol), 16);
      if (!Number.isFinite(size)) throw new Error('bad chunk size');
      if (size === 0) {
        // Trailers (none from the osquery endpoints) end with an empty line.
        if (buf.indexOf(HEADER_END, eol - 2) < 0) return undefined;
        return { status, body: Buffer.concat(parts).toString('utf8'), close };
      }
      if (buf.length < eol + 2 + size + 2) return undefined;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  // No length: 1xx/204/304 carry no body; anything else would run to close (not from Fastify).
  const n = length ?? 0;
  if (!Number.isSafeInteger(n) || n < 0) throw new Error('malformed Content-Length');
  if (buf.length < start + n) return undefined;
  return { status, body: buf.toString('utf8', start, start + n), close };
}

/**
 * HTTP/1.1 keep-alive connections to one osquery TLS server: one per simulated host (as
 * osqueryd keeps), or a few shared by many hosts (as behind a pooling proxy). TLS sessions
 * are resumed on reconnect (--tls_session_reuse). Written on the TLS socket directly because
 * node:https spends more of the simulator's CPU per request than the server does answering.
 */
export class ConnectionPool {
  readonly options: ConnectionPoolOptions;
  private readonly idle: Connection[] = [];
  private readonly waiting: Pending[] = [];
  private readonly open = new Set<Connection>();
  private session: Buffer | undefined;
  private destroyed = false;

  constructor(options: ConnectionPoolOptions) {
    this.options = options;
  }

  /** Sends `head` (request line and headers, ending in a blank line) and `payload`. */
  request(head: string, payload: Buffer, timeoutMs: number): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      if (this.destroyed) {
        reject(new Error('connection pool closed'));
        return;
      }
      const p: Pending = { head, payload, timeoutMs, resolve, reject };
      const c = this.options.scheduling === 'fifo' ? this.idle.shift() : this.idle.pop();
      if (c !== undefined) c.send(p);
      else if (this.open.size < this.options.maxSockets) this.connect().send(p);
      else this.waiting.push(p);
    });
  }

  /**
   * Opens connections up to `maxSockets`, idle until requests come: the state of a fleet
   * whose every host already holds its connection. At most `concurrency` handshakes are in
   * flight (thousands at once overflow the server's accept queue, and a dropped SYN is
   * retried a second or more later), and a connection is handed to requests only once its
   * handshake passed. Resolves to how many were opened and are usable.
   */
  warm(concurrency = 32): Promise<number> {
    return new Promise((resolve) => {
      let inFlight = 0;
      let opened = 0;
      const next = (): void => {
        while (
          !this.destroyed &&
          inFlight < concurrency &&
          this.open.size < this.options.maxSockets
        ) {
          inFlight++;
          const c = this.connect();
          const settle = (ok: boolean): void => {
            c.socket.off('secureConnect', onReady);
            c.socket.off('close', onClose);
            inFlight--;
            if (ok && c.usable && !c.socket.destroyed) {
              opened++;
              // As if it had just served a request: the next waiting one, or the idle list.
              this.released(c);
            }
            next();
          };
          const onReady = (): void => settle(true);
          const onClose = (): void => settle(false);
          // Registered after the connection's own: it has verified the server by now.
          c.socket.once('secureConnect', onReady);
          c.socket.once('close', onClose);
        }
        if (inFlight === 0) resolve(opened);
      };
      next();
    });
  }

  private connect(): Connection {
    this.options.onConnect?.();
    const c = new Connection(this, this.session);
    this.open.add(c);
    return c;
  }

  /** @internal A connection finished a request, or closed. */
  released(c: Connection): void {
    if (!c.usable) {
      // Only a connection that closed while idle is still listed there.
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
      this.open.delete(c);
    }
    if (this.destroyed) return;
    const next = this.waiting.shift();
    if (next === undefined) {
      if (c.usable) this.idle.push(c);
      return;
    }
    if (c.usable) c.send(next);
    else this.connect().send(next);
  }

  /** @internal */
  rememberSession(s: Buffer): void {
    this.session = s;
  }

  destroy(): void {
    this.destroyed = true;
    for (const c of this.open) c.destroy();
    this.open.clear();
    this.idle.length = 0;
    for (const p of this.waiting.splice(0)) p.reject(new Error('connection pool closed'));
  }
}
