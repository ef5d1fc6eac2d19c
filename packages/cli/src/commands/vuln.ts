import type { Command } from 'commander';
import { vulnScanCommand } from '@flotilla/vuln';

/** `flotilla vuln scan`: the vulnerability engine on one inventory, offline (no server needed). */
export function registerVuln(program: Command): void {
  const vuln = program.command('vuln').description('Vulnerability engine, offline');
  vuln
    .command('scan')
    .description(
      'Scan a host inventory (Flotilla JSON or a Vuls scan result) against a directory of feeds; exit code 1 when there are findings',
    )
    .requiredOption(
      '--feeds <dir>',
      'feed files (.gz allowed): OVAL, OSV, NVD 2.0, CISA KEV, EPSS, Debian tracker, Alpine secdb',
    )
    .requiredOption('--inventory <file>', 'the inventory file')
    .option('--json', 'findings as JSON instead of a table')
    .action((o: { feeds: string; inventory: string; json?: boolean }) => {
      process.exitCode = vulnScanCommand({
        feeds: o.feeds,
        inventory: o.inventory,
        format: o.json ? 'json' : 'table',
      });
    });
}
