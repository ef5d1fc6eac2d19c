import type { SimHost } from '../host/sim-host.js';
import type { OsqueryPlatform } from '../host/schema.js';
import type { TableGenerator } from '../profiles/profile.js';
import { eventsBetween } from './stream.js';
import type { SimEvent } from './stream.js';

const EVENTS_EXPIRY = 3600;

/** The window osquery would answer from: since the scheduled query's last run, else the expiry. */
function window(host: SimHost, now: number): Generator<SimEvent> {
  const expiry = Number(host.runtime.flags['events_expiry'] ?? EVENTS_EXPIRY);
  return eventsBetween(host, host.eventsAfter ?? now - expiry, now);
}

const eid = (e: SimEvent, i: number): number => e.time * 100 + (i % 100);

/** process_events, bpf_process_events, socket_events and file_events for one platform. */
export function eventTables(platform: OsqueryPlatform): [string, TableGenerator][] {
  const tables: [string, TableGenerator][] = [
    [
      'process_events',
      function* (h, now) {
        let i = 0;
        for (const e of window(h, now)) {
          if (e.kind !== 'process') continue;
          yield {
            pid: e.pid,
            path: e.path,
            mode: '0100755',
            cmdline: e.cmdline,
            cmdline_size: e.cmdline.length,
            env: '',
            env_count: 0,
            env_size: 0,
            cwd: e.cwd,
            auid: e.uid,
            uid: e.uid,
            euid: e.uid,
            gid: e.uid,
            egid: e.uid,
            owner_uid: 0,
            owner_gid: 0,
            atime: e.time,
            mtime: e.time - 86_400,
            ctime: e.time - 86_400,
            btime: 0,
            overflows: '',
            parent: e.parent,
            time: e.time,
            uptime: e.time - h.bootTime,
            eid: String(eid(e, i++)),
            status: 0,
            fsuid: e.uid,
            suid: e.uid,
            fsgid: e.uid,
            sgid: e.uid,
            syscall: 'execve',
          };
        }
      },
    ],
    [
      'socket_events',
      function* (h, now) {
        let i = 0;
        for (const e of window(h, now)) {
          if (e.kind !== 'socket') continue;
          yield {
            action: e.action,
            pid: e.pid,
            path: e.path,
            fd: '3',
            auid: 0,
            family: 2,
            protocol: 6,
            local_address: h.ipv4(),
            remote_address: e.remoteAddress,
            local_port: e.localPort,
            remote_port: e.remotePort,
            socket: '',
            time: e.time,
            uptime: e.time - h.bootTime,
            eid: String(eid(e, i++)),
            success: 1,
            status: 'succeeded',
          };
        }
      },
    ],
    [
      'file_events',
      function* (h, now) {
        let i = 0;
        for (const e of window(h, now)) {
          if (e.kind !== 'file') continue;
          yield {
            target_path: e.targetPath,
            category: e.targetPath.startsWith('/tmp') ? 'tmp' : 'logs',
            action: e.action,
            transaction_id: 0,
            inode: 100_000 + i,
            uid: 0,
            gid: 0,
            mode: '0644',
            size: 4096,
            atime: e.time,
            mtime: e.time,
            ctime: e.time,
            md5: '',
            sha1: '',
            sha256: '',
            hashed: 0,
            time: e.time,
            eid: String(eid(e, i++)),
          };
        }
      },
    ],
  ];
  if (platform === 'linux') {
    tables.push([
      'bpf_process_events',
      function* (h, now) {
        let i = 0;
        for (const e of window(h, now)) {
          if (e.kind !== 'process') continue;
          yield {
            tid: e.pid,
            pid: e.pid,
            parent: e.parent,
            uid: e.uid,
            gid: e.uid,
            cid: 0,
            exit_code: '0',
            probe_error: 0,
            syscall: 'exec',
            path: e.path,
            cwd: e.cwd,
            cmdline: e.cmdline,
            duration: 120,
            json_cmdline: JSON.stringify(e.cmdline.split(' ')),
            ntime: String(BigInt(e.time) * 1_000_000_000n),
            time: e.time,
            eid: eid(e, i++),
          };
        }
      },
    ]);
  }
  return tables;
}
