import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('has working defaults: HTTPS with our own CA, SQLite in ./.flotilla', () => {
    const c = loadConfig({ env: {} });
    expect(c.tls.mode).toBe('auto');
    expect(c.port).toBe(8412);
    expect(c.serverUrl).toBe('https://localhost:8412');
    expect(c.databaseUrl).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('takes flags over environment over file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-cfg-'));
    const file = join(dir, 'flotilla.yaml');
    writeFileSync(file, 'port: 9000\nlog_level: warn\ntls: "off"\n');
    const c = loadConfig({ env: { FLOTILLA_PORT: '9100' }, flags: { port: '9200' }, file });
    expect(c.port).toBe(9200);
    expect(c.logLevel).toBe('warn');
    expect(c.tls.mode).toBe('off');
    expect(c.serverUrl).toBe('http://localhost:9200');
    expect(loadConfig({ env: { FLOTILLA_PORT: '9100' }, file }).port).toBe(9100);
  });

  it('reports every problem at once', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig({
        env: {
          FLOTILLA_PORT: 'eighty',
          FLOTILLA_TLS: 'maybe',
          FLOTILLA_DATABASE_URL: 'mysql://x',
          FLOTILLA_TYPO: '1',
          FLOTILLA_DETAIL_UPDATE_INTERVAL: '5',
        },
      });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems).toHaveLength(5);
    expect(err!.message).toMatch(/FLOTILLA_PORT: "eighty" is not an integer/);
    expect(err!.message).toMatch(/unknown variable FLOTILLA_TYPO/);
  });

  it('caps live query rows at 1,000,000 unless told otherwise, and refuses a cap of 0', () => {
    expect(loadConfig({ env: {} }).liveQueryMaxRows).toBe(1_000_000);
    expect(loadConfig({ env: { FLOTILLA_LIVE_QUERY_MAX_ROWS: '3000000' } }).liveQueryMaxRows).toBe(
      3_000_000,
    );
    expect(loadConfig({ flags: { 'live-query-max-rows': '50' } }).liveQueryMaxRows).toBe(50);
    expect(() => loadConfig({ env: { FLOTILLA_LIVE_QUERY_MAX_ROWS: '0' } })).toThrow(
      /FLOTILLA_LIVE_QUERY_MAX_ROWS: 0 is outside 1\.\.∞/,
    );
  });

  it('requires both certificate files for tls=files', () => {
    expect(() =>
      loadConfig({ env: { FLOTILLA_TLS: 'files', FLOTILLA_TLS_CERT: '/x.pem' } }),
    ).toThrow(/FLOTILLA_TLS_KEY/);
  });
});
