/**
 * Measures resident memory per simulated host: starts scripts/fake-server.ts in its own
 * processes, runs N hosts for D seconds and prints RSS over time.
 * Usage: node --import tsx scripts/memory-check.ts <hosts> <seconds> [workers]
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runFleet } from '../src/fleet.js';
import { formatStats } from '../src/stats.js';

const hosts = Number(process.argv[2] ?? 2000);
const seconds = Number(process.argv[3] ?? 90);
const workers = process.argv[4] === undefined ? undefined : Number(process.argv[4]);

const child = spawn(
  process.execPath,
  ['--import', 'tsx', fileURLToPath(new URL('./fake-server.ts', import.meta.url)), '2'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const first = await new Promise<string>((resolve) =>
  createInterface({ input: child.stdout }).once('line', resolve),
);
const { url, caFile } = JSON.parse(first) as { url: string; caFile: string };

const mib = (b: number): string => (b / 2 ** 20).toFixed(0);
const baseline = process.memoryUsage().rss;
console.log(`hosts=${hosts} seconds=${seconds} baseline rss=${mib(baseline)} MiB`);
const stats = await runFleet({
  hosts,
  server: url,
  enrollSecret: 'memory-check',
  caFile,
  durationSeconds: seconds,
  ...(workers === undefined ? {} : { workers }),
  reportEverySeconds: 15,
  onStats: (s) =>
    console.log(
      `t=${s.elapsedSeconds}s enrolled=${s.enrolled} rss=${mib(s.rssBytes)} MiB reads=${s.endpoints.distributed_read.requests} errors=${Object.values(s.endpoints).reduce((a, e) => a + e.errors, 0)}`,
    ),
});
const rss = process.memoryUsage().rss;
console.log(formatStats(stats));
console.log(
  `final rss=${mib(rss)} MiB; (rss - baseline) / hosts = ${((rss - baseline) / hosts / 1024).toFixed(1)} KiB`,
);
child.kill();
process.exit(0);
