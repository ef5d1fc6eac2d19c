// Policy results at scale: 20,000 hosts × 50 policies written through the batched writer's
// repository call (50-host transactions, counts once per 1,000 hosts, as PolicyQuerySource
// writes them), then the reads that must come from maintained aggregates. "CPU" is this
// process's (on PostgreSQL the database server's own work is not in it).
// Run: node --import tsx packages/server/bench/policy-results.ts [sqlite|postgres]
import {
  createTestDatabase,
  type CountDelta,
  type HostPolicyResults,
  type PolicyFacts,
} from '@flotilla/db';

const HOSTS = Number(process.env['BENCH_HOSTS'] ?? 20_000);
const POLICIES = Number(process.env['BENCH_POLICIES'] ?? 50);
const CHUNK = 50; // hosts per transaction, as PolicyQuerySource writes them
const BATCH = 1000; // hosts per count update, as its queue hands them over
const dialect = process.argv[2] === 'postgres' ? 'postgres' : 'sqlite';

const tdb = await createTestDatabase(dialect);
const ds = tdb.open();
await ds.migrate();
const now = Date.now();
for (let i = 0; i < HOSTS; i += 500) {
  const n = Math.min(500, HOSTS - i);
  await ds.db
    .insertInto('hosts')
    .values(
      Array.from({ length: n }, (_, j) => ({
        node_key_hash: `k${i + j}`,
        osquery_host_id: `h${i + j}`,
        hostname: `h${i + j}`,
        created_at: now,
        updated_at: now,
      })) as never,
    )
    .execute();
}
const facts = new Map<number, PolicyFacts>();
for (let p = 0; p < POLICIES; p++) {
  const critical = p < 5;
  const id = await ds.policies.create(
    {
      name: `p${p}`,
      query: 'SELECT 1',
      description: '',
      resolution: '',
      platform: '',
      critical,
      teamId: null,
      authorId: null,
    },
    now,
  );
  facts.set(id, { name: `p${p}`, teamId: null, critical });
}
const ids = [...facts.keys()];
// Host h fails policy i when (h + i) % 7 == 0; `flip` inverts one policy for every host.
const results = (from: number, n: number, at: number, flip = -1): HostPolicyResults[] =>
  Array.from({ length: n }, (_, k) => {
    const h = from + k + 1;
    const r = new Map(
      ids.map((pid, i) => [
        pid,
        ((h + i) % 7 === 0) !== (i === flip) ? (0 as const) : (1 as const),
      ]),
    );
    return { hostId: h, hostTeamId: null, at, results: r };
  });
const pass = async (at: number, flip = -1) => {
  let worst = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let counts = new Map<number, CountDelta>();
  for (let i = 0; i < HOSTS; i += CHUNK) {
    const t = performance.now();
    await ds.policies.applyResults(results(i, Math.min(CHUNK, HOSTS - i), at, flip), facts, {
      counts,
    });
    worst = Math.max(worst, performance.now() - t);
    if ((i + CHUNK) % BATCH === 0 || i + CHUNK >= HOSTS) {
      await ds.policies.addCounts(counts);
      counts = new Map();
    }
  }
  const total = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return `${(total / 1000).toFixed(1)} s, ${((total / HOSTS) * 1000).toFixed(0)} µs per host (CPU ${((cpu.user + cpu.system) / HOSTS).toFixed(0)} µs), slowest ${CHUNK}-host transaction ${worst.toFixed(0)} ms`;
};
const ms = async (fn: () => Promise<unknown>) => {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    await fn();
    runs.push(performance.now() - t);
  }
  return `${Math.min(...runs).toFixed(1)}–${Math.max(...runs).toFixed(1)} ms`;
};

console.log(`${dialect}: ${HOSTS} hosts × ${POLICIES} policies`);
console.log(`  first results (every row new, history written): ${await pass(now)}`);
console.log(`  unchanged results (read, compare, write nothing):  ${await pass(now + 1)}`);
console.log(`  every host flips one policy (transitions):         ${await pass(now + 2, 3)}`);
{
  const all = await ds.policies.list({ teamId: null });
  const counted = all.reduce((a, p) => a + p.passing_host_count + p.failing_host_count, 0);
  console.log(`  counts: ${counted} results counted (expected ${HOSTS * POLICIES})`);
}
console.log(
  `  list ${POLICIES} policies with counts:  ${await ms(() => ds.policies.list({ teamId: null }))}`,
);
console.log(
  `  compliance summary:             ${await ms(() => ds.policies.compliance({ visibleTeams: 'all' }))}`,
);
console.log(
  `  failing counts of 100 hosts:    ${await ms(() => ds.policies.failingCounts(Array.from({ length: 100 }, (_, i) => i + 1)))}`,
);
console.log(
  `  one policy's states at a time:  ${await ms(() => ds.policies.statesAt({ visibleTeams: 'all', policyIds: [ids[0]!] }, now + 10))}`,
);
await ds.close();
await tdb.drop();
