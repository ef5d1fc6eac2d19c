import { readFileSync } from 'node:fs';

/** One call-tree node of a V8 .cpuprofile (as written by `node --cpu-prof`). */
export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  /** Node id sampled at each tick, and the µs since the previous tick. */
  samples: number[];
  timeDeltas: number[];
}

/** Reads a .cpuprofile file; `byId` indexes its nodes. */
export function readCpuProfile(file: string): CpuProfile & { byId: Map<number, ProfileNode> } {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  return { ...prof, byId: new Map(prof.nodes.map((n) => [n.id, n])) };
}
