import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, osqueryEnrollBody, setupAdmin, startTestServer, type TestServer } from './helpers.js';

/**
 * Agents' connections are read by Flotilla itself (osquery/agent-connections.ts), not by
 * node's HTTP server. These tests speak HTTP/1.1 byte by byte over real sockets: an agent's
 * whole life on one kept-alive connection, requests split and pipelined, the hand-over of
 * anything else to node's HTTP server, and garbage.
 */

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A raw HTTP/1.1 client on one socket: writes bytes, reads back complete responses. */
class RawClient {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(s)));
      s.on('error', reject);
    });
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** The next complete response (Content-Length framed); fails after 10 s without one. */
  async read(): Promise<Reply> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const lines = this.buf.toString('latin1', 0, end).split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (this.buf.length >= end + 4 + length) {
          const body = this.buf.toString('utf8', end + 4, end + 4 + length);
          this.buf = this.buf.subarray(end + 4 + length);
          return { status: Number(lines[0]!.split(' ')[1]), headers, body };
        }
      }
      if (this.closed) throw new Error('connection closed before a complete response');
      if (Date.now() > deadline) throw new Error('no response in 10 s');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 1000).unref();
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

function post(path: string, body: string | Buffer, headers: Record<string, string> = {}): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  let head = `POST ${path} HTTP/1.1\r\nHost: flotilla.test\r\nUser-Agent: osquery/5.12.1\r\nContent-Type: application/json\r\nAccept: application/json\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  head += `Content-Length: ${b.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), b]);
}

