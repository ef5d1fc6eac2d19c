import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { osqueryErrorBody, osqueryFlotillaError } from '../http/errors.js';
import { parseJsonText } from '../http/json-body.js';
import type { CheckinService } from './checkin.service.js';

/**
 * osquery's requests (check-ins, config refreshes, enrolls, distributed writes, logs)
 * answered without Fastify's routing, hooks and reply machinery. Check-ins and configs are
 * ~90% of all requests and 99% of them answer a constant, so the framework's per-request work
 * showed up in the bench as a large share of the server's CPU per check-in; running enrolls
 * and writes through Fastify in-process (`inject`) cost the 20,000-host enrollment storm ~30 %
 * more server CPU. Only plain requests are answered here: a gzip body, a missing or large
 * Content-Length, another method, or carves go the ordinary way (osquery.routes.ts), which
 * answers the same, errors included. Agents' connections reach this through agent-connections.ts; a connection
 * node's HTTP server parses (one that started with another request) through osqueryFastPath.
 */

/** The osquery requests answered here, by path (both prefixes, as the routes have them). */
const KINDS = new Map<string, HotKind>();
for (const prefix of ['/api/v1/osquery', '/api/osquery']) {
  KINDS.set(`${prefix}/distributed/read`, 'read');
  KINDS.set(`${prefix}/config`, 'config');
  KINDS.set(`${prefix}/distributed/write`, 'write');
  KINDS.set(`${prefix}/log`, 'log');
  KINDS.set(`${prefix}/enroll`, 'enroll');
}
/** Larger plain check-in and config bodies take the ordinary route. */
export const HOT_MAX_BODY = 64 * 1024;

export const EMPTY_QUERIES = Buffer.from('{"queries":{}}');
const NODE_INVALID = Buffer.from('{"node_invalid":true}');
const EMPTY = Buffer.from('{}');

export type HotKind = 'read' | 'config' | 'write' | 'log' | 'enroll';

export interface HotReply {
  status: number;
  body: string | Buffer;
  /** Seconds for a Retry-After header (enroll refused while the server catches up). */
  retryAfter?: number | undefined;
}

export interface HotLimits {
  /** The osquery routes' body limit (distributed/write, log). */
  maxBody: number;
  /** Whether client addresses come from X-Forwarded-For: then enrolls take the ordinary route. */
  trustProxy: boolean;
}

/** Whether a request is a plain osquery request this module answers, and which. */
export function classifyHot(
  method: string | undefined,
  url: string | undefined,
  h: IncomingHttpHeaders,
  limits: HotLimits,
): HotKind | undefined {
  if (method !== 'POST') return undefined;
  const kind = KINDS.get(url ?? '');
  if (!kind) return undefined;
  if (h['content-encoding'] !== undefined && h['content-encoding'] !== 'identity') return undefined;
  const type = h['content-type'];
  if (type !== undefined && !type.startsWith('application/json')) return undefined;
  const length = Number(h['content-length']);
  const max =
    kind === 'read' || kind === 'config'
      ? HOT_MAX_BODY
      : kind === 'enroll'
        ? limits.trustProxy
          ? -1
          : 1024 * 1024
        : limits.maxBody;
  if (!Number.isInteger(length) || length < 0 || length > max) return undefined;
  return kind;
}

/**
 * The answer to a plain osquery request's body (as text), as its ordinary route in
 * osquery.routes.ts answers it, errors included.
 */
export function answerHot(
  svc: CheckinService,
  log: Logger,
  kind: HotKind,
  text: string,
  authorization: string | undefined,
  remoteAddress: string | undefined,
): HotReply | Promise<HotReply> {
  let body: unknown;
  try {
    body = text === '' ? undefined : parseJsonText(text);
  } catch (err) {
    const message = (err as Error).message;
    return /prototype property/.test(message)
      ? failure(400, 'BAD_REQUEST', message)
      : failure(400, 'MALFORMED_JSON', `Malformed JSON body: ${message}`);
  }
  if (body === undefined)
    return failure(400, 'MALFORMED_JSON', 'Malformed JSON body: Body cannot be empty');
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return failure(400, 'BAD_REQUEST', 'Bad request: body must be object');
  const b = body as Record<string, unknown>;
  const reply =
    kind === 'enroll'
      ? svc.enroll(b, remoteAddress ?? '').then((key): HotReply => ({
          status: 200,
          body: JSON.stringify({ node_key: key, node_invalid: false }),
        }))
      : svc.checkIn(nodeKey(authorization, b)).then((host): HotReply | Promise<HotReply> => {
          if (!host) return { status: 401, body: NODE_INVALID };
          switch (kind) {
            case 'read': {
              const queries = svc.pendingQueries(host);
              return { status: 200, body: queries ? JSON.stringify({ queries }) : EMPTY_QUERIES };
            }
            case 'config':
              return svc.configJson(host).then((json) => ({ status: 200, body: json }));
            case 'write':
              svc.distributedWrite(host, b);
              return { status: 200, body: EMPTY };
            case 'log':
              return svc.logs(host, b).then(() => ({ status: 200, body: EMPTY }));
          }
        });
  return reply.catch((err: unknown): HotReply => {
    const known = osqueryFlotillaError(err);
    if (known) return known;
    log.error({ err, kind }, 'osquery request failed');
    return failure(500, 'INTERNAL', 'Internal server error');
  });
}

/** The error body osquery routes answer with (the error handler's, errors.ts). */
export function failure(status: number, code: string, message: string): HotReply {
  return { status, body: osqueryErrorBody(status, code, message) };
}

function nodeKey(auth: string | undefined, body: Record<string, unknown>): string | undefined {
  if (auth && auth.length > 8 && auth.startsWith('NodeKey ')) return auth.slice(8).trim();
  const k = body['node_key'];
  return typeof k === 'string' && k.length > 0 && k.length <= 512 ? k : undefined;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** A request handler for node's HTTP server that answers plain requests and passes the rest on. */
export function osqueryFastPath(
  svc: CheckinService,
  log: Logger,
  limits: HotLimits,
  next: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const kind = classifyHot(req.method, req.url, req.headers, limits);
    if (!kind) {
      next(req, res);
      return;
    }
    const length = Number(req.headers['content-length']);
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= length) chunks.push(chunk);
    });
    req.on('end', () => {
      if (received !== length) {
        send(res, failure(400, 'BAD_CONTENT_LENGTH', 'Content-Length does not match the body'));
        return;
      }
      const text = chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString();
      const reply = answerHot(
        svc,
        log,
        kind,
        text,
        req.headers.authorization,
        req.socket.remoteAddress,
      );
      Promise.resolve(reply).then(
        (r) => send(res, r),
        () => res.destroy(),
      );
    });
    req.on('error', () => res.destroy());
  };
}

function send(res: ServerResponse, reply: HotReply): void {
  const { status, body } = reply;
  res.writeHead(status, {
    'content-type': JSON_TYPE,
    'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.length,
    ...(reply.retryAfter === undefined ? {} : { 'retry-after': String(reply.retryAfter) }),
  });
  res.end(body);
}
