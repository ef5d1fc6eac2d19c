import type { AddressInfo } from 'node:net';
import { createSecureContext, createServer as createTlsServer } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionPool, parseResponse } from '../src/agent/connection-pool.js';
import { Transport } from '../src/agent/transport.js';
import { FakeOsqueryServer } from './helpers/fake-osquery-server.js';
import { makeTlsFixture } from './helpers/tls-fixture.js';
import type { TlsFixture } from './helpers/tls-fixture.js';

const OK_RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}';

let tls: TlsFixture;
let server: FakeOsqueryServer | undefined;

beforeAll(() => {
  tls = makeTlsFixture();
});

afterEach(async () => {
  await server?.close();
  server = undefined;
});

function transport(o: { serverName?: string; ca?: string } = {}): Transport {
  if (server === undefined) throw new Error('start the fake server first');
  return new Transport({
    server: new URL(server.url),
    secureContext: createSecureContext({ ca: o.ca ?? tls.caPem }),
    ...(o.serverName === undefined ? {} : { serverName: o.serverName }),
    sessionTimeoutSeconds: 3600,
    timeoutMs: 2000,
    version: '5.23.1',
  });
}

describe('Transport over its own HTTP/1.1 connections', () => {
  it('sends the request osquery sends and reuses one connection', async () => {
    server = new FakeOsqueryServer(tls);
    await server.listen();
    const t = transport();
    const a = await t.post('/api/v1/osquery/config', '{"node_key":"k"}', 'k', false);
    const b = await t.post('/api/v1/osquery/log', '{"node_key":"k"}', 'k', true);
    t.close();
    expect(a.status).toBe(200);
    expect(b.body).toEqual({});
    const [r1, r2] = server.requests;
    expect(r1?.headers).toMatchObject({
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': 'osquery/5.23.1',
      authorization: 'NodeKey k',
      'content-length': '16',
      host: new URL(server.url).host,
      connection: 'keep-alive',
    });
    expect(r2?.headers['content-encoding']).toBe('gzip');
    expect(r2?.raw).toBe('{"node_key":"k"}');
    expect(r1?.remotePort).toBe(r2?.remotePort);
  });

  it('answers requests made at once in turn on the one connection', async () => {
    server = new FakeOsqueryServer(tls);
    await server.listen();
    const t = transport();
    const answers = await Promise.all(
      [1, 2, 3].map((i) => t.post('/api/v1/osquery/config', `{"n":${i}}`, 'k', false)),
    );
    t.close();
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(new Set(server.requests.map((r) => r.remotePort)).size).toBe(1);
  });

  it('refuses a certificate that does not name the server, before sending anything', async () => {
    server = new FakeOsqueryServer(tls);
    await server.listen();
    const t = transport({ serverName: 'osquery.example.com' });
    await expect(t.post('/api/v1/osquery/enroll', '{}', undefined, false)).rejects.toThrow(
      /does not match/,
    );
    t.close();
    const stranger = makeTlsFixture();
    const u = transport({ ca: stranger.caPem });
    await expect(u.post('/api/v1/osquery/enroll', '{}', undefined, false)).rejects.toThrow();
    u.close();
    expect(server.requests).toHaveLength(0);
  });
});

