import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decompressBody } from '../http/gzip.js';
import type { CheckinService } from './checkin.service.js';

const JSON_TYPE = 'application/json; charset=utf-8';
/** The answer to ~99% of check-ins, serialized once. */
const EMPTY_QUERIES = '{"queries":{}}';
const NODE_INVALID = '{"node_invalid":true}';
const EMPTY = '{}';

type Body = Record<string, unknown>;

/** Node key from `Authorization: NodeKey …`, else from the body, as osquery may send either. */
export function nodeKeyOf(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (auth && auth.length > 8 && auth.startsWith('NodeKey ')) return auth.slice(8).trim();
  const body = req.body as Body | null | undefined;
  const k = body && typeof body === 'object' ? body['node_key'] : undefined;
  return typeof k === 'string' && k.length > 0 && k.length <= 512 ? k : undefined;
}

const invalidNode = (reply: FastifyReply) => reply.code(401).type(JSON_TYPE).send(NODE_INVALID);

/**
 * osquery's TLS remote API, under both /api/osquery and /api/v1/osquery. Bodies are loose on
 * purpose (osquery adds fields between versions); what we read is checked where it is read.
 */
export function registerOsqueryRoutes(
  app: FastifyInstance,
  svc: CheckinService,
  maxBody: number,
  maxCarveBlock: number,
): void {
  const objectBody = { type: 'object' } as const;
  for (const prefix of ['/api/osquery', '/api/v1/osquery']) {
    const hidden = prefix === '/api/osquery';
    const opts = (summary: string, bodyLimit = maxBody) => ({
      bodyLimit,
      preParsing: async (
        req: FastifyRequest,
        _reply: FastifyReply,
        payload: NodeJS.ReadableStream,
      ) => decompressBody(req, payload),
      schema: { body: objectBody, tags: ['osquery'], summary, hide: hidden },
    });

    app.post(
      `${prefix}/enroll`,
      opts('Enroll a host with an enroll secret; returns its node key', 1024 * 1024),
      async (req, reply) => {
        const nodeKey = await svc.enroll((req.body ?? {}) as Body, req.ip);
        return reply
          .type(JSON_TYPE)
          .send(JSON.stringify({ node_key: nodeKey, node_invalid: false }));
      },
    );

    app.post(
      `${prefix}/config`,
      opts('The osquery config for this host', 1024 * 1024),
      async (req, reply) => {
        const host = await svc.checkIn(nodeKeyOf(req));
        if (!host) return invalidNode(reply);
        return reply.type(JSON_TYPE).send(await svc.configJson(host));
      },
    );

    app.post(
      `${prefix}/distributed/read`,
      opts('Questions pending for this host', 1024 * 1024),
      async (req, reply) => {
        const host = await svc.checkIn(nodeKeyOf(req));
        if (!host) return invalidNode(reply);
        const queries = svc.pendingQueries(host);
        if (!queries) return reply.type(JSON_TYPE).send(EMPTY_QUERIES);
        return reply.type(JSON_TYPE).send(JSON.stringify({ queries }));
      },
    );

    app.post(
      `${prefix}/distributed/write`,
      opts('Answers to distributed queries'),
      async (req, reply) => {
        const host = await svc.checkIn(nodeKeyOf(req));
        if (!host) return invalidNode(reply);
        svc.distributedWrite(host, req.body as Body);
        return reply.type(JSON_TYPE).send(EMPTY);
      },
    );

    app.post(`${prefix}/log`, opts('Result and status logs'), async (req, reply) => {
      const host = await svc.checkIn(nodeKeyOf(req));
      if (!host) return invalidNode(reply);
      await svc.logs(host, req.body as Body);
      return reply.type(JSON_TYPE).send(EMPTY);
    });

    app.post(
      `${prefix}/carve/begin`,
      opts('Start a file carve', 1024 * 1024),
      async (req, reply) => {
        const host = await svc.checkIn(nodeKeyOf(req));
        if (!host) return invalidNode(reply);
        const sessionId = await svc.carveBegin(host, req.body as Body);
        return reply.type(JSON_TYPE).send(JSON.stringify({ session_id: sessionId, success: true }));
      },
    );

    // Blocks carry the carve session id instead of a node key (as osquery sends them).
    app.post(
      `${prefix}/carve/block`,
      opts('Upload one block of a carve', maxCarveBlock),
      async (req, reply) => {
        await svc.carveBlock(req.body as Body);
        return reply.type(JSON_TYPE).send(JSON.stringify({ success: true }));
      },
    );
  }
}
