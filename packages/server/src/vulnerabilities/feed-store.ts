import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import {
  addFeedFile,
  detectFeedKind,
  emptyDatabase,
  FeedError,
  readFeedText,
  type FeedKind,
  type VulnDatabase,
} from '@flotilla/vuln';

const FEED_FILE = /\.(xml|json|csv|ya?ml)(\.gz)?$/i;

export interface FeedFileStatus {
  file: string;
  kind: FeedKind;
  /** `current`: the file as it is now; `last_good`: it was refused, the previous copy is used. */
  using: 'current' | 'last_good';
  size: number;
  modified_at: number;
}

export interface FeedErrorStatus {
  file: string;
  reason: string;
  message: string;
  /** Whether an earlier good copy of this file is in use instead. */
  kept_previous: boolean;
}

export interface FeedStoreStatus {
  dir: string;
  loaded_at: number | null;
  files: FeedFileStatus[];
  errors: FeedErrorStatus[];
  /** Changes whenever the usable feed content changes; part of each host's scan checksum. */
  version: string;
}

function walk(dir: string, root = dir): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    if (entry.startsWith('.')) continue;
    const p = join(dir, entry);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...walk(p, root));
    else if (FEED_FILE.test(entry)) out.push(relative(root, p));
  }
  return out;
}

/** Whether a directory holds any file that looks like a feed (by name). */
export function hasFeedFiles(dir: string): boolean {
  return walk(dir).length > 0;
}

/**
 * Feeds from a directory, with a last-good copy of every file that ever loaded (kept under
 * `goodDir`), so a corrupt, truncated or unknown-format update is refused with a clear message
 * while the previous version of that feed stays in use.
 */
export class FeedStore {
  private db: VulnDatabase = emptyDatabase();
  private signature = '';
  private current: FeedStoreStatus;

  constructor(
    readonly dir: string,
    private readonly goodDir: string,
    private readonly clock: () => number = Date.now,
  ) {
    this.current = { dir, loaded_at: null, files: [], errors: [], version: 'none' };
  }

  get database(): VulnDatabase {
    return this.db;
  }

  get status(): FeedStoreStatus {
    return this.current;
  }

  /** Size and time of every feed file: a cheap "did anything change?" check. */
  private scanSignature(): string {
    const parts = walk(this.dir).map((f) => {
      const st = statSync(join(this.dir, f));
      return `${f}:${st.size}:${st.mtimeMs}`;
    });
    return parts.join('|');
  }

  private loading: Promise<boolean> | null = null;

