import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { CheckinService } from './checkin.service.js';
import type { HostRuntime } from './host-cache.js';

/**
 * The agent check-in (`distributed/read`) and config refresh, answered straight from the HTTP
 * server without Fastify's routing, hooks and reply machinery. They are ~90% of all requests
 * and 99% of them answer a constant, so the framework's per-request work showed up in the
 * bench as a large share of the server's CPU per check-in. Only plain requests come here: a
 * gzip body, a missing or large Content-Length, or another method goes the ordinary way
 * (osquery.routes.ts), which answers the same.
 */

const READ_PATHS = new Set(['/api/v1/osquery/distributed/read', '/api/osquery/distributed/read']);
const CONFIG_PATHS = new Set(['/api/v1/osquery/config', '/api/osquery/config']);
const MAX_BODY = 64 * 1024;

const EMPTY_QUERIES = Buffer.from('{"queries":{}}');
const NODE_INVALID = Buffer.from('{"node_invalid":true}');
const JSON_TYPE = 'application/json; charset=utf-8';

type Kind = 'read' | 'config';

/** Returns a request handler that answers the hot osquery endpoints and passes the rest on. */
export function osqueryFastPath(
  svc: CheckinService,
  log: Logger,
  next: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const kind = classify(req);
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
        fail(res, 400, 'BAD_CONTENT_LENGTH', 'Content-Length does not match the body');
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(
          chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString(),
        );
      } catch (err) {
        fail(res, 400, 'MALFORMED_JSON', `Malformed JSON body: ${(err as Error).message}`);
        return;
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        fail(res, 400, 'BAD_REQUEST', 'Bad request: body must be object');
        return;
      }
      const key = nodeKey(req, body as Record<string, unknown>);
      svc.checkIn(key).then(
        (host) => answer(svc, log, kind, host, res),
        (err: unknown) => failInternal(log, res, err),
      );
    });
    req.on('error', () => res.destroy());
  };
}

function classify(req: IncomingMessage): Kind | undefined {
  if (req.method !== 'POST') return undefined;
  const url = req.url ?? '';
  const kind = READ_PATHS.has(url) ? 'read' : CONFIG_PATHS.has(url) ? 'config' : undefined;
  if (!kind) return undefined;
  const h = req.headers;
  if (h['content-encoding'] !== undefined && h['content-encoding'] !== 'identity') return undefined;
  const type = h['content-type'];
  if (type !== undefined && !type.startsWith('application/json')) return undefined;
  const length = Number(h['content-length']);
  if (!Number.isInteger(length) || length < 0 || length > MAX_BODY) return undefined;
  return kind;
}

function nodeKey(req: IncomingMessage, body: Record<string, unknown>): string | undefined {
  const auth = req.headers.authorization;
  if (auth && auth.length > 8 && auth.startsWith('NodeKey ')) return auth.slice(8).trim();
  const k = body['node_key'];
  return typeof k === 'string' && k.length > 0 && k.length <= 512 ? k : undefined;
}

function answer(
  svc: CheckinService,
  log: Logger,
  kind: Kind,
  host: HostRuntime | undefined,
  res: ServerResponse,
): void {
  if (!host) {
    send(res, 401, NODE_INVALID);
    return;
  }
  if (kind === 'read') {
    const queries = svc.pendingQueries(host);
    send(res, 200, queries ? JSON.stringify({ queries }) : EMPTY_QUERIES);
    return;
  }
  svc.configJson(host).then(
    (json) => send(res, 200, json),
    (err: unknown) => failInternal(log, res, err),
  );
}

function send(res: ServerResponse, status: number, body: string | Buffer): void {
  res.writeHead(status, {
    'content-type': JSON_TYPE,
    'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.length,
  });
  res.end(body);
}

/** Fleet's error body with our stable code, as the error handler writes it for other routes. */
function fail(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, JSON.stringify({ message, code, errors: [], uuid: randomUUID() }));
}

function failInternal(log: Logger, res: ServerResponse, err: unknown): void {
  log.error({ err, url: res.req.url }, 'osquery check-in failed');
  if (!res.headersSent) fail(res, 500, 'INTERNAL', 'Internal server error');
  else res.destroy();
}
