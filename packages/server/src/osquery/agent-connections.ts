import { STATUS_CODES, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import {
  answerHot,
  classifyHot,
  EMPTY_QUERIES,
  failure,
  type HotKind,
  type HotLimits,
  type HotReply,
} from './fast-path.js';
import type { CheckinService } from './checkin.service.js';

/**
 * Agents' connections, read without node's HTTP server. Node's HTTP machinery (parser
 * callbacks, IncomingMessage and ServerResponse streams, header objects, nextTick) was most of
 * the server's CPU per check-in once our own code had been trimmed: with the same server and
 * load, a check-in cost 90 µs of server CPU through node's HTTP server and 72.8 µs read here,
 * against 64.2 µs for a bare node:https server answering `{}` (bench/agent-http.ts,
 * `bench/results/2026-11-25T00-29-30-039Z-agent-http.md`). osquery sends the simplest
 * HTTP/1.1: one request at a time on a kept-alive connection, with a Content-Length body.
 *
 * Every connection starts here. A request under the osquery prefixes is parsed here: plain
 * ones (check-ins, configs, enrolls, distributed writes, logs) are answered by fast-path.ts,
 * the rest (carves, gzip bodies, odd ones) run through the ordinary Fastify route in-process
 * (`inject`) and its answer is written back. Anything else (the REST API, the
 * results websocket, a request with Transfer-Encoding, Expect, HTTP/1.0, a malformed or huge
 * head) hands the connection, with the bytes not yet consumed, to node's HTTP server for good:
 * browsers and API clients are served exactly as before.
 */

/** A request as the ordinary route sees it. */
export interface AgentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  remoteAddress: string | undefined;
}

export interface RoutedReply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: Buffer;
}

export interface AgentConnectionOptions {
  svc: CheckinService;
  limits: HotLimits;
  /** Runs a request through the ordinary route (Fastify's inject). */
  route: (req: AgentRequest) => Promise<RoutedReply>;
  /** Largest body read here; a larger one goes to node's HTTP server (which refuses it). */
  maxBody: number;
  /** An agent's connection idle this long is closed (node's keepAliveTimeout for the rest). */
  idleTimeoutMs: number;
  log: Logger;
}

const OSQUERY_PREFIXES = ['/api/v1/osquery/', '/api/osquery/'];
/** Node's default limit for a request head; a longer one is handed over (and gets a 431). */
const MAX_HEAD = 16 * 1024;
const MAX_HEADERS = 100;
/** As node's server.requestTimeout in app.ts: the longest a request may take to arrive. */
const REQUEST_TIMEOUT_MS = 120_000;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const JSON_TYPE = 'application/json; charset=utf-8';
/** Response headers node's server writes itself, or that we write ours of. */
const OWN_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'date',
  'content-length',
]);

export interface AgentConnections {
  /** Connections read here now. */
  readonly open: number;
  /** Connections handed to node's HTTP server since start. */
  readonly handedOver: number;
  /** Closes idle agent connections and the rest once their answer is written. */
  close(): void;
}

/**
 * Puts agent connections in front of node's HTTP server on `server` (http or https): takes
 * over its connection listener, and calls it for the connections handed over.
 */
export function frontAgentConnections(
  server: HttpServer,
  opts: AgentConnectionOptions,
): AgentConnections {
  const event = server instanceof TlsServer ? 'secureConnection' : 'connection';
  const listeners = server.listeners(event) as Array<(socket: Socket) => void>;
  const http = listeners[0];
  if (listeners.length !== 1 || !http)
    throw new Error(`expected node's HTTP server to have one ${event} listener`);
  server.removeListener(event, http);
  const live = new Set<AgentConnection>();
  let closing = false;
  let handedOver = 0;
  server.on(event, (socket: Socket) => {
    if (closing) {
      http.call(server, socket);
      return;
    }
    const c = new AgentConnection(socket, opts, (rest) => {
      live.delete(c);
      handedOver++;
      if (rest) socket.unshift(rest);
      http.call(server, socket);
    });
    live.add(c);
    socket.once('close', () => live.delete(c));
  });
  return {
    get open() {
      return live.size;
    },
    get handedOver() {
      return handedOver;
    },
    close() {
      closing = true;
      for (const c of live) c.close();
    },
  };
}

interface Parsed {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** Bytes of the head, CRLFCRLF included. */
  headLength: number;
  bodyLength: number;
}

/** The Date header, rebuilt once a second. */
let dateSecond = 0;
let dateValue = '';
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/** The whole response to a check-in with nothing to ask, rebuilt when the Date changes. */
let emptyFor = '';
let emptyResponse = Buffer.alloc(0);

