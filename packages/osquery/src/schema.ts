import { readFileSync } from 'node:fs';
import { normalizePlatforms } from './platforms.js';
import type { Platform } from './platforms.js';

/** The osquery release whose table catalogue ships in `data/`. */
export const OSQUERY_SCHEMA_VERSION = '5.23.1';

export type ColumnType = 'text' | 'integer' | 'bigint' | 'unsigned_bigint' | 'double' | 'blob';

export interface OsqueryColumn {
  readonly name: string;
  readonly description: string;
  readonly type: ColumnType;
  /** Left out of `SELECT *`, but selectable by name. */
  readonly hidden: boolean;
  /** The table returns nothing (or refuses) unless the query constrains this column. */
  readonly required: boolean;
  readonly index: boolean;
  /** Set only when the column exists on fewer platforms than its table. */
  readonly platforms?: readonly Platform[];
}

export interface OsqueryTable {
  readonly name: string;
  readonly description: string;
  readonly url: string;
  readonly platforms: readonly Platform[];
  /** Filled from an event stream rather than read when queried. */
  readonly evented: boolean;
  readonly cacheable: boolean;
  readonly notes: string;
  readonly examples: readonly string[];
  readonly columns: readonly OsqueryColumn[];
}

interface RawColumn {
  name: string;
  description: string;
  type: ColumnType;
  hidden: boolean;
  required: boolean;
  index: boolean;
  notes?: string;
  platforms?: string[];
}

interface RawTable {
  name: string;
  description: string;
  url: string;
  platforms: string[];
  evented: boolean;
  cacheable: boolean;
  notes: string;
  examples: string[];
  columns: RawColumn[];
}

interface Catalogue {
  readonly list: readonly OsqueryTable[];
  readonly byName: ReadonlyMap<string, OsqueryTable>;
}

let catalogue: Catalogue | undefined;

function load(): Catalogue {
  if (catalogue) return catalogue;
  const file = new URL(`../data/osquery-schema-${OSQUERY_SCHEMA_VERSION}.json`, import.meta.url);
  const raw = JSON.parse(readFileSync(file, 'utf8')) as RawTable[];
  const list = raw.map(toTable);
  catalogue = {
    list: Object.freeze(list),
    byName: new Map(list.map((t) => [t.name.toLowerCase(), t])),
  };
  return catalogue;
}

function toTable(raw: RawTable): OsqueryTable {
  const platforms = normalizePlatforms(raw.platforms);
  const columns = raw.columns.map((c): OsqueryColumn => {
    const base = {
      name: c.name,
      description: c.description,
      type: c.type,
      hidden: c.hidden,
      required: c.required,
      index: c.index,
    };
    if (!c.platforms) return Object.freeze(base);
    const own = normalizePlatforms(c.platforms).filter((p) => platforms.includes(p));
    return Object.freeze(own.length < platforms.length ? { ...base, platforms: own } : base);
  });
  return Object.freeze({
    name: raw.name,
    description: raw.description,
    url: raw.url,
    platforms,
    evented: raw.evented,
    cacheable: raw.cacheable,
    notes: raw.notes,
    examples: raw.examples,
    columns: Object.freeze(columns),
  });
}

/** Every table in the osquery schema, in the catalogue's (alphabetical) order. */
export function tables(): readonly OsqueryTable[] {
  return load().list;
}

/** One table by name (case-insensitive, as in SQLite), or undefined. */
export function table(name: string): OsqueryTable | undefined {
  return load().byName.get(name.toLowerCase());
}
