import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, osqueryEnrollBody, setupAdmin, startTestServer, type TestServer } from './helpers.js';

/**
 * distributed/read and config are answered before Fastify when the request is plain
 * (fast-path.ts). inject() never reaches that code, so these go over a real socket and are
 * compared with what the ordinary route answers.
 */
describe('osquery check-in fast path (real HTTP)', () => {
  let s: TestServer;
  let port: number;
  let nodeKey: string;
  let hostId: number;

  beforeAll(async () => {
    s = await startTestServer('sqlite');
    const token = await setupAdmin(s.app);
    const value = 'fast-path-secret';
    await api(s.app, token, 'POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: value }] },
    });
    const enrolled = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/enroll',
      payload: osqueryEnrollBody(value),
    });
    nodeKey = (enrolled.json() as { node_key: string }).node_key;
    const hosts = await api(s.app, token, 'GET', '/api/v1/fleet/hosts');
    hostId = (hosts.body['hosts'] as Array<{ id: number }>)[0]!.id;
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    port = (s.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => s?.close());

  function post(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
    return new Promise<{ status: number; body: string; type: string | undefined }>(
      (resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path,
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'content-length': String(Buffer.byteLength(body)),
              ...headers,
            },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                body: text,
                type: res.headers['content-type'],
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(body);
      },
    );
  }

  it('answers a check-in with the vitals first, then the constant empty answer', async () => {
    const first = await post(
      '/api/v1/osquery/distributed/read',
      JSON.stringify({ node_key: nodeKey }),
    );
    expect(first.status).toBe(200);
    expect(first.type).toBe('application/json; charset=utf-8');
    const queries = (JSON.parse(first.body) as { queries: Record<string, string> }).queries;
    expect(Object.keys(queries).some((k) => k.startsWith('fleet_detail_query_'))).toBe(true);
    const second = await post(
      '/api/osquery/distributed/read',
      JSON.stringify({ node_key: nodeKey }),
    );
    expect(second).toMatchObject({ status: 200, body: '{"queries":{}}' });
    // The node key may come in the Authorization header instead of the body.
    const byHeader = await post('/api/v1/osquery/distributed/read', '{}', {
      authorization: `NodeKey ${nodeKey}`,
    });
    expect(byHeader).toMatchObject({ status: 200, body: '{"queries":{}}' });
  });

  it('records the check-in as the host being seen', async () => {
    const before = Date.now();
    await post('/api/v1/osquery/distributed/read', JSON.stringify({ node_key: nodeKey }));
    expect(s.ctx.checkin.cache.getById(hostId)?.seenAt).toBeGreaterThanOrEqual(before);
  });

  it('answers an unknown node key with node_invalid, like the ordinary route', async () => {
    const fast = await post('/api/v1/osquery/distributed/read', '{"node_key":"nope"}');
    const slow = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/distributed/read',
      payload: { node_key: 'nope' },
    });
    expect(fast.status).toBe(401);
    expect(fast.status).toBe(slow.statusCode);
    expect(fast.body).toBe(slow.body);
    const missing = await post('/api/v1/osquery/config', '{}');
    expect(missing).toMatchObject({ status: 401, body: '{"node_invalid":true}' });
  });

  it('refuses malformed JSON and non-object bodies with the error shape of other routes', async () => {
    const bad = await post('/api/v1/osquery/distributed/read', '{"node_key": ');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ code: 'MALFORMED_JSON', node_invalid: false });
    expect(JSON.parse(bad.body)['uuid']).toMatch(/^[0-9a-f-]{36}$/);
    // The same keys as the ordinary route's error (the error handler's osquery shape).
    const slow = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/distributed/read',
      headers: { 'content-type': 'application/json', 'content-encoding': 'identity' },
      payload: '{"node_key": ',
    });
    expect(Object.keys(JSON.parse(bad.body) as object).sort()).toEqual(
      Object.keys(slow.json() as object).sort(),
    );
    const arr = await post('/api/v1/osquery/distributed/read', '[1,2]');
    expect(arr.status).toBe(400);
    expect(JSON.parse(arr.body)).toMatchObject({ code: 'BAD_REQUEST' });
    // The server is still answering after garbage.
    const ok = await post(
      '/api/v1/osquery/distributed/read',
      JSON.stringify({ node_key: nodeKey }),
    );
    expect(ok.status).toBe(200);
  });

  it('serves the same config as the ordinary route', async () => {
    const fast = await post('/api/v1/osquery/config', JSON.stringify({ node_key: nodeKey }));
    const slow = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/config',
      payload: { node_key: nodeKey },
    });
    expect(fast.status).toBe(200);
    expect(JSON.parse(fast.body)).toEqual(JSON.parse(slow.body));
    expect(JSON.parse(fast.body)).toHaveProperty('options');
  });

  it('leaves gzip bodies and other content types to the ordinary route', async () => {
    const gz = await post(
      '/api/v1/osquery/distributed/read',
      gzipSync(JSON.stringify({ node_key: nodeKey })),
      { 'content-encoding': 'gzip' },
    );
    expect(gz).toMatchObject({ status: 200, body: '{"queries":{}}' });
    const text = await post('/api/v1/osquery/distributed/read', 'node_key', {
      'content-type': 'text/plain',
    });
    const slow = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/distributed/read',
      payload: 'node_key',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBeGreaterThanOrEqual(400);
    expect(text.status).toBe(slow.statusCode);
    expect(JSON.parse(text.body)['code']).toBe((slow.json() as { code: string }).code);
  });
});
