import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request, Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlotillaClient } from '@flotilla/api';
import { loadConfig, startServer, type RunningServer } from '../src/index.js';
import { ADMIN, detailAnswers, osqueryEnrollBody } from './helpers.js';

/** Posts JSON the way osquery does, over one kept-alive TLS connection verified by our CA. */
function agentPost(
  agent: Agent,
  base: URL,
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname: base.hostname,
        port: base.port,
        path,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': payload.length,
          accept: 'application/json',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('end to end over real HTTPS (SQLite, own CA)', () => {
  let dir: string;
  let server: RunningServer;
  let base: URL;
  let ca: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-'));
    const config = loadConfig({
      env: {
        FLOTILLA_DATA_DIR: dir,
        FLOTILLA_PORT: '0',
        FLOTILLA_HOST: '127.0.0.1',
        FLOTILLA_LOG_LEVEL: 'silent',
      },
    });
    server = await startServer(config);
    base = new URL(server.url);
    ca = readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8');
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses clients that do not trust our CA', async () => {
    const agent = new Agent({ keepAlive: true });
    await expect(agentPost(agent, base, '/api/v1/osquery/enroll', {})).rejects.toThrow(
      /self.signed|unable to verify|certificate/i,
    );
    agent.destroy();
  });

  it('a host enrolls, checks in, answers its vitals and is listed online with OS, memory, CPU and IP', async () => {
    const client = new FlotillaClient({ serverUrl: server.url, ca });
    await client.setup(ADMIN);
    await client.request('POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: 'e2e-enroll-secret' }] },
    });
    const cert = await client.request<{ certificate_chain: string }>(
      'GET',
      '/api/v1/fleet/config/certificate',
    );
    expect(Buffer.from(cert.certificate_chain, 'base64').toString()).toBe(ca);

    const agent = new Agent({ keepAlive: true, ca, servername: 'localhost' });
    const enroll = await agentPost(
      agent,
      base,
      '/api/osquery/enroll',
      osqueryEnrollBody('e2e-enroll-secret', 21),
    );
    expect(enroll.status).toBe(200);
    const nodeKey = enroll.json['node_key'] as string;
    expect(
      (await agentPost(agent, base, '/api/v1/osquery/config', { node_key: nodeKey })).status,
    ).toBe(200);
    const read = await agentPost(agent, base, '/api/v1/osquery/distributed/read', {
      node_key: nodeKey,
    });
    const queries = read.json['queries'] as Record<string, string>;
    expect(
      Object.keys(queries).filter((q) => q.startsWith('fleet_detail_query_')).length,
    ).toBeGreaterThanOrEqual(8);
    const write = await agentPost(agent, base, '/api/v1/osquery/distributed/write', {
      node_key: nodeKey,
      ...detailAnswers(queries, 21),
      stats: {},
    });
    expect(write.status).toBe(200);
    expect(
      (await agentPost(agent, base, '/api/v1/osquery/distributed/read', { node_key: nodeKey }))
        .json,
    ).toEqual({ queries: {} });

    const { hosts } = await client.listHosts();
    expect(hosts).toHaveLength(1);
    expect(hosts[0]).toMatchObject({
      hostname: 'web-21.acme.internal',
      os_version: 'Ubuntu 22.04.3 LTS',
      platform: 'ubuntu',
      memory: 16483926016,
      cpu_brand: 'Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz',
      cpu_logical_cores: 4,
      primary_ip: '10.0.1.21',
      public_ip: '127.0.0.1',
      status: 'online',
    });
    agent.destroy();
    client.close();
  });
});
