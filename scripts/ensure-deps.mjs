// Installs dependencies on a fresh clone so that `npm start` and `npm test` work as the
// README's first commands. npm runs this before the script itself, with only Node and npm.
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const marker = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(marker) || !existsSync(join(root, 'node_modules', 'better-sqlite3'))) {
  console.error('flotilla: installing dependencies (first run, ~2 minutes)…');
  execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}
