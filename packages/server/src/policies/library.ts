import { readFileSync } from 'node:fs';
import { notFound } from '@flotilla/core';

/** Policy libraries shipped with Flotilla (YAML in `library/`, Fleet's `kind: policy` format). */
export const LIBRARIES: ReadonlyArray<{ name: string; description: string }> = [
  {
    name: 'linux-hardening',
    description:
      'Linux server hardening (CIS-style) for Ubuntu, Debian and RHEL family servers: SSH, firewall, auditd, automatic security updates, file permissions, kernel sysctls, time sync',
  },
];

const cache = new Map<string, string>();

/** The YAML text of a shipped library. */
export function libraryYaml(name: string): string {
  if (!LIBRARIES.some((l) => l.name === name))
    throw notFound(`policy library "${name}"`, 'POLICY_LIBRARY_NOT_FOUND');
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`./library/${name}.yml`, import.meta.url), 'utf8');
    cache.set(name, text);
  }
  return text;
}
