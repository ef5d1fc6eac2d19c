/** Hand-written, plausible laptop software lists (names and versions of well-known apps). */

/** macOS apps: [name, bundle id, short version, bundle version]. */
export const MAC_APPS: readonly (readonly [string, string, string, string])[] = [
  ['Safari', 'com.apple.Safari', '17.4.1', '19618.1.15.11.14'],
  ['Google Chrome', 'com.google.Chrome', '124.0.6367.119', '6367.119'],
  ['Firefox', 'org.mozilla.firefox', '125.0.3', '12524.4.23'],
  ['Slack', 'com.tinyspeck.slackmacgap', '4.38.121', '438121'],
  ['zoom.us', 'us.zoom.xos', '6.0.2 (33403)', '6.0.2.33403'],
  ['Visual Studio Code', 'com.microsoft.VSCode', '1.89.1', '1.89.1'],
  ['Docker', 'com.docker.docker', '4.30.0', '149282'],
  ['iTerm', 'com.googlecode.iterm2', '3.5.0', '3.5.0'],
  ['1Password', 'com.1password.1password', '8.10.30', '81030003'],
  ['Microsoft Word', 'com.microsoft.Word', '16.84', '16.84.24041420'],
  ['Microsoft Excel', 'com.microsoft.Excel', '16.84', '16.84.24041420'],
  ['Microsoft Teams', 'com.microsoft.teams2', '24102.2223.2870.9480', '24102.2223.2870.9480'],
  ['Notion', 'notion.id', '3.5.0', '3.5.0'],
  ['Figma', 'com.figma.Desktop', '124.1.16', '124.1.16'],
  ['Xcode', 'com.apple.dt.Xcode', '15.3', '22618'],
];

/** Homebrew formulae: [name, version]. */
export const BREW_FORMULAE: readonly (readonly [string, string])[] = [
  ['git', '2.45.0'],
  ['openssl@3', '3.3.0'],
  ['python@3.12', '3.12.3'],
  ['node', '22.1.0'],
  ['jq', '1.7.1'],
  ['wget', '1.24.5'],
  ['curl', '8.7.1'],
  ['go', '1.22.3'],
  ['kubernetes-cli', '1.30.0'],
  ['awscli', '2.15.46'],
];

/** Windows programs: [name, version, publisher, install location]. */
export const WINDOWS_PROGRAMS: readonly (readonly [string, string, string, string])[] = [
  [
    'Google Chrome',
    '124.0.6367.119',
    'Google LLC',
    'C:\\Program Files\\Google\\Chrome\\Application',
  ],
  ['Mozilla Firefox (x64 en-US)', '125.0.3', 'Mozilla', 'C:\\Program Files\\Mozilla Firefox'],
  [
    'Microsoft Edge',
    '124.0.2478.80',
    'Microsoft Corporation',
    'C:\\Program Files (x86)\\Microsoft\\Edge\\Application',
  ],
  [
    'Microsoft 365 Apps for enterprise - en-us',
    '16.0.17531.20140',
    'Microsoft Corporation',
    'C:\\Program Files\\Microsoft Office',
  ],
  ['Microsoft Teams', '24102.2223.2870.9480', 'Microsoft Corporation', ''],
  [
    'Zoom Workplace (64-bit)',
    '6.0.2.33403',
    'Zoom Video Communications, Inc.',
    'C:\\Program Files\\Zoom\\bin',
  ],
  [
    'Slack (Machine - MSI)',
    '4.38.121',
    'Slack Technologies Inc.',
    'C:\\Program Files\\Slack Deployment',
  ],
  ['7-Zip 23.01 (x64)', '23.01', 'Igor Pavlov', 'C:\\Program Files\\7-Zip\\'],
  ['Notepad++ (64-bit x64)', '8.6.5', 'Notepad++ Team', 'C:\\Program Files\\Notepad++'],
  ['Adobe Acrobat (64-bit)', '24.002.20736', 'Adobe', 'C:\\Program Files\\Adobe\\Acrobat DC\\'],
  [
    'Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33135',
    '14.38.33135.0',
    'Microsoft Corporation',
    '',
  ],
  ['Git', '2.45.0', 'The Git Development Community', 'C:\\Program Files\\Git\\'],
  ['Python 3.12.3 (64-bit)', '3.12.3150.0', 'Python Software Foundation', ''],
  ['osquery', '5.23.1', 'osquery', 'C:\\Program Files\\osquery\\'],
];

/** Laptop models: [vendor, model, cpu brand, logical cores, memory GiB]. */
export const LAPTOP_MODELS: Record<
  'darwin' | 'windows',
  readonly (readonly [string, string, string, number, number])[]
> = {
  darwin: [
    ['Apple Inc.', 'MacBookPro18,3', 'Apple M1 Pro', 10, 16],
    ['Apple Inc.', 'Mac14,7', 'Apple M2', 8, 16],
    ['Apple Inc.', 'Mac15,6', 'Apple M3 Pro', 11, 36],
  ],
  windows: [
    ['Dell Inc.', 'Latitude 7440', '13th Gen Intel(R) Core(TM) i7-1365U', 12, 16],
    ['LENOVO', '21HD0053US', '13th Gen Intel(R) Core(TM) i7-1355U', 12, 32],
    ['HP', 'HP EliteBook 840 G10', '13th Gen Intel(R) Core(TM) i5-1345U', 12, 16],
  ],
};
