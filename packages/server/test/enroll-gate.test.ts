import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, osqueryEnrollBody, setupAdmin, startTestServer, type TestServer } from './helpers.js';

const SECRET = 'gate-secret';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Holds the event loop, as a backlog of requests would. */
const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('enrolls are refused while the server is far behind', () => {
  let srv: TestServer;
  let token: string;
  beforeAll(async () => {
    srv = await startTestServer('sqlite', { FLOTILLA_ENROLL_SHED_LAG_MS: '150' });
    token = await setupAdmin(srv.app);
    await api(srv.app, token, 'POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: SECRET }] },
    });
  });
  afterAll(() => srv.close());

  const enroll = (n: number) =>
    srv.app.inject({
      method: 'POST',
      url: '/api/osquery/enroll',
      payload: osqueryEnrollBody(SECRET, n),
    });
  const hostCount = async () =>
    (await api(srv.app, token, 'GET', '/api/v1/fleet/hosts/count')).body['count'];

  it('a lagging loop gets a 503 the agent retries; enrolled hosts still check in; then enrolls pass', async () => {
    const first = await enroll(1);
    expect(first.statusCode).toBe(200);
    const nodeKey = (first.json() as { node_key: string }).node_key;

    busy(400);
    const refused = await enroll(2);
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(refused.json()).toMatchObject({ code: 'SERVER_BUSY' });
    // A host already enrolled is not refused.
    busy(400);
    const read = await srv.app.inject({
      method: 'POST',
      url: '/api/osquery/distributed/read',
      payload: { node_key: nodeKey },
    });
    expect(read.statusCode).toBe(200);
    expect(srv.ctx.checkin.enrollGate.shed).toBe(1);
    expect(await hostCount()).toBe(1);

    await sleep(200); // the loop has caught up
    expect((await enroll(2)).statusCode).toBe(200);
    expect(await hostCount()).toBe(2);
    const metrics = await srv.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^flotilla_enrolls_shed_total 1$/m);
  });
});

describe('with shedding turned off', () => {
  it('a lagging loop still enrolls', async () => {
    const srv = await startTestServer('sqlite', { FLOTILLA_ENROLL_SHED_LAG_MS: '0' });
    try {
      const token = await setupAdmin(srv.app);
      await api(srv.app, token, 'POST', '/api/v1/fleet/spec/enroll_secret', {
        spec: { secrets: [{ secret: SECRET }] },
      });
      busy(400);
      const res = await srv.app.inject({
        method: 'POST',
        url: '/api/osquery/enroll',
        payload: osqueryEnrollBody(SECRET, 1),
      });
      expect(res.statusCode).toBe(200);
    } finally {
      await srv.close();
    }
  });
});
