/** Why a feed file was refused. */
export type FeedErrorReason = 'corrupt' | 'truncated' | 'unknown_format' | 'empty' | 'unreadable';

/**
 * A feed file that cannot be used. Loaders throw this instead of returning a partial index,
 * so the caller can keep serving the previous good copy of the feed.
 */
export class FeedError extends Error {
  override readonly name = 'FeedError';
  readonly code = 'VULN_FEED_INVALID';

  constructor(
    readonly feed: string,
    readonly reason: FeedErrorReason,
    detail: string,
    readonly file?: string,
  ) {
    super(`${feed} feed${file === undefined ? '' : ` ${file}`} refused (${reason}): ${detail}`);
  }
}
