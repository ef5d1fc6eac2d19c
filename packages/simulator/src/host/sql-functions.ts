import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type BetterSqlite3 from 'better-sqlite3';

type SqlValue = string | number | bigint | Buffer | null;

const text = (v: SqlValue): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

/** osquery::split: split on any of the token characters, drop empty pieces, trim each. */
function tokenSplit(input: string, tokens: string): string[] {
  const out: string[] = [];
  let piece = '';
  for (const ch of input) {
    if (tokens.includes(ch)) {
      if (piece.trim() !== '') out.push(piece.trim());
      piece = '';
    } else piece += ch;
  }
  if (piece.trim() !== '') out.push(piece.trim());
  return out;
}

function regexSplit(input: string, pattern: string): string[] {
  return input.split(new RegExp(pattern)).filter((p) => p !== '');
}

function ipv4ToInt(ip: string): number | null {
  if (!isIPv4(ip)) return null;
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** Integer results go back as BigInt so SQLite stores int64, as osquery's C functions do. */
const int = (n: number | null): bigint | null => (n === null ? null : BigInt(n));

function ipToBytes(ip: string): Buffer | null {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) return null;
  const [head = '', tail] = ip.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const buf = Buffer.alloc(16);
  groups.forEach((g, i) => buf.writeUInt16BE(g, i * 2));
  return buf;
}

function inCidrBlock(cidr: string, ip: string): number {
  const [net = '', bitsText] = cidr.split('/');
  const a = ipToBytes(net);
  const b = ipToBytes(ip);
  if (a === null || b === null || a.length !== b.length) return 0;
  const bits = bitsText === undefined ? a.length * 8 : Number(bitsText);
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> (i % 8);
    if (((a[i >> 3] ?? 0) & mask) !== ((b[i >> 3] ?? 0) & mask)) return 0;
  }
  return 1;
}

/** Community ID v1 (corelight/community-id-spec), base64 form. */
export function communityIdV1(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  proto: number,
  seed = 0,
): string {
  let s = ipToBytes(src);
  let d = ipToBytes(dst);
  if (s === null || d === null) return '';
  let sp = sport;
  let dp = dport;
  // Order as boost::asio::ip::address does: IPv4 before IPv6, then by bytes.
  const cmp = s.length !== d.length ? s.length - d.length : Buffer.compare(s, d);
  if (cmp > 0 || (cmp === 0 && sp > dp)) {
    [s, d] = [d, s];
    [sp, dp] = [dp, sp];
  }
  const head = Buffer.alloc(2);
  head.writeUInt16BE(seed);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sp, 0);
  ports.writeUInt16BE(dp, 2);
  const digest = createHash('sha1')
    .update(Buffer.concat([head, s, d, Buffer.from([proto, 0]), ports]))
    .digest('base64');
  return `1:${digest}`;
}

