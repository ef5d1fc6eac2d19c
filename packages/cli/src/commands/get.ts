import type { Command } from 'commander';
import { clientFrom } from '../context-file.js';
import { printTable } from '../table.js';

interface ConnOpts {
  server?: string;
  ca?: string;
  token?: string;
}

const conn = (c: Command) =>
  c
    .option('--server <url>', 'server URL (default: from `flotilla login`)')
    .option('--ca <file>', 'CA certificate')
    .option('--token <token>', 'API token (or FLOTILLA_API_TOKEN)');

export function registerGet(program: Command): void {
  const get = program.command('get').description('Show resources');

  conn(get.command('hosts'))
    .description('List hosts')
    .option('--query <text>', 'free text: hostname, UUID, serial, IP')
    .option('--status <status>', 'online, offline, new or missing')
    .option('--team <id>', 'team id (0 = no team)')
    .option('--per-page <n>', 'page size', '500')
    .option('--json', 'print JSON lines')
    .action(
      async (
        o: ConnOpts & {
          query?: string;
          status?: string;
          team?: string;
          perPage: string;
          json?: boolean;
        },
      ) => {
        const client = clientFrom(o);
        const { hosts } = await client.listHosts({
          query: o.query,
          status: o.status,
          team_id: o.team,
          per_page: o.perPage,
        });
        if (o.json) for (const h of hosts) console.log(JSON.stringify(h));
        else
          printTable(
            ['ID', 'HOSTNAME', 'STATUS', 'PLATFORM', 'OS', 'OSQUERY', 'IP', 'TEAM'],
            hosts.map((h) => [
              h['id'],
              h['hostname'],
              h['status'],
              h['platform'],
              h['os_version'],
              h['osquery_version'],
              h['primary_ip'],
              h['team_name'] ?? '',
            ]),
          );
        client.close();
      },
    );

  conn(get.command('host <identifier>'))
    .description('Show one host by id, UUID, hostname or osquery host id')
    .option('--json', 'print JSON')
    .action(async (identifier: string, o: ConnOpts & { json?: boolean }) => {
      const client = clientFrom(o);
      const { host } = /^\d+$/.test(identifier)
        ? await client.getHost(Number(identifier))
        : await client.getHostByIdentifier(identifier);
      if (o.json) console.log(JSON.stringify(host, null, 2));
      else {
        const fields = [
          'id',
          'hostname',
          'uuid',
          'status',
          'platform',
          'os_version',
          'kernel_version',
          'osquery_version',
          'cpu_brand',
          'cpu_logical_cores',
          'memory',
          'hardware_vendor',
          'hardware_model',
          'hardware_serial',
          'primary_ip',
          'primary_mac',
          'public_ip',
          'gigs_disk_space_available',
          'disk_encryption_enabled',
          'team_name',
          'seen_time',
          'detail_updated_at',
        ];
        const width = Math.max(...fields.map((f) => f.length));
        for (const f of fields) console.log(`${f.padEnd(width)}  ${String(host[f] ?? '')}`);
        const users = host['users'] as
          Array<{ username: string; uid: number; shell: string }> | undefined;
        if (users?.length)
          console.log(
            `${'users'.padEnd(width)}  ${users.map((u) => `${u.username}(${u.uid})`).join(', ')}`,
          );
      }
      client.close();
    });
}
