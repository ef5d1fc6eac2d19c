import { FeedError } from '../errors.js';
import { isRecord, parseJson, str } from './json.js';

export interface KevIndex {
  kind: 'kev';
  catalogVersion: string;
  /** CVE → date added (YYYY-MM-DD). */
  added: Map<string, string>;
}

/** Parses CISA's known_exploited_vulnerabilities.json. */
export function parseKev(json: string, file = '<memory>'): KevIndex {
  const doc = parseJson('kev', json, file);
  if (!isRecord(doc) || !Array.isArray(doc.vulnerabilities)) {
    throw new FeedError('kev', 'unknown_format', 'expected {vulnerabilities: [...]}', file);
  }
  const added = new Map<string, string>();
  for (const v of doc.vulnerabilities) {
    const id = isRecord(v) ? str(v.cveID) : undefined;
    const date = isRecord(v) ? str(v.dateAdded) : undefined;
    if (!id || !date)
      throw new FeedError('kev', 'unknown_format', 'entry without cveID/dateAdded', file);
    added.set(id, date);
  }
  if (typeof doc.count === 'number' && doc.count !== added.size) {
    throw new FeedError('kev', 'truncated', `count says ${doc.count}, found ${added.size}`, file);
  }
  return { kind: 'kev', catalogVersion: str(doc.catalogVersion) ?? '', added };
}

export interface EpssIndex {
  kind: 'epss';
  scoreDate: string;
  scores: Map<string, { epss: number; percentile: number }>;
}

/** Parses the EPSS daily CSV (`#model_version…,score_date…` line, then `cve,epss,percentile`). */
export function parseEpss(csv: string, file = '<memory>'): EpssIndex {
  const lines = csv.split(/\r?\n/);
  let i = 0;
  let scoreDate = '';
  while (i < lines.length && (lines[i] ?? '').startsWith('#')) {
    scoreDate = /score_date:([^,\s]+)/.exec(lines[i] ?? '')?.[1] ?? scoreDate;
    i++;
  }
  if ((lines[i] ?? '').trim() !== 'cve,epss,percentile') {
    throw new FeedError('epss', 'unknown_format', 'missing header cve,epss,percentile', file);
  }
  const scores = new Map<string, { epss: number; percentile: number }>();
  for (i++; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    const [cve, e, p] = line.split(',');
    const epss = Number(e);
    const percentile = Number(p);
    if (
      !cve ||
      !/^CVE-\d+-\d+$/.test(cve) ||
      !Number.isFinite(epss) ||
      !Number.isFinite(percentile) ||
      p === undefined
    ) {
      throw new FeedError(
        'epss',
        i === lines.length - 1 ? 'truncated' : 'corrupt',
        `bad line ${i + 1}: ${line.slice(0, 80)}`,
        file,
      );
    }
    scores.set(cve, { epss, percentile });
  }
  if (scores.size === 0) throw new FeedError('epss', 'empty', 'no scores', file);
  return { kind: 'epss', scoreDate, scores };
}
