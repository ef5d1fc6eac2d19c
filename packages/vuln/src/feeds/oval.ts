import { FeedError } from '../errors.js';
import { normalizeSeverity } from '../types.js';
import type { Severity } from '../types.js';
import { attr, childNames, kid, kids, parseXml, text } from './xml.js';
import type { XNode } from './xml.js';

export type OvalOperator = 'AND' | 'OR' | 'ONE' | 'XOR';

export type OvalNode =
  | { t: 'criteria'; op: OvalOperator; negate: boolean; children: OvalNode[] }
  | { t: 'test'; test: number; negate: boolean }
  | { t: 'extend'; def: string; negate: boolean };

/** One field check of an OVAL state, e.g. `evr less than 0:1.2-3`. */
export interface OvalCondition {
  field: string;
  op: string;
  value: string;
  datatype: string;
}

interface TestBase {
  id: string;
  check: string;
  existence: string;
  stateOperator: OvalOperator;
  /** Each state is an AND of its conditions. */
  states: OvalCondition[][];
}

/** Compiled OVAL tests: only what the engine can evaluate gets a concrete kind. */
export type OvalTest =
  | (TestBase & { t: 'pkg'; names: string[] })
  | (TestBase & { t: 'os_file'; path: string; pattern: string; instance: number })
  | (TestBase & { t: 'release_pkg' })
  | (TestBase & { t: 'uname' })
  | (TestBase & { t: 'kernel_var'; prefix: string; capture: string })
  | (TestBase & { t: 'family' })
  | (TestBase & { t: 'unknown'; reason: string });

export interface OvalCve {
  id: string;
  severity: Severity;
  cvss3: number | null;
  /** Ubuntu CVE OVAL ties some CVEs to one test only. */
  testRef?: string;
}

export interface OvalDefinition {
  id: string;
  cls: string;
  title: string;
  /** USN-…, RHSA-…, ALSA-…, ELSA-… or the CVE id for vulnerability-class definitions. */
  advisory: string;
  severity: Severity;
  cves: OvalCve[];
  tree: OvalNode | null;
}

/** Which OS release a feed describes. */
export interface OvalTarget {
  family: string;
  major?: string;
  codename?: string;
}

export interface OvalFeed {
  kind: 'oval';
  file: string;
  product: string;
  timestamp: string;
  scheme: 'dpkg' | 'rpm';
  target: OvalTarget;
  definitions: OvalDefinition[];
  tests: OvalTest[];
  /** Package name → indexes of package tests that name it. */
  testsByPackage: Map<string, number[]>;
  /** Test index → indexes of the (patch/vulnerability) definitions that use it. */
  defsByTest: number[][];
  /** Definitions that depend on the running kernel. */
  kernelDefs: number[];
  defIndex: Map<string, number>;
}

const FEED = 'oval';
const OPERATORS = new Set(['AND', 'OR', 'ONE', 'XOR']);

function operator(s: string | undefined): OvalOperator {
  const up = (s ?? 'AND').toUpperCase();
  return OPERATORS.has(up) ? (up as OvalOperator) : 'AND';
}

/** Collects every element of a section (tests/objects/states/variables) by id. */
function byId(section: XNode | undefined): Map<string, { kind: string; node: XNode }> {
  const out = new Map<string, { kind: string; node: XNode }>();
  if (!section) return out;
  for (const kind of childNames(section)) {
    for (const node of kids(section, kind)) {
      const id = attr(node, 'id');
      if (id !== undefined) out.set(id, { kind, node });
    }
  }
  return out;
}

function compileCriteria(node: XNode, testIndex: Map<string, number>, file: string): OvalNode {
  const children: OvalNode[] = [];
  for (const c of kids(node, 'criteria')) children.push(compileCriteria(c, testIndex, file));
  for (const c of kids(node, 'criterion')) {
    const ref = attr(c, 'test_ref') ?? '';
    const test = testIndex.get(ref);
    if (test === undefined)
      throw new FeedError(FEED, 'corrupt', `criterion refers to missing test ${ref}`, file);
    children.push({ t: 'test', test, negate: attr(c, 'negate') === 'true' });
  }
  for (const c of kids(node, 'extend_definition')) {
    children.push({
      t: 'extend',
      def: attr(c, 'definition_ref') ?? '',
      negate: attr(c, 'negate') === 'true',
    });
  }
  return {
    t: 'criteria',
    op: operator(attr(node, 'operator')),
    negate: attr(node, 'negate') === 'true',
    children,
  };
}

