/** 32-bit FNV-1a of a string, for mixing a seed with a key. */
export function hash32(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** mulberry32: a small, fast PRNG; good enough for plausible test data, not for crypto. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A deterministic generator for one host and one purpose: same inputs, same data. */
export function rngFor(seed: number, purpose: string | number): () => number {
  return prng(hash32(String(purpose), seed));
}

/** A deterministic number in [0, 1) for (seed, key), without building a generator. */
export function chance(seed: number, key: string | number): number {
  return prng(hash32(String(key), seed))();
}

export function pick<T>(rand: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rand() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

export function intBetween(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

export function hex(rand: () => number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += Math.floor(rand() * 16).toString(16);
  return out;
}

/** An RFC 4122 version-4-shaped UUID drawn from `rand` (upper case, as osquery reports on Linux). */
export function uuidFrom(rand: () => number): string {
  const h = hex(rand, 32).split('');
  h[12] = '4';
  h[16] = '89ab'[Math.floor(rand() * 4)] ?? '8';
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`.toUpperCase();
}
