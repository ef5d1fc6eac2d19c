/**
 * Development aid, not a Flotilla server: a minimal osquery TLS endpoint (the test fake)
 * behind node:cluster so one machine can hold tens of thousands of agent connections
 * (each process has its own file-descriptor limit). Prints {"url","caFile"} and runs
 * until killed.  Usage: node --import tsx scripts/fake-server.ts [processes]
 */
import cluster from 'node:cluster';
import { FakeOsqueryServer } from '../test/helpers/fake-osquery-server.js';
import { makeTlsFixture } from '../test/helpers/tls-fixture.js';
import type { TlsFixture } from '../test/helpers/tls-fixture.js';

const CONFIG = {
  options: { distributed_interval: 10, logger_tls_period: 10, config_refresh: 60 },
  decorators: {
    load: ['SELECT uuid AS host_uuid FROM system_info', 'SELECT hostname FROM system_info'],
  },
  schedule: {
    ports: { query: 'SELECT pid, port, protocol, address FROM listening_ports', interval: 120 },
    os: { query: 'SELECT * FROM os_version', interval: 300, snapshot: true },
  },
};

if (cluster.isPrimary) {
  const tls = makeTlsFixture();
  const processes = Number(process.argv[2] ?? 2);
  for (let i = 0; i < processes; i++) cluster.fork({ FAKE_TLS: JSON.stringify(tls) });
  let ready = 0;
  cluster.on('message', (_w, port: number) => {
    if (++ready === processes)
      process.stdout.write(
        `${JSON.stringify({ url: `https://127.0.0.1:${port}`, caFile: tls.caFile })}\n`,
      );
  });
} else {
  const tls = JSON.parse(process.env['FAKE_TLS'] ?? '{}') as TlsFixture;
  const server = new FakeOsqueryServer(tls, { record: false });
  let keys = 0;
  server.handlers.set('/api/v1/osquery/enroll', () => ({ node_key: `${process.pid}-${keys++}` }));
  server.handlers.set('/api/v1/osquery/config', () => CONFIG);
  await server.listen(Number(process.env['FAKE_PORT'] ?? 18_412));
  process.send?.(server.port);
}
