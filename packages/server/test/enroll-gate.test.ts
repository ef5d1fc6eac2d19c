import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, osqueryEnrollBody, setupAdmin, startTestServer, type TestServer } from './helpers.js';

const SECRET = 'gate-secret';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Holds the event loop, as a backlog of requests would. */
const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

/** A server with the enroll secret set, and an admin token for it. */
async function gateServer(
  env: Record<string, string>,
): Promise<{ srv: TestServer; token: string }> {
  const srv = await startTestServer('sqlite', env);
  const token = await setupAdmin(srv.app);
  await api(srv.app, token, 'POST', '/api/v1/fleet/spec/enroll_secret', {
    spec: { secrets: [{ secret: SECRET }] },
  });
  return { srv, token };
}

const enrollOn = (srv: TestServer, n: number) =>
  srv.app.inject({
    method: 'POST',
    url: '/api/osquery/enroll',
    payload: osqueryEnrollBody(SECRET, n),
  });

describe('enrolls are refused while the server is far behind', () => {
  let srv: TestServer;
  let token: string;
  beforeAll(async () => {
    ({ srv, token } = await gateServer({ FLOTILLA_ENROLL_SHED_LAG_MS: '150' }));
  });
  afterAll(() => srv.close());

  const enroll = (n: number) => enrollOn(srv, n);
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
    const { srv } = await gateServer({ FLOTILLA_ENROLL_SHED_LAG_MS: '0' });
    try {
      busy(400);
      expect((await enrollOn(srv, 1)).statusCode).toBe(200);
    } finally {
      await srv.close();
    }
  });
});

describe('at most enroll_max_pending hosts are between enroll and first inventory', () => {
  let srv: TestServer;
  let token: string;
  beforeAll(async () => {
    ({ srv, token } = await gateServer({
      FLOTILLA_ENROLL_MAX_PENDING: '2',
      // Long enough for host 1's write, which starts the software writer thread, on a busy
      // machine (1.5 s failed once under the full suite).
      FLOTILLA_ENROLL_MAX_WAIT_MS: '4000',
    }));
  });
  afterAll(() => srv.close());

  const enroll = (n: number) => enrollOn(srv, n);
  const software = (nodeKey: string) =>
    srv.app.inject({
      method: 'POST',
      url: '/api/osquery/distributed/write',
      payload: {
        node_key: nodeKey,
        queries: {
          fleet_detail_query_software_deb: [
            { name: 'bash', version: '5.1-6ubuntu1', source: 'bash', arch: 'amd64' },
          ],
        },
        statuses: { fleet_detail_query_software_deb: 0 },
        messages: {},
      },
    });

  it('a third enroll waits until a host ahead is inventoried, a fourth past the wait gets a 503', async () => {
    const gate = srv.ctx.checkin.enrollGate;
    const first = await enroll(1);
    const second = await enroll(2);
    expect(second.statusCode).toBe(200);
    expect(gate.inFlight).toBe(2);
    let thirdDone = false;
    const third = enroll(3).then((r) => {
      thirdDone = true;
      return r;
    });
    await sleep(300);
    expect(thirdDone).toBe(false);
    expect(gate.waitingCount).toBe(1);
    // Host 1 reports its packages; once they are written, host 3 is let in.
    const write = await software((first.json() as { node_key: string }).node_key);
    expect(write.statusCode).toBe(200);
    const admitted = await third;
    expect(admitted.statusCode).toBe(200);
    expect(gate.queued).toBe(1);
    expect(gate.inFlight).toBe(2); // hosts 2 and 3

    const fourth = await enroll(4);
    expect(fourth.statusCode).toBe(503);
    expect(fourth.json()).toMatchObject({ code: 'SERVER_BUSY' });
    expect(fourth.headers['retry-after']).toBe('5');
    expect(await hostCount()).toBe(3);

    // Host 2's software query fails: nothing to write, its place is given back at once.
    const failed = await srv.app.inject({
      method: 'POST',
      url: '/api/osquery/distributed/write',
      payload: {
        node_key: (second.json() as { node_key: string }).node_key,
        queries: { fleet_detail_query_software_deb: [] },
        statuses: { fleet_detail_query_software_deb: 1 },
        messages: { fleet_detail_query_software_deb: 'no such table: deb_packages' },
      },
    });
    expect(failed.statusCode).toBe(200);
    expect(gate.inFlight).toBe(1);
    // Host 1 enrolling again (same osquery id) takes no new place once it is in.
    expect((await enroll(1)).statusCode).toBe(200);
    expect(gate.inFlight).toBe(1);
    const metrics = await srv.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^flotilla_enrolls_queued_total 2$/m);
    expect(metrics.body).toMatch(/^flotilla_enrolls_shed_total 1$/m);
  });

  const hostCount = async () =>
    (await api(srv.app, token, 'GET', '/api/v1/fleet/hosts/count')).body['count'];
});
