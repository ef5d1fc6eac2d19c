import { parentPort, workerData } from 'node:worker_threads';
import { HostRunner } from './host-runner.js';
import type { HostSlot, RunnerSettings } from './host-runner.js';

/** Messages between runFleet and its workers. */
export type ToWorker = { type: 'snapshot' } | { type: 'stop' };
export type FromWorker =
  | { type: 'snapshot'; snapshot: ReturnType<HostRunner['snapshot']> }
  | { type: 'stopped'; snapshot: ReturnType<HostRunner['snapshot']> };

const { settings, slots } = workerData as { settings: RunnerSettings; slots: HostSlot[] };
const runner = new HostRunner(settings, slots);
runner.start();

parentPort?.on('message', (msg: ToWorker) => {
  if (msg.type === 'snapshot') {
    parentPort?.postMessage({ type: 'snapshot', snapshot: runner.snapshot() } satisfies FromWorker);
  } else {
    runner.stop();
    parentPort?.postMessage({ type: 'stopped', snapshot: runner.snapshot() } satisfies FromWorker);
    parentPort?.close();
  }
});
