import type { Platform } from './platforms.js';
import type { SourcePosition } from './position.js';

export type ValidationErrorCode =
  | 'SYNTAX'
  | 'UNKNOWN_TABLE'
  | 'UNKNOWN_COLUMN'
  | 'NOT_READ_ONLY'
  | 'MULTIPLE_STATEMENTS'
  | 'EMPTY'
  | 'TOO_LONG'
  /** Only from {@link validateForPlatforms}: a table (or column) the target platforms lack. */
  | 'UNSUPPORTED_PLATFORM';

export interface ValidationError {
  readonly message: string;
  readonly code: ValidationErrorCode;
  readonly position?: SourcePosition;
}

export interface ValidQuery {
  readonly ok: true;
  /** osquery tables the query reads, by their schema names, sorted. */
  readonly tables: string[];
  /** Result column names, in order. */
  readonly columns: string[];
  /** Platforms every referenced table (and platform-specific column) exists on; empty: nowhere. */
  readonly platforms: Platform[];
  readonly readOnly: true;
}

export interface InvalidQuery {
  readonly ok: false;
  readonly errors: ValidationError[];
}

export type ValidationResult = ValidQuery | InvalidQuery;
