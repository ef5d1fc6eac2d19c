interface Parsed {
  main: number[];
  pre: string[];
}

const MAX_PARTS = 32;

function parse(v: string): Parsed {
  let s = v.trim().replace(/^[=v]+/i, '');
  const plus = s.indexOf('+');
  if (plus >= 0) s = s.slice(0, plus);
  const dash = s.search(/-/);
  const core = dash >= 0 ? s.slice(0, dash) : s;
  const pre =
    dash >= 0
      ? s
          .slice(dash + 1)
          .split('.')
          .slice(0, MAX_PARTS)
      : [];
  const main = core
    .split('.')
    .slice(0, MAX_PARTS)
    .map((p) => {
      const m = /^\d+/.exec(p);
      return m ? Number(m[0].slice(0, 15)) : 0;
    });
  return { main, pre };
}

function comparePreIdent(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Number(a.slice(0, 15)) - Number(b.slice(0, 15));
  if (an) return -1;
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Semantic-version ordering (npm, Go, Cargo); lenient: missing parts are 0, never throws. */
export function compareSemver(a: string, b: string): number {
  if (a === b) return 0;
  const x = parse(a);
  const y = parse(b);
  const n = Math.max(x.main.length, y.main.length, 3);
  for (let i = 0; i < n; i++) {
    const d = (x.main[i] ?? 0) - (y.main[i] ?? 0);
    if (d !== 0) return d;
  }
  if (x.pre.length === 0 || y.pre.length === 0) return y.pre.length - x.pre.length;
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i];
    const q = y.pre[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const c = comparePreIdent(p, q);
    if (c !== 0) return c;
  }
  return 0;
}