class AgentConnection {
  /** Bytes received and not yet consumed, in arrival order (joined only when needed). */
  private chunks: Buffer[] = [];
  private received = 0;
  /** The head of a request whose body is still arriving. */
  private waiting: Parsed | undefined;
  private busy = false;
  private done = false;
  private closing = false;
  /** When the first bytes of a request still incomplete arrived (0: none pending). */
  private partialSince = 0;
  private paused = false;
  private readonly onData = (chunk: Buffer) => {
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (!this.busy) this.pump();
    else if (this.received > this.opts.maxBody + MAX_HEAD && !this.paused) {
      // A client sending on while its answer is pending (osquery never does): stop reading
      // until the pending request is answered, so buffering stays bounded.
      this.paused = true;
      this.socket.pause();
    }
  };
  private readonly onTimeout = () => this.socket.destroy();

  constructor(
    private readonly socket: Socket,
    private readonly opts: AgentConnectionOptions,
    private readonly handOver: (rest: Buffer | undefined) => void,
  ) {
    socket.on('data', this.onData);
    socket.on('timeout', this.onTimeout);
    socket.on('error', () => socket.destroy());
    socket.setTimeout(opts.idleTimeoutMs);
    socket.setNoDelay(true);
  }

  close(): void {
    this.closing = true;
    if (!this.busy) this.socket.destroy();
  }

  /** The bytes received and not consumed, as one buffer. */
  private joined(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.received)];
    return this.chunks[0]!;
  }

  private consume(n: number): void {
    const buf = this.joined();
    this.received -= n;
    this.chunks = this.received === 0 ? [] : [buf.subarray(n)];
  }

  /** Handles every complete request buffered, one at a time, in order. */
  private pump(): void {
    if (this.closing) {
      this.done = true;
      this.socket.end();
      return;
    }
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    while (this.received > 0 && !this.busy && !this.done) {
      let p = this.waiting;
      if (!p) {
        const buf = this.joined();
        const end = buf.indexOf(CRLFCRLF);
        if (end < 0) {
          if (buf.length > MAX_HEAD) this.release();
          else this.checkSlow();
          return;
        }
        p = parseHead(buf, end);
        if (!p || p.bodyLength > this.opts.maxBody) {
          this.release();
          return;
        }
      }
      const total = p.headLength + p.bodyLength;
      if (this.received < total) {
        this.waiting = p; // the rest of the body is on its way
        this.checkSlow();
        return;
      }
      this.waiting = undefined;
      this.partialSince = 0;
      const body = this.joined().subarray(p.headLength, total);
      this.consume(total);
      const keepAlive = p.headers['connection']?.toLowerCase() !== 'close';
      const parsed = p;
      this.busy = true;
      this.dispatch(parsed, body).then(
        (bytes) => this.finish(bytes, keepAlive),
        (err: unknown) => {
          this.opts.log.error({ err, url: parsed.url }, 'osquery request failed');
          this.finish(response(failure(500, 'INTERNAL', 'Internal server error')), false);
        },
      );
    }
  }

  private dispatch(p: Parsed, body: Buffer): Promise<Buffer | string> {
    const kind: HotKind | undefined = classifyHot(p.method, p.url, p.headers, this.opts.limits);
    if (kind) {
      const reply = answerHot(
        this.opts.svc,
        this.opts.log,
        kind,
        body.toString(),
        p.headers['authorization'],
        this.socket.remoteAddress,
      );
      return reply instanceof Promise ? reply.then(response) : Promise.resolve(response(reply));
    }
    return this.opts
      .route({
        method: p.method,
        url: p.url,
        headers: p.headers,
        body,
        remoteAddress: this.socket.remoteAddress,
      })
      .then(routedResponse);
  }

  /**
   * A request trickling in for longer than node's requestTimeout is dropped (each byte resets
   * the idle timeout, so that alone would let a client hold a connection forever).
   */
  private checkSlow(): void {
    const now = performance.now();
    if (this.partialSince === 0) this.partialSince = now;
    else if (now - this.partialSince > REQUEST_TIMEOUT_MS) this.socket.destroy();
  }

  private finish(bytes: Buffer | string, keepAlive: boolean): void {
    if (this.socket.destroyed) return;
    if (keepAlive && !this.closing) {
      // The next request waits until this answer has left (a client that does not read its
      // answers stops being read).
      if (this.socket.write(bytes)) {
        this.busy = false;
        this.pump();
      } else
        this.socket.once('drain', () => {
          this.busy = false;
          this.pump();
        });
    } else {
      this.busy = false;
      this.done = true;
      this.socket.end(bytes);
    }
  }

  /** Gives the connection, and what of it was not consumed, to node's HTTP server. */
  private release(): void {
    this.done = true;
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('timeout', this.onTimeout);
    this.socket.setTimeout(0);
    const rest = this.received > 0 ? this.joined() : undefined;
    this.chunks = [];
    this.received = 0;
    this.handOver(rest);
  }
}

