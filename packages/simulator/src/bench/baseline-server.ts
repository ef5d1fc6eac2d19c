// The baseline: a minimal node:https server that answers the same simulated check-ins with
// constant bodies. Our CPU per request is reported relative to this one.
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';

// The same intervals the benchmark gives Flotilla's hosts, so both see the same request mix.
const CONFIG = '{"options":{"distributed_interval":10,"config_refresh":60,"logger_tls_period":10}}';
const [certFile, keyFile, port] = process.argv.slice(2) as [string, string, string];
const server = createServer(
  { cert: readFileSync(certFile), key: readFileSync(keyFile), keepAliveTimeout: 185_000 },
  (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      const url = req.url ?? '';
      const body = url.endsWith('/enroll')
        ? `{"node_key":"k${Math.random()}"}`
        : url.endsWith('/distributed/read')
          ? '{"queries":{}}'
          : url.endsWith('/config')
            ? CONFIG
            : '{}';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  },
);
server.listen({ port: Number(port), host: '127.0.0.1', backlog: 4096 }, () =>
  console.log('baseline listening'),
);
