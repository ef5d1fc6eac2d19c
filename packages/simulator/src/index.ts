/** @flotilla/simulator — simulated osquery 5.23 hosts speaking the TLS remote API. */
export { runFleet, startFleet, assignProfiles, parseProfileMix } from './fleet.js';
export type { FleetOptions, RunningFleet } from './fleet.js';
export { formatStats, mergeFleetStats, statsBetween, summarize } from './stats.js';
export type { EndpointStats, FleetStats } from './stats.js';
export { OsqueryAgent, ENDPOINT_PATHS } from './agent/agent.js';
export type { AgentObserver, AgentOptions, Endpoint } from './agent/agent.js';
export { createSimulatedAgent } from './agent/factory.js';
export type { SimulatedAgentOptions } from './agent/factory.js';
export {
  distributedWriteBody,
  enrollBody,
  eventLogLine,
  logBody,
  nodeKeyBody,
  requestHeaders,
  snapshotLogLine,
  statusLogLine,
} from './agent/requests.js';
export { parseConfig, hostSchedule, platformMatches } from './agent/config.js';
export { Transport } from './agent/transport.js';
export { SimHost } from './host/sim-host.js';
export { SqlEngine } from './host/sql-engine.js';
export type { QueryResult, Row, TableSource } from './host/sql-engine.js';
export { EngineSet } from './host/engine-set.js';
export { loadSchema, tablesFor } from './host/schema.js';
export { getProfile, PROFILE_NAMES, DEFAULT_MIX } from './profiles/catalog.js';
export type { Profile } from './profiles/profile.js';
export { SCENARIOS } from './events/suspicious.js';
