/** Hand-written, plausible Linux data shared by the Linux profiles (not taken from any project). */

/** [username, uid, gid, description, home, shell] of system accounts common to Debian-family hosts. */
export const DEBIAN_SYSTEM_USERS: readonly (readonly [
  string,
  number,
  number,
  string,
  string,
  string,
])[] = [
  ['root', 0, 0, 'root', '/root', '/bin/bash'],
  ['daemon', 1, 1, 'daemon', '/usr/sbin', '/usr/sbin/nologin'],
  ['bin', 2, 2, 'bin', '/bin', '/usr/sbin/nologin'],
  ['sys', 3, 3, 'sys', '/dev', '/usr/sbin/nologin'],
  ['sync', 4, 65534, 'sync', '/bin', '/bin/sync'],
  ['games', 5, 60, 'games', '/usr/games', '/usr/sbin/nologin'],
  ['man', 6, 12, 'man', '/var/cache/man', '/usr/sbin/nologin'],
  ['lp', 7, 7, 'lp', '/var/spool/lpd', '/usr/sbin/nologin'],
  ['mail', 8, 8, 'mail', '/var/mail', '/usr/sbin/nologin'],
  ['news', 9, 9, 'news', '/var/spool/news', '/usr/sbin/nologin'],
  ['proxy', 13, 13, 'proxy', '/bin', '/usr/sbin/nologin'],
  ['www-data', 33, 33, 'www-data', '/var/www', '/usr/sbin/nologin'],
  ['backup', 34, 34, 'backup', '/var/backups', '/usr/sbin/nologin'],
  ['nobody', 65534, 65534, 'nobody', '/nonexistent', '/usr/sbin/nologin'],
  [
    'systemd-network',
    100,
    102,
    'systemd Network Management,,,',
    '/run/systemd',
    '/usr/sbin/nologin',
  ],
  ['systemd-resolve', 101, 103, 'systemd Resolver,,,', '/run/systemd', '/usr/sbin/nologin'],
  ['messagebus', 102, 105, '', '/nonexistent', '/usr/sbin/nologin'],
  ['syslog', 104, 111, '', '/home/syslog', '/usr/sbin/nologin'],
  ['sshd', 106, 65534, '', '/run/sshd', '/usr/sbin/nologin'],
];

export const RHEL_SYSTEM_USERS: readonly (readonly [
  string,
  number,
  number,
  string,
  string,
  string,
])[] = [
  ['root', 0, 0, 'root', '/root', '/bin/bash'],
  ['bin', 1, 1, 'bin', '/bin', '/sbin/nologin'],
  ['daemon', 2, 2, 'daemon', '/sbin', '/sbin/nologin'],
  ['adm', 3, 4, 'adm', '/var/adm', '/sbin/nologin'],
  ['lp', 4, 7, 'lp', '/var/spool/lpd', '/sbin/nologin'],
  ['sync', 5, 0, 'sync', '/sbin', '/bin/sync'],
  ['shutdown', 6, 0, 'shutdown', '/sbin', '/sbin/shutdown'],
  ['halt', 7, 0, 'halt', '/sbin', '/sbin/halt'],
  ['mail', 8, 12, 'mail', '/var/spool/mail', '/sbin/nologin'],
  ['operator', 11, 0, 'operator', '/root', '/sbin/nologin'],
  ['nobody', 65534, 65534, 'Kernel Overflow User', '/', '/sbin/nologin'],
  ['systemd-coredump', 999, 997, 'systemd Core Dumper', '/', '/sbin/nologin'],
  ['dbus', 81, 81, 'System message bus', '/', '/sbin/nologin'],
  ['polkitd', 998, 996, 'User for polkitd', '/', '/sbin/nologin'],
  ['chrony', 997, 995, 'chrony system user', '/var/lib/chrony', '/sbin/nologin'],
  ['sshd', 74, 74, 'Privilege-separated SSH', '/usr/share/empty.sshd', '/sbin/nologin'],
];

export const HUMAN_NAMES = [
  'alice',
  'bob',
  'carol',
  'dave',
  'erin',
  'frank',
  'grace',
  'heidi',
  'ivan',
  'judy',
  'mallory',
  'niaj',
  'olivia',
  'peggy',
  'rupert',
  'sybil',
  'trent',
  'victor',
  'walter',
  'deploy',
  'ci',
  'backup-agent',
];

/** A server process: [name, path, cmdline, uid, parent name or '' for pid 1's children]. */
export type ProcessSpec = readonly [string, string, string, number, string];

