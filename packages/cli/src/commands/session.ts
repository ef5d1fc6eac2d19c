import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FlotillaClient } from '@flotilla/api';
import { writeContext } from '../context-file.js';

const readPassword = (p: string | undefined): string => {
  const v = p ?? process.env['FLOTILLA_PASSWORD'];
  if (!v) throw new Error('pass --password or set FLOTILLA_PASSWORD');
  return v;
};

export function registerSession(program: Command): void {
  program
    .command('setup')
    .description('Create the first admin user on a new server and log in as them')
    .requiredOption('--server <url>', 'server URL, e.g. https://localhost:8412')
    .option('--ca <file>', "CA certificate to verify the server (its data dir's tls/ca.pem)")
    .requiredOption('--email <email>')
    .requiredOption('--name <name>')
    .option('--password <password>', 'or FLOTILLA_PASSWORD')
    .option('--org <name>', 'organisation name', 'Flotilla')
    .action(
      async (o: {
        server: string;
        ca?: string;
        email: string;
        name: string;
        password?: string;
        org: string;
      }) => {
        const client = new FlotillaClient({
          serverUrl: o.server,
          ca: o.ca ? readFileSync(o.ca, 'utf8') : undefined,
        });
        const r = await client.setup(
          { email: o.email, name: o.name, password: readPassword(o.password) },
          o.org,
        );
        writeContext({ server_url: o.server, ca_file: o.ca, token: r.token, email: o.email });
        console.log(`Admin ${o.email} created and logged in.`);
        client.close();
      },
    );

  program
    .command('login')
    .description('Log in and remember the server, CA and token for later commands')
    .requiredOption('--server <url>')
    .option('--ca <file>')
    .requiredOption('--email <email>')
    .option('--password <password>', 'or FLOTILLA_PASSWORD')
    .action(async (o: { server: string; ca?: string; email: string; password?: string }) => {
      const client = new FlotillaClient({
        serverUrl: o.server,
        ca: o.ca ? readFileSync(o.ca, 'utf8') : undefined,
      });
      const r = await client.login(o.email, readPassword(o.password));
      writeContext({ server_url: o.server, ca_file: o.ca, token: r.token, email: o.email });
      console.log(`Logged in as ${o.email}.`);
      client.close();
    });
}
