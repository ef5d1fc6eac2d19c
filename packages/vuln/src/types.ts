/** The operating system a host runs, as osquery's `os_version` reports it. */
export interface OsRelease {
  /** Distribution id: ubuntu, debian, rhel, almalinux, rocky, centos, oracle, amazon, fedora, alpine… */
  family: string;
  /** Release number: "22.04", "9.2", "12", "3.18.4". */
  version: string;
  /** Release codename when there is one: "jammy", "bookworm". */
  codename?: string;
}

/** Where a package came from; decides the version ordering and the feeds that apply. */
export type PackageType =
  | 'deb'
  | 'rpm'
  | 'apk'
  | 'python'
  | 'npm'
  | 'go'
  | 'maven'
  | 'app'
  | 'chrome_extension'
  | 'program'
  | (string & {});

export interface InstalledPackage {
  name: string;
  /** Full version as the package manager prints it (rpm: `[epoch:]version-release`). */
  version: string;
  /** Source package (deb) or source rpm name, when known. */
  source?: string;
  arch?: string;
  type: PackageType;
  /** Vendor string (apps), used only by the NVD CPE mapping. */
  vendor?: string;
}

export interface HostInventory {
  os: OsRelease;
  /** Running kernel release (`uname -r`), for kernel definitions. */
  kernel?: string;
  packages: readonly InstalledPackage[];
}

export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'negligible' | 'unknown';

/** The feeds a finding can come from. */
export type SourceFeed = 'oval' | 'debian_tracker' | 'alpine_secdb' | 'osv' | 'nvd';

/** One vulnerable package on a host. Keys are snake_case: this is the wire shape. */
export interface Finding {
  cve: string;
  package: string;
  installed_version: string;
  fixed_version: string | null;
  source_feed: SourceFeed;
  /** The advisory or definition that produced the finding (USN-…, RHSA-…, DSA…, OSV id, CVE id). */
  advisory: string;
  severity: Severity;
  cvss3_score: number | null;
  known_exploited: boolean;
  kev_date_added: string | null;
  epss: number | null;
}

/** Turns the severity words the feeds use into one scale. */
export function normalizeSeverity(word: string | undefined | null): Severity {
  switch ((word ?? '').trim().toLowerCase()) {
    case 'critical':
      return 'critical';
    case 'important':
    case 'high':
      return 'high';
    case 'moderate':
    case 'medium':
      return 'medium';
    case 'low':
      return 'low';
    case 'negligible':
    case 'unimportant':
    case 'none':
      return 'negligible';
    default:
      return 'unknown';
  }
}

/** Severity from a CVSS v3 base score (the NVD bands). */
export function severityFromCvss(score: number | null): Severity {
  if (score === null || !Number.isFinite(score)) return 'unknown';
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'negligible';
}
