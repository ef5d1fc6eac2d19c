const PRE_WORDS = new Map([
  ['dev', 1],
  ['alpha', 2],
  ['beta', 3],
  ['pre', 4],
  ['preview', 4],
  ['rc', 5],
]);

interface Key {
  /** -1 pre-release word, 0 number (or nothing), 1 any other word. */
  cls: number;
  n: number;
  s: string;
}

function keys(v: string): Key[] {
  const out: Key[] = [];
  const re = /(\d+)|([a-z]+)/g;
  const s = v.toLowerCase().slice(0, 256);
  for (let m = re.exec(s); m; m = re.exec(s)) {
    if (m[1] !== undefined) out.push({ cls: 0, n: Number(m[1].slice(0, 15)), s: '' });
    else {
      const w = m[2] ?? '';
      const pre = PRE_WORDS.get(w);
      out.push(pre === undefined ? { cls: 1, n: 0, s: w } : { cls: -1, n: pre, s: '' });
    }
  }
  return out;
}

const NOTHING: Key = { cls: 0, n: 0, s: '' };

/**
 * Loose ordering for versions of unknown scheme (NVD CPE ranges): numbers compare numerically,
 * missing numbers count as 0, pre-release words (alpha, beta, rc…) sort before the release.
 */
export function compareGeneric(a: string, b: string): number {
  if (a === b) return 0;
  const x = keys(a);
  const y = keys(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i] ?? NOTHING;
    const q = y[i] ?? NOTHING;
    if (p.cls !== q.cls) return p.cls - q.cls;
    if (p.n !== q.n) return p.n < q.n ? -1 : 1;
    if (p.s !== q.s) return p.s < q.s ? -1 : 1;
  }
  return 0;
}
