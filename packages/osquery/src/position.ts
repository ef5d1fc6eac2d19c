export interface SourcePosition {
  /** 0-based offset into the query text (UTF-16 code units). */
  readonly offset: number;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column within the line. */
  readonly column: number;
}

/** Converts an offset into the text to a line/column position. */
export function positionAt(text: string, offset: number): SourcePosition {
  const clamped = Math.max(0, Math.min(offset, text.length));
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < clamped; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { offset: clamped, line, column: clamped - lineStart + 1 };
}
