import type { OvalFeed, OvalTest } from '../feeds/oval.js';
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

  constructor(readonly feed: OvalFeed) {}

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

  match(
    os: OsRelease,
    kernel: string | undefined,
    packages: readonly InstalledPackage[],
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
        for (const di of feed.defsByTest[ti] ?? []) candidates.add(di);
      }
    }
    if (kernel) for (const di of feed.kernelDefs) candidates.add(di);
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
