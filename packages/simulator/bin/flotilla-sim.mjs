#!/usr/bin/env node
// Registers tsx's ESM loader (tsx/esm/api register()), then runs the TypeScript CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`flotilla-sim: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