  /** Reloads when the directory changed (or when forced); returns whether it reloaded. */
  reload(force = false): Promise<boolean> {
    this.loading ??= this.load(force).finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  private async load(force: boolean): Promise<boolean> {
    const signature = this.scanSignature();
    if (!force && signature === this.signature && this.current.loaded_at !== null) return false;
    const db = emptyDatabase();
    const files: FeedFileStatus[] = [];
    const errors: FeedErrorStatus[] = [];
    const digest = createHash('sha1');
    for (const file of walk(this.dir)) {
      const path = join(this.dir, file);
      const good = join(this.goodDir, file);
      const st = statSync(path);
      try {
        const content = readFeedText(path, file);
        const kind = detectFeedKind(path, content);
        if (kind === null) {
          throw new FeedError('feeds', 'unknown_format', 'not a feed format Flotilla reads', file);
        }
        addFeedFile(db, kind, content, file);
        files.push({
          file,
          kind,
          using: 'current',
          size: st.size,
          modified_at: Math.round(st.mtimeMs),
        });
        digest.update(`${file}:${st.size}:${st.mtimeMs}\n`);
        mkdirSync(dirname(good), { recursive: true });
        copyFileSync(path, good);
      } catch (e) {
        if (!(e instanceof FeedError)) throw e;
        let kept = false;
        if (existsSync(good)) {
          try {
            const content = readFeedText(good, file);
            const kind = detectFeedKind(good, content);
            if (kind !== null) {
              addFeedFile(db, kind, content, file);
              const gs = statSync(good);
              files.push({
                file,
                kind,
                using: 'last_good',
                size: gs.size,
                modified_at: Math.round(gs.mtimeMs),
              });
              digest.update(`${file}:good:${gs.size}:${gs.mtimeMs}\n`);
              kept = true;
            }
          } catch {
            kept = false;
          }
        }
        errors.push({ file, reason: e.reason, message: e.message, kept_previous: kept });
      }
      await yieldToLoop(); // one file at a time: check-ins run between files
    }
    this.db = db;
    this.signature = signature;
    this.current = {
      dir: this.dir,
      loaded_at: this.clock(),
      files,
      errors,
      version: files.length ? digest.digest('hex').slice(0, 16) : 'none',
    };
    return true;
  }
}

/** What a feed mirror lists: `index.json` is `{"files": ["ubuntu/…oval.xml.gz", …]}` or an array. */
function parseIndex(text: string): string[] {
  const doc = JSON.parse(text) as unknown;
  const list = Array.isArray(doc)
    ? doc
    : typeof doc === 'object' && doc !== null
      ? (doc as { files?: unknown }).files
      : undefined;
  if (!Array.isArray(list))
    throw new Error('index.json must be an array of paths or {"files": [...]}');
  return list.filter((f): f is string => typeof f === 'string');
}

/** A mirror path we are willing to write under the feeds directory. */
function safePath(p: string): boolean {
  return (
    p.length > 0 &&
    p.length < 512 &&
    !p.startsWith('/') &&
    !p.split(/[\\/]/).some((s) => s === '..' || s === '' || s.startsWith('.')) &&
    /^[A-Za-z0-9._\-/]+$/.test(p) &&
    FEED_FILE.test(p)
  );
}

export interface DownloadResult {
  downloaded: string[];
  unchanged: string[];
  errors: Array<{ file: string; message: string }>;
}

/**
 * Downloads the files a mirror lists (`<baseUrl>/index.json`) into the feeds directory. Each
 * file is validated (parsed) before it replaces the old copy, atomically; a bad download is
 * refused and the old file stays.
 */
export async function downloadFeeds(
  baseUrl: string,
  dir: string,
  fetchImpl: typeof fetch = fetch,
  timeoutMs = 120_000,
): Promise<DownloadResult> {
  const out: DownloadResult = { downloaded: [], unchanged: [], errors: [] };
  const get = async (url: string): Promise<Buffer> => {
    const r = await fetchImpl(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!r.ok) throw new Error(`HTTP ${r.status} for ${url}`);
    return Buffer.from(await r.arrayBuffer());
  };
  let files: string[];
  try {
    files = parseIndex((await get(`${baseUrl}/index.json`)).toString('utf8'));
  } catch (e) {
    out.errors.push({ file: 'index.json', message: e instanceof Error ? e.message : String(e) });
    return out;
  }
  for (const file of files) {
    if (!safePath(file)) {
      out.errors.push({ file, message: 'refused: unsafe or unsupported path' });
      continue;
    }
    try {
      const bytes = await get(`${baseUrl}/${file.split('/').map(encodeURIComponent).join('/')}`);
      const target = join(dir, ...file.split('/'));
      if (!target.startsWith(dir + sep))
        throw new Error('refused: path escapes the feeds directory');
      let text: string;
      try {
        text = (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
      } catch (e) {
        throw new FeedError(
          'feeds',
          'truncated',
          `gzip: ${e instanceof Error ? e.message : String(e)}`,
          file,
        );
      }
      const kind = detectFeedKind(file, text);
      if (kind === null)
        throw new FeedError('feeds', 'unknown_format', 'not a feed format Flotilla reads', file);
      addFeedFile(emptyDatabase(), kind, text, file); // throws FeedError when refused
      const old = existsSync(target) ? statSync(target).size : -1;
      mkdirSync(dirname(target), { recursive: true });
      const tmp = `${target}.download`;
      writeFileSync(tmp, bytes);
      renameSync(tmp, target);
      (old === bytes.length ? out.unchanged : out.downloaded).push(file);
    } catch (e) {
      out.errors.push({ file, message: e instanceof Error ? e.message : String(e) });
    }
    await yieldToLoop();
  }
  return out;
}
