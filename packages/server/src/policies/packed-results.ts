import type { HostPolicyResults, PolicyResult } from '@flotilla/db';

/**
 * A host's results while they wait to be written, in two typed arrays: during a burst of first
 * results thousands of hosts' results are queued at once, and as Maps they were copied by every
 * young-generation collection (scavenges of 40-120 ms at 20,000 hosts).
 */
export class PackedResults implements Iterable<readonly [number, PolicyResult]> {
  constructor(
    readonly ids: Int32Array,
    /** 1 pass, 0 fail, -1 did not run. */
    readonly values: Int8Array,
  ) {}

  static of(results: ReadonlyMap<number, PolicyResult>): PackedResults {
    const ids = new Int32Array(results.size);
    const values = new Int8Array(results.size);
    let i = 0;
    for (const [id, r] of results) {
      ids[i] = id;
      values[i++] = r ?? -1;
    }
    return new PackedResults(ids, values);
  }

  *[Symbol.iterator](): Iterator<readonly [number, PolicyResult]> {
    for (let i = 0; i < this.ids.length; i++) {
      const v = this.values[i]!;
      yield [this.ids[i]!, v === -1 ? null : (v as 0 | 1)];
    }
  }
}

/** Queued results whose per-host results are packed. */
export interface PackedHostResults extends HostPolicyResults {
  results: PackedResults;
}

/**
 * A whole batch in six flat arrays, to hand to the writer thread: their buffers are moved, not
 * copied, and the receiving side makes no object per result.
 */
export interface PackedBatch {
  hostIds: Int32Array;
  /** -1: no team. */
  teamIds: Int32Array;
  at: Float64Array;
  /** Host i's results are `policyIds/values[offsets[i] .. offsets[i + 1])`. */
  offsets: Int32Array;
  policyIds: Int32Array;
  values: Int8Array;
}

export function packBatch(batch: readonly PackedHostResults[]): PackedBatch {
  let total = 0;
  for (const b of batch) total += b.results.ids.length;
  const out: PackedBatch = {
    hostIds: new Int32Array(batch.length),
    teamIds: new Int32Array(batch.length),
    at: new Float64Array(batch.length),
    offsets: new Int32Array(batch.length + 1),
    policyIds: new Int32Array(total),
    values: new Int8Array(total),
  };
  let o = 0;
  batch.forEach((b, i) => {
    out.hostIds[i] = b.hostId;
    out.teamIds[i] = b.hostTeamId ?? -1;
    out.at[i] = b.at;
    out.offsets[i] = o;
    out.policyIds.set(b.results.ids, o);
    out.values.set(b.results.values, o);
    o += b.results.ids.length;
  });
  out.offsets[batch.length] = o;
  return out;
}

/** The batch again, each host's results a view into the shared arrays (no copies). */
export function unpackBatch(p: PackedBatch): PackedHostResults[] {
  const out: PackedHostResults[] = [];
  for (let i = 0; i < p.hostIds.length; i++) {
    const from = p.offsets[i]!;
    const to = p.offsets[i + 1]!;
    const team = p.teamIds[i]!;
    out.push({
      hostId: p.hostIds[i]!,
      hostTeamId: team === -1 ? null : team,
      at: p.at[i]!,
      results: new PackedResults(p.policyIds.subarray(from, to), p.values.subarray(from, to)),
    });
  }
  return out;
}

/** The buffers to transfer with a batch. */
export function batchBuffers(p: PackedBatch): ArrayBuffer[] {
  return [p.hostIds, p.teamIds, p.at, p.offsets, p.policyIds, p.values].map(
    (a) => a.buffer as ArrayBuffer,
  );
}
