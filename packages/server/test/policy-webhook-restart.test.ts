import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDialects, type Datastore, type TestDatabase } from '@flotilla/db';
import { buildApp, loadConfig, type ServerConfig } from '../src/index.js';
import { api, osqueryEnrollBody, setupAdmin, waitUntil } from './helpers.js';

const SECRET = 'webhook-restart-secret';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(await testDialects())(
  'failing-policy webhook queue across a server restart on %s',
  (dialect) => {
    let db: TestDatabase;
    let dir: string;
    let config: ServerConfig;
    let ds: Datastore;
    let receiver: Server;
    let url = '';
    const received: Array<{ status: number; hosts: number[] }> = [];

    const start = async (): Promise<FastifyInstance> => {
      ds = db.open();
      await ds.migrate();
      const { app } = await buildApp({
        config,
        ds,
        serverKey: 'test-server-key',
        logger: pino({ level: 'silent' }),
      });
      await app.ready();
      return app;
    };
    const stop = async (app: FastifyInstance) => {
      await app.close();
      await ds.close();
    };
    const queued = () =>
      ds.db
        .selectFrom('policy_automation_queue')
        .select(['host_id', 'attempts', 'last_error'])
        .execute();

    beforeAll(async () => {
      db = await createTestDatabase(dialect);
      dir = mkdtempSync(join(tmpdir(), 'flotilla-hook-'));
      config = loadConfig({
        env: {
          FLOTILLA_DATA_DIR: dir,
          FLOTILLA_LOG_LEVEL: 'silent',
          FLOTILLA_SEEN_FLUSH_INTERVAL_MS: '50',
        },
      });
      // Fails the first request, accepts every later one.
      receiver = createServer((req, res) => {
        let data = '';
        req.on('data', (c: Buffer) => (data += c.toString()));
        req.on('end', () => {
          const status = received.length === 0 ? 503 : 200;
          const body = JSON.parse(data) as { hosts: Array<{ id: number }> };
          received.push({ status, hosts: body.hosts.map((h) => h.id) });
          res.writeHead(status).end();
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    });
    afterAll(async () => {
      receiver.close();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a delivery that failed before a restart is sent after it, once, and recorded', async () => {
      let app = await start();
      const token = await setupAdmin(app);
      await api(app, token, 'POST', '/api/v1/fleet/spec/enroll_secret', {
        spec: { secrets: [{ secret: SECRET }] },
      });
      const enroll = await app.inject({
        method: 'POST',
        url: '/api/osquery/enroll',
        payload: osqueryEnrollBody(SECRET, 1),
      });
      const nodeKey = (enroll.json() as { node_key: string }).node_key;
      const policy = (
        await api(app, token, 'POST', '/api/v1/fleet/global/policies', {
          name: 'Disk encrypted',
          query: 'SELECT 1 FROM disk_encryption WHERE encrypted = 1',
          platform: 'linux',
        })
      ).body['policy'] as { id: number };
      expect(
        (
          await api(app, token, 'PATCH', '/api/v1/fleet/policies/automations', {
            webhook_settings: {
              failing_policies_webhook: {
                enable_failing_policies_webhook: true,
                destination_url: url,
                policy_ids: [policy.id],
              },
            },
          })
        ).status,
      ).toBe(200);

      // The host fails the policy (no rows).
      const read = await app.inject({
        method: 'POST',
        url: '/api/osquery/distributed/read',
        payload: { node_key: nodeKey },
      });
      const name = `fleet_policy_query_${policy.id}`;
      expect(Object.keys((read.json() as { queries: object }).queries)).toContain(name);
      await app.inject({
        method: 'POST',
        url: '/api/osquery/distributed/write',
        payload: { node_key: nodeKey, queries: { [name]: '' }, statuses: { [name]: 0 } },
      });
      const hostId = (
        (await api(app, token, 'GET', '/api/v1/fleet/hosts')).body['hosts'] as Array<{
          id: number;
        }>
      )[0]!.id;

      // The receiver refuses the first attempt; the server stops before the retry is due.
      await waitUntil('first attempt', async () => received.length === 1, 15_000);
      await waitUntil(
        'the failed attempt recorded in the queue',
        async () => (await queued())[0]?.attempts === 1,
        5_000,
      );
      await stop(app);
      expect(received).toEqual([{ status: 503, hosts: [hostId] }]);

      // A new process on the same database sends what was not delivered.
      app = await start();
      try {
        // The row may already be due when the new process starts (its first retry was 1 s
        // after the failure): that it is delivered from here, as the second attempt, shows
        // it survived the restart.
        await waitUntil('delivery after the restart', async () => received.length === 2, 15_000);
        await waitUntil('queue emptied', async () => (await queued()).length === 0, 5_000);
        await sleep(1500); // nothing else arrives
        expect(received).toEqual([
          { status: 503, hosts: [hostId] },
          { status: 200, hosts: [hostId] },
        ]);
        const acts = (await api(app, token, 'GET', '/api/v1/fleet/activities?per_page=50')).body[
          'activities'
        ] as Array<{ type: string; details: Record<string, unknown> }>;
        expect(
          acts.filter((a) => a.type === 'ran_policy_automation').map((a) => a.details),
        ).toEqual([
          expect.objectContaining({
            automation: 'webhook',
            policy_id: policy.id,
            host_ids: [hostId],
            status: 'delivered',
            attempts: 2,
          }),
        ]);
      } finally {
        await stop(app);
      }
    }, 60_000);
  },
);
