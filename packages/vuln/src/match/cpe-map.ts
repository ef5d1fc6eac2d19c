import type { NvdIndex } from '../feeds/nvd.js';
import type { InstalledPackage } from '../types.js';

export interface CpeTarget {
  vendor: string;
  product: string;
  /** When set, only CPE matches with this target_sw (or "*") count. */
  targetSw?: string;
}

/**
 * Curated software → CPE map, keyed by `type:lower-cased name`. Only entries whose NVD
 * vendor/product is certain belong here: a wrong CPE produces confident false positives.
 */
const CURATED: Record<string, CpeTarget> = {
  'app:google chrome': { vendor: 'google', product: 'chrome' },
  'app:google chrome.app': { vendor: 'google', product: 'chrome' },
  'app:firefox': { vendor: 'mozilla', product: 'firefox' },
  'app:firefox.app': { vendor: 'mozilla', product: 'firefox' },
  'app:mozilla firefox': { vendor: 'mozilla', product: 'firefox' },
  'app:thunderbird': { vendor: 'mozilla', product: 'thunderbird' },
  'app:microsoft edge': { vendor: 'microsoft', product: 'edge_chromium' },
  'app:visual studio code': { vendor: 'microsoft', product: 'visual_studio_code' },
  'app:visual studio code.app': { vendor: 'microsoft', product: 'visual_studio_code' },
  'app:vlc media player': { vendor: 'videolan', product: 'vlc_media_player' },
  'app:vlc.app': { vendor: 'videolan', product: 'vlc_media_player' },
  'app:wireshark': { vendor: 'wireshark', product: 'wireshark' },
  'app:7-zip': { vendor: '7-zip', product: '7-zip' },
  'app:git': { vendor: 'git-scm', product: 'git' },
  'app:node.js': { vendor: 'nodejs', product: 'node.js' },
  'app:openssl': { vendor: 'openssl', product: 'openssl' },
  'maven:org.apache.logging.log4j:log4j-core': { vendor: 'apache', product: 'log4j' },
  'python:django': { vendor: 'djangoproject', product: 'django' },
  'python:jinja2': { vendor: 'palletsprojects', product: 'jinja' },
  'python:flask': { vendor: 'palletsprojects', product: 'flask' },
  'python:werkzeug': { vendor: 'palletsprojects', product: 'werkzeug' },
  'python:pyyaml': { vendor: 'pyyaml', product: 'pyyaml' },
  'python:urllib3': { vendor: 'python', product: 'urllib3' },
  'python:requests': { vendor: 'python', product: 'requests' },
  'python:pillow': { vendor: 'python', product: 'pillow' },
  'npm:lodash': { vendor: 'lodash', product: 'lodash' },
  'npm:minimist': { vendor: 'minimist_project', product: 'minimist' },
  'npm:express': { vendor: 'expressjs', product: 'express' },
};

/** Ecosystem packages whose NVD CPEs carry a target_sw naming the ecosystem. */
const ECOSYSTEM_TARGET_SW: Record<string, string> = { npm: 'node.js', python: 'python' };

/**
 * Maps a package to an NVD CPE vendor/product, preferring no answer to a doubtful one:
 * 1. the curated map above, or
 * 2. for npm/python packages: the name equals an NVD product exactly, that product has a single
 *    vendor in the loaded feed, and its vulnerable CPEs name the ecosystem as target_sw
 *    (node.js / python); only those CPE matches are then used.
 * OS packages (deb/rpm/apk) never go through NVD: distro feeds know their backports, NVD does not.
 */
export function cpeFor(p: InstalledPackage, nvd: NvdIndex): CpeTarget | null {
  if (p.type === 'deb' || p.type === 'rpm' || p.type === 'apk') return null;
  const name = p.name.trim().toLowerCase();
  const curated = CURATED[`${p.type}:${name}`];
  if (curated) return curated;
  const sw = ECOSYSTEM_TARGET_SW[p.type];
  if (sw === undefined || name.length < 3) return null;
  const vendors = nvd.vendorsByProduct.get(name);
  if (!vendors || vendors.size !== 1) return null;
  const [vendor] = vendors;
  if (vendor === undefined || !nvd.targetSwByProduct.get(`${vendor}:${name}`)?.has(sw)) return null;
  return { vendor, product: name, targetSw: sw };
}
