import { describe, expect, it } from 'vitest';
import {
  distributedWriteBody,
  enrollBody,
  eventLogLine,
  logBody,
  nodeKeyBody,
  requestHeaders,
  snapshotLogLine,
  statusLogLine,
} from '../src/agent/requests.js';
import { createSimulatedAgent } from '../src/agent/factory.js';
import { PROFILE_NAMES, getProfile } from '../src/profiles/catalog.js';
import { asciiTime } from '../src/profiles/common.js';

const ctx = {
  name: 'pack_p_q',
  hostIdentifier: 'H1',
  calendarTime: 'Tue Nov  4 04:12:35 2026 UTC',
  unixTime: 1_793_765_555,
  epoch: 0,
  counter: 3,
  decorations: { hostname: 'h', host_uuid: 'U' },
};

describe('osquery request bodies', () => {
  it('enroll: key order, std::set table order, sorted row keys, platform_type string', () => {
    const body = enrollBody({
      enrollSecret: 'S',
      hostIdentifier: 'H1',
      platformType: '9',
      hostDetails: {
        system_info: { uuid: 'U', hostname: 'h' },
        os_version: { version: '22.04', name: 'Ubuntu' },
        osquery_info: { version: '5.23.1' },
      },
    });
    expect(body).toBe(
      '{"enroll_secret":"S","host_identifier":"H1","platform_type":"9","host_details":{"os_version":{"name":"Ubuntu","version":"22.04"},"osquery_info":{"version":"5.23.1"},"system_info":{"hostname":"h","uuid":"U"}}}',
    );
  });

  it('config and distributed read carry only the node key', () => {
    expect(nodeKeyBody('k')).toBe('{"node_key":"k"}');
  });

  it('distributed write: queries in column order, statuses as numbers, messages, stats, node_key last', () => {
    const body = distributedWriteBody('k', [
      {
        name: 'q1',
        columns: ['b', 'a'],
        rows: [{ a: '1', b: '2' }],
        status: 0,
        message: '',
        stats: { wall_time_ms: 3, user_time: 1, system_time: 0, memory: 0 },
      },
      { name: 'q2', columns: [], rows: [], status: 1, message: 'no such table: foo' },
    ]);
    expect(body).toBe(
      '{"queries":{"q1":[{"b":"2","a":"1"}],"q2":[]},"statuses":{"q1":0,"q2":1},"messages":{"q1":"","q2":"no such table: foo"},"stats":{"q1":{"wall_time_ms":3,"user_time":1,"system_time":0,"memory":0},"q2":{}},"node_key":"k"}',
    );
  });

  it('log: node_key, log_type, data array of lines', () => {
    expect(logBody('k', 'status', ['{"a":1}', '{"b":2}'])).toBe(
      '{"node_key":"k","log_type":"status","data":[{"a":1},{"b":2}]}',
    );
    expect(JSON.parse(logBody('k', 'result', []))).toEqual({
      node_key: 'k',
      log_type: 'result',
      data: [],
    });
  });

  it('differential event line in osquery field order with sorted columns and decorations', () => {
    expect(eventLogLine(ctx, { pid: '1', name: 'init' }, 'added')).toBe(
      '{"name":"pack_p_q","hostIdentifier":"H1","calendarTime":"Tue Nov  4 04:12:35 2026 UTC","unixTime":1793765555,"epoch":0,"counter":3,"numerics":false,"decorations":{"host_uuid":"U","hostname":"h"},"columns":{"name":"init","pid":"1"},"action":"added"}',
    );
    // No decorations: the key is absent, not an empty object.
    const bare = JSON.parse(
      eventLogLine({ ...ctx, decorations: {} }, '{"a":"1"}', 'removed'),
    ) as Record<string, unknown>;
    expect(Object.keys(bare)).toEqual([
      'name',
      'hostIdentifier',
      'calendarTime',
      'unixTime',
      'epoch',
      'counter',
      'numerics',
      'columns',
      'action',
    ]);
  });

  it('snapshot line: snapshot and action first, then the legacy fields', () => {
    expect(snapshotLogLine({ ...ctx, counter: 0 }, [{ z: '1', a: '2' }])).toBe(
      '{"snapshot":[{"a":"2","z":"1"}],"action":"snapshot","name":"pack_p_q","hostIdentifier":"H1","calendarTime":"Tue Nov  4 04:12:35 2026 UTC","unixTime":1793765555,"epoch":0,"counter":0,"numerics":false,"decorations":{"host_uuid":"U","hostname":"h"}}',
    );
  });

  it('status line: numeric severity, line and unixTime', () => {
    const line = statusLogLine({
      hostIdentifier: 'H1',
      calendarTime: 'c',
      unixTime: 5,
      severity: 2,
      filename: 'scheduler.cpp',
      line: 128,
      message: 'm',
      version: '5.23.1',
      decorations: {},
    });
    expect(line).toBe(
      '{"hostIdentifier":"H1","calendarTime":"c","unixTime":5,"severity":2,"filename":"scheduler.cpp","line":128,"message":"m","version":"5.23.1"}',
    );
  });

  it('calendarTime is asctime in UTC with " UTC"', () => {
    expect(asciiTime(Date.UTC(2026, 10, 4, 4, 12, 35) / 1000)).toBe('Wed Nov  4 04:12:35 2026 UTC');
    expect(asciiTime(Date.UTC(2026, 10, 24, 14, 2, 5) / 1000)).toBe('Tue Nov 24 14:02:05 2026 UTC');
  });

  it('headers: JSON, osquery user agent, NodeKey authorization only after enrollment, gzip flag', () => {
    expect(requestHeaders(undefined, false, '5.23.1')).toEqual({
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'User-Agent': 'osquery/5.23.1',
    });
    expect(requestHeaders('k', true, '5.23.1')).toMatchObject({
      Authorization: 'NodeKey k',
      'Content-Encoding': 'gzip',
    });
  });

  it('an agent enrolls with all four host_details tables, every value a string, and its platform type', () => {
    const expected: Record<string, string> = { linux: '9', darwin: '21', windows: '2' };
    for (const name of PROFILE_NAMES) {
      const agent = createSimulatedAgent({
        profile: name,
        index: 11,
        server: 'https://127.0.0.1:1',
        enrollSecret: 'S',
      });
      const body = JSON.parse(agent.enrollRequestBody()) as {
        platform_type: string;
        host_identifier: string;
        host_details: Record<string, Record<string, unknown>>;
      };
      expect(body.platform_type).toBe(expected[getProfile(name).platform]);
      expect(Object.keys(body.host_details)).toEqual([
        'os_version',
        'osquery_info',
        'platform_info',
        'system_info',
      ]);
      for (const row of Object.values(body.host_details)) {
        for (const v of Object.values(row)) expect(typeof v).toBe('string');
        expect(Object.keys(row)).toEqual([...Object.keys(row)].sort());
      }
      expect(body.host_identifier).toBe(body.host_details['system_info']?.['uuid']);
      expect(body.host_details['osquery_info']?.['version']).toBe('5.23.1');
      agent.stop();
    }
  });
});