export const UBUNTU_BASE_PROCESSES: readonly ProcessSpec[] = [
  ['systemd', '/usr/lib/systemd/systemd', '/sbin/init', 0, ''],
  [
    'systemd-journal',
    '/usr/lib/systemd/systemd-journald',
    '/lib/systemd/systemd-journald',
    0,
    'systemd',
  ],
  ['systemd-udevd', '/usr/bin/udevadm', '/lib/systemd/systemd-udevd', 0, 'systemd'],
  [
    'systemd-network',
    '/usr/lib/systemd/systemd-networkd',
    '/lib/systemd/systemd-networkd',
    100,
    'systemd',
  ],
  [
    'systemd-resolve',
    '/usr/lib/systemd/systemd-resolved',
    '/lib/systemd/systemd-resolved',
    101,
    'systemd',
  ],
  ['cron', '/usr/sbin/cron', '/usr/sbin/cron -f -P', 0, 'systemd'],
  [
    'dbus-daemon',
    '/usr/bin/dbus-daemon',
    '@dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only',
    102,
    'systemd',
  ],
  ['rsyslogd', '/usr/sbin/rsyslogd', '/usr/sbin/rsyslogd -n -iNONE', 104, 'systemd'],
  ['snapd', '/usr/lib/snapd/snapd', '/usr/lib/snapd/snapd', 0, 'systemd'],
  [
    'sshd',
    '/usr/sbin/sshd',
    'sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups',
    0,
    'systemd',
  ],
  ['agetty', '/usr/sbin/agetty', '/sbin/agetty -o -p -- \\u --noclear tty1 linux', 0, 'systemd'],
  [
    'osqueryd',
    '/opt/osquery/bin/osqueryd',
    '/opt/osquery/bin/osqueryd --flagfile=/etc/osquery/osquery.flags',
    0,
    'systemd',
  ],
];

export const RHEL_BASE_PROCESSES: readonly ProcessSpec[] = [
  [
    'systemd',
    '/usr/lib/systemd/systemd',
    '/usr/lib/systemd/systemd --switched-root --system --deserialize 31',
    0,
    '',
  ],
  [
    'systemd-journal',
    '/usr/lib/systemd/systemd-journald',
    '/usr/lib/systemd/systemd-journald',
    0,
    'systemd',
  ],
  [
    'systemd-udevd',
    '/usr/lib/systemd/systemd-udevd',
    '/usr/lib/systemd/systemd-udevd',
    0,
    'systemd',
  ],
  ['auditd', '/usr/sbin/auditd', '/sbin/auditd', 0, 'systemd'],
  ['chronyd', '/usr/sbin/chronyd', '/usr/sbin/chronyd -F 2', 997, 'systemd'],
  [
    'dbus-broker',
    '/usr/bin/dbus-broker',
    'dbus-broker --log 4 --controller 9 --machine-id 1 --max-bytes 536870912',
    81,
    'systemd',
  ],
  [
    'NetworkManager',
    '/usr/sbin/NetworkManager',
    '/usr/sbin/NetworkManager --no-daemon',
    0,
    'systemd',
  ],
  ['crond', '/usr/sbin/crond', '/usr/sbin/crond -n', 0, 'systemd'],
  ['rsyslogd', '/usr/sbin/rsyslogd', '/usr/sbin/rsyslogd -n', 0, 'systemd'],
  [
    'sshd',
    '/usr/sbin/sshd',
    'sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups',
    0,
    'systemd',
  ],
  ['tuned', '/usr/bin/python3.9', '/usr/bin/python3 -Es /usr/sbin/tuned -l -P', 0, 'systemd'],
  [
    'osqueryd',
    '/opt/osquery/bin/osqueryd',
    '/opt/osquery/bin/osqueryd --flagfile=/etc/osquery/osquery.flags',
    0,
    'systemd',
  ],
];

/** Extra workloads a host may run, chosen per host from its seed. */
export interface Role {
  name: string;
  processes: readonly ProcessSpec[];
  /** [process name, port, protocol (6 tcp / 17 udp), address] */
  ports: readonly (readonly [string, number, number, string])[];
}

export const ROLES: readonly Role[] = [
  {
    name: 'web',
    processes: [
      [
        'nginx',
        '/usr/sbin/nginx',
        'nginx: master process /usr/sbin/nginx -g daemon on; master_process on;',
        0,
        'systemd',
      ],
      ['nginx', '/usr/sbin/nginx', 'nginx: worker process', 33, 'nginx'],
      ['nginx', '/usr/sbin/nginx', 'nginx: worker process', 33, 'nginx'],
    ],
    ports: [
      ['nginx', 80, 6, '0.0.0.0'],
      ['nginx', 443, 6, '0.0.0.0'],
      ['nginx', 80, 6, '::'],
    ],
  },
  {
    name: 'db',
    processes: [
      [
        'postgres',
        '/usr/lib/postgresql/15/bin/postgres',
        '/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf',
        115,
        'systemd',
      ],
      [
        'postgres',
        '/usr/lib/postgresql/15/bin/postgres',
        'postgres: 15/main: checkpointer ',
        115,
        'postgres',
      ],
      [
        'postgres',
        '/usr/lib/postgresql/15/bin/postgres',
        'postgres: 15/main: walwriter ',
        115,
        'postgres',
      ],
    ],
    ports: [['postgres', 5432, 6, '127.0.0.1']],
  },
  {
    name: 'app',
    processes: [['node', '/usr/bin/node', 'node /srv/app/server.js', 1001, 'systemd']],
    ports: [['node', 3000, 6, '0.0.0.0']],
  },
  {
    name: 'docker',
    processes: [
      ['containerd', '/usr/bin/containerd', '/usr/bin/containerd', 0, 'systemd'],
      [
        'dockerd',
        '/usr/bin/dockerd',
        '/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock',
        0,
        'systemd',
      ],
    ],
    ports: [],
  },
];