describe('a server that answers garbage', () => {
  it('fails that request with a clear error, and the next one connects afresh', async () => {
    let answers = 0;
    const raw = createTlsServer({ cert: tls.cert, key: tls.key }, (socket) => {
      socket.on('data', () => {
        answers += 1;
        socket.write(answers === 1 ? 'HTTX/9 what\r\n\r\n' : OK_RESPONSE);
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const port = (raw.address() as AddressInfo).port;
    const t = new Transport({
      server: new URL(`https://127.0.0.1:${port}`),
      secureContext: createSecureContext({ ca: tls.caPem }),
      sessionTimeoutSeconds: 3600,
      timeoutMs: 2000,
      version: '5.23.1',
    });
    await expect(t.post('/api/v1/osquery/config', '{}', 'k', false)).rejects.toThrow(
      /malformed HTTP status line/,
    );
    const next = await t.post('/api/v1/osquery/config', '{}', 'k', false);
    expect(next.body).toEqual({ ok: true });
    t.close();
    await new Promise((r) => raw.close(r));
  });
});

describe('parseResponse', () => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n';

  it('waits for the whole Content-Length body', () => {
    const body = '{"a":"\u00e9"}';
    const full = Buffer.from(`${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    expect(parseResponse(full.subarray(0, 20))).toBeUndefined();
    expect(parseResponse(full.subarray(0, full.length - 1))).toBeUndefined();
    expect(parseResponse(full)).toEqual({ status: 200, body: '{"a":"\u00e9"}', close: false });
  });

  it('refuses what is not an HTTP/1.x response', () => {
    expect(() => parseResponse(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'))).toThrow(/status line/);
    expect(() => parseResponse(Buffer.from(`${head}Content-Length: lots\r\n\r\n{}`))).toThrow(
      /Content-Length/,
    );
    expect(() =>
      parseResponse(Buffer.from(`${head}Transfer-Encoding: chunked\r\n\r\nzz\r\n`)),
    ).toThrow(/chunk size/);
  });

  it('joins chunked bodies and notes Connection: close', () => {
    const text = `${head}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\n{"a"\r\n4\r\n:"b"\r\n1\r\n}\r\n0\r\n\r\n`;
    const full = Buffer.from(text);
    expect(parseResponse(full.subarray(0, full.length - 2))).toBeUndefined();
    expect(parseResponse(full)).toEqual({ status: 200, body: '{"a":"b"}', close: true });
  });
});

/** A fake server and a fifo pool of `maxSockets` to it, counting the connections it opens. */
async function sharedPool(
  maxSockets: number,
): Promise<{ pool: ConnectionPool; opened: () => number }> {
  server = new FakeOsqueryServer(tls);
  await server.listen();
  let opened = 0;
  const pool = new ConnectionPool({
    server: new URL(server.url),
    secureContext: createSecureContext({ ca: tls.caPem }),
    maxSockets,
    scheduling: 'fifo',
    onConnect: () => opened++,
  });
  return { pool, opened: () => opened };
}

describe('a shared pool warmed up front', () => {
  it('opens every connection once, then cycles requests over them without opening more', async () => {
    const { pool, opened } = await sharedPool(4);
    try {
      expect(await pool.warm()).toBe(4);
      expect(opened()).toBe(4);
      const head = (n: number) =>
        `POST /api/v1/osquery/config HTTP/1.1\r\nHost: x\r\nContent-Length: ${String(n).length}\r\n\r\n`;
      for (let i = 0; i < 8; i++) {
        const r = await pool.request(head(i), Buffer.from(String(i)), 2000);
        expect(r.status).toBe(200);
      }
      expect(await pool.warm()).toBe(0);
      expect(opened()).toBe(4);
      // Oldest idle first: the 8 requests went round all 4 connections, twice.
      const ports = (server?.requests ?? []).map((r) => r.remotePort);
      expect(new Set(ports).size).toBe(4);
      expect(ports.slice(4)).toEqual(ports.slice(0, 4));
    } finally {
      pool.destroy();
    }
  });

  it('warms a few handshakes at a time and serves requests made meanwhile', async () => {
    const { pool, opened } = await sharedPool(6);
    try {
      const warming = pool.warm(2);
      // Only the first two handshakes have started: the rest wait for them to finish.
      expect(opened()).toBe(2);
      const head = 'POST /api/v1/osquery/config HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n';
      const r = await pool.request(head, Buffer.from('1'), 2000);
      expect(r.status).toBe(200);
      await warming;
      expect(opened()).toBe(6);
      expect(await pool.warm(2)).toBe(0);
    } finally {
      pool.destroy();
    }
  });
});
