/**
 * A tokenizer with SQLite's lexical rules, used only to locate things in the user's text
 * (statement boundaries, identifiers for error positions); SQLite itself does the parsing.
 */
export type TokenKind =
  'space' | 'comment' | 'string' | 'blob' | 'number' | 'variable' | 'word' | 'quoted' | 'operator';

export interface Token {
  readonly kind: TokenKind;
  /** Offset of the first character (UTF-16 code units). */
  readonly start: number;
  /** Offset just past the last character. */
  readonly end: number;
  readonly text: string;
}

const MULTI_CHAR_OPERATORS = ['->>', '||', '<=', '>=', '==', '!=', '<>', '<<', '>>', '->'];

function isWordStart(ch: string): boolean {
  return /[A-Za-z_]/.test(ch) || ch.charCodeAt(0) > 0x7f;
}

function isWordPart(ch: string): boolean {
  return /[A-Za-z0-9_$]/.test(ch) || ch.charCodeAt(0) > 0x7f;
}

/** Splits SQL into tokens, covering every character (whitespace and comments included). */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  const n = sql.length;
  let i = 0;
  const push = (kind: TokenKind, end: number): void => {
    tokens.push({ kind, start: i, end, text: sql.slice(i, end) });
    i = end;
  };
  const closing = (from: number, quote: string, doubled: boolean): number => {
    let j = from;
    for (;;) {
      const k = sql.indexOf(quote, j);
      if (k < 0) return n;
      if (doubled && sql[k + 1] === quote) {
        j = k + 2;
        continue;
      }
      return k + 1;
    }
  };

  while (i < n) {
    const ch = sql.charAt(i);
    const next = sql.charAt(i + 1);
    if (/\s/.test(ch)) {
      let j = i + 1;
      while (j < n && /\s/.test(sql.charAt(j))) j++;
      push('space', j);
    } else if (ch === '-' && next === '-') {
      const k = sql.indexOf('\n', i);
      push('comment', k < 0 ? n : k + 1);
    } else if (ch === '/' && next === '*') {
      const k = sql.indexOf('*/', i + 2);
      push('comment', k < 0 ? n : k + 2);
    } else if (ch === "'") {
      push('string', closing(i + 1, "'", true));
    } else if ((ch === 'x' || ch === 'X') && next === "'") {
      push('blob', closing(i + 2, "'", false));
    } else if (ch === '"' || ch === '`') {
      push('quoted', closing(i + 1, ch, true));
    } else if (ch === '[') {
      const k = sql.indexOf(']', i + 1);
      push('quoted', k < 0 ? n : k + 1);
    } else if (/[0-9]/.test(ch) || (ch === '.' && /[0-9]/.test(next))) {
      let j = i + 1;
      while (j < n) {
        const c = sql.charAt(j);
        if (/[0-9A-Za-z_.]/.test(c)) j++;
        else if (
          (c === '+' || c === '-') &&
          /[eE]/.test(sql.charAt(j - 1)) &&
          !/^0x/i.test(sql.slice(i, j))
        )
          j++;
        else break;
      }
      push('number', j);
    } else if (ch === '?' || ch === ':' || ch === '@' || ch === '$') {
      let j = i + 1;
      while (j < n && isWordPart(sql.charAt(j))) j++;
      push('variable', j);
    } else if (isWordStart(ch)) {
      let j = i + 1;
      while (j < n && isWordPart(sql.charAt(j))) j++;
      push('word', j);
    } else {
      const op = MULTI_CHAR_OPERATORS.find((o) => sql.startsWith(o, i));
      push('operator', i + (op?.length ?? 1));
    }
  }
  return tokens;
}

/** Whether a token is whitespace or a comment. */
export function isTrivia(token: Token): boolean {
  return token.kind === 'space' || token.kind === 'comment';
}

/** The identifier a word or quoted token names (quotes removed), else undefined. */
export function identifierOf(token: Token): string | undefined {
  if (token.kind === 'word') return token.text;
  if (token.kind !== 'quoted') return undefined;
  const open = token.text.charAt(0);
  const close = open === '[' ? ']' : open;
  const inner =
    token.text.endsWith(close) && token.text.length > 1
      ? token.text.slice(1, -1)
      : token.text.slice(1);
  return open === '[' ? inner : inner.split(open + open).join(open);
}
