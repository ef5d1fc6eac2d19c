import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { clientFrom } from '../context-file.js';

/** The flags osquery needs to talk to Flotilla over TLS (the same endpoints as Fleet). */
export function osqueryFlagfile(opts: {
  hostPort: string;
  dir: string;
  intervalS?: number;
}): string {
  const i = opts.intervalS ?? 10;
  return [
    `--tls_hostname=${opts.hostPort}`,
    `--tls_server_certs=${join(opts.dir, 'flotilla-ca.pem')}`,
    `--enroll_secret_path=${join(opts.dir, 'enroll_secret')}`,
    '--host_identifier=uuid',
    '--enroll_tls_endpoint=/api/osquery/enroll',
    '--config_plugin=tls',
    '--config_tls_endpoint=/api/v1/osquery/config',
    `--config_refresh=${i}`,
    '--disable_distributed=false',
    '--distributed_plugin=tls',
    `--distributed_interval=${i}`,
    '--distributed_tls_max_attempts=3',
    '--distributed_tls_read_endpoint=/api/v1/osquery/distributed/read',
    '--distributed_tls_write_endpoint=/api/v1/osquery/distributed/write',
    '--logger_plugin=tls',
    '--logger_tls_endpoint=/api/v1/osquery/log',
    `--logger_tls_period=${i}`,
    '--disable_carver=false',
    '--carver_start_endpoint=/api/v1/osquery/carve/begin',
    '--carver_continue_endpoint=/api/v1/osquery/carve/block',
    '--carver_block_size=2000000',
    '',
  ].join('\n');
}

export function registerEnrollKit(program: Command): void {
  program
    .command('enroll-kit')
    .description('Write an osquery flagfile, enroll secret and CA certificate for enrolling hosts')
    .option('--out <dir>', 'output directory', './enroll')
    .option('--team <id>', "use this team's enroll secret (default: a global one)")
    .option(
      '--install-dir <dir>',
      'where the files will live on the host (paths inside the flagfile)',
    )
    .option('--server <url>')
    .option('--ca <file>')
    .option('--token <token>')
    .action(
      async (o: {
        out: string;
        team?: string;
        installDir?: string;
        server?: string;
        ca?: string;
        token?: string;
      }) => {
        const client = clientFrom(o);
        let secrets: Array<{ secret: string }>;
        if (o.team)
          secrets =
            (
              await client.request<{ secrets: Array<{ secret: string }> }>(
                'GET',
                `/api/v1/fleet/teams/${Number(o.team)}/secrets`,
              )
            ).secrets ?? [];
        else
          secrets = (
            await client.request<{ spec: { secrets: Array<{ secret: string }> } }>(
              'GET',
              '/api/v1/fleet/spec/enroll_secret',
            )
          ).spec.secrets;
        let secret = secrets[0]?.secret;
        if (!secret) {
          // No secret yet: create one so the kit works on a new server.
          const { randomBytes } = await import('node:crypto');
          secret = randomBytes(24).toString('base64url');
          if (o.team)
            await client.request('PATCH', `/api/v1/fleet/teams/${Number(o.team)}/secrets`, {
              secrets: [{ secret }],
            });
          else
            await client.request('POST', '/api/v1/fleet/spec/enroll_secret', {
              spec: { secrets: [{ secret }] },
            });
        }
        const { certificate_chain } = await client.request<{ certificate_chain: string }>(
          'GET',
          '/api/v1/fleet/config/certificate',
        );
        const out = resolve(o.out);
        mkdirSync(out, { recursive: true });
        const server = new URL(
          (
            await client.request<{ server_settings: { server_url: string } }>(
              'GET',
              '/api/v1/fleet/config',
            )
          ).server_settings.server_url,
        );
        const hostPort = `${server.hostname}:${server.port || '443'}`;
        writeFileSync(join(out, 'enroll_secret'), secret + '\n', { mode: 0o600 });
        writeFileSync(join(out, 'flotilla-ca.pem'), Buffer.from(certificate_chain, 'base64'));
        writeFileSync(
          join(out, 'osquery.flags'),
          osqueryFlagfile({ hostPort, dir: o.installDir ?? out }),
        );
        console.log(
          `Wrote ${join(out, 'osquery.flags')}, enroll_secret and flotilla-ca.pem.\nOn the host: sudo osqueryd --flagfile ${join(o.installDir ?? out, 'osquery.flags')}`,
        );
        client.close();
      },
    );
}
