import { FeedError } from '../errors.js';

/** JSON.parse that turns syntax errors into FeedErrors (truncation told apart from corruption). */
export function parseJson(feed: string, text: string, file?: string): unknown {
  if (text.trim() === '') throw new FeedError(feed, 'empty', 'the file is empty', file);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const truncated = /end of (JSON )?input|Unterminated/i.test(msg);
    throw new FeedError(feed, truncated ? 'truncated' : 'corrupt', `invalid JSON: ${msg}`, file);
  }
}

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