/** Compare alternating digit/non-digit runs (rpmvercmp-like; `~` sorts before anything). */
function segmentCompare(a: string, b: string): number {
  const seg = /~|\d+|[a-zA-Z]+/g;
  const as = a.match(seg) ?? [];
  const bs = b.match(seg) ?? [];
  for (let i = 0; i < Math.max(as.length, bs.length); i++) {
    const x = as[i];
    const y = bs[i];
    if (x === y) continue;
    if (x === '~') return -1;
    if (y === '~') return 1;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xn = /^\d/.test(x);
    const yn = /^\d/.test(y);
    if (xn && yn) {
      const diff = BigInt(x) - BigInt(y);
      if (diff !== 0n) return diff < 0n ? -1 : 1;
    } else if (xn !== yn) return xn ? 1 : -1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function epochSplit(v: string): [number, string] {
  const i = v.indexOf(':');
  return i > 0 && /^\d+$/.test(v.slice(0, i)) ? [Number(v.slice(0, i)), v.slice(i + 1)] : [0, v];
}

/** osquery's version_compare: -1, 0, 1 (flavour ARCH/DPKG/RHEL honours epochs and revisions). */
export function versionCompare(left: string, right: string, flavour?: string): number {
  if (flavour === undefined || flavour === '') return Math.sign(segmentCompare(left, right));
  const [le, lv] = epochSplit(left);
  const [re, rv] = epochSplit(right);
  if (le !== re) return le < re ? -1 : 1;
  const cut = (v: string): [string, string] => {
    const i = v.lastIndexOf('-');
    return i < 0 ? [v, ''] : [v.slice(0, i), v.slice(i + 1)];
  };
  const [lu, lr] = cut(lv);
  const [ru, rr] = cut(rv);
  const upstream = segmentCompare(lu, ru);
  if (upstream !== 0) return upstream;
  // ARCH and RHEL ignore a missing release on either side.
  if (flavour.toUpperCase() !== 'DPKG' && (lr === '' || rr === '')) return 0;
  return Math.sign(segmentCompare(lr, rr));
}

/** Registers osquery's extra SQL functions (docs/wiki/introduction/sql.md) on a connection. */
export function registerOsqueryFunctions(db: BetterSqlite3.Database): void {
  const opts = { deterministic: true, varargs: true } as const;
  db.function('concat', opts, (...args: SqlValue[]) =>
    args
      .filter((a) => a !== null)
      .map(text)
      .join(''),
  );
  db.function('concat_ws', opts, (sep: SqlValue, ...args: SqlValue[]) =>
    sep === null
      ? null
      : args
          .filter((a) => a !== null)
          .map(text)
          .join(text(sep)),
  );
  const splitter =
    (f: (input: string, token: string) => string[]) =>
    (input: SqlValue, token: SqlValue, index: SqlValue): string | null => {
      if (input === null || token === null || index === null) return null;
      if (text(token) === '') throw new Error('Invalid input to split function');
      return f(text(input), text(token))[Number(index)] ?? null;
    };
  db.function('split', { deterministic: true }, splitter(tokenSplit));
  db.function('regex_split', { deterministic: true }, splitter(regexSplit));
  db.function(
    'regex_match',
    { deterministic: true },
    (input: SqlValue, pattern: SqlValue, index: SqlValue) => {
      if (input === null || pattern === null || index === null) return null;
      let re: RegExp;
      try {
        re = new RegExp(text(pattern));
      } catch {
        throw new Error('Invalid regex');
      }
      const m = re.exec(text(input));
      return m?.[Number(index)] ?? null;
    },
  );
  db.function('inet_aton', { deterministic: true }, (ip: SqlValue) =>
    ip === null ? null : int(ipv4ToInt(text(ip))),
  );
  db.function('in_cidr_block', { deterministic: true }, (cidr: SqlValue, ip: SqlValue) =>
    cidr === null || ip === null ? null : int(inCidrBlock(text(cidr), text(ip))),
  );
  for (const algo of ['sha1', 'sha256', 'md5'] as const) {
    db.function(algo, { deterministic: true }, (v: SqlValue) =>
      v === null ? null : createHash(algo).update(text(v)).digest('hex'),
    );
  }
  db.function('to_base64', { deterministic: true }, (v: SqlValue) =>
    v === null ? null : Buffer.from(text(v)).toString('base64'),
  );
  db.function('from_base64', { deterministic: true }, (v: SqlValue) => {
    if (v === null) return null;
    const s = text(v);
    return /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0
      ? Buffer.from(s, 'base64').toString('utf8')
      : '';
  });
  db.function('conditional_to_base64', { deterministic: true }, (v: SqlValue) => {
    if (v === null) return null;
    const s = text(v);
    return /^[\x20-\x7e]*$/.test(s) ? s : Buffer.from(s).toString('base64');
  });
  db.function('version_compare', opts, (l: SqlValue, r: SqlValue, flavour?: SqlValue) =>
    l === null || r === null
      ? null
      : int(versionCompare(text(l), text(r), flavour == null ? undefined : text(flavour))),
  );
  const community =
    (strict: boolean) =>
    (...a: SqlValue[]): string | null => {
      const [src, dst, sp, dp, proto, seed] = a;
      const id =
        src == null || dst == null || sp == null || dp == null || proto == null
          ? ''
          : communityIdV1(
              text(src),
              text(dst),
              Number(sp),
              Number(dp),
              Number(proto),
              Number(seed ?? 0),
            );
      if (id === '' && strict) throw new Error('Community ID saddr cannot be parsed as IP');
      return id;
    };
  db.function('community_id_v1', opts, community(false));
  db.function('community_id_v1_strict', opts, community(true));
  db.function('cot', { deterministic: true }, (v: SqlValue) =>
    v === null ? null : 1 / Math.tan(Number(v)),
  );
}
