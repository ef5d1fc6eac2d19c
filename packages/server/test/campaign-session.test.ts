import { describe, expect, it } from 'vitest';
import { CHANNELS, LocalBus } from '../src/bus/bus.js';
import {
  CampaignSession,
  type HostInfo,
  type SessionEvent,
} from '../src/live-queries/campaign-session.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function session(hostCount: number, bus: LocalBus) {
  const hosts = new Map<number, HostInfo>();
  for (let id = 1; id <= hostCount; id++)
    hosts.set(id, { id, hostname: `h${id}`, display_name: `h${id}`, online: true });
  return new CampaignSession(7, hosts, bus, Date.now() + 60_000, false);
}
const answer = (bus: LocalBus, hostId: number) =>
  bus.publish(CHANNELS.campaignResults(7), {
    campaign_id: 7,
    host_id: hostId,
    rows: [{ x: String(hostId) }],
    error: null,
    stats: null,
  });

describe('campaign progress to watchers', () => {
  it('a burst of results brings one status, not one per result, and the finish brings its own', async () => {
    const bus = new LocalBus();
    const s = session(500, bus);
    const events: SessionEvent[] = [];
    s.listen((e) => events.push(e));
    events.length = 0; // the replay on listening (totals, status)
    for (let id = 1; id <= 300; id++) answer(bus, id);
    await sleep(400);
    const statuses = () => events.filter((e) => e.type === 'status');
    expect(events.filter((e) => e.type === 'result')).toHaveLength(300);
    expect(statuses()).toEqual([
      { type: 'status', data: { expected_results: 500, actual_results: 300, status: 'pending' } },
    ]);
    for (let id = 301; id <= 500; id++) answer(bus, id);
    expect(statuses()).toHaveLength(2);
    expect(statuses()[1]).toEqual({
      type: 'status',
      data: { expected_results: 500, actual_results: 500, status: 'finished' },
    });
    await sleep(400); // no pending progress after the finish
    expect(statuses()).toHaveLength(2);
    s.dispose();
  });
});

describe('results kept for clients that connect late', () => {
  it('a streamed campaign keeps rows up to its replay budget, and a late client is told what it missed', () => {
    const bus = new LocalBus();
    const hosts = new Map<number, HostInfo>();
    for (let id = 1; id <= 10; id++)
      hosts.set(id, { id, hostname: `h${id}`, display_name: `h${id}`, online: true });
    // Room for 3 one-row results.
    const s = new CampaignSession(7, hosts, bus, Date.now() + 60_000, true, 1_000_000, 3);
    const early: SessionEvent[] = [];
    s.listen((e) => early.push(e));
    for (let id = 1; id <= 5; id++) answer(bus, id);
    expect(early.filter((e) => e.type === 'result')).toHaveLength(5); // live: everything
    expect(s.results.map((r) => r.host_id)).toEqual([1, 2, 3]);

    const late: SessionEvent[] = [];
    s.listen((e) => late.push(e));
    expect(late.map((e) => e.type)).toEqual([
      'totals',
      'result',
      'result',
      'result',
      'error',
      'status',
    ]);
    expect(late[4]).toEqual({
      type: 'error',
      data: '2 earlier results are not replayed to clients that connect late (only the first 3 rows are kept); hosts are still counted',
    });
    expect(late[5]).toMatchObject({ data: { actual_results: 5, expected_results: 10 } });
    s.dispose();
  });

  it('a synchronous run keeps every result', () => {
    const bus = new LocalBus();
    const hosts = new Map<number, HostInfo>();
    for (let id = 1; id <= 300; id++)
      hosts.set(id, { id, hostname: `h${id}`, display_name: `h${id}`, online: true });
    const s = new CampaignSession(7, hosts, bus, Date.now() + 60_000, true);
    for (let id = 1; id <= 300; id++) answer(bus, id);
    expect(s.results).toHaveLength(300);
    s.dispose();
  });
});
