// Alpine's version grammar: digit{.digit}...{letter}{_suffix{number}}...{~hash}{-r#}.
// Token kinds are ordered: a version that stops earlier sorts lower, except that a
// pre-release suffix (_alpha, _beta, _pre, _rc) sorts below the end of the string.
const enum Tok {
  Digit = 1,
  Letter = 2,
  Suffix = 3,
  SuffixNo = 4,
  Hash = 5,
  Revision = 6,
  End = 7,
  Invalid = 8,
}

const PRE_SUFFIXES = ['alpha', 'beta', 'pre', 'rc'];
const POST_SUFFIXES = ['cvs', 'svn', 'git', 'hg', 'p'];

interface Token {
  kind: Tok;
  /** Numeric weight, or the string for fractional digits and hashes. */
  num: number;
  str: string;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isLower = (c: string | undefined): boolean => c !== undefined && c >= 'a' && c <= 'z';

function tokenize(v: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let kind = Tok.Digit as Tok;
  let first = true;
  for (;;) {
    switch (kind) {
      case Tok.Digit:
      case Tok.SuffixNo:
      case Tok.Revision: {
        const s = i;
        while (i < v.length && isDigit(v[i])) i++;
        const digits = v.slice(s, i);
        if (digits.length > 18) return [...out, { kind: Tok.Invalid, num: 0, str: '' }];
        out.push({
          kind,
          num: digits === '' ? 0 : Number(digits),
          str: !first && kind === Tok.Digit ? digits : '',
        });
        break;
      }
      case Tok.Letter:
        out.push({ kind, num: v.charCodeAt(i), str: '' });
        i++;
        break;
      case Tok.Suffix: {
        const rest = v.slice(i);
        const pre = PRE_SUFFIXES.findIndex((p) => rest.startsWith(p));
        if (pre >= 0) {
          out.push({ kind, num: pre - PRE_SUFFIXES.length, str: '' });
          i += PRE_SUFFIXES[pre]?.length ?? 0;
          break;
        }
        const post = POST_SUFFIXES.findIndex((p) => rest.startsWith(p));
        if (post >= 0) {
          out.push({ kind, num: post, str: '' });
          i += POST_SUFFIXES[post]?.length ?? 0;
          break;
        }
        out.push({ kind: Tok.Invalid, num: -1, str: '' });
        return out;
      }
      case Tok.Hash: {
        const s = i;
        while (i < v.length && /[0-9a-f]/.test(v[i] ?? '')) i++;
        out.push({ kind, num: 0, str: v.slice(s, i) });
        break;
      }
      case Tok.End:
      case Tok.Invalid:
        return out;
    }
    first = false;
    if (i >= v.length) {
      out.push({ kind: Tok.End, num: 0, str: '' });
      return out;
    }
    const prev = kind;
    const c = v[i];
    let next: Tok = Tok.Invalid;
    if (prev === Tok.Digit && isLower(c)) next = Tok.Letter;
    else if (prev === Tok.Letter && isDigit(c)) next = Tok.Digit;
    else if (prev === Tok.Suffix && isDigit(c)) next = Tok.SuffixNo;
    else if (c === '.') {
      next = Tok.Digit;
      i++;
    } else if (c === '_') {
      next = Tok.Suffix;
      i++;
    } else if (c === '~') {
      next = Tok.Hash;
      i++;
    } else if (c === '-' && v[i + 1] === 'r') {
      next = Tok.Revision;
      i += 2;
    }
    if (
      next < prev &&
      !(next === Tok.Digit && prev === Tok.Letter) &&
      !(next === Tok.Suffix && prev === Tok.SuffixNo)
    ) {
      next = Tok.Invalid;
    }
    if (next === Tok.Invalid) {
      out.push({ kind: Tok.Invalid, num: 0, str: '' });
      return out;
    }
    kind = next;
  }
}

function compareToken(a: Token, b: Token): number {
  if (a.kind === Tok.Digit && (a.str.startsWith('0') || b.str.startsWith('0'))) {
    // Fractional component: compared as a string of digits.
    return a.str < b.str ? -1 : a.str > b.str ? 1 : 0;
  }
  if (a.kind === Tok.Hash) return a.str < b.str ? -1 : a.str > b.str ? 1 : 0;
  return a.num - b.num;
}

/** Orders two Alpine package versions (apk-tools rules); returns <0, 0 or >0. */
export function compareApk(a: string, b: string): number {
  if (a === b) return 0;
  const ta = tokenize(a);
  const tb = tokenize(b);
  let k = 0;
  for (;;) {
    const x = ta[k];
    const y = tb[k];
    if (x === undefined || y === undefined) return 0;
    if (x.kind !== y.kind) {
      // A version without a revision (or whose rest is unparsable) is the same as `-r0`.
      if (
        (x.kind === Tok.End || x.kind === Tok.Invalid) &&
        y.kind === Tok.Revision &&
        y.num === 0
      ) {
        tb.splice(k, 1);
        continue;
      }
      if (
        (y.kind === Tok.End || y.kind === Tok.Invalid) &&
        x.kind === Tok.Revision &&
        x.num === 0
      ) {
        ta.splice(k, 1);
        continue;
      }
      if (x.kind === Tok.Suffix && x.num < 0) return -1;
      if (y.kind === Tok.Suffix && y.num < 0) return 1;
      return x.kind > y.kind ? -1 : 1;
    }
    if (x.kind === Tok.End || x.kind === Tok.Invalid) return 0;
    const c = compareToken(x, y);
    if (c !== 0) return c < 0 ? -1 : 1;
    k++;
  }
}
