import type { OvalFeed, OvalNode, OvalTest } from '../feeds/oval.js';
import type { InstalledPackage, OsRelease } from '../types.js';
import { compareDpkg } from '../versions/dpkg.js';
import { compareRpmEvr } from '../versions/rpm.js';
import { MAX_VERSION_LENGTH } from '../versions/index.js';
import { evalTest, evalTree, itemMatchesStates, packageItem, Tri } from './oval-eval.js';
import type { OvalHostContext } from './oval-eval.js';
import type { RawFinding } from './raw-finding.js';

const FAMILY_ALIASES: Record<string, string> = {
  redhat: 'rhel',
  'red hat enterprise linux': 'rhel',
  alma: 'almalinux',
  ol: 'oracle',
  oraclelinux: 'oracle',
  rockylinux: 'rocky',
};

/** Lower-cased distribution id with common aliases folded (redhat → rhel, alma → almalinux). */
export function normalizeFamily(family: string): string {
  const f = family.trim().toLowerCase();
  return FAMILY_ALIASES[f] ?? f;
}

/** Does an OVAL feed describe this OS release? */
export function ovalFeedApplies(feed: OvalFeed, os: OsRelease): boolean {
  if (normalizeFamily(os.family) !== feed.target.family) return false;
  if (feed.target.codename !== undefined)
    return (os.codename ?? '').toLowerCase() === feed.target.codename;
  if (feed.target.major !== undefined) return os.version.split('.')[0] === feed.target.major;
  return true;
}

function stripZeroEpoch(v: string): string {
  return v.startsWith('0:') ? v.slice(2) : v;
}

/** The version a `less than` state names, i.e. the first fixed version. */
function fixedVersionOf(test: OvalTest): string | null {
  for (const conds of test.states) {
    for (const c of conds) {
      if ((c.field === 'evr' || c.field === 'value') && c.op === 'less than')
        return stripZeroEpoch(c.value);
    }
  }
  return null;
}

const isPositive = (t: OvalTest): boolean =>
  t.existence !== 'none_exist' && t.check !== 'none satisfy';

// "Signed with the vendor key" tests say nothing about vulnerability; they never name a finding.
const isSignatureOnly = (t: OvalTest): boolean =>
  t.states.length > 0 &&
  t.states.every((conds) => conds.length > 0 && conds.every((c) => c.field === 'signature_keyid'));

/**
 * Matches hosts against one OVAL feed. Package tests are evaluated once per distinct
 * (package, version, arch) and remembered; only definitions that one of the host's packages
 * can satisfy (plus kernel definitions) are evaluated per host.
 */
export class OvalMatcher {
  private readonly memo = new Map<string, readonly number[]>();
  /** Distinct (package, version, arch) evaluations done so far. */
  evaluations = 0;
  /**
   * Definitions whose verdict for a package depends only on the OS release and that package's
   * own tests (see `analyse`): their findings can be computed once per (release, package,
   * version) and shared by every host.
   */
  readonly separable: Uint8Array;
  /** Kernel definitions with no package test: one verdict per (release, kernel). */
  private readonly kernelOnly: number[] = [];
  /** Kernel definitions that also look at packages: evaluated per host. */
  private readonly kernelMixed: number[] = [];
  private readonly kernelMemo = new Map<string, readonly RawFinding[]>();
  private readonly gateMemo = new Map<string, Map<number, Tri>>();

  constructor(readonly feed: OvalFeed) {
    this.separable = new Uint8Array(feed.definitions.length);
    feed.definitions.forEach((def, di) => {
      const shape = def.tree ? this.analyse(def.tree, 0, new Set([di])) : null;
      if (shape && shape.ok && !shape.kernel) this.separable[di] = 1;
    });
    for (const di of feed.kernelDefs) {
      const def = feed.definitions[di];
      const shape = def?.tree ? this.analyse(def.tree, 0, new Set([di])) : null;
      if (shape && !shape.pkg) this.kernelOnly.push(di);
      else this.kernelMixed.push(di);
    }
  }

