export { OSQUERY_SCHEMA_VERSION, table, tables } from './schema.js';
export type { ColumnType, OsqueryColumn, OsqueryTable } from './schema.js';
export { PLATFORMS, normalizePlatform, normalizePlatforms } from './platforms.js';
export type { Platform } from './platforms.js';
