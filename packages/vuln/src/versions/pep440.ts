interface Pep440 {
  epoch: number;
  release: number[];
  /** [phase, number]; phase: 0 a, 1 b, 2 rc. */
  pre: [number, number] | null;
  post: number | null;
  dev: number | null;
  local: (string | number)[];
}

const PATTERN =
  /^v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d*))?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d*))?(?:[-_.]?(dev)[-_.]?(\d*))?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$/;

const num = (s: string | undefined): number => (s ? Number(s.slice(0, 15)) : 0);

function parse(v: string): Pep440 | null {
  const m = PATTERN.exec(v.trim().toLowerCase());
  if (!m) return null;
  const release = (m[2] ?? '0').split('.').map(num);
  while (release.length > 1 && release[release.length - 1] === 0) release.pop();
  const phase = m[3];
  const pre: [number, number] | null =
    phase === undefined
      ? null
      : [phase.startsWith('a') ? 0 : phase === 'b' || phase === 'beta' ? 1 : 2, num(m[4])];
  const post = m[5] !== undefined ? num(m[5]) : m[6] !== undefined ? num(m[7]) : null;
  const dev = m[8] !== undefined ? num(m[9]) : null;
  const local = m[10] ? m[10].split(/[-_.]/).map((p) => (/^\d+$/.test(p) ? num(p) : p)) : [];
  return { epoch: num(m[1]), release, pre, post, dev, local };
}

function cmpNum(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** PEP 440 ordering for Python packages; unparsable versions fall back to a plain string order. */
export function comparePep440(a: string, b: string): number {
  if (a === b) return 0;
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return a < b ? -1 : 1;
  let c = cmpNum(x.epoch, y.epoch);
  if (c) return c;
  for (let i = 0; i < Math.max(x.release.length, y.release.length); i++) {
    c = cmpNum(x.release[i] ?? 0, y.release[i] ?? 0);
    if (c) return c;
  }
  // A dev release of a final version sorts before its pre-releases.
  const preKey = (p: Pep440): [number, number] =>
    p.pre ? p.pre : p.post === null && p.dev !== null ? [-1, 0] : [3, 0];
  const pa = preKey(x);
  const pb = preKey(y);
  c = cmpNum(pa[0], pb[0]) || cmpNum(pa[1], pb[1]);
  if (c) return c;
  c = cmpNum(x.post ?? -1, y.post ?? -1);
  if (c) return c;
  c = cmpNum(x.dev ?? Infinity, y.dev ?? Infinity);
  if (c) return c;
  for (let i = 0; i < Math.max(x.local.length, y.local.length); i++) {
    const p = x.local[i];
    const q = y.local[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (typeof p === 'number' && typeof q === 'number') c = cmpNum(p, q);
    else if (typeof p === 'number') c = 1;
    else if (typeof q === 'number') c = -1;
    else c = p < q ? -1 : p > q ? 1 : 0;
    if (c) return c;
  }
  return 0;
}
