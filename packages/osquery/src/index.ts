export { OSQUERY_SCHEMA_VERSION, table, tables } from './schema.js';
export type { ColumnType, OsqueryColumn, OsqueryTable } from './schema.js';
export { PLATFORMS, normalizePlatform, normalizePlatforms } from './platforms.js';
export type { Platform } from './platforms.js';
export { MAX_QUERY_LENGTH, validateQuery } from './validate.js';
export { compatibleWith, platformsForTables, validateForPlatforms } from './platform-check.js';
export type { SourcePosition } from './position.js';
export type {
  InvalidQuery,
  ValidQuery,
  ValidationError,
  ValidationErrorCode,
  ValidationResult,
} from './types.js';
export { OSQUERY_FUNCTIONS, OSQUERY_COLLATIONS } from './functions.js';
