import { parseArgs } from 'node:util';
import { parseProfileMix, runFleet } from './fleet.js';
import { PROFILE_NAMES } from './profiles/catalog.js';
import { formatStats } from './stats.js';

const USAGE = `flotilla-sim — simulated osquery 5.23 hosts for load and integration tests

Usage: flotilla-sim --hosts N --server URL --enroll-secret S --ca FILE [options]

  --hosts N              number of hosts (default 100)
  --server URL           osquery TLS server base URL, e.g. https://127.0.0.1:8412
  --enroll-secret S      enroll secret
  --ca FILE              CA bundle the server certificate must chain to
  --profiles MIX         e.g. ubuntu-22.04=50,rhel-9=20 (known: ${PROFILE_NAMES.join(', ')})
  --gzip                 gzip log bodies (--logger_tls_compress)
  --workers N            worker threads (default 0 below 2,000 hosts, else 2)
  --max-connections N    hosts share N keep-alive connections (default: one per host, as
                         osquery keeps; use when hosts exceed the server's open-file limit)
  --duration S           stop after S seconds (default: run until Ctrl-C)
  --start-spread S       spread host start over S seconds (default hosts/500, max 60)
  --host-identifier ID   uuid (default) or hostname
  --suspicious-rate P    chance per host-minute of Sigma-matching activity (default 0)
  --seed N               fleet seed (default 1)
  --report-every S       print statistics every S seconds (default 10)
  --json                 print the final statistics as JSON
`;

function num(v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${v}`);
  return n;
}

/** Entry point of the `flotilla-sim` command. */
export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      hosts: { type: 'string' },
      server: { type: 'string' },
      'enroll-secret': { type: 'string' },
      ca: { type: 'string' },
      profiles: { type: 'string' },
      gzip: { type: 'boolean' },
      workers: { type: 'string' },
      'max-connections': { type: 'string' },
      duration: { type: 'string' },
      'start-spread': { type: 'string' },
      'host-identifier': { type: 'string' },
      'suspicious-rate': { type: 'string' },
      seed: { type: 'string' },
      'report-every': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (
    values.help === true ||
    values.server === undefined ||
    values['enroll-secret'] === undefined ||
    values.ca === undefined
  ) {
    process.stdout.write(USAGE);
    return values.help === true ? 0 : 2;
  }
  const identifier = values['host-identifier'] ?? 'uuid';
  if (identifier !== 'uuid' && identifier !== 'hostname')
    throw new Error('--host-identifier must be uuid or hostname');
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  const duration = values.duration === undefined ? undefined : num(values.duration, 0);
  const stats = await runFleet({
    hosts: num(values.hosts, 100),
    server: values.server,
    enrollSecret: values['enroll-secret'],
    caFile: values.ca,
    gzip: values.gzip === true,
    hostIdentifier: identifier,
    suspiciousRate: num(values['suspicious-rate'], 0),
    fleetSeed: num(values.seed, 1),
    reportEverySeconds: num(values['report-every'], 10),
    signal: controller.signal,
    onStats: (s) => process.stderr.write(`${formatStats(s)}\n\n`),
    ...(values.profiles === undefined ? {} : { profiles: parseProfileMix(values.profiles) }),
    ...(values.workers === undefined ? {} : { workers: num(values.workers, 0) }),
    ...(values['max-connections'] === undefined
      ? {}
      : { maxConnections: num(values['max-connections'], 1) }),
    ...(duration === undefined ? {} : { durationSeconds: duration }),
    ...(values['start-spread'] === undefined
      ? {}
      : { startSpreadSeconds: num(values['start-spread'], 0) }),
  });
  // The raw histograms are for merging reports, not for reading.
  const { histograms: _raw, ...readable } = stats;
  process.stdout.write(
    values.json === true ? `${JSON.stringify(readable, null, 2)}\n` : `${formatStats(stats)}\n`,
  );
  return 0;
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`flotilla-sim: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
