import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { CheckinService } from './checkin.service.js';

/**
 * The agent check-in (`distributed/read`) and config refresh, answered without Fastify's
 * routing, hooks and reply machinery. They are ~90% of all requests and 99% of them answer a
 * constant, so the framework's per-request work showed up in the bench as a large share of
 * the server's CPU per check-in. Only plain requests are answered here: a gzip body, a missing
 * or large Content-Length, or another method goes the ordinary way (osquery.routes.ts), which
 * answers the same. Agents' connections reach this through agent-connections.ts; a connection
 * node's HTTP server parses (one that started with another request) through osqueryFastPath.
 */

const READ_PATHS = new Set(['/api/v1/osquery/distributed/read', '/api/osquery/distributed/read']);
const CONFIG_PATHS = new Set(['/api/v1/osquery/config', '/api/osquery/config']);
/** Larger plain bodies take the ordinary route. */
export const HOT_MAX_BODY = 64 * 1024;

export const EMPTY_QUERIES = Buffer.from('{"queries":{}}');
const NODE_INVALID = Buffer.from('{"node_invalid":true}');

export type HotKind = 'read' | 'config';

export interface HotReply {
  status: number;
  body: string | Buffer;
}

/** Whether a request is a plain check-in or config refresh this module answers. */
export function classifyHot(
  method: string | undefined,
  url: string | undefined,
  h: IncomingHttpHeaders,
): HotKind | undefined {
  if (method !== 'POST') return undefined;
  const path = url ?? '';
  const kind = READ_PATHS.has(path) ? 'read' : CONFIG_PATHS.has(path) ? 'config' : undefined;
  if (!kind) return undefined;
  if (h['content-encoding'] !== undefined && h['content-encoding'] !== 'identity') return undefined;
  const type = h['content-type'];
  if (type !== undefined && !type.startsWith('application/json')) return undefined;
  const length = Number(h['content-length']);
  if (!Number.isInteger(length) || length < 0 || length > HOT_MAX_BODY) return undefined;
  return kind;
}

/** The answer to a hot request's body (as text) and Authorization header. */
export function answerHot(
  svc: CheckinService,
  kind: HotKind,
  text: string,
  authorization: string | undefined,
): HotReply | Promise<HotReply> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return failure(400, 'MALFORMED_JSON', `Malformed JSON body: ${(err as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return failure(400, 'BAD_REQUEST', 'Bad request: body must be object');
  const key = nodeKey(authorization, body as Record<string, unknown>);
  return svc.checkIn(key).then((host): HotReply | Promise<HotReply> => {
    if (!host) return { status: 401, body: NODE_INVALID };
    if (kind === 'read') {
      const queries = svc.pendingQueries(host);
      return { status: 200, body: queries ? JSON.stringify({ queries }) : EMPTY_QUERIES };
    }
    return svc.configJson(host).then((json) => ({ status: 200, body: json }));
  });
}

/** Fleet's error body with our stable code, as the error handler writes it for other routes. */
export function failure(status: number, code: string, message: string): HotReply {
  return { status, body: JSON.stringify({ message, code, errors: [], uuid: randomUUID() }) };
}

function nodeKey(auth: string | undefined, body: Record<string, unknown>): string | undefined {
  if (auth && auth.length > 8 && auth.startsWith('NodeKey ')) return auth.slice(8).trim();
  const k = body['node_key'];
  return typeof k === 'string' && k.length > 0 && k.length <= 512 ? k : undefined;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** A request handler for node's HTTP server that answers hot requests and passes the rest on. */
export function osqueryFastPath(
  svc: CheckinService,
  log: Logger,
  next: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const kind = classifyHot(req.method, req.url, req.headers);
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
      Promise.resolve(answerHot(svc, kind, text, req.headers.authorization)).then(
        (reply) => send(res, reply),
        (err: unknown) => {
          log.error({ err, url: req.url }, 'osquery check-in failed');
          if (!res.headersSent) send(res, failure(500, 'INTERNAL', 'Internal server error'));
          else res.destroy();
        },
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
  });
  res.end(body);
}
