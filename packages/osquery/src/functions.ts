/**
 * SQL functions osquery 5.23 adds to SQLite, with the argument counts it registers
 * (-1: any number), from osquery/sql/sqlite_*.cpp.
 */
export const OSQUERY_FUNCTIONS: ReadonlyMap<string, readonly number[]> = new Map<
  string,
  readonly number[]
>([
  // sqlite_math.cpp
  ...['sqrt', 'acos', 'asin', 'atan', 'cos', 'sin', 'tan', 'cot', 'exp', 'log', 'log10'].map(
    (name) => [name, [1]] as const,
  ),
  ...['ceil', 'floor', 'degrees', 'radians'].map((name) => [name, [1]] as const),
  ['power', [2]],
  ['pi', [0]],
  // sqlite_string.cpp
  ['split', [3]],
  ['regex_split', [3]],
  ['regex_match', [3]],
  ['inet_aton', [1]],
  ['concat', [-1]],
  ['concat_ws', [-1]],
  // sqlite_hashing.cpp
  ['md5', [1]],
  ['sha1', [1]],
  ['sha256', [1]],
  ['community_id_v1', [5, 6]],
  ['community_id_v1_strict', [5, 6]],
  // sqlite_encoding.cpp
  ['to_base64', [1]],
  ['from_base64', [1]],
  ['conditional_to_base64', [1]],
  // sqlite_network.cpp
  ['in_cidr_block', [2]],
  // sqlite_version.cpp
  ['version_compare', [-1]],
  // sqlite_filesystem.cpp
  ['is_path_deterministic', [-1]],
  ['find_file_path_in_cmd', [-1]],
  ['parent_directory', [1]],
  // sqlite_operations.cpp
  ['carve', [1]],
  ['sleep', [1]],
]);

/** Collations osquery registers (sqlite_version.cpp); SQLite only needs to see a known name. */
export const OSQUERY_COLLATIONS: ReadonlySet<string> = new Set([
  'version',
  'version_arch',
  'version_dpkg',
  'version_rhel',
]);

/**
 * Built-ins of the SQLite inside better-sqlite3 that osquery does not have: osquery 5.23
 * bundles SQLite 3.42.0 built without SQLITE_ENABLE_MATH_FUNCTIONS, percentile or geopoly,
 * so a query using these would prepare here and fail on the host.
 */
export const FUNCTIONS_MISSING_IN_OSQUERY: ReadonlySet<string> = new Set([
  // SQLite math functions osquery does not re-implement
  'acosh',
  'asinh',
  'atanh',
  'atan2',
  'ceiling',
  'cosh',
  'sinh',
  'tanh',
  'ln',
  'log2',
  'mod',
  'pow',
  'trunc',
  // SQLITE_ENABLE_PERCENTILE
  'median',
  'percentile',
  'percentile_cont',
  'percentile_disc',
  // added after SQLite 3.42
  'timediff',
  'octet_length',
  'string_agg',
  'unistr',
  'unistr_quote',
  'if',
  'json_pretty',
  'jsonb',
  'jsonb_array',
  'jsonb_extract',
  'jsonb_group_array',
  'jsonb_group_object',
  'jsonb_insert',
  'jsonb_object',
  'jsonb_patch',
  'jsonb_remove',
  'jsonb_replace',
  'jsonb_set',
  // SQLITE_ENABLE_GEOPOLY / RTREE
  'geopoly_area',
  'geopoly_bbox',
  'geopoly_blob',
  'geopoly_ccw',
  'geopoly_contains_point',
  'geopoly_group_bbox',
  'geopoly_json',
  'geopoly_overlap',
  'geopoly_regular',
  'geopoly_svg',
  'geopoly_within',
  'geopoly_xform',
  'rtreecheck',
  'rtreedepth',
  'rtreenode',
]);
