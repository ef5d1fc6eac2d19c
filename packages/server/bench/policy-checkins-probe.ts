/**
 * The latency probe of policy-checkins.ts, in its own process: it checks in a slice of the
 * bench's hosts on the same schedule as the load generator and records how long their plain
 * reads take. Its event loop has nothing else to do, so its figures are the server's and the
 * machine's, without the load generator's own delays (which grow with the load it makes).
 *
 * Started with `fork` by policy-checkins.ts; messages in: `{type: 'start', hosts, keys, url,
 * ca, intervalMs}`, `{type: 'window'}` (start a new window), `{type: 'collect'}` (send the
 * window's plain-read latencies back as `{type: 'window', plainReads, askedReads, errors}`),
 * `{type: 'stop'}`.
 */
import { Agent } from 'node:https';
import { postJson } from './bench-server.js';

interface Start {
  type: 'start';
  /** The bench's host numbers this probe checks in, and their node keys. */
  hosts: number[];
  keys: string[];
  url: string;
  ca: string;
  intervalMs: number;
  /** Every host's interval starts at this offset (ms) of its cycle, as the load generator's. */
  offsetsMs: number[];
}
type In = Start | { type: 'window' } | { type: 'collect' } | { type: 'stop' };

let plainReads: number[] = [];
let askedReads = 0;
let errors = 0;
let running = true;

async function post(agent: Agent, url: string, body: string): Promise<string> {
  const r = await postJson(agent, url, body);
  if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
  return r.text;
}

/** One check-in; questions are answered with "no rows" (a policy fail, still a result). */
async function checkIn(agent: Agent, url: string, key: string): Promise<void> {
  const t0 = performance.now();
  try {
    const text = await post(
      agent,
      `${url}/api/v1/osquery/distributed/read`,
      `{"node_key":"${key}"}`,
    );
    const took = performance.now() - t0;
    const queries = (JSON.parse(text) as { queries?: Record<string, string> }).queries ?? {};
    const names = Object.keys(queries);
    if (!names.length) {
      plainReads.push(took);
      return;
    }
    askedReads++;
    const out: Record<string, string> = {};
    const statuses: Record<string, number> = {};
    for (const n of names) {
      out[n] = '';
      statuses[n] = 0;
    }
    await post(
      agent,
      `${url}/api/v1/osquery/distributed/write`,
      JSON.stringify({ node_key: key, queries: out, statuses }),
    );
  } catch {
    errors++;
  }
}

async function run(s: Start): Promise<void> {
  // One connection per 8 hosts, all kept open: a slow answer never opens a new one.
  const agent = new Agent({
    keepAlive: true,
    maxSockets: Math.max(1, Math.ceil(s.hosts.length / 8)),
    scheduling: 'fifo',
    ca: s.ca,
  });
  const order = s.hosts.map((_, i) => i).sort((a, b) => s.offsetsMs[a]! - s.offsetsMs[b]!);
  const t0 = performance.now();
  for (let cycle = 0; running; cycle++) {
    for (const i of order) {
      const due = t0 + cycle * s.intervalMs + s.offsetsMs[i]!;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (!running) break;
      void checkIn(agent, s.url, s.keys[i]!);
    }
  }
  agent.destroy();
}

// The bench stopped or died: so does the probe (its check-in loop would otherwise go on).
process.on('disconnect', () => process.exit(0));

process.on('message', (m: In) => {
  switch (m.type) {
    case 'start':
      void run(m);
      break;
    case 'window':
      plainReads = [];
      askedReads = 0;
      errors = 0;
      break;
    case 'collect':
      process.send?.({ type: 'window', plainReads, askedReads, errors });
      break;
    case 'stop':
      running = false;
      process.disconnect?.(); // and exits (above)
      break;
  }
});
