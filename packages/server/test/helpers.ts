import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import WebSocket from 'ws';
import {
  createTestDatabase,
  type DialectName,
  type Datastore,
  type TestDatabase,
} from '@flotilla/db';
import { buildApp, loadConfig, type AppContext, type ServerConfig } from '../src/index.js';

export interface TestServer {
  app: FastifyInstance;
  ctx: AppContext;
  ds: Datastore;
  config: ServerConfig;
  db: TestDatabase;
  close(): Promise<void>;
}

/** A real app on a fresh database of the given dialect (no mocks), driven through inject(). */
export async function startTestServer(
  dialect: DialectName,
  env: Record<string, string> = {},
  beforeReady?: (app: FastifyInstance) => void,
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-srv-'));
  const config = loadConfig({
    env: {
      FLOTILLA_DATA_DIR: dir,
      FLOTILLA_LOG_LEVEL: 'silent',
      FLOTILLA_SEEN_FLUSH_INTERVAL_MS: '50',
      ...env,
    },
  });
  const db = await createTestDatabase(dialect);
  const ds = db.open();
  await ds.migrate();
  const { app, ctx } = await buildApp({
    config,
    ds,
    serverKey: 'test-server-key',
    logger: pino({ level: 'silent' }),
  });
  beforeReady?.(app);
  await app.ready();
  return {
    app,
    ctx,
    ds,
    config,
    db,
    close: async () => {
      await app.close();
      await ds.close();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const ADMIN = {
  email: 'admin@example.com',
  name: 'Ada Admin',
  password: 'correct-Horse-42!',
};

/** Runs first-run setup and returns the admin's bearer token. */
export async function setupAdmin(app: FastifyInstance): Promise<string> {
  const r = await app.inject({
    method: 'POST',
    url: '/api/v1/setup',
    payload: {
      admin: { admin: true, ...ADMIN, password_confirmation: ADMIN.password },
      org_info: { org_name: 'Acme' },
      server_url: 'https://localhost:8412',
    },
  });
  if (r.statusCode !== 200) throw new Error(`setup failed: ${r.body}`);
  return (r.json() as { token: string }).token;
}

export async function api(
  app: FastifyInstance,
  token: string | undefined,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  payload?: unknown,
) {
  const r = await app.inject({
    method,
    url,
    ...(payload !== undefined ? { payload: payload as object } : {}),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return {
    status: r.statusCode,
    body: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {},
  };
}

/** An enroll body exactly as osquery 5.x sends it: every value a string, platform_type "9". */
export function osqueryEnrollBody(
  secret: string,
  n = 1,
  overrides: {
    platform?: string;
    name?: string;
    version?: string;
    codename?: string;
    major?: string;
    minor?: string;
  } = {},
) {
  const uuid = `4c4c4544-0046-5a10-8052-${String(n).padStart(12, '0')}`;
  return {
    enroll_secret: secret,
    host_identifier: uuid,
    platform_type: '9',
    host_details: {
      os_version: {
        _id: '1',
        arch: 'x86_64',
        build: '',
        codename: overrides.codename ?? 'jammy',
        major: overrides.major ?? '22',
        minor: overrides.minor ?? '4',
        patch: '0',
        name: overrides.name ?? 'Ubuntu',
        platform: overrides.platform ?? 'ubuntu',
        platform_like: 'debian',
        version: overrides.version ?? '22.04.3 LTS (Jammy Jellyfish)',
      },
      osquery_info: {
        build_distro: 'centos7',
        build_platform: 'linux',
        config_hash: '',
        config_valid: '0',
        extensions: 'active',
        instance_id: `b6c1c7c8-0000-4000-8000-${String(n).padStart(12, '0')}`,
        pid: '1234',
        platform_mask: '9',
        start_time: '1732400000',
        uuid,
        version: '5.13.1',
        watcher: '1233',
      },
      platform_info: {
        address: '0xe8000',
        date: '04/01/2014',
        extra: '',
        firmware_type: 'bios',
        revision: '',
        size: '65536',
        vendor: 'SeaBIOS',
        version: '1.16.2-debian-1.16.2-1',
        volume_size: '0',
      },
      system_info: {
        board_model: '',
        board_serial: '',
        board_vendor: '',
        board_version: '',
        computer_name: `web-${n}`,
        cpu_brand: 'Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz',
        cpu_logical_cores: '4',
        cpu_microcode: '0x5003501',
        cpu_physical_cores: '2',
        cpu_sockets: '1',
        cpu_subtype: '85',
        cpu_type: 'x86_64',
        hardware_model: 'm5.xlarge',
        hardware_serial: `ec2-serial-${n}`,
        hardware_vendor: 'Amazon EC2',
        hardware_version: '',
        hostname: `web-${n}.acme.internal`,
        local_hostname: `web-${n}`,
        physical_memory: '16483926016',
        uuid,
      },
    },
  };
}

/** What osquery answers to our detail queries on an Ubuntu server (all values strings). */
export function detailAnswers(
  queries: Record<string, string>,
  n = 1,
): {
  queries: Record<string, unknown>;
  statuses: Record<string, number>;
  messages: Record<string, string>;
} {
  const canned: Record<string, Array<Record<string, string>>> = {
    fleet_detail_query_os_unix_like: [
      {
        name: 'Ubuntu',
        version: '22.04.3 LTS (Jammy Jellyfish)',
        major: '22',
        minor: '4',
        patch: '0',
        build: '',
        platform: 'ubuntu',
        platform_like: 'debian',
        codename: 'jammy',
        kernel_version: '6.5.0-1014-aws',
      },
    ],
    fleet_detail_query_osquery_info: [{ version: '5.13.1', build_platform: 'linux' }],
    fleet_detail_query_system_info: [
      {
        hostname: `web-${n}.acme.internal`,
        computer_name: `web-${n}`,
        uuid: `4c4c4544-0046-5a10-8052-${String(n).padStart(12, '0')}`,
        cpu_brand: 'Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz',
        cpu_type: 'x86_64',
        cpu_subtype: '85',
        cpu_physical_cores: '2',
        cpu_logical_cores: '4',
        physical_memory: '16483926016',
        hardware_vendor: 'Amazon EC2',
        hardware_model: 'm5.xlarge',
        hardware_version: '',
        hardware_serial: `ec2-serial-${n}`,
      },
    ],
    fleet_detail_query_uptime: [
      { days: '3', hours: '2', minutes: '1', seconds: '7', total_seconds: '266467' },
    ],
    fleet_detail_query_network_interface_unix: [
      { address: `10.0.1.${n}`, mac: '0a:1b:2c:3d:4e:5f' },
    ],
    fleet_detail_query_disk_space_unix: [
      {
        percent_disk_space_available: '61.5',
        gigs_disk_space_available: '61.34',
        gigs_total_disk_space: '99.73',
      },
    ],
    fleet_detail_query_disk_encryption_linux: [
      { encrypted: '1', path: '/' },
      { encrypted: '0', path: '/boot' },
    ],
    fleet_detail_query_users: [
      { uid: '0', username: 'root', groupname: 'root', shell: '/bin/bash' },
      { uid: '1000', username: 'ubuntu', groupname: 'ubuntu', shell: '/bin/bash' },
    ],
    fleet_detail_query_osquery_flags: [
      { name: 'config_refresh', value: '60' },
      { name: 'distributed_interval', value: '10' },
      { name: 'logger_tls_period', value: '10' },
    ],
  };
  const out: Record<string, unknown> = {};
  const statuses: Record<string, number> = {};
  for (const name of Object.keys(queries)) {
    out[name] = canned[name] ?? '';
    statuses[name] = 0;
  }
  return { queries: out, statuses, messages: {} };
}

/** Whether Redis tests can run. Under CI=true absence is an error, not a skip. */
export async function redisAvailable(
  url = process.env['FLOTILLA_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
): Promise<boolean> {
  const { Redis } = await import('ioredis');
  const r = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch (e) {
    if (process.env['CI'] === 'true')
      throw new Error(`Redis is required in CI but unreachable at ${url}: ${String(e)}`);
    console.warn(`\n[flotilla] Redis unreachable at ${url}: Redis tests are SKIPPED\n`);
    return false;
  } finally {
    r.disconnect();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Watches a campaign over the results websocket until it reports `finished`. */
export async function streamCampaign(
  wsUrl: string,
  ca: string,
  token: string,
  campaignId: number,
  timeoutMs = 30_000,
) {
  const ws = new WebSocket(wsUrl, { ca });
  const messages: Array<{ type: string; data: Record<string, unknown> }> = [];
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(
      () =>
        reject(
          new Error(
            `campaign ${campaignId} did not finish; got ${JSON.stringify(messages.slice(-3))}`,
          ),
        ),
      timeoutMs,
    );
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'auth', data: { token } }));
      ws.send(JSON.stringify({ type: 'select_campaign', data: { campaign_id: campaignId } }));
    });
    ws.on('error', reject);
    ws.on('message', (raw: Buffer) => {
      const m = JSON.parse(raw.toString()) as { type: string; data: Record<string, unknown> };
      messages.push(m);
      if (m.type === 'status' && m.data['status'] === 'finished') {
        clearTimeout(t);
        resolve();
      }
    });
  });
  ws.close();
  return {
    messages,
    results: messages
      .filter((m) => m.type === 'result')
      .map(
        (m) =>
          m.data as {
            host: { id: number; hostname: string };
            rows: Array<Record<string, string>>;
            error: string | null;
          },
      ),
    totals: messages.find((m) => m.type === 'totals')?.data as { count: number; online: number },
  };
}

export async function waitUntil(
  what: string,
  fn: () => Promise<boolean>,
  ms = 60_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/**
 * `count` bare host rows (no enroll, no details), for repository-level tests; their ids. Keys
 * and names are numbered from `first`, so later calls can add hosts that do not collide.
 */
export async function insertHosts(ds: Datastore, count: number, first = 0): Promise<number[]> {
  const ids: number[] = [];
  for (let i = first; i < first + count; i++) {
    const r = await ds.db
      .insertInto('hosts')
      .values({
        node_key_hash: `k${i}`,
        osquery_host_id: `h${i}`,
        hostname: `host-${i}`,
        created_at: 1,
        updated_at: 1,
      } as never)
      .returning('id')
      .executeTakeFirstOrThrow();
    ids.push(r.id);
  }
  return ids;
}