/**
 * An osquery request's head, or undefined when it is anything this module leaves to node's
 * HTTP server: not under the osquery prefixes, not HTTP/1.1, a header line it would refuse,
 * Transfer-Encoding, Expect, Upgrade, or repeated framing headers.
 */
function parseHead(buf: Buffer, end: number): Parsed | undefined {
  const text = buf.toString('latin1', 0, end);
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  const sp1 = text.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : text.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || sp2 + 9 !== eol || !text.startsWith('HTTP/1.1', sp2 + 1))
    return undefined;
  const method = text.slice(0, sp1);
  const url = text.slice(sp1 + 1, sp2);
  if (!METHOD.test(method) || !OSQUERY_PREFIXES.some((x) => url.startsWith(x))) return undefined;
  const headers: Record<string, string> = {};
  let count = 0;
  for (let pos = eol + 2; pos < text.length; pos = eol + 2) {
    eol = text.indexOf('\r\n', pos);
    if (eol < 0) eol = text.length;
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon > eol || ++count > MAX_HEADERS) return undefined;
    const name = text.slice(pos, colon).toLowerCase();
    if (!isToken(name)) return undefined; // also a folded line (leading space)
    const value = text.slice(colon + 1, eol).trim();
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else if (REPEAT_REFUSED.has(name)) return undefined;
    else headers[name] = `${seen}, ${value}`;
  }
  if (
    headers['transfer-encoding'] !== undefined ||
    headers['expect'] !== undefined ||
    headers['upgrade'] !== undefined
  )
    return undefined;
  const length = headers['content-length'];
  let bodyLength = 0;
  if (length !== undefined) {
    if (!DIGITS.test(length)) return undefined;
    bodyLength = Number(length);
  }
  return { method, url, headers, headLength: end + 4, bodyLength };
}

const METHOD = /^[A-Z]+$/;
const DIGITS = /^\d{1,10}$/;
/** Headers whose repetition makes a request ambiguous: handed to node's server (400). */
const REPEAT_REFUSED = new Set(['content-length', 'host', 'authorization']);
/** RFC 9110 token characters, lower case (the name was lowercased). */
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") TOKEN[c.charCodeAt(0)] = 1;
function isToken(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || TOKEN[c] === 0) return false;
  }
  return name.length > 0;
}

function head(status: number, type: string | undefined, length: number, extra = ''): string {
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    (type === undefined ? '' : `content-type: ${type}\r\n`) +
    `content-length: ${length}\r\n${extra}Date: ${httpDate()}\r\n` +
    `Connection: keep-alive\r\nKeep-Alive: timeout=185\r\n\r\n`
  );
}

/** The bytes of a hot reply (strings stay strings: one write, encoded once). */
function response(reply: HotReply): Buffer | string {
  const { status, body } = reply;
  const extra = reply.retryAfter === undefined ? '' : `retry-after: ${reply.retryAfter}\r\n`;
  if (extra)
    return Buffer.concat([
      Buffer.from(head(status, JSON_TYPE, Buffer.byteLength(body), extra)),
      Buffer.from(body),
    ]);
  if (body === EMPTY_QUERIES) {
    const date = httpDate();
    if (emptyFor !== date) {
      emptyFor = date;
      emptyResponse = Buffer.concat([Buffer.from(head(200, JSON_TYPE, body.length)), body]);
    }
    return emptyResponse;
  }
  if (typeof body === 'string') return head(status, JSON_TYPE, Buffer.byteLength(body)) + body;
  return Buffer.concat([Buffer.from(head(status, JSON_TYPE, body.length)), body]);
}

function routedResponse(r: RoutedReply): Buffer {
  let extra = '';
  let type: string | undefined;
  for (const [name, value] of Object.entries(r.headers)) {
    if (value === undefined || OWN_HEADERS.has(name)) continue;
    if (name === 'content-type') {
      type = String(value);
      continue;
    }
    for (const v of Array.isArray(value) ? value : [value]) extra += `${name}: ${v}\r\n`;
  }
  return Buffer.concat([Buffer.from(head(r.status, type, r.body.length, extra)), r.body]);
}
