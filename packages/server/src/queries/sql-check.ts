import { invalid } from '@flotilla/core';
import { validateQuery } from '@flotilla/osquery';

/**
 * Checks SQL before anything is sent to a host: it must parse with osquery's grammar and
 * functions, name only tables and columns osquery has, and only read. Returns the platforms
 * the query can run on.
 */
export function checkSql(sql: string, field = 'query'): { platforms: string[]; tables: string[] } {
  const r = validateQuery(sql);
  if (!r.ok) {
    throw invalid(
      `invalid query: ${r.errors.map((e) => e.message).join('; ')}`,
      r.errors.map((e) => ({
        name: field,
        reason: e.position
          ? `${e.message} (line ${e.position.line}, column ${e.position.column})`
          : e.message,
      })),
      `SQL_${r.errors[0]?.code ?? 'INVALID'}`,
    );
  }
  return { platforms: r.platforms, tables: r.tables };
}
