import { PLATFORMS, intersectPlatforms, normalizePlatform, sortPlatforms } from './platforms.js';
import type { Platform } from './platforms.js';
import { positionAt } from './position.js';
import { table } from './schema.js';
import type { ValidationError, ValidationResult } from './types.js';
import { analyzeQuery } from './validate.js';

/** Platforms on which every one of the tables exists (an unknown table exists nowhere). */
export function platformsForTables(tables: Iterable<string>): Platform[] {
  const lists: Platform[][] = [];
  for (const name of tables) lists.push([...(table(name)?.platforms ?? [])]);
  return lists.length ? intersectPlatforms(lists) : [...PLATFORMS];
}

/** Whether `sql` is valid and can run on `platform` (any spelling {@link normalizePlatform} knows). */
export function compatibleWith(sql: string, platform: string): boolean {
  const targets = normalizePlatform(platform);
  if (!targets?.length) return false;
  const result = analyzeQuery(sql).result;
  return result.ok && targets.every((p) => result.platforms.includes(p));
}

/**
 * {@link validateQuery} for a policy or label that targets `platforms`: adds an
 * `UNSUPPORTED_PLATFORM` error for each table (or platform-specific column) missing on one of
 * them, and for platform names it does not know. An empty list targets every host and adds
 * no check, as in Fleet.
 */
export function validateForPlatforms(sql: string, platforms: readonly string[]): ValidationResult {
  const { result, limits } = analyzeQuery(sql);
  if (!result.ok) return result;

  const errors: ValidationError[] = [];
  const targets: Platform[] = [];
  for (const name of platforms) {
    const normalized = normalizePlatform(name);
    if (normalized) targets.push(...normalized);
    else errors.push({ code: 'UNSUPPORTED_PLATFORM', message: `unknown platform: ${name}` });
  }
  for (const limit of limits) {
    const missing = sortPlatforms(targets.filter((p) => !limit.platforms.includes(p)));
    if (!missing.length) continue;
    const what = limit.column ? `column ${limit.table}.${limit.column}` : `table ${limit.table}`;
    const message = `${what} is not available on ${missing.join(', ')}`;
    errors.push(
      limit.offset === undefined
        ? { code: 'UNSUPPORTED_PLATFORM', message }
        : { code: 'UNSUPPORTED_PLATFORM', message, position: positionAt(sql, limit.offset) },
    );
  }
  return errors.length ? { ok: false, errors } : result;
}
