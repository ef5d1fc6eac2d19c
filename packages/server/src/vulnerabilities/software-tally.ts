import type { SoftwareCountRow, TitleCountRow } from '@flotilla/db';

/** An Int32Array at least `size` long (zero-filled beyond the old contents). */
function atLeast(a: Int32Array<ArrayBuffer>, size: number): Int32Array<ArrayBuffer> {
  if (size <= a.length) return a;
  const grown = new Int32Array(Math.max(size, a.length * 2, 1024));
  grown.set(a);
  return grown;
}

/** Software id → title id (0: none), and the largest title id in it. */
export interface TitleIndex {
  titleOf: Int32Array;
  maxTitleId: number;
}

/**
 * Hosts per software version and per title for one set of hosts (a team, hosts in no team, or
 * every host), counted host by host from each host's software ids. Dense arrays indexed by
 * software and title id: 22 M links at 20,000 hosts are counted without a map lookup each.
 */
export class SoftwareTally {
  private versions = new Int32Array(0);
  private vulnerable = new Int32Array(0);
  private titles = new Int32Array(0);
  private titleVulnerable = new Int32Array(0);
  // The last host counted per title: a host with two versions of a title counts once for it.
  private titleHost = new Int32Array(0);
  private titleVulnerableHost = new Int32Array(0);
  /** Hosts counted. */
  hosts = 0;

  private fit(maxSoftwareId: number, maxTitleId: number): void {
    if (maxSoftwareId >= this.versions.length) {
      this.versions = atLeast(this.versions, maxSoftwareId + 1);
      this.vulnerable = atLeast(this.vulnerable, maxSoftwareId + 1);
    }
    if (maxTitleId >= this.titles.length) {
      this.titles = atLeast(this.titles, maxTitleId + 1);
      this.titleVulnerable = atLeast(this.titleVulnerable, maxTitleId + 1);
      this.titleHost = atLeast(this.titleHost, maxTitleId + 1);
      this.titleVulnerableHost = atLeast(this.titleVulnerableHost, maxTitleId + 1);
    }
  }

  /**
   * Counts one host with its software ids (sorted ascending); `exposed(id)`: that version has
   * an open finding on this host.
   */
  addHost(
    hostId: number,
    ids: ArrayLike<number>,
    index: TitleIndex,
    exposed: ((id: number) => boolean) | null,
  ): void {
    if (ids.length === 0) return;
    this.hosts++;
    this.fit(ids[ids.length - 1]!, index.maxTitleId);
    const { titleOf } = index;
    const { versions, vulnerable, titles, titleVulnerable, titleHost, titleVulnerableHost } = this;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      versions[id] = versions[id]! + 1;
      const title = id < titleOf.length ? titleOf[id]! : 0;
      if (title > 0 && titleHost[title] !== hostId) {
        titleHost[title] = hostId;
        titles[title] = titles[title]! + 1;
      }
      if (exposed !== null && exposed(id)) {
        vulnerable[id] = vulnerable[id]! + 1;
        if (title > 0 && titleVulnerableHost[title] !== hostId) {
          titleVulnerableHost[title] = hostId;
          titleVulnerable[title] = titleVulnerable[title]! + 1;
        }
      }
    }
  }

  /** Adds these counts to `into` (hosts are in one team each, so teams sum to every host). */
  addTo(into: SoftwareTally): void {
    into.hosts += this.hosts;
    into.fit(this.versions.length - 1, this.titles.length - 1);
    for (let id = 0; id < this.versions.length; id++) {
      into.versions[id] = into.versions[id]! + this.versions[id]!;
      into.vulnerable[id] = into.vulnerable[id]! + this.vulnerable[id]!;
    }
    for (let t = 0; t < this.titles.length; t++) {
      into.titles[t] = into.titles[t]! + this.titles[t]!;
      into.titleVulnerable[t] = into.titleVulnerable[t]! + this.titleVulnerable[t]!;
    }
  }

  /** The stored rows for `teamId` (-1: every host, 0: no team): only what some host has. */
  rows(
    teamId: number,
    { titleOf }: TitleIndex,
  ): { versions: SoftwareCountRow[]; titles: TitleCountRow[] } {
    const versions: SoftwareCountRow[] = [];
    const versionsOfTitle = new Int32Array(this.titles.length);
    for (let id = 0; id < this.versions.length; id++) {
      const n = this.versions[id]!;
      if (n === 0) continue;
      versions.push({
        software_id: id,
        team_id: teamId,
        hosts_count: n,
        vulnerable_hosts_count: this.vulnerable[id]!,
      });
      const title = id < titleOf.length ? titleOf[id]! : 0;
      if (title > 0 && title < versionsOfTitle.length)
        versionsOfTitle[title] = versionsOfTitle[title]! + 1;
    }
    const titles: TitleCountRow[] = [];
    for (let t = 0; t < this.titles.length; t++) {
      const n = this.titles[t]!;
      if (n === 0) continue;
      titles.push({
        title_id: t,
        team_id: teamId,
        hosts_count: n,
        versions_count: versionsOfTitle[t]!,
        vulnerable_hosts_count: this.titleVulnerable[t]!,
      });
    }
    return { versions, titles };
  }

  /** Starts again from zero (for the next team), keeping the arrays. */
  reset(): void {
    this.hosts = 0;
    this.versions.fill(0);
    this.vulnerable.fill(0);
    this.titles.fill(0);
    this.titleVulnerable.fill(0);
  }
}
