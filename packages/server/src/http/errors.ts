import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isFlotillaError, type ErrorKind, type FieldError } from '@flotilla/core';

const STATUS: Record<ErrorKind, number> = {
  invalid: 422,
  not_found: 404,
  conflict: 409,
  unauthenticated: 401,
  forbidden: 403,
  rate_limited: 429,
  too_large: 413,
  unavailable: 503,
};

export interface ErrorBody {
  message: string;
  code: string;
  errors: FieldError[];
  uuid: string;
}

const isOsqueryRoute = (url: string) =>
  url.startsWith('/api/osquery/') || url.startsWith('/api/v1/osquery/');

/** Maps Fastify's own errors (parsing, validation, limits) to our codes. */
function fromFastify(
  err: FastifyError,
): { status: number; code: string; message: string; errors: FieldError[] } | undefined {
  if (err.validation) {
    const errors = err.validation.map((v) => {
      const where = (v.instancePath || '').replace(/^\//, '').replace(/\//g, '.');
      const extra = v.params as { additionalProperty?: string; missingProperty?: string };
      const name =
        extra.additionalProperty ??
        extra.missingProperty ??
        (where || err.validationContext || 'base');
      const reason = extra.additionalProperty ? 'unknown field' : (v.message ?? 'is invalid');
      return { name, reason };
    });
    return {
      status: 400,
      code: 'BAD_REQUEST',
      message: `Bad request: ${errors.map((e) => `${e.name} ${e.reason}`).join('; ')}`,
      errors,
    };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {
        status: 400,
        code: 'MALFORMED_JSON',
        message: `Malformed JSON body: ${err.message}`,
        errors: [],
      };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        code: 'BODY_TOO_LARGE',
        message: 'Request body is too large',
        errors: [],
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'Content-Type must be application/json',
        errors: [],
      };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return {
        status: 400,
        code: 'BAD_CONTENT_LENGTH',
        message: 'Content-Length does not match the body',
        errors: [],
      };
    case 'Z_DATA_ERROR':
    case 'Z_BUF_ERROR':
    case 'FLOTILLA_BAD_GZIP':
      return {
        status: 400,
        code: 'MALFORMED_GZIP',
        message: 'Request body is not valid gzip',
        errors: [],
      };
    case 'FST_ERR_NOT_FOUND':
      return { status: 404, code: 'NOT_FOUND', message: 'Not found', errors: [] };
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return { status: err.statusCode, code: 'BAD_REQUEST', message: err.message, errors: [] };
  }
  return undefined;
}

/** The error body osquery routes answer with: osquery reads `node_invalid`. */
export function osqueryErrorBody(status: number, code: string, message: string): string {
  return JSON.stringify({ error: message, code, node_invalid: status === 401, uuid: randomUUID() });
}

/**
 * A FlotillaError thrown by an osquery request answered outside Fastify, as the error handler
 * below answers it; undefined for any other error (an internal one).
 */
export function osqueryFlotillaError(
  err: unknown,
): { status: number; body: string; retryAfter: number | undefined } | undefined {
  if (!isFlotillaError(err)) return undefined;
  const status = STATUS[err.kind];
  return {
    status,
    body: osqueryErrorBody(status, err.code, err.message),
    retryAfter: err.retryAfterSeconds,
  };
}

/** One place that turns any error into Fleet's error body (plus a stable `code`). */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const uuid = randomUUID();
    let status: number;
    let body: ErrorBody;
    if (isFlotillaError(err)) {
      status = STATUS[err.kind];
      body = {
        message: err.message,
        code: err.code,
        errors: err.fields.length ? err.fields : [{ name: 'base', reason: err.message }],
        uuid,
      };
      if (err.retryAfterSeconds !== undefined)
        void reply.header('retry-after', String(err.retryAfterSeconds));
    } else {
      const mapped = fromFastify(err);
      if (mapped) {
        status = mapped.status;
        body = {
          message: mapped.message,
          code: mapped.code,
          errors: mapped.errors.length ? mapped.errors : [{ name: 'base', reason: mapped.message }],
          uuid,
        };
      } else {
        status = 500;
        req.log.error({ err, uuid }, 'internal error');
        body = {
          message: 'Internal server error',
          code: 'INTERNAL',
          errors: [{ name: 'base', reason: 'internal server error' }],
          uuid,
        };
      }
    }
    if (status < 500) req.log.debug({ code: body.code, uuid, status }, 'request rejected');
    if (isOsqueryRoute(req.url)) {
      // osquery reads `node_invalid`; give it a plain error otherwise.
      const nodeInvalid = status === 401;
      return reply
        .code(status)
        .send({ error: body.message, code: body.code, node_invalid: nodeInvalid, uuid });
    }
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const uuid = randomUUID();
    void reply.code(404).send({
      message: `No route ${req.method} ${req.url.split('?')[0]}`,
      code: 'ROUTE_NOT_FOUND',
      errors: [{ name: 'base', reason: 'not found' }],
      uuid,
    });
  });
}
