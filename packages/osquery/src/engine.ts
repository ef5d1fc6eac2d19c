import Database from 'better-sqlite3';
import { OSQUERY_FUNCTIONS } from './functions.js';
import { tables } from './schema.js';
import type { OsqueryColumn, OsqueryTable } from './schema.js';

/**
 * The in-memory SQLite database that stands in for osquery's: every schema table is an
 * eponymous virtual table, as in osquery, that is never read, and osquery's functions are stubs that are never called. Statements are only
 * prepared and EXPLAINed, never stepped.
 */
export interface Engine {
  readonly db: Database.Database;
  /** The table behind each virtual-table pointer shown by EXPLAIN (`vtab:…` in VOpen's p4). */
  readonly tableByVtab: ReadonlyMap<string, OsqueryTable>;
  /** Each table's columns in the order SQLite numbers them (VColumn's p2). */
  readonly columnsByTable: ReadonlyMap<string, readonly OsqueryColumn[]>;
  /** Every column name of every table, lower-cased. */
  readonly columnNames: ReadonlySet<string>;
}

export interface ExplainRow {
  readonly opcode: string;
  readonly p1: number;
  readonly p2: number;
  readonly p4: unknown;
}

let engine: Engine | undefined;

function stub(arity: number): () => null {
  const fn = (): null => null;
  Object.defineProperty(fn, 'length', { value: arity });
  return fn;
}

/** The process-wide validation database, created on first use (~0.1 s). */
export function getEngine(): Engine {
  if (engine) return engine;
  const db = new Database(':memory:');
  for (const [name, arities] of OSQUERY_FUNCTIONS) {
    for (const arity of arities) {
      if (arity < 0) db.function(name, { varargs: true, deterministic: true }, stub(0));
      else db.function(name, { deterministic: true }, stub(arity));
    }
  }

  const tableByVtab = new Map<string, OsqueryTable>();
  const columnsByTable = new Map<string, readonly OsqueryColumn[]>();
  for (const t of tables()) {
    // Hidden columns are declared as ordinary ones, after the others: better-sqlite3 can only
    // hide its "parameters", which refuse any operator but `=` and plans that skip them, and
    // osquery accepts `WHERE cgroup_path LIKE …`. validate.ts drops them from `SELECT *`.
    const ordered = [...t.columns.filter((c) => !c.hidden), ...t.columns.filter((c) => c.hidden)];
    db.table(t.name, {
      columns: ordered.map((c) => c.name),
      parameters: [],
      *rows() {
        yield* [];
      },
    });
    columnsByTable.set(t.name, ordered);
    const plan = db.prepare(`EXPLAIN SELECT * FROM "${t.name}"`).all() as ExplainRow[];
    const open = plan.find((op) => op.opcode === 'VOpen');
    if (typeof open?.p4 !== 'string') throw new Error(`no virtual table cursor for ${t.name}`);
    tableByVtab.set(open.p4, t);
  }
  const columnNames = new Set(tables().flatMap((t) => t.columns.map((c) => c.name.toLowerCase())));
  engine = { db, tableByVtab, columnsByTable, columnNames };
  return engine;
}
