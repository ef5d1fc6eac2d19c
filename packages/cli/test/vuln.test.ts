import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const FIXTURES = join(import.meta.dirname, '..', '..', 'vuln', 'test', 'fixtures');
const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');

function flotilla(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], (err, stdout, stderr) => {
      const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('flotilla vuln scan (offline, no server)', () => {
  const feeds = mkdtempSync(join(tmpdir(), 'flotilla-cli-feeds-'));
  copyFileSync(
    join(FIXTURES, 'ubuntu-oval', 'com.ubuntu.kinetic.usn.oval.xml.gz'),
    join(feeds, 'com.ubuntu.kinetic.usn.oval.xml.gz'),
  );
  afterAll(() => rmSync(feeds, { recursive: true, force: true }));
  const inventory = join(
    FIXTURES,
    'inventories',
    'docker-images',
    'ubuntu-22.10-kinetic-20221130.json',
  );

  it('prints the findings of an inventory and exits 1 when there are some', async () => {
    const r = await flotilla(['vuln', 'scan', '--feeds', feeds, '--inventory', inventory]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^CVE\s+PACKAGE\s+INSTALLED\s+FIXED/);
    expect(r.stdout).toMatch(/\n40 findings \(1 feed files\)\n$/);
    const json = await flotilla([
      'vuln',
      'scan',
      '--feeds',
      feeds,
      '--inventory',
      inventory,
      '--json',
    ]);
    const doc = JSON.parse(json.stdout) as {
      findings: Array<{ cve: string; source_feed: string }>;
    };
    expect(doc.findings).toHaveLength(40);
    expect(doc.findings.every((f) => f.source_feed === 'oval')).toBe(true);
  });

  it('reports a missing inventory as an error', async () => {
    const r = await flotilla([
      'vuln',
      'scan',
      '--feeds',
      feeds,
      '--inventory',
      '/nonexistent.json',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: .*nonexistent\.json/);
  });
});
