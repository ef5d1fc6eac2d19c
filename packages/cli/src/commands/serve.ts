import type { Command } from 'commander';
import { ConfigError, loadConfig, SETTINGS, startServer } from '@flotilla/server';

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('Run the Flotilla server (HTTPS on 8412 with its own CA by default)');
  cmd.option('--config <file>', 'JSON or YAML settings file (keys as below, snake_case)');
  for (const s of SETTINGS) {
    const flag = `--${s.key.replace(/_/g, '-')}`;
    cmd.option(
      s.kind === 'bool' ? `${flag} [bool]` : `${flag} <value>`,
      `${s.help} [env FLOTILLA_${s.key.toUpperCase()}]`,
    );
  }
  cmd.action(async (raw: Record<string, string | boolean | undefined>) => {
    const { config: file, ...flagsCamel } = raw;
    const flags: Record<string, string | boolean | undefined> = {};
    for (const [k, v] of Object.entries(flagsCamel))
      flags[k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)] = v;
    let config;
    try {
      config = loadConfig({
        env: process.env,
        flags,
        file: typeof file === 'string' ? file : undefined,
      });
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(e.message);
        process.exitCode = 2;
        return;
      }
      throw e;
    }
    const server = await startServer(config);
    const url = config.serverUrl;
    const ca = server.tls?.caFile;
    const caArg = ca ? ` --ca ${ca}` : '';
    console.log(`
Flotilla is running at ${url}  (database: ${config.databaseUrl ? 'PostgreSQL' : `SQLite in ${config.dataDir}`})
${ca ? `TLS CA certificate (give it to osquery as --tls_server_certs): ${ca}\n` : ''}
Create the first admin (once):
  npx flotilla setup --server ${url}${caArg} --email admin@example.com --name Admin --password '<12+ chars, a number and a symbol>'

Enroll a host: write an osquery flagfile, enroll secret and CA into ./enroll, then run osquery with it:
  npx flotilla enroll-kit --out ./enroll
  sudo osqueryd --flagfile ./enroll/osquery.flags

API docs (OpenAPI): ${url}/api/openapi.json
`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.error(`received ${signal}: flushing pending writes and stopping…`);
      server
        .close()
        .then(() => process.exit(0))
        .catch((e: unknown) => {
          console.error(e);
          process.exit(1);
        });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
