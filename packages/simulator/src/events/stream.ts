import type { SimHost } from '../host/sim-host.js';
import { intBetween, pick, rngFor } from '../host/random.js';
import { SCENARIOS } from './suspicious.js';

interface BaseEvent {
  time: number;
  pid: number;
  /** True when injected from a Sigma scenario (never visible in tables; for tests). */
  suspicious: boolean;
}

export interface ProcessEvent extends BaseEvent {
  kind: 'process';
  parent: number;
  path: string;
  cmdline: string;
  uid: number;
  cwd: string;
}

export interface SocketEvent extends BaseEvent {
  kind: 'socket';
  path: string;
  action: 'connect' | 'bind';
  remoteAddress: string;
  remotePort: number;
  localPort: number;
}

export interface FileEvent extends BaseEvent {
  kind: 'file';
  path: string;
  targetPath: string;
  action: 'CREATED' | 'UPDATED' | 'DELETED';
}

export type SimEvent = ProcessEvent | SocketEvent | FileEvent;

/** Routine activity on a server: [path, cmdline, uid, cwd]. */
const ROUTINE: readonly (readonly [string, string, number, string])[] = [
  ['/usr/bin/dash', '/bin/sh -c command -v debian-sa1 > /dev/null && debian-sa1 1 1', 0, '/'],
  ['/usr/sbin/logrotate', '/usr/sbin/logrotate /etc/logrotate.conf', 0, '/'],
  ['/usr/bin/curl', 'curl -fsS -m 5 http://127.0.0.1/healthz', 1001, '/srv/app'],
  ['/usr/bin/ps', 'ps aux', 1000, '/home'],
  ['/usr/bin/ls', 'ls -la', 1000, '/home'],
  ['/usr/bin/systemctl', 'systemctl status nginx', 1000, '/home'],
  ['/usr/bin/run-parts', 'run-parts --report /etc/cron.hourly', 0, '/'],
  ['/usr/lib/apt/apt.systemd.daily', '/bin/sh /usr/lib/apt/apt.systemd.daily update', 0, '/'],
  ['/usr/bin/git', 'git pull --ff-only', 1001, '/srv/app'],
  [
    '/usr/bin/python3',
    '/usr/bin/python3 /usr/bin/networkd-dispatcher --run-startup-triggers',
    0,
    '/',
  ],
];

const REMOTES: readonly (readonly [string, number])[] = [
  ['91.189.91.83', 80],
  ['185.125.190.36', 443],
  ['52.94.233.129', 443],
  ['140.82.112.4', 443],
  ['10.0.0.2', 53],
];

const BUCKET = 60;

/** Events in one host-minute; deterministic from the seed, so nothing is stored. */
export function eventsInBucket(host: SimHost, bucket: number): SimEvent[] {
  const rand = rngFor(host.seed, `ev${bucket}`);
  const start = bucket * BUCKET;
  const out: SimEvent[] = [];
  const basePid = 10_000 + ((bucket * 37) % 50_000);
  const execs = intBetween(rand, 0, 3);
  for (let i = 0; i < execs; i++) {
    const [path, cmdline, uid, cwd] = pick(rand, ROUTINE);
    out.push({
      kind: 'process',
      time: start + intBetween(rand, 0, BUCKET - 1),
      pid: basePid + i,
      parent: 1,
      path,
      cmdline,
      uid,
      cwd,
      suspicious: false,
    });
  }
  if (rand() < 0.5) {
    const [remoteAddress, remotePort] = pick(rand, REMOTES);
    out.push({
      kind: 'socket',
      time: start + intBetween(rand, 0, BUCKET - 1),
      pid: basePid,
      path: '/usr/bin/curl',
      action: 'connect',
      remoteAddress,
      remotePort,
      localPort: intBetween(rand, 32768, 60999),
      suspicious: false,
    });
  }
  if (rand() < 0.1) {
    out.push({
      kind: 'file',
      time: start + intBetween(rand, 0, BUCKET - 1),
      pid: basePid,
      path: '/usr/sbin/logrotate',
      targetPath: '/var/log/syslog.1',
      action: 'CREATED',
      suspicious: false,
    });
  }
  if (host.suspiciousRate > 0 && rand() < host.suspiciousRate) {
    const scenario = pick(rand, SCENARIOS);
    out.push(
      ...scenario.build(
        rand,
        start + intBetween(rand, 0, BUCKET - 1),
        basePid + 100,
        900 + (host.seed % 100),
      ),
    );
  }
  return out.sort((a, b) => a.time - b.time);
}

/** Events with after < time <= until, oldest first. */
export function* eventsBetween(host: SimHost, after: number, until: number): Generator<SimEvent> {
  const first = Math.floor((after + 1) / BUCKET);
  const last = Math.floor(until / BUCKET);
  for (let b = first; b <= last; b++) {
    for (const e of eventsInBucket(host, b)) if (e.time > after && e.time <= until) yield e;
  }
}
