import { createSecureContext } from 'node:tls';
import type { SecureContext } from 'node:tls';
import { EngineSet } from '../host/engine-set.js';
import { SimHost } from '../host/sim-host.js';
import { OSQUERY_VERSION } from '../profiles/common.js';
import { getProfile } from '../profiles/catalog.js';
import { OsqueryAgent } from './agent.js';
import type { ConnectionPool } from './connection-pool.js';
import type { AgentObserver } from './agent.js';
import { Transport } from './transport.js';

export interface SimulatedAgentOptions {
  /** Profile name, e.g. `ubuntu-22.04`. */
  profile: string;
  /** Host number within the fleet; with `fleetSeed` it fixes every generated value. */
  index: number;
  fleetSeed?: number;
  /** Base URL of the osquery TLS server, e.g. https://127.0.0.1:8412 */
  server: string;
  /** PEM CA bundle the server certificate must chain to (--tls_server_certs). */
  ca?: string;
  /** Pre-built context from `ca`, shared by many agents (saves a parse per host). */
  secureContext?: SecureContext;
  enrollSecret: string;
  gzip?: boolean;
  hostIdentifier?: 'uuid' | 'hostname';
  suspiciousRate?: number;
  observer?: AgentObserver;
  engines?: EngineSet;
  startDelayMs?: number;
  clock?: () => number;
  /** Connections shared with other hosts (see TransportOptions.sharedAgent). */
  sharedAgent?: ConnectionPool;
}

const defaultEngines = new EngineSet();

/** Builds a host of `profile` and the osqueryd that runs on it (not yet started). */
export function createSimulatedAgent(o: SimulatedAgentOptions): OsqueryAgent {
  const profile = getProfile(o.profile);
  const host = new SimHost(profile, o.index, o.fleetSeed ?? 1, {
    ...(o.suspiciousRate === undefined ? {} : { suspiciousRate: o.suspiciousRate }),
    ...(o.clock === undefined ? {} : { clock: o.clock }),
  });
  const secureContext =
    o.secureContext ?? createSecureContext(o.ca === undefined ? {} : { ca: o.ca });
  const server = new URL(o.server);
  const transport = new Transport({
    server,
    secureContext,
    sessionTimeoutSeconds: 3600,
    timeoutMs: 16_000,
    version: OSQUERY_VERSION,
    ...(o.sharedAgent === undefined ? {} : { sharedAgent: o.sharedAgent }),
    ...(o.observer === undefined
      ? {}
      : { onConnect: () => o.observer?.event('connection_opened') }),
  });
  return new OsqueryAgent({
    host,
    engine: (o.engines ?? defaultEngines).get(profile.platform),
    transport,
    enrollSecret: o.enrollSecret,
    flags: {
      tls_hostname: server.host,
      tls_server_certs: '/etc/osquery/ca.pem',
      enroll_secret_path: '/etc/osquery/enroll_secret',
    },
    ...(o.gzip === undefined ? {} : { gzip: o.gzip }),
    ...(o.hostIdentifier === undefined ? {} : { hostIdentifier: o.hostIdentifier }),
    ...(o.observer === undefined ? {} : { observer: o.observer }),
    ...(o.startDelayMs === undefined ? {} : { startDelayMs: o.startDelayMs }),
  });
}