  /**
   * Structure of a criteria tree. `ok`: package tests appear only positively, each naming one
   * package, under OR nodes or under ANDs whose other children hold no package test, so the
   * tree is an OR over packages of "gates ∧ this package's test" and a host's findings for a
   * package are the same whatever else the host has installed.
   */
  private analyse(
    node: OvalNode,
    depth: number,
    seen: Set<number>,
  ): { ok: boolean; pkg: boolean; kernel: boolean } {
    if (depth > 64) return { ok: false, pkg: true, kernel: true };
    switch (node.t) {
      case 'test': {
        const t = this.feed.tests[node.test];
        if (!t) return { ok: true, pkg: false, kernel: false };
        if (t.t === 'pkg')
          return {
            // One name, or several under "at least one": either way true iff one item satisfies.
            ok:
              !node.negate &&
              isPositive(t) &&
              t.existence !== 'only_one_exists' &&
              (t.names.length === 1 || t.check === 'at least one'),
            pkg: true,
            kernel: false,
          };
        if ((t.t === 'uname' && t.states.length > 0) || t.t === 'kernel_var')
          return { ok: true, pkg: false, kernel: true };
        return { ok: true, pkg: false, kernel: false };
      }
      case 'extend': {
        const target = this.feed.defIndex.get(node.def);
        const tree = target === undefined ? null : (this.feed.definitions[target]?.tree ?? null);
        if (target === undefined || !tree) return { ok: true, pkg: false, kernel: false };
        if (seen.has(target)) return { ok: false, pkg: true, kernel: true };
        const inner = this.analyse(tree, depth + 1, new Set([...seen, target]));
        return { ...inner, ok: inner.ok && !(node.negate && inner.pkg) };
      }
      case 'criteria': {
        let ok = true;
        let pkgChildren = 0;
        let kernel = false;
        for (const c of node.children) {
          const r = this.analyse(c, depth + 1, seen);
          ok &&= r.ok;
          if (r.pkg) pkgChildren++;
          kernel ||= r.kernel;
        }
        const pkg = pkgChildren > 0;
        if (pkg && (node.negate || node.op === 'ONE' || node.op === 'XOR')) ok = false;
        if (node.op === 'AND' && pkgChildren > 1) ok = false;
        return { ok, pkg, kernel };
      }
    }
  }

  /** Results of the tests that depend only on the OS release, cached per release. */
  private gates(os: OsRelease): Map<number, Tri> {
    const key = `${os.family}\0${os.version}\0${os.codename ?? ''}`;
    let g = this.gateMemo.get(key);
    if (!g) {
      g = new Map();
      this.gateMemo.set(key, g);
    }
    return g;
  }

  /** Does any test of this feed name the package? */
  names(p: InstalledPackage): boolean {
    return (
      p.type === (this.feed.scheme === 'dpkg' ? 'deb' : 'rpm') &&
      this.feed.testsByPackage.has(p.name)
    );
  }

  /**
   * Findings of the separable definitions for one package, as if it were the only package of
   * its name on a host of this release. `rest` receives the other definitions its tests reach.
   */
  matchPackage(os: OsRelease, p: InstalledPackage, rest: Set<number>): RawFinding[] {
    if (!this.names(p)) return [];
    const feed = this.feed;
    const item = packageItem(feed.scheme, p);
    const satisfied = this.satisfiedTests(p, item);
    if (satisfied.length === 0) return [];
    const candidates = new Set<number>();
    for (const ti of satisfied) {
      for (const di of feed.defsByTest[ti] ?? []) {
        if (this.separable[di] === 1) candidates.add(di);
        else rest.add(di);
      }
    }
    if (candidates.size === 0) return [];
    const ctx: OvalHostContext = { os, kernel: undefined, items: new Map([[p.name, [item]]]) };
    const gates = this.gates(os);
    const own = new Map<number, Tri>();
    const testResult = (ti: number): Tri => {
      const t = feed.tests[ti];
      if (t === undefined) return Tri.Unknown;
      const cache = t.t === 'pkg' ? own : gates;
      let r = cache.get(ti);
      if (r === undefined) {
        r = evalTest(t, ctx);
        cache.set(ti, r);
      }
      return r;
    };
    const satisfiedBy = new Map<number, InstalledPackage[]>(satisfied.map((ti) => [ti, [p]]));
    return this.findings(candidates, testResult, satisfiedBy, undefined);
  }

  /** Kernel definitions that look only at the running kernel and the release, memoized. */
  matchKernel(os: OsRelease, kernel: string): readonly RawFinding[] {
    const key = `${os.family}\0${os.version}\0${os.codename ?? ''}\0${kernel}`;
    let hit = this.kernelMemo.get(key);
    if (hit === undefined) {
      const ctx: OvalHostContext = { os, kernel, items: new Map() };
      const results = new Map<number, Tri>();
      const testResult = (ti: number): Tri => {
        let r = results.get(ti);
        if (r === undefined) {
          const t = feed.tests[ti];
          r = t === undefined ? Tri.Unknown : evalTest(t, ctx);
          results.set(ti, r);
        }
        return r;
      };
      const feed = this.feed;
      hit = this.findings(new Set(this.kernelOnly), testResult, new Map(), kernel);
      this.kernelMemo.set(key, hit);
    }
    return hit;
  }

  /** Kernel definitions that also test packages; they need the whole host. */
  get mixedKernelDefs(): readonly number[] {
    return this.kernelMixed;
  }

