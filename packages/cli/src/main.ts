import { Command } from 'commander';
import { ApiError } from '@flotilla/api';
import { registerServe } from './commands/serve.js';
import { registerSession } from './commands/session.js';
import { registerGet } from './commands/get.js';
import { registerEnrollKit } from './commands/enroll-kit.js';
import { registerQuery } from './commands/query.js';
import { registerVuln } from './commands/vuln.js';

const program = new Command('flotilla')
  .description('Flotilla: see into and act on every host through osquery')
  .version('0.1.0');
registerServe(program);
registerSession(program);
registerGet(program);
registerEnrollKit(program);
registerQuery(program);
registerVuln(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof ApiError) console.error(`error: ${e.message} (HTTP ${e.status})`);
  else console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
