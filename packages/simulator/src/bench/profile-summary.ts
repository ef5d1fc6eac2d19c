/**
 * Summarises a V8 .cpuprofile: self time per function (top 40) and per package/folder, so a
 * benchmark run can say where the server's CPU goes.
 * Usage: node --import tsx profile-summary.ts FILE [FROM_S [TO_S]] (a window of the run, in seconds)
 */
import { readCpuProfile } from './cpuprofile.js';

const [file, fromArg, toArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [FROM_S [TO_S]]');
/** Only samples taken between these seconds after the profile started (e.g. the storm). */
const fromUs = fromArg === undefined ? 0 : Number(fromArg) * 1e6;
const toUs = toArg === undefined ? Infinity : Number(toArg) * 1e6;
const prof = readCpuProfile(file);
const byId = prof.byId;
const selfUs = new Map<number, number>();
let at = 0;
prof.samples.forEach((id, i) => {
  const dt = prof.timeDeltas[i] ?? 0;
  at += dt;
  if (at >= fromUs && at < toUs) selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
});
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const fn = new Map<string, number>();
const area = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const where = url.includes('/node_modules/')
    ? `npm:${url
        .split('/node_modules/')
        .pop()!
        .split('/')
        .slice(0, url.includes('/node_modules/@') ? 2 : 1)
        .join('/')}`
    : url.includes('/packages/')
      ? `flotilla:${url.split('/packages/')[1]!.split('/').slice(0, 3).join('/')}`
      : url.startsWith('node:')
        ? url
        : url || `(${n.callFrame.functionName || 'native'})`;
  const key = `${n.callFrame.functionName || '(anonymous)'}  ${where}:${n.callFrame.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  area.set(where, (area.get(where) ?? 0) + us);
}
const pct = (us: number) => ((100 * us) / total).toFixed(1).padStart(5) + '%';
console.log(`total sampled: ${(total / 1e6).toFixed(2)} s\n\nby area:`);
for (const [k, v] of [...area].sort((a, b) => b[1] - a[1]).slice(0, 25))
  console.log(`${pct(v)}  ${k}`);
console.log('\nby function (self time):');
for (const [k, v] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, 40))
  console.log(`${pct(v)}  ${k}`);