  private satisfiedTests(
    p: InstalledPackage,
    item: Record<string, string | undefined>,
  ): readonly number[] {
    const key = `${p.name}\0${p.version}\0${p.arch ?? ''}`;
    let hit = this.memo.get(key);
    if (hit === undefined) {
      this.evaluations++;
      const out: number[] = [];
      if (p.version.length <= MAX_VERSION_LENGTH) {
        for (const ti of this.feed.testsByPackage.get(p.name) ?? []) {
          const t = this.feed.tests[ti];
          if (t && isPositive(t) && itemMatchesStates(t, item) === Tri.True) out.push(ti);
        }
      }
      hit = out;
      this.memo.set(key, hit);
    }
    return hit;
  }

  /**
   * Evaluates definitions against a whole host. `only`: restrict to these definitions
   * (the ones per-package evaluation cannot settle); all reachable ones when absent.
   */
  match(
    os: OsRelease,
    kernel: string | undefined,
    packages: readonly InstalledPackage[],
    only?: ReadonlySet<number>,
  ): RawFinding[] {
    const feed = this.feed;
    const wanted = feed.scheme === 'dpkg' ? 'deb' : 'rpm';
    const items = new Map<string, Record<string, string | undefined>[]>();
    const satisfiedBy = new Map<number, InstalledPackage[]>();
    const candidates = new Set<number>();
    for (const p of packages) {
      if (p.type !== wanted || !feed.testsByPackage.has(p.name)) continue;
      const item = packageItem(feed.scheme, p);
      const list = items.get(p.name);
      if (list) list.push(item);
      else items.set(p.name, [item]);
      for (const ti of this.satisfiedTests(p, item)) {
        const by = satisfiedBy.get(ti);
        if (by) by.push(p);
        else satisfiedBy.set(ti, [p]);
        for (const di of feed.defsByTest[ti] ?? []) if (!only || only.has(di)) candidates.add(di);
      }
    }
    if (kernel) for (const di of feed.kernelDefs) if (!only || only.has(di)) candidates.add(di);
    if (candidates.size === 0) return [];

    const ctx: OvalHostContext = { os, kernel, items };
    const results = new Map<number, Tri>();
    const testResult = (ti: number): Tri => {
      let r = results.get(ti);
      if (r === undefined) {
        const t = feed.tests[ti];
        r = t === undefined ? Tri.Unknown : evalTest(t, ctx);
        results.set(ti, r);
      }
      return r;
    };

    return this.findings(candidates, testResult, satisfiedBy, kernel);
  }

  private findings(
    candidates: Iterable<number>,
    testResult: (ti: number) => Tri,
    satisfiedBy: ReadonlyMap<number, readonly InstalledPackage[]>,
    kernel: string | undefined,
  ): RawFinding[] {
    const feed = this.feed;
    const out = new Map<string, RawFinding>();
    const cmp = feed.scheme === 'dpkg' ? compareDpkg : compareRpmEvr;
    const add = (f: RawFinding): void => {
      const key = `${f.cve}\0${f.package}`;
      const prev = out.get(key);
      // Several advisories can fix one CVE in a package: the newest fix is the one that clears all.
      if (
        !prev ||
        (prev.fixed_version !== null &&
          (f.fixed_version === null || cmp(f.fixed_version, prev.fixed_version) > 0))
      ) {
        out.set(key, f);
      }
    };
    for (const di of candidates) {
      const def = feed.definitions[di];
      if (!def?.tree) continue;
      const witnesses: number[] = [];
      if (evalTree(feed, def.tree, testResult, witnesses) !== Tri.True) continue;
      for (const ti of new Set(witnesses)) {
        const t = feed.tests[ti];
        if (!t) continue;
        const cves = def.cves.filter((c) => c.testRef === undefined || c.testRef === t.id);
        if (t.t === 'pkg' && !isSignatureOnly(t)) {
          const fixed = fixedVersionOf(t);
          for (const p of satisfiedBy.get(ti) ?? []) {
            for (const c of cves) {
              add({
                cve: c.id,
                package: p.name,
                installed_version: p.version,
                fixed_version: fixed,
                source_feed: 'oval',
                advisory: def.advisory,
                severity: c.severity,
                cvss3_score: c.cvss3,
              });
            }
          }
        } else if (t.t === 'kernel_var' && kernel) {
          for (const c of cves) {
            add({
              cve: c.id,
              package: `linux-image-${kernel}`,
              installed_version: kernel,
              fixed_version: fixedVersionOf(t),
              source_feed: 'oval',
              advisory: def.advisory,
              severity: c.severity,
              cvss3_score: c.cvss3,
            });
          }
        }
      }
    }
    return [...out.values()];
  }
}
