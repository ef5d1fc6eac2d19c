import type { AgentConnections } from './osquery/agent-connections.js';
import type { Datastore } from '@flotilla/db';
import type { Logger } from 'pino';
import type { ServerConfig } from './config.js';
import type { SecretBox } from './crypto/secrets.js';
import type { Bus } from './bus/bus.js';
import type { CheckinService } from './osquery/checkin.service.js';
import type { ActivityService } from './activities/activity.service.js';
import type { TlsMaterial } from './tls/certificates.js';

/** Everything a feature needs, built once per process and handed to each feature's routes. */
export interface AppContext {
  config: ServerConfig;
  ds: Datastore;
  bus: Bus;
  secrets: SecretBox;
  log: Logger;
  clock: () => number;
  checkin: CheckinService;
  activities: ActivityService;
  tls: TlsMaterial | undefined;
  /** Agents' connections read by Flotilla itself (undefined when `agent_connections` is off). */
  agentConnections?: AgentConnections;
}
