import { parse as parseYaml } from 'yaml';
import { FeedError } from '../errors.js';
import { isRecord, parseJson, str } from './json.js';

export interface AlpineFix {
  fixed: string;
  cves: string[];
}

export interface AlpineSecdb {
  kind: 'alpine_secdb';
  file: string;
  /** "3.15" (from `distroversion: v3.15`). */
  release: string;
  repo: string;
  packages: Map<string, AlpineFix[]>;
}

const FEED = 'alpine_secdb';

/** Parses an Alpine secdb file (`main.json` / `community.json`, or the YAML form). */
export function parseAlpineSecdb(content: string, file = '<memory>'): AlpineSecdb {
  let doc: unknown;
  if (/\.ya?ml$/i.test(file) || (!content.trimStart().startsWith('{') && content.trim() !== '')) {
    try {
      doc = parseYaml(content, { maxAliasCount: 0 });
    } catch (e) {
      throw new FeedError(
        FEED,
        'corrupt',
        `invalid YAML: ${e instanceof Error ? e.message : String(e)}`,
        file,
      );
    }
  } else {
    doc = parseJson(FEED, content, file);
  }
  if (!isRecord(doc) || !Array.isArray(doc.packages) || typeof doc.distroversion !== 'string') {
    throw new FeedError(FEED, 'unknown_format', 'expected {distroversion, packages: [...]}', file);
  }
  const release = doc.distroversion.replace(/^v/, '');
  const packages = new Map<string, AlpineFix[]>();
  for (const p of doc.packages) {
    const pkg = isRecord(p) && isRecord(p.pkg) ? p.pkg : null;
    const name = pkg ? str(pkg.name) : undefined;
    if (!pkg || name === undefined)
      throw new FeedError(FEED, 'unknown_format', 'package without pkg.name', file);
    if (!isRecord(pkg.secfixes)) continue;
    const fixes: AlpineFix[] = [];
    for (const [fixed, cves] of Object.entries(pkg.secfixes)) {
      // "0" lists CVEs that never affected the Alpine package.
      if (fixed === '0' || !Array.isArray(cves)) continue;
      const ids = cves
        .filter((c): c is string => typeof c === 'string')
        .flatMap((c) => c.split(/\s+/))
        .filter((c) => /^CVE-\d+-\d+$/.test(c));
      if (ids.length > 0) fixes.push({ fixed, cves: ids });
    }
    if (fixes.length > 0) packages.set(name, [...(packages.get(name) ?? []), ...fixes]);
  }
  return { kind: 'alpine_secdb', file, release, repo: str(doc.reponame) ?? '', packages };
}