function parseCvss(s: string | undefined): number | null {
  if (s === undefined) return null;
  const n = Number.parseFloat(s.split('/')[0] ?? '');
  return Number.isFinite(n) ? n : null;
}

function compileDefinition(
  def: XNode,
  testIndex: Map<string, number>,
  file: string,
): OvalDefinition {
  const meta = kid(def, 'metadata');
  const advisory = kid(meta, 'advisory');
  const defSeverity = normalizeSeverity(text(kid(advisory, 'severity')));
  const cves: OvalCve[] = [];
  const seen = new Set<string>();
  for (const c of kids(advisory, 'cve')) {
    const id = text(c).trim();
    if (!/^CVE-\d+-\d+$/.test(id)) continue;
    const testRef = attr(c, 'test_ref');
    const key = `${id}\0${testRef ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const sev = normalizeSeverity(attr(c, 'severity') ?? attr(c, 'priority') ?? attr(c, 'impact'));
    cves.push({
      id,
      severity: sev === 'unknown' ? defSeverity : sev,
      cvss3: parseCvss(attr(c, 'cvss_score') ?? attr(c, 'cvss3')),
      ...(testRef === undefined ? {} : { testRef }),
    });
  }
  const refs = kids(meta, 'reference');
  for (const r of refs) {
    const id = attr(r, 'ref_id') ?? '';
    if (attr(r, 'source') === 'CVE' && /^CVE-\d+-\d+$/.test(id) && !cves.some((c) => c.id === id)) {
      cves.push({ id, severity: defSeverity, cvss3: null });
    }
  }
  const title = text(kid(meta, 'title'));
  const advisoryRef =
    refs.map((r) => attr(r, 'ref_id') ?? '').find((id) => !id.startsWith('CVE-') && id !== '') ??
    /^([A-Z]+-\d+[-:]\d+)/.exec(title)?.[1] ??
    cves[0]?.id ??
    attr(def, 'id') ??
    '';
  const criteria = kid(def, 'criteria');
  return {
    id: attr(def, 'id') ?? '',
    cls: attr(def, 'class') ?? '',
    title,
    advisory: advisoryRef,
    severity: defSeverity,
    cves,
    tree: criteria ? compileCriteria(criteria, testIndex, file) : null,
  };
}

function stateConditions(state: XNode): OvalCondition[] | null {
  const out: OvalCondition[] = [];
  for (const field of childNames(state)) {
    for (const n of kids(state, field)) {
      if (attr(n, 'var_ref') !== undefined) return null;
      out.push({
        field,
        op: (attr(n, 'operation') ?? 'equals').toLowerCase(),
        value: text(n),
        datatype: attr(n, 'datatype') ?? 'string',
      });
    }
  }
  return out;
}

const MANIFEST_PATTERN = /^\^(.+?)\(\?::\\w\+\|\)\\s\+\(\.\*\)\$$/;

function unescapeRegexLiteral(s: string): string | null {
  const out = s.replace(/\\(.)/g, '$1');
  return /^[a-z0-9][a-z0-9+.-]*$/.test(out) ? out : null;
}

interface Sections {
  objects: Map<string, { kind: string; node: XNode }>;
  states: Map<string, { kind: string; node: XNode }>;
  variables: Map<string, { kind: string; node: XNode }>;
}

function constantValues(s: Sections, ref: string): string[] | null {
  const v = s.variables.get(ref);
  if (!v || v.kind !== 'constant_variable') return null;
  return kids(v.node, 'value').map((n) => text(n));
}

function compileTest(kind: string, node: XNode, s: Sections): OvalTest {
  const id = attr(node, 'id') ?? '';
  const objectRef = attr(kid(node, 'object'), 'object_ref') ?? '';
  const obj = s.objects.get(objectRef);
  const base = {
    id,
    check: (attr(node, 'check') ?? 'all').toLowerCase(),
    existence: (attr(node, 'check_existence') ?? 'at_least_one_exists').toLowerCase(),
    stateOperator: operator(attr(node, 'state_operator')),
    states: [] as OvalCondition[][],
  };
  const unknown = (reason: string): OvalTest => ({ ...base, t: 'unknown', reason });
  for (const st of kids(node, 'state')) {
    const ref = attr(st, 'state_ref') ?? '';
    const state = s.states.get(ref);
    if (!state) return unknown(`missing state ${ref}`);
    const conds = stateConditions(state.node);
    if (!conds) return unknown('state uses a variable');
    base.states.push(conds);
  }
  if (!obj) return unknown(`missing object ${objectRef}`);
  switch (kind) {
    case 'dpkginfo_test':
    case 'rpminfo_test': {
      const nameNode = kid(obj.node, 'name');
      const ref = attr(nameNode, 'var_ref');
      const op = attr(nameNode, 'operation') ?? 'equals';
      if (op !== 'equals') return unknown(`package name operation ${op}`);
      const names = ref === undefined ? [text(nameNode)] : constantValues(s, ref);
      if (!names || names.length === 0) return unknown('package names not resolvable');
      return { ...base, t: 'pkg', names };
    }
    case 'textfilecontent54_test': {
      const patternNode = kid(obj.node, 'pattern');
      const filename = text(kid(obj.node, 'filename'));
      const dir = text(kid(obj.node, 'path'));
      const filepath =
        text(kid(obj.node, 'filepath')) ||
        (filename === '' ? '' : `${dir.replace(/\/$/, '')}/${filename}`);
      const varRef = attr(patternNode, 'var_ref');
      if (filename === 'manifest' && varRef !== undefined) {
        // Ubuntu CVE OVAL: the "file" is `dpkg -l` output and each pattern names one binary package.
        const names: string[] = [];
        for (const p of constantValues(s, varRef) ?? []) {
          const m = MANIFEST_PATTERN.exec(p);
          const name = m?.[1] === undefined ? null : unescapeRegexLiteral(m[1]);
          if (name === null) return unknown(`unrecognised manifest pattern ${p}`);
          names.push(name);
        }
        if (names.length === 0) return unknown('empty manifest pattern list');
        const states = base.states.map((conds) =>
          conds.map((c) => (c.field === 'subexpression' ? { ...c, field: 'evr' } : c)),
        );
        return { ...base, states, t: 'pkg', names };
      }
      if (varRef !== undefined || filepath === '')
        return unknown('textfilecontent on a non-release file');
      const instance = Number.parseInt(text(kid(obj.node, 'instance')) || '1', 10);
      return { ...base, t: 'os_file', path: filepath, pattern: text(patternNode), instance };
    }
    case 'rpmverifyfile_test': {
      const path = text(kid(obj.node, 'filepath'));
      if (!/^\/etc\/[a-z-]*release$/.test(path)) return unknown(`rpmverifyfile on ${path}`);
      return { ...base, t: 'release_pkg' };
    }
    case 'uname_test':
      return { ...base, t: 'uname' };
    case 'family_test':
      return { ...base, t: 'family' };
    case 'variable_test': {
      const varRef = text(kid(obj.node, 'var_ref'));
      const v = s.variables.get(varRef);
      const concat = kid(v?.node, 'concat');
      const literal = text(kid(concat, 'literal_component'));
      const capture = kid(concat, 'regex_capture');
      const component = kid(capture, 'object_component');
      const source = s.objects.get(attr(component, 'object_ref') ?? '');
      if (
        !concat ||
        !capture ||
        source?.kind !== 'uname_object' ||
        attr(component, 'item_field') !== 'os_release'
      ) {
        return unknown('variable_test on an unsupported variable');
      }
      return { ...base, t: 'kernel_var', prefix: literal, capture: attr(capture, 'pattern') ?? '' };
    }
    default:
      return unknown(`unsupported test ${kind}`);
  }
}

function detectTarget(
  root: XNode,
  definitions: OvalDefinition[],
  tests: OvalTest[],
  file: string,
): OvalTarget {
  const firstId = definitions[0]?.id ?? '';
  const ubuntu = /^oval:com\.ubuntu\.([a-z]+):/.exec(firstId);
  if (ubuntu?.[1]) return { family: 'ubuntu', codename: ubuntu[1] };
  const platforms = kids(kid(root, 'definitions'), 'definition')
    .flatMap((d) => kids(kid(kid(d, 'metadata'), 'affected'), 'platform'))
    .map((p) => text(p));
  const families: [RegExp, string][] = [
    [/^Red Hat Enterprise Linux (\d+)/, 'rhel'],
    [/^AlmaLinux (\d+)/, 'almalinux'],
    [/^Rocky Linux (\d+)/, 'rocky'],
    [/^Oracle Linux (\d+)/, 'oracle'],
    [/^Debian GNU\/Linux (\d+)/, 'debian'],
    [/^CentOS (\d+)/, 'centos'],
  ];
  for (const p of platforms) {
    for (const [re, family] of families) {
      const m = re.exec(p);
      if (m?.[1]) return { family, major: m[1] };
    }
  }
  // No platform element (AlmaLinux): take the major version from the release-package gate.
  const gate = tests
    .filter((t) => t.t === 'release_pkg')
    .flatMap((t) => t.states.flat())
    .map((c) => (c.field === 'version' ? /^\^(\d+)/.exec(c.value)?.[1] : undefined))
    .find((v) => v !== undefined);
  const major = gate === undefined ? {} : { major: gate };
  if (firstId.includes('org.almalinux')) return { family: 'almalinux', ...major };
  if (firstId.includes('org.rockylinux')) return { family: 'rocky', ...major };
  if (firstId.includes('com.oracle')) return { family: 'oracle', ...major };
  if (firstId.includes('com.redhat')) return { family: 'rhel', ...major };
  if (firstId.includes('org.debian')) return { family: 'debian' };
  throw new FeedError(
    FEED,
    'unknown_format',
    'cannot tell which OS release the OVAL feed describes',
    file,
  );
}

const USABLE_CLASSES = new Set(['patch', 'vulnerability']);

/** Parses and compiles an OVAL definitions document (Ubuntu USN/CVE, Red Hat family, Debian). */
export function parseOval(xml: string, file = '<memory>'): OvalFeed {
  const doc = parseXml(FEED, xml, file);
  const root = kid(doc, 'oval_definitions');
  if (!root)
    throw new FeedError(FEED, 'unknown_format', 'no <oval_definitions> root element', file);
  const defsNode = kid(root, 'definitions');
  const rawDefs = kids(defsNode, 'definition');
  if (rawDefs.length === 0) throw new FeedError(FEED, 'empty', 'no definitions', file);
  const generator = kid(root, 'generator');
  const rawTests = byId(kid(root, 'tests'));
  const sections: Sections = {
    objects: byId(kid(root, 'objects')),
    states: byId(kid(root, 'states')),
    variables: byId(kid(root, 'variables')),
  };
  const tests: OvalTest[] = [];
  const testIndex = new Map<string, number>();
  for (const [id, { kind, node }] of rawTests) {
    testIndex.set(id, tests.length);
    tests.push(compileTest(kind, node, sections));
  }
  const definitions = rawDefs.map((d) => compileDefinition(d, testIndex, file));
  const defIndex = new Map(definitions.map((d, i) => [d.id, i]));
  for (const d of definitions) checkExtends(d.tree, defIndex, file);
  const scheme =
    rawTests.size > 0 && [...rawTests.values()].some((t) => t.kind === 'rpminfo_test')
      ? 'rpm'
      : 'dpkg';
  const testsByPackage = new Map<string, number[]>();
  tests.forEach((t, i) => {
    if (t.t !== 'pkg') return;
    for (const n of t.names) {
      const list = testsByPackage.get(n);
      if (list) list.push(i);
      else testsByPackage.set(n, [i]);
    }
  });
  const defsByTest: number[][] = tests.map(() => []);
  const kernelDefs: number[] = [];
  definitions.forEach((d, di) => {
    if (!USABLE_CLASSES.has(d.cls) || d.cves.length === 0) return;
    let kernel = false;
    const visit = (n: OvalNode | null, seen: Set<string>): void => {
      if (!n) return;
      if (n.t === 'criteria') n.children.forEach((c) => visit(c, seen));
      else if (n.t === 'test') {
        const list = defsByTest[n.test];
        if (list && list[list.length - 1] !== di) list.push(di);
        const t = tests[n.test];
        if ((t?.t === 'uname' && t.states.length > 0) || t?.t === 'kernel_var') kernel = true;
      } else if (!seen.has(n.def)) {
        seen.add(n.def);
        const target = defIndex.get(n.def);
        if (target !== undefined) visit(definitions[target]?.tree ?? null, seen);
      }
    };
    visit(d.tree, new Set());
    if (kernel) kernelDefs.push(di);
  });
  return {
    kind: 'oval',
    file,
    product: text(kid(generator, 'product_name')),
    timestamp: text(kid(generator, 'timestamp')),
    scheme,
    target: detectTarget(root, definitions, tests, file),
    definitions,
    tests,
    testsByPackage,
    defsByTest,
    kernelDefs,
    defIndex,
  };
}

function checkExtends(n: OvalNode | null, defIndex: Map<string, number>, file: string): void {
  if (!n) return;
  if (n.t === 'criteria') n.children.forEach((c) => checkExtends(c, defIndex, file));
  else if (n.t === 'extend' && !defIndex.has(n.def)) {
    throw new FeedError(
      FEED,
      'corrupt',
      `extend_definition refers to missing definition ${n.def}`,
      file,
    );
  }
}
