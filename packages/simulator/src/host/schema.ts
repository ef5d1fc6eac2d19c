import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** One column of an osquery table, as in osquery's generated schema JSON. */
export interface OsqueryColumn {
  name: string;
  type: 'text' | 'integer' | 'bigint' | 'unsigned_bigint' | 'double';
  hidden: boolean;
  required: boolean;
  index: boolean;
}

export interface OsqueryTable {
  name: string;
  platforms: string[];
  evented: boolean;
  columns: OsqueryColumn[];
}

/** osquery's platform names as they appear in the schema and in query `platform` filters. */
export type OsqueryPlatform = 'linux' | 'darwin' | 'windows';

// Stored gzipped (byte-identical inside): 67 KB instead of 720 KB, and out of formatters' way.
const schemaUrl = new URL('../../data/osquery-schema-5.23.1.json.gz', import.meta.url);

let cached: readonly OsqueryTable[] | undefined;

/** The osquery 5.23.1 table catalogue shipped in `data/`. */
export function loadSchema(): readonly OsqueryTable[] {
  cached ??= JSON.parse(gunzipSync(readFileSync(schemaUrl)).toString('utf8')) as OsqueryTable[];
  return cached;
}

/** Tables an osqueryd on `platform` has (osquery only registers its own platform's tables). */
export function tablesFor(platform: OsqueryPlatform): OsqueryTable[] {
  return loadSchema().filter((t) => t.platforms.includes(platform));
}

export function columnNames(table: OsqueryTable, includeHidden = false): string[] {
  return table.columns.filter((c) => includeHidden || !c.hidden).map((c) => c.name);
}