describe('agent connections read by Flotilla (real sockets, HTTP/1.1 bytes)', () => {
  let s: TestServer;
  let port: number;
  let token: string;
  const SECRET = 'agent-conn-secret';

  beforeAll(async () => {
    s = await startTestServer('sqlite');
    token = await setupAdmin(s.app);
    await api(s.app, token, 'POST', '/api/v1/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret: SECRET }] },
    });
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    port = (s.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => s?.close());

  const front = () => s.ctx.agentConnections!;

  it("carries an agent's whole life on one connection, answered as the ordinary routes answer", async () => {
    const handedBefore = front().handedOver;
    const c = await RawClient.open(port);
    c.write(post('/api/v1/osquery/enroll', JSON.stringify(osqueryEnrollBody(SECRET, 1))));
    const enrolled = await c.read();
    expect(enrolled.status).toBe(200);
    const nodeKey = (JSON.parse(enrolled.body) as { node_key: string }).node_key;
    expect(nodeKey).toMatch(/.{16,}/);
    expect(enrolled.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(enrolled.headers['connection']).toBe('keep-alive');

    c.write(post('/api/v1/osquery/config', JSON.stringify({ node_key: nodeKey })));
    const config = await c.read();
    const ordinary = await s.app.inject({
      method: 'POST',
      url: '/api/v1/osquery/config',
      payload: { node_key: nodeKey },
    });
    expect(config.status).toBe(200);
    expect(config.body).toBe(ordinary.body);

    c.write(post('/api/v1/osquery/distributed/read', JSON.stringify({ node_key: nodeKey })));
    const read = (await c.read()).body;
    const queries = (JSON.parse(read) as { queries: Record<string, string> }).queries;
    const names = Object.keys(queries);
    expect(names.some((n) => n.startsWith('fleet_detail_query_'))).toBe(true);

    // The answers go through the ordinary route (distributed/write), here in one connection.
    const results = {
      node_key: nodeKey,
      queries: { fleet_detail_query_system_info: [{ hostname: 'raw-host', uuid: 'u-1' }] },
      statuses: { fleet_detail_query_system_info: 0 },
      messages: {},
    };
    c.write(post('/api/v1/osquery/distributed/write', JSON.stringify(results)));
    expect(await c.read()).toMatchObject({ status: 200, body: '{}' });

    // A log in gzip, as osquery sends it with logger_tls_compress.
    const log = gzipSync(
      JSON.stringify({ node_key: nodeKey, log_type: 'status', data: [{ severity: '0' }] }),
    );
    c.write(post('/api/v1/osquery/log', log, { 'Content-Encoding': 'gzip' }));
    expect((await c.read()).status).toBe(200);

    c.write(post('/api/v1/osquery/distributed/read', `{"node_key":"${nodeKey}"}`));
    expect(await c.read()).toMatchObject({ status: 200, body: '{"queries":{}}' });
    expect(front().handedOver).toBe(handedBefore);
    expect(front().open).toBeGreaterThanOrEqual(1);
    c.close();
  });

  it('reads requests split into single bytes and several pipelined in one write, in order', async () => {
    const c = await RawClient.open(port);
    const bytes = post('/api/osquery/distributed/read', '{"node_key":"nope"}');
    for (const b of bytes) {
      c.write(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    expect(await c.read()).toMatchObject({ status: 401, body: '{"node_invalid":true}' });
    c.write(
      Buffer.concat([
        post('/api/v1/osquery/distributed/read', '{"node_key":"a"}'),
        post('/api/v1/osquery/enroll', '{"enroll_secret":"wrong","host_identifier":"x"}'),
        post('/api/v1/osquery/config', '{"node_key":"b"}'),
      ]),
    );
    const [first, second, third] = [await c.read(), await c.read(), await c.read()];
    expect(first).toMatchObject({ status: 401, body: '{"node_invalid":true}' });
    expect(second.status).toBe(401);
    expect(JSON.parse(second.body)).toMatchObject({ code: 'ENROLL_SECRET_INVALID' });
    expect(third).toMatchObject({ status: 401, body: '{"node_invalid":true}' });
    c.close();
  });

  it('hands anything that is not an osquery request to node’s HTTP server, bytes and all', async () => {
    const before = front().handedOver;
    const c = await RawClient.open(port);
    // An agent request, then the REST API on the same connection, pipelined with one more.
    c.write(post('/api/v1/osquery/distributed/read', '{"node_key":"nope"}'));
    expect((await c.read()).status).toBe(401);
    c.write(
      `GET /api/v1/fleet/version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n` +
        `GET /api/v1/fleet/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    );
    const version = await c.read();
    expect(version.status).toBe(200);
    expect(JSON.parse(version.body)).toHaveProperty('version');
    const me = await c.read();
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toHaveProperty('user');
    // Node's HTTP server now has the connection, and still answers agents (its fast path).
    c.write(post('/api/v1/osquery/distributed/read', '{"node_key":"nope"}'));
    expect(await c.read()).toMatchObject({ status: 401, body: '{"node_invalid":true}' });
    expect(front().handedOver).toBe(before + 1);
    c.close();
  });

  it('refuses garbage as node’s HTTP server would, and keeps serving everyone else', async () => {
    const good = await RawClient.open(port);
    // A malformed request line, a header without a colon, a head over 16 KB, chunked bodies.
    for (const bad of [
      'POST /api/v1/osquery/config HTTP/1.1 extra\r\n\r\n',
      'POST /api/v1/osquery/config HTTP/1.1\r\nno colon here\r\n\r\n',
      `POST /api/v1/osquery/config HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      'POST /api/v1/osquery/config HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
      'POST /api/v1/osquery/config HTTP/1.1\r\nHost: x\r\n folded: line\r\n\r\n',
      'POST /api/v1/osquery/config HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n\r\n{}',
      'post /api/v1/osquery/config HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /api/v1/osquery/config HTTP/1.1\r\nHost: x\r\nContent-Length: -2\r\n\r\n{}',
    ]) {
      const c = await RawClient.open(port);
      c.write(bad);
      const r = await c.read().catch(() => undefined);
      // Node's server answers 400/431, or closes the connection on the worst.
      if (r) expect(r.status, bad.slice(0, 80)).toBeGreaterThanOrEqual(400);
      c.close();
    }
    // Chunked bodies are not osquery's, but valid HTTP: node's server parses them.
    const chunked = await RawClient.open(port);
    chunked.write(
      'POST /api/v1/osquery/distributed/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n13\r\n{"node_key":"nope"}\r\n0\r\n\r\n',
    );
    expect(await chunked.read()).toMatchObject({ status: 401, body: '{"node_invalid":true}' });
    chunked.close();
    // Malformed JSON and a wrong body type on the hot path: the error shape of other routes.
    good.write(post('/api/v1/osquery/distributed/read', '{"node_key": '));
    const bad = await good.read();
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ code: 'MALFORMED_JSON', node_invalid: false });
    good.write(post('/api/v1/osquery/config', '[1]'));
    expect(JSON.parse((await good.read()).body)).toMatchObject({ code: 'BAD_REQUEST' });
    // A body over the osquery limit is left to node's server, which refuses it (413).
    const huge = await RawClient.open(port);
    huge.write(
      `POST /api/v1/osquery/distributed/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${s.config.osquery.maxBodyBytes + 10 * 1024 * 1024}\r\n\r\n{`,
    );
    const tooBig = await huge.read();
    expect(tooBig.status).toBe(413);
    huge.close();
    good.write(post('/api/v1/osquery/distributed/read', '{"node_key":"nope"}'));
    expect((await good.read()).status).toBe(401);
    good.close();
  });

  it('enroll failures are rate-limited with a Retry-After, as the ordinary route does', async () => {
    const c = await RawClient.open(port);
    const limit = s.config.rateLimits.enrollFailuresPerMinute;
    let last: Reply | undefined;
    for (let i = 0; i <= limit + 1; i++) {
      c.write(post('/api/v1/osquery/enroll', '{"enroll_secret":"nope","host_identifier":"r"}'));
      last = await c.read();
    }
    expect(last!.status).toBe(429);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(last!.body)).toMatchObject({ code: 'RATE_LIMITED', node_invalid: false });
    c.close();
  });

  it('Connection: close gets its answer, then the connection ends', async () => {
    const c = await RawClient.open(port);
    c.write(
      post('/api/v1/osquery/distributed/read', '{"node_key":"nope"}', { Connection: 'close' }),
    );
    expect((await c.read()).status).toBe(401);
    await new Promise((r) => c.socket.once('close', r));
    expect(c.closed).toBe(true);
  });
});

describe('agent connections when the server stops', () => {
  it('closes idle agent connections, so stopping does not wait for them', async () => {
    const s = await startTestServer('sqlite');
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (s.app.server.address() as AddressInfo).port;
    const clients = await Promise.all([1, 2, 3].map(() => RawClient.open(port)));
    for (const c of clients) c.write(post('/api/v1/osquery/config', '{"node_key":"nope"}'));
    for (const c of clients) expect((await c.read()).status).toBe(401);
    await s.close(); // without the front closing them, this waits for their idle timeout
    for (const c of clients) {
      if (!c.closed) await new Promise((r) => c.socket.once('close', r));
      expect(c.closed).toBe(true);
    }
  });
});
