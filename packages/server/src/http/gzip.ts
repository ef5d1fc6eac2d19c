import { createGunzip, createInflate } from 'node:zlib';
import type { FastifyRequest } from 'fastify';

/**
 * Accepts `Content-Encoding: gzip` (osquery's `--logger_tls_compress`) and deflate bodies.
 * Dropping content-length makes Fastify's body limit count decompressed bytes, so a gzip
 * bomb stops at the limit instead of filling memory.
 */
export function decompressBody(
  req: FastifyRequest,
  payload: NodeJS.ReadableStream,
): NodeJS.ReadableStream {
  const enc = req.headers['content-encoding']?.toLowerCase().trim();
  if (!enc || enc === 'identity') return payload;
  if (enc !== 'gzip' && enc !== 'deflate' && enc !== 'x-gzip') {
    const e = new Error(`unsupported Content-Encoding: ${enc}`) as Error & {
      statusCode: number;
      code: string;
    };
    e.statusCode = 415;
    e.code = 'FLOTILLA_BAD_ENCODING';
    throw e;
  }
  delete req.headers['content-length'];
  const z = enc === 'deflate' ? createInflate() : createGunzip();
  z.on('error', (err: Error & { code?: string; statusCode?: number }) => {
    err.code = 'FLOTILLA_BAD_GZIP';
    err.statusCode = 400;
  });
  payload.pipe(z);
  return z;
}