/** Python distributions found in system site-packages: [name, version, summary, license]. */
export const PYTHON_PACKAGES: Record<
  string,
  readonly (readonly [string, string, string, string])[]
> = {
  'ubuntu-22.04': [
    ['requests', '2.25.1', 'Python HTTP for Humans.', 'Apache 2.0'],
    [
      'urllib3',
      '1.26.5',
      'HTTP library with thread-safe connection pooling, file post, and more.',
      'MIT',
    ],
    ['PyYAML', '5.4.1', 'YAML parser and emitter for Python', 'MIT'],
    [
      'cryptography',
      '3.4.8',
      'cryptography is a package which provides cryptographic recipes and primitives to Python developers.',
      'BSD or Apache License, Version 2.0',
    ],
    ['Jinja2', '3.0.3', 'A very fast and expressive template engine.', 'BSD-3-Clause'],
    ['certifi', '2020.6.20', "Python package for providing Mozilla's CA Bundle.", 'MPL-2.0'],
    ['idna', '3.3', 'Internationalized Domain Names in Applications (IDNA)', 'BSD-3-Clause'],
    ['six', '1.16.0', 'Python 2 and 3 compatibility utilities', 'MIT'],
  ],
  'ubuntu-24.04': [
    ['requests', '2.31.0', 'Python HTTP for Humans.', 'Apache 2.0'],
    [
      'urllib3',
      '2.0.7',
      'HTTP library with thread-safe connection pooling, file post, and more.',
      'MIT',
    ],
    ['PyYAML', '6.0.1', 'YAML parser and emitter for Python', 'MIT'],
    [
      'cryptography',
      '41.0.7',
      'cryptography is a package which provides cryptographic recipes and primitives to Python developers.',
      'Apache-2.0 OR BSD-3-Clause',
    ],
    ['Jinja2', '3.1.2', 'A very fast and expressive template engine.', 'BSD-3-Clause'],
    ['certifi', '2023.11.17', "Python package for providing Mozilla's CA Bundle.", 'MPL-2.0'],
  ],
  'debian-12': [
    ['pip', '23.0.1', 'The PyPA recommended tool for installing Python packages.', 'MIT'],
    [
      'setuptools',
      '66.1.1',
      'Easily download, build, install, upgrade, and uninstall Python packages',
      'MIT',
    ],
  ],
  'rhel-9': [
    ['requests', '2.25.1', 'Python HTTP for Humans.', 'Apache 2.0'],
    [
      'urllib3',
      '1.26.5',
      'HTTP library with thread-safe connection pooling, file post, and more.',
      'MIT',
    ],
    ['PyYAML', '5.4.1', 'YAML parser and emitter for Python', 'MIT'],
    ['dnf', '4.14.0', '', 'GPLv2+'],
    ['rpm', '4.16.1.3', 'Python bindings for apps which will manipulate RPM packages.', 'GPLv2+'],
  ],
  'amazon-linux-2023': [
    ['requests', '2.25.1', 'Python HTTP for Humans.', 'Apache 2.0'],
    ['botocore', '1.31.62', 'Low-level, data-driven core of boto 3.', 'Apache License 2.0'],
    ['awscli', '2.15.30', 'Universal Command Line Environment for AWS.', 'Apache License 2.0'],
    ['dnf', '4.14.0', '', 'GPLv2+'],
  ],
};

/** Global npm packages on hosts with the `app` role: [name, version, description, license]. */
export const NPM_PACKAGES: readonly (readonly [string, string, string, string])[] = [
  ['npm', '10.8.2', 'a package manager for JavaScript', 'Artistic-2.0'],
  [
    'pm2',
    '5.3.1',
    'Production process manager for Node.JS applications with a built-in load balancer.',
    'AGPL-3.0',
  ],
  ['express', '4.18.2', 'Fast, unopinionated, minimalist web framework', 'MIT'],
  ['lodash', '4.17.21', 'Lodash modular utilities.', 'MIT'],
  ['axios', '1.6.0', 'Promise based HTTP client for the browser and node.js', 'MIT'],
];

/** VM shapes: [vendor, model, logical cores, memory GiB, cpu brand]. */
export const VM_SHAPES: readonly (readonly [string, string, number, number, string])[] = [
  ['Amazon EC2', 't3.medium', 2, 4, 'Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz'],
  ['Amazon EC2', 'm6i.xlarge', 4, 16, 'Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz'],
  ['Amazon EC2', 'c6a.2xlarge', 8, 16, 'AMD EPYC 7R13 Processor'],
  ['QEMU', 'Standard PC (Q35 + ICH9, 2009)', 4, 8, 'Intel Xeon Processor (Cascadelake)'],
  ['VMware, Inc.', 'VMware7,1', 8, 32, 'Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz'],
  ['Dell Inc.', 'PowerEdge R650', 32, 128, 'Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz'],
];
