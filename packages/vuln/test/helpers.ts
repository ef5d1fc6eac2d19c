import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of a file under test/fixtures (the repo copy; tests never read /work/shared). */
export const fixture = (...parts: string[]): string =>
  join(dirname(fileURLToPath(import.meta.url)), 'fixtures', ...parts);

export const readFixture = (...parts: string[]): string => readFileSync(fixture(...parts), 'utf8');

export interface Vector {
  a: string;
  op: '<' | '>' | '=';
  b: string;
  line: string;
}

/** Reads an `A op B` vector file (comments and blank lines skipped; `==` means `=`). */
export function readVectors(file: string): Vector[] {
  const out: Vector[] = [];
  for (const raw of readFixture('version-vectors', file).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(<|>|==|=)\s+(\S+)$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) {
      throw new Error(`unparsable vector line in ${file}: ${line}`);
    }
    out.push({ a: m[1], op: m[2] === '==' ? '=' : (m[2] as '<' | '>'), b: m[3], line });
  }
  return out;
}

export const signOf = (op: Vector['op']): number => (op === '<' ? -1 : op === '>' ? 1 : 0);
