/**
 * Finds the event-loop stalls in a V8 .cpuprofile: stretches where the thread never went idle
 * for at least MIN_MS, each with when it happened (seconds into the profile), how long it
 * lasted and where its time went (self time by function, and the deepest Flotilla frame on
 * the stack), so a latency spike in a benchmark can be traced to the code that held the loop.
 * Usage: node --import tsx profile-stalls.ts FILE [MIN_MS=30] [FROM_S] [TO_S]
 */
import { readCpuProfile, type ProfileNode as Node } from './cpuprofile.js';

const [file, minArg, fromArg, toArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-stalls.ts FILE [MIN_MS] [FROM_S] [TO_S]');
const MIN_US = Number(minArg ?? 30) * 1000;
const FROM_US = Number(fromArg ?? 0) * 1e6;
const TO_US = toArg === undefined ? Infinity : Number(toArg) * 1e6;
const prof = readCpuProfile(file);
const byId = prof.byId;
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const IDLE = new Set(['(idle)', '(program)', '(garbage collector)']);
const name = (n: Node) => {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const where = url.includes('/packages/') ? url.split('/packages/')[1] : url.split('/').pop();
  return `${n.callFrame.functionName || '(anonymous)'} ${where ?? ''}:${n.callFrame.lineNumber + 1}`;
};
/** The deepest frame from our own packages on a sample's stack. */
const ours = (id: number): string => {
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur)!;
    if (n.callFrame.url.includes('/packages/') && !n.callFrame.url.includes('node_modules'))
      return name(n);
  }
  return '(not ours)';
};

interface Stall {
  start: number;
  us: number;
  self: Map<string, number>;
  frames: Map<string, number>;
}
const stalls: Stall[] = [];
let t = 0;
let cur: Stall | undefined;
const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);
prof.samples.forEach((id, i) => {
  const dt = prof.timeDeltas[i] ?? 0;
  t += dt;
  const n = byId.get(id)!;
  // GC counts as busy (it holds the loop); idle and (program) end a stall.
  const busy =
    !IDLE.has(n.callFrame.functionName) || n.callFrame.functionName === '(garbage collector)';
  if (!busy) {
    if (cur && cur.us >= MIN_US && cur.start >= FROM_US && cur.start <= TO_US) stalls.push(cur);
    cur = undefined;
    return;
  }
  cur ??= { start: t, us: 0, self: new Map(), frames: new Map() };
  cur.us += dt;
  add(cur.self, name(n), dt);
  add(cur.frames, ours(id), dt);
});
const top = (m: Map<string, number>, k: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([f, us]) => `${(us / 1000).toFixed(1)} ms ${f}`)
    .join('\n      ');
console.log(`${stalls.length} stalls of ≥ ${MIN_US / 1000} ms`);
const all = { self: new Map<string, number>(), frames: new Map<string, number>() };
for (const s of stalls) {
  for (const [k, v] of s.self) add(all.self, k, v);
  for (const [k, v] of s.frames) add(all.frames, k, v);
}
for (const s of [...stalls].sort((a, b) => b.us - a.us).slice(0, 15))
  console.log(
    `at ${(s.start / 1e6).toFixed(1)} s: ${(s.us / 1000).toFixed(1)} ms\n    self:\n      ${top(s.self, 5)}\n    our frames:\n      ${top(s.frames, 4)}`,
  );
console.log(
  `\nall stalls, self:\n      ${top(all.self, 20)}\nall stalls, our frames:\n      ${top(all.frames, 15)}`,
);
