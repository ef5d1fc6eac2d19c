import { invalid, type FieldError } from '@flotilla/core';

/** Fleet's agent options document: the osquery config, per-platform overrides, flags. */
export interface AgentOptions {
  config: Record<string, unknown>;
  overrides?: { platforms?: Record<string, Record<string, unknown>> };
  command_line_flags?: Record<string, unknown>;
}

export const DEFAULT_AGENT_OPTIONS: AgentOptions = {
  config: {
    options: {
      pack_delimiter: '/',
      logger_tls_period: 10,
      distributed_plugin: 'tls',
      disable_distributed: false,
      logger_tls_endpoint: '/api/osquery/log',
      distributed_interval: 10,
      distributed_tls_max_attempts: 3,
    },
    decorators: {
      load: [
        'SELECT uuid AS host_uuid FROM system_info;',
        'SELECT hostname AS hostname FROM system_info;',
      ],
    },
  },
  overrides: {},
};

const CONFIG_KEYS = new Set([
  'options',
  'decorators',
  'packs',
  'schedule',
  'file_paths',
  'file_paths_query',
  'exclude_paths',
  'file_accesses',
  'yara',
  'prometheus_targets',
  'views',
  'auto_table_construction',
  'events',
  'feature_vectors',
]);
const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function checkConfig(cfg: unknown, path: string, errs: FieldError[]): void {
  if (!isObj(cfg)) {
    errs.push({ name: path, reason: 'must be an object' });
    return;
  }
  for (const [k, v] of Object.entries(cfg)) {
    if (!CONFIG_KEYS.has(k))
      errs.push({ name: `${path}.${k}`, reason: 'is not an osquery config key' });
    else if (k === 'options') {
      if (!isObj(v)) errs.push({ name: `${path}.options`, reason: 'must be an object' });
      else {
        for (const [ok, ov] of Object.entries(v)) {
          if (!['string', 'number', 'boolean'].includes(typeof ov)) {
            errs.push({
              name: `${path}.options.${ok}`,
              reason: 'must be a string, number or boolean',
            });
          }
        }
        for (const n of [
          'distributed_interval',
          'logger_tls_period',
          'config_refresh',
          'config_tls_refresh',
        ] as const) {
          const val = v[n];
          if (val !== undefined && (typeof val !== 'number' || !Number.isInteger(val) || val < 0)) {
            errs.push({ name: `${path}.options.${n}`, reason: 'must be a non-negative integer' });
          }
        }
      }
    } else if (!isObj(v) && !Array.isArray(v) && typeof v !== 'string') {
      errs.push({ name: `${path}.${k}`, reason: 'has the wrong type' });
    }
  }
}

/** Validates an agent options document, reporting every problem at once. */
export function validateAgentOptions(input: unknown): AgentOptions {
  const errs: FieldError[] = [];
  if (!isObj(input))
    throw invalid('agent options must be an object', [
      { name: 'agent_options', reason: 'must be an object' },
    ]);
  for (const k of Object.keys(input)) {
    if (
      ![
        'config',
        'overrides',
        'command_line_flags',
        'extensions',
        'update_channels',
        'script_execution_timeout',
      ].includes(k)
    ) {
      errs.push({ name: k, reason: 'unknown agent options key' });
    }
  }
  checkConfig(input['config'] ?? {}, 'config', errs);
  const ov = input['overrides'];
  if (ov !== undefined && ov !== null) {
    if (!isObj(ov)) errs.push({ name: 'overrides', reason: 'must be an object' });
    else {
      for (const k of Object.keys(ov))
        if (k !== 'platforms') errs.push({ name: `overrides.${k}`, reason: 'unknown key' });
      const p = ov['platforms'];
      if (p !== undefined && p !== null) {
        if (!isObj(p)) errs.push({ name: 'overrides.platforms', reason: 'must be an object' });
        else
          for (const [plat, cfg] of Object.entries(p))
            checkConfig(cfg, `overrides.platforms.${plat}`, errs);
      }
    }
  }
  const flags = input['command_line_flags'];
  if (flags !== undefined && flags !== null && !isObj(flags))
    errs.push({ name: 'command_line_flags', reason: 'must be an object' });
  if (errs.length) throw invalid('invalid agent options', errs, 'INVALID_AGENT_OPTIONS');
  return input as unknown as AgentOptions;
}

/** The osquery config a host receives: the platform override replaces the base config. */
export function configForPlatform(
  opts: AgentOptions,
  platformKeys: readonly string[],
): Record<string, unknown> {
  const platforms = opts.overrides?.platforms ?? {};
  for (const k of platformKeys) {
    const o = platforms[k];
    if (o) return o;
  }
  return opts.config ?? {};
}
