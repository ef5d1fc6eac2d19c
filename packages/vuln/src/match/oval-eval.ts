import type { OvalCondition, OvalFeed, OvalNode, OvalOperator, OvalTest } from '../feeds/oval.js';
import type { InstalledPackage, OsRelease } from '../types.js';
import { compareDpkg } from '../versions/dpkg.js';
import { compareRpmEvr, parseRpmEvr } from '../versions/rpm.js';
import { MAX_VERSION_LENGTH } from '../versions/index.js';

/** OVAL's result values, reduced to the three the engine needs (error counts as unknown). */
export const enum Tri {
  False = 0,
  True = 1,
  Unknown = 2,
}

const regexCache = new Map<string, RegExp | null>();

/** Compiles an OVAL (Perl-style) pattern once; null when JavaScript cannot read it. */
export function ovalRegex(pattern: string, flags = ''): RegExp | null {
  const key = `${flags}/${pattern}`;
  let re = regexCache.get(key);
  if (re === undefined) {
    try {
      re = new RegExp(pattern, flags);
    } catch {
      re = null;
    }
    regexCache.set(key, re);
  }
  return re;
}

function compareFor(datatype: string, a: string, b: string): number | null {
  if (a.length > MAX_VERSION_LENGTH || b.length > MAX_VERSION_LENGTH) return null;
  if (datatype === 'debian_evr_string') return compareDpkg(a, b);
  if (datatype === 'evr_string' || datatype === 'rpmversion') return compareRpmEvr(a, b);
  if (datatype === 'int') {
    const x = Number.parseInt(a, 10);
    const y = Number.parseInt(b, 10);
    return Number.isNaN(x) || Number.isNaN(y) ? null : x - y;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Applies one condition to a field value. */
export function evalCondition(c: OvalCondition, actual: string | undefined): Tri {
  if (actual === undefined) return Tri.Unknown;
  switch (c.op) {
    case 'pattern match': {
      const re = ovalRegex(c.value);
      return re === null ? Tri.Unknown : re.test(actual) ? Tri.True : Tri.False;
    }
    case 'equals':
    case 'not equal':
    case 'less than':
    case 'less than or equal':
    case 'greater than':
    case 'greater than or equal': {
      const d = compareFor(c.datatype, actual, c.value);
      if (d === null) return Tri.Unknown;
      const ok =
        c.op === 'equals'
          ? d === 0
          : c.op === 'not equal'
            ? d !== 0
            : c.op === 'less than'
              ? d < 0
              : c.op === 'less than or equal'
                ? d <= 0
                : c.op === 'greater than'
                  ? d > 0
                  : d >= 0;
      return ok ? Tri.True : Tri.False;
    }
    case 'case insensitive equals':
      return actual.toLowerCase() === c.value.toLowerCase() ? Tri.True : Tri.False;
    default:
      return Tri.Unknown;
  }
}

/** Combines results under an OVAL operator. */
export function combine(op: OvalOperator, results: readonly Tri[]): Tri {
  let t = 0;
  let f = 0;
  let u = 0;
  for (const r of results) {
    if (r === Tri.True) t++;
    else if (r === Tri.False) f++;
    else u++;
  }
  switch (op) {
    case 'AND':
      return f > 0 ? Tri.False : u > 0 ? Tri.Unknown : Tri.True;
    case 'OR':
      return t > 0 ? Tri.True : u > 0 ? Tri.Unknown : Tri.False;
    case 'ONE':
      return t > 1 ? Tri.False : u > 0 ? Tri.Unknown : t === 1 ? Tri.True : Tri.False;
    case 'XOR':
      return u > 0 ? Tri.Unknown : t % 2 === 1 ? Tri.True : Tri.False;
  }
}

const negateTri = (r: Tri): Tri => (r === Tri.True ? Tri.False : r === Tri.False ? Tri.True : r);

/** The fields an OVAL package state can look at. */
type ItemFields = Record<string, string | undefined>;

/** Fields of an installed package as dpkginfo/rpminfo items expose them. */
export function packageItem(scheme: 'dpkg' | 'rpm', p: InstalledPackage): ItemFields {
  const item: ItemFields = { name: p.name, evr: p.version, arch: p.arch ?? '' };
  if (scheme === 'rpm') {
    const evr = parseRpmEvr(p.version);
    item.epoch = evr.epoch;
    item.version = evr.version;
    item.release = evr.release ?? '';
    item.evr = `${evr.epoch}:${evr.version}${evr.release === null ? '' : `-${evr.release}`}`;
  } else {
    item.version = p.version;
  }
  return item;
}

/** Does one item satisfy a test's states? Signature-key checks count as satisfied. */
export function itemMatchesStates(test: OvalTest, item: ItemFields): Tri {
  if (test.states.length === 0) return Tri.True;
  const perState = test.states.map((conds) =>
    combine(
      'AND',
      conds.map((c) => {
        if (c.field === 'signature_keyid') return Tri.True;
        // An empty arch (inventory without arch) cannot be checked; treat as matching.
        if (c.field === 'arch' && item.arch === '') return Tri.True;
        return evalCondition(c, item[c.field]);
      }),
    ),
  );
  return combine(test.stateOperator, perState);
}

/** Applies check_existence and check to per-item state results. */
export function checkItems(test: OvalTest, itemResults: readonly Tri[]): Tri {
  const n = itemResults.length;
  switch (test.existence) {
    case 'none_exist':
      if (n > 0) return Tri.False;
      break;
    case 'any_exist':
      break;
    case 'only_one_exists':
      if (n !== 1) return Tri.False;
      break;
    default:
      if (n === 0) return Tri.False;
  }
  if (n === 0 || test.states.length === 0) return Tri.True;
  switch (test.check) {
    case 'at least one':
      return combine('OR', itemResults);
    case 'none satisfy':
    case 'none exist':
      return negateTri(combine('OR', itemResults));
    case 'only one':
      return combine('ONE', itemResults);
    default:
      return combine('AND', itemResults);
  }
}

const RELEASE_PACKAGES: Record<string, string> = {
  rhel: 'redhat-release',
  redhat: 'redhat-release',
  almalinux: 'almalinux-release',
  rocky: 'rocky-release',
  centos: 'centos-release',
  oracle: 'oraclelinux-release',
  ol: 'oraclelinux-release',
  fedora: 'fedora-release',
};

/** What a host looks like to the non-package OVAL tests. */
export interface OvalHostContext {
  os: OsRelease;
  kernel: string | undefined;
  /** Installed packages of the feed's package manager, by name. */
  items: Map<string, ItemFields[]>;
}

/** The release files OVAL gates read, rebuilt from the OS release (null: file not present). */
export function releaseFile(os: OsRelease, path: string): string | null {
  const family = os.family.toLowerCase();
  const name = family.charAt(0).toUpperCase() + family.slice(1);
  switch (path) {
    case '/etc/lsb-release':
      return family === 'ubuntu'
        ? `DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=${os.version}\nDISTRIB_CODENAME=${os.codename ?? ''}\nDISTRIB_DESCRIPTION="Ubuntu ${os.version}"\n`
        : null;
    case '/etc/os-release':
      return `NAME="${name}"\nID=${family}\nVERSION_ID="${os.version}"\nVERSION_CODENAME=${os.codename ?? ''}\n`;
    case '/etc/debian_version':
      return family === 'debian'
        ? `${/^\d+$/.test(os.version) ? `${os.version}.0` : os.version}\n`
        : null;
    case '/etc/alpine-release':
      return family === 'alpine' ? `${os.version}\n` : null;
    default:
      return null;
  }
}

/** Evaluates a non-package test (or a package test over the host's items). */
export function evalTest(test: OvalTest, ctx: OvalHostContext): Tri {
  switch (test.t) {
    case 'pkg': {
      const results: Tri[] = [];
      for (const n of test.names) {
        for (const item of ctx.items.get(n) ?? []) results.push(itemMatchesStates(test, item));
      }
      return checkItems(test, results);
    }
    case 'os_file': {
      const known = [
        '/etc/lsb-release',
        '/etc/os-release',
        '/etc/debian_version',
        '/etc/alpine-release',
      ];
      if (!known.includes(test.path)) return Tri.Unknown;
      const content = releaseFile(ctx.os, test.path);
      const re = ovalRegex(test.pattern, 'gm');
      if (re === null) return Tri.Unknown;
      const items: ItemFields[] = [];
      if (content !== null) {
        const matches = [...content.matchAll(re)];
        const m = matches[test.instance - 1];
        if (m) items.push({ subexpression: m[1] ?? m[0], text: m[0] });
      }
      return checkItems(
        test,
        items.map((i) =>
          combine(
            test.stateOperator,
            test.states.map((cs) =>
              combine(
                'AND',
                cs.map((c) => evalCondition(c, i[c.field])),
              ),
            ),
          ),
        ),
      );
    }
    case 'release_pkg': {
      const name = RELEASE_PACKAGES[ctx.os.family.toLowerCase()];
      const version = ctx.os.version.includes('.') ? ctx.os.version : `${ctx.os.version}.0`;
      const items: ItemFields[] = name === undefined ? [] : [{ name, version, filepath: '' }];
      return checkItems(
        test,
        items.map((i) =>
          combine(
            test.stateOperator,
            test.states.map((cs) =>
              combine(
                'AND',
                cs.map((c) => evalCondition(c, i[c.field])),
              ),
            ),
          ),
        ),
      );
    }
    case 'uname': {
      if (test.states.length === 0) return Tri.True;
      if (ctx.kernel === undefined || ctx.kernel === '') return Tri.Unknown;
      const item: ItemFields = { os_release: ctx.kernel };
      return checkItems(test, [itemMatchesStates(test, item)]);
    }
    case 'kernel_var': {
      if (ctx.kernel === undefined || ctx.kernel === '') return Tri.Unknown;
      const re = ovalRegex(test.capture);
      const m = re?.exec(ctx.kernel);
      const items: ItemFields[] = m ? [{ value: `${test.prefix}${m[1] ?? m[0]}` }] : [];
      return checkItems(
        test,
        items.map((i) => itemMatchesStates(test, i)),
      );
    }
    case 'family':
      return Tri.True;
    case 'unknown':
      return Tri.Unknown;
  }
}

/** A reason a definition is true: the package tests (and kernel tests) on its true branches. */
export interface Witnesses {
  tests: number[];
}

/**
 * Evaluates a criteria tree. `testResult` gives each test's result (memoized by the caller);
 * witnesses collect the tests on branches that made the tree true.
 */
export function evalTree(
  feed: OvalFeed,
  node: OvalNode,
  testResult: (test: number) => Tri,
  witnesses: number[] | null,
  depth = 0,
): Tri {
  if (depth > 64) return Tri.Unknown;
  switch (node.t) {
    case 'test': {
      const r = testResult(node.test);
      if (node.negate) return negateTri(r);
      if (r === Tri.True && witnesses) witnesses.push(node.test);
      return r;
    }
    case 'extend': {
      const target = feed.defIndex.get(node.def);
      const tree = target === undefined ? null : (feed.definitions[target]?.tree ?? null);
      if (!tree) return Tri.Unknown;
      const r = evalTree(feed, tree, testResult, node.negate ? null : witnesses, depth + 1);
      return node.negate ? negateTri(r) : r;
    }
    case 'criteria': {
      const results: Tri[] = [];
      const childWitnesses: number[][] = [];
      for (const c of node.children) {
        const w: number[] | null = witnesses && !node.negate ? [] : null;
        results.push(evalTree(feed, c, testResult, w, depth + 1));
        childWitnesses.push(w ?? []);
      }
      const r = combine(node.op, results);
      if (node.negate) return negateTri(r);
      if (r === Tri.True && witnesses) {
        // Only children that are true carry witnesses (for OR: the branches that fired).
        results.forEach((cr, i) => {
          if (cr === Tri.True) witnesses.push(...(childWitnesses[i] ?? []));
        });
      }
      return r;
    }
  }
}
