import { runScan } from './run-scan.js';
import type { Finding } from './types.js';

export interface VulnScanCliOptions {
  feeds: string;
  inventory: string;
  format?: 'table' | 'json';
}

/** Renders findings as a fixed-width text table. */
export function formatFindingsTable(findings: readonly Finding[]): string {
  const header = [
    'CVE',
    'PACKAGE',
    'INSTALLED',
    'FIXED',
    'SEVERITY',
    'CVSS3',
    'KEV',
    'EPSS',
    'SOURCE',
  ];
  const rows = findings.map((f) => [
    f.cve,
    f.package,
    f.installed_version,
    f.fixed_version ?? '-',
    f.severity,
    f.cvss3_score === null ? '-' : f.cvss3_score.toFixed(1),
    f.known_exploited ? `yes ${f.kev_date_added ?? ''}`.trim() : 'no',
    f.epss === null ? '-' : f.epss.toFixed(4),
    f.source_feed,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/**
 * What `flotilla vuln scan --feeds DIR --inventory FILE [--json]` runs. Writes the report to
 * `write` (stdout by default) and returns the process exit code: 0 no findings, 1 findings.
 */
export function vulnScanCommand(
  options: VulnScanCliOptions,
  write: (text: string) => void = (t) => process.stdout.write(t),
): number {
  const result = runScan({ feedsDir: options.feeds, inventoryFile: options.inventory });
  if (options.format === 'json') {
    write(
      `${JSON.stringify({ findings: result.findings, feed_errors: result.feedErrors.map((e) => e.message) }, null, 2)}\n`,
    );
  } else {
    for (const e of result.feedErrors) write(`warning: ${e.message}\n`);
    write(`${formatFindingsTable(result.findings)}\n`);
    write(`${result.findings.length} findings (${result.feedsLoaded} feed files)\n`);
  }
  return result.findings.length > 0 ? 1 : 0;
}
