import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

const SNAPSHOT = join(import.meta.dirname, '..', '..', '..', 'docs', 'openapi.json');

describe('OpenAPI contract', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('sqlite');
  });
  afterAll(async () => s.close());

  it('is served, covers the REST and osquery routes, and matches the committed snapshot', async () => {
    const r = await s.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(r.statusCode).toBe(200);
    const doc = r.json() as { paths: Record<string, unknown> };
    for (const p of [
      '/api/v1/fleet/hosts',
      '/api/v1/fleet/hosts/{id}',
      '/api/v1/fleet/users',
      '/api/v1/fleet/teams',
      '/api/v1/fleet/activities',
      '/api/v1/osquery/enroll',
      '/api/v1/osquery/distributed/read',
      '/api/v1/setup',
    ]) {
      expect(doc.paths, p).toHaveProperty([p]);
    }
    const text = JSON.stringify(doc, null, 2) + '\n';
    if (process.env['UPDATE_SNAPSHOTS'] === '1' || !existsSync(SNAPSHOT))
      writeFileSync(SNAPSHOT, text);
    // Changing a route's schema must come with `UPDATE_SNAPSHOTS=1 npm test` and a reviewed diff.
    expect(text).toBe(readFileSync(SNAPSHOT, 'utf8'));
  });
});
