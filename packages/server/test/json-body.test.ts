import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, osqueryEnrollBody, setupAdmin, startTestServer, type TestServer } from './helpers.js';

/** The JSON body parser: plain bodies parsed directly, poisoning attempts refused. */
describe('JSON bodies', () => {
  let s: TestServer;
  let nodeKey: string;

  beforeAll(async () => {
    s = await startTestServer('sqlite');
    const token = await setupAdmin(s.app);
    await api(s.app, token, 'POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: 'json-secret' }] },
    });
    const r = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/enroll',
      payload: osqueryEnrollBody('json-secret'),
    });
    nodeKey = (r.json() as { node_key: string }).node_key;
  });
  afterAll(async () => s?.close());

  const write = (payload: string) =>
    s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/distributed/write',
      payload,
      headers: { 'content-type': 'application/json' },
    });

  it('parses bodies with escapes and non-ASCII text like any JSON', async () => {
    const body = `{"node_key":"${nodeKey}","queries":{"q":[{"name":"caf\\u00e9 ☕"}]},"statuses":{"q":0}}`;
    const r = await write(body);
    expect(r.statusCode).toBe(200);
  });

  it('refuses __proto__ and constructor.prototype keys, spelled out or escaped', async () => {
    for (const key of ['__proto__', '\\u005f_proto__']) {
      const r = await write(`{"node_key":"${nodeKey}","queries":{"${key}":{"polluted":"1"}}}`);
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ code: 'BAD_REQUEST' });
    }
    const c = await write(
      `{"node_key":"${nodeKey}","queries":{"constructor":{"prototype":{"polluted":"1"}}}}`,
    );
    expect(c.statusCode).toBe(400);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('keeps the clear errors for malformed and empty bodies', async () => {
    const bad = await write('{"node_key":');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'MALFORMED_JSON' });
    const empty = await write('');
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toMatchObject({ code: 'MALFORMED_JSON' });
  });
});
