import { parentPort, workerData } from 'node:worker_threads';
import { HostRunner } from './host-runner.js';
import type { HostSlot, RunnerSettings } from './host-runner.js';

/**
 * Messages between runFleet and its workers. A snapshot answer carries the id it was asked
 * with, so two questions in flight (a periodic report, a window boundary) are not mixed up.
 */
export type ToWorker =
  { type: 'snapshot'; id: number } | { type: 'warm'; id: number } | { type: 'stop'; id: number };
export type FromWorker =
  | { type: 'started'; id: -1 }
  | { type: 'snapshot'; id: number; snapshot: ReturnType<HostRunner['snapshot']> }
  | { type: 'stopped'; id: number; snapshot: ReturnType<HostRunner['snapshot']> };

const { settings, slots } = workerData as { settings: RunnerSettings; slots: HostSlot[] };
const runner = new HostRunner(settings, slots);
runner.start();
parentPort?.postMessage({ type: 'started', id: -1 } satisfies FromWorker);

parentPort?.on('message', (msg: ToWorker) => {
  if (msg.type === 'warm') {
    // Answered once every connection is open (or failed), with the stats then.
    void runner.warm().then(() =>
      parentPort?.postMessage({
        type: 'snapshot',
        id: msg.id,
        snapshot: runner.snapshot(),
      } satisfies FromWorker),
    );
    return;
  }
  if (msg.type === 'snapshot') {
    parentPort?.postMessage({
      type: 'snapshot',
      id: msg.id,
      snapshot: runner.snapshot(),
    } satisfies FromWorker);
  } else {
    runner.stop();
    parentPort?.postMessage({
      type: 'stopped',
      id: msg.id,
      snapshot: runner.snapshot(),
    } satisfies FromWorker);
    parentPort?.close();
  }
});
