import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import pino, { type Logger } from 'pino';
import type { Datastore } from '@flotilla/db';
import type { ServerConfig } from './config.js';
import type { AppContext } from './context.js';
import { SecretBox } from './crypto/secrets.js';
import { LocalBus, type Bus } from './bus/bus.js';
import { installErrorHandler } from './http/errors.js';
import { installJsonParser } from './http/json-body.js';
import { installAuth } from './http/auth.js';
import { CheckinService } from './osquery/checkin.service.js';
import { registerOsqueryRoutes } from './osquery/osquery.routes.js';
import { osqueryFastPath } from './osquery/fast-path.js';
import { frontAgentConnections } from './osquery/agent-connections.js';
import { ActivityService } from './activities/activity.service.js';
import { registerActivityRoutes } from './activities/activities.routes.js';
import { UserService } from './users/users.service.js';
import { registerSessionRoutes, registerUserRoutes } from './users/users.routes.js';
import { EnrollSecretService } from './teams/enroll-secrets.service.js';
import { registerTeamRoutes } from './teams/teams.routes.js';
import { registerSettingsRoutes, VERSION } from './settings/settings.routes.js';
import { HostService } from './hosts/hosts.service.js';
import { registerHostRoutes } from './hosts/hosts.routes.js';
import { registerCarveRoutes } from './carves/carves.routes.js';
import type { TlsMaterial } from './tls/certificates.js';
import { LabelQuerySource } from './labels/label-queries.js';
import { registerLabelRoutes } from './labels/labels.routes.js';
import { CampaignRegistry } from './live-queries/campaign-registry.js';
import { CampaignService } from './live-queries/campaign.service.js';
import {
  registerLiveQueryRoutes,
  registerResultsWebsocket,
} from './live-queries/live-queries.routes.js';
import { registerQueryRoutes } from './queries/queries.routes.js';
import { LogPipeline } from './logging/pipeline.js';
import { LogIngest } from './logging/ingest.js';
import { buildDestinations } from './logging/destinations/build.js';
import { buildMetrics } from './logging/metrics.js';
import { registerLoggingRoutes } from './logging/logging.routes.js';
import { ScheduleService } from './scheduled-queries/schedule.js';
import { QueryReportWriter } from './scheduled-queries/query-reports.js';
import { ScheduleStatsSource } from './scheduled-queries/schedule-stats.js';
import { registerReportRoutes } from './scheduled-queries/reports.routes.js';
import { PackService } from './packs/packs.service.js';
import { registerPackRoutes } from './packs/packs.routes.js';
import { InlineResultsWriter, ThreadResultsWriter } from './policies/results-writer.js';
import { InlineSoftwareWriter, ThreadSoftwareWriter } from './software/software-writer.js';
import { PolicyQuerySource } from './policies/policy-queries.js';
import { PolicyService } from './policies/policies.service.js';
import { registerPolicyRoutes } from './policies/policies.routes.js';
import { PolicyAutomations, WebhookAutomation } from './policies/automations.js';
import { PolicyResultLog } from './policies/policy-log.js';
import { SoftwareQuerySource } from './software/software-queries.js';
import { SoftwareService } from './software/software.service.js';
import { registerSoftwareRoutes } from './software/software.routes.js';
import { VulnScanJob } from './vulnerabilities/scan-job.js';
import { VulnerabilityService } from './vulnerabilities/vulnerabilities.service.js';

export interface BuildAppOptions {
  config: ServerConfig;
  ds: Datastore;
  /** Key for secrets at rest; every process sharing the database must use the same one. */
  serverKey: string;
  bus?: Bus;
  tls?: TlsMaterial | undefined;
  logger?: Logger;
  clock?: () => number;
}

/** Secrets that must never reach a log line. */
export const REDACT = [
  'req.headers.authorization',
  'req.body.password',
  'req.body.node_key',
  'req.body.enroll_secret',
  '*.password',
  '*.new_password',
  '*.old_password',
  '*.node_key',
  '*.nodeKey',
  '*.enroll_secret',
  '*.token',
  '*.secret',
];

/**
 * Builds the Fastify app (no listening): the osquery endpoints, the REST API under both
 * /api/v1/fleet and /api/latest/fleet, and the OpenAPI document. `start()` loads caches and
 * starts batch writers; `stop()` flushes them.
 */
export async function buildApp(opts: BuildAppOptions): Promise<{
  app: FastifyInstance;
  ctx: AppContext;
  software: SoftwareQuerySource;
  vulnScan: VulnScanJob;
}> {
  const { config, ds } = opts;
  const log = opts.logger ?? pino({ level: config.logLevel, redact: REDACT });
  const clock = opts.clock ?? Date.now;
  const bus = opts.bus ?? new LocalBus();
  const secrets = new SecretBox(opts.serverKey);

  type Handler = (req: IncomingMessage, res: ServerResponse) => void;
  let fastifyHandler: Handler | undefined;
  let fastPath: Handler | undefined;
  const app = Fastify({
    loggerInstance: log,
    // Never a log line per agent check-in: requests are logged only when they fail.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.trustProxy,
    bodyLimit: 1024 * 1024,
    // osquery keeps its connection open between check-ins; don't close it under them.
    keepAliveTimeout: 185_000,
    requestTimeout: 120_000,
    connectionTimeout: 0,
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: 'array',
        useDefaults: true,
        allErrors: true,
      },
    },
    // Our own server so the hot osquery check-ins can be answered before Fastify (fast-path.ts).
    serverFactory: (handler: Handler) => {
      const dispatch: Handler = (req, res) => (fastPath ?? handler)(req, res);
      fastifyHandler = handler;
      const server = opts.tls
        ? createHttpsServer(
            { key: opts.tls.key, cert: opts.tls.cert, sessionTimeout: 7200 },
            dispatch,
          )
        : createHttpServer(dispatch);
      server.keepAliveTimeout = 185_000;
      server.requestTimeout = 120_000;
      server.setTimeout(0);
      return server;
    },
  }) as unknown as FastifyInstance;

  const activities = new ActivityService(ds, clock);
  const pipeline = new LogPipeline(config.dataDir, buildDestinations(config), log);
  const logIngest = new LogIngest(pipeline, log, clock);
  const checkin = new CheckinService(ds, config, bus, secrets, log, clock, logIngest);
  const plainLimits = {
    maxBody: config.osquery.maxBodyBytes,
    trustProxy: config.trustProxy !== false,
  };
  if (fastifyHandler) fastPath = osqueryFastPath(checkin, log, plainLimits, fastifyHandler);
  const schedule = new ScheduleService(ds, bus, log);
  checkin.configContributors.push(schedule.contribute);
  const reports = new QueryReportWriter(
    ds,
    schedule,
    log,
    config.queryReportMaxRows,
    config.eventStoreMaxRows,
  );
  const scheduleStats = new ScheduleStatsSource(
    ds,
    schedule,
    log,
    config.osquery.detailUpdateIntervalS,
  );
  checkin.sources.push(scheduleStats);
  activities.copyTo = (line) => pipeline.append('audit', [line]);
  const packs = new PackService(ds, bus, log);
  checkin.hostPacks = (host) => packs.packsFor(host);
  logIngest.hooks = {
    results: (host, entries, now) =>
      reports.ingest(
        host.id,
        entries.filter((e) => !packs.isKnown(String(e['name']))),
        now,
      ),
    statuses: (host, entries, now) => scheduleStats.statuses(host, entries, now),
  };
  const ctx: AppContext = {
    config,
    ds,
    bus,
    secrets,
    log,
    clock,
    checkin,
    activities,
    tls: opts.tls,
  };
  const labelSource = new LabelQuerySource(
    ds,
    checkin.writes,
    bus,
    log,
    config.osquery.labelUpdateIntervalS,
  );
  const registry = new CampaignRegistry(bus, log, clock);
  checkin.sources.push(registry, labelSource);
  // SQLite writes hold the thread that runs them: with a database file (which another thread
  // can open), the large writers get a thread each unless configured otherwise.
  const writerThread = (enabled: boolean): boolean =>
    enabled && ds.dialect === 'sqlite' && ds.location !== undefined;
  const policySource = new PolicyQuerySource(
    ds,
    checkin.writes,
    bus,
    log,
    config.osquery.policyUpdateIntervalS,
    clock,
    // Both dialects: on PostgreSQL the thread takes the statements' own CPU off the event loop.
    config.osquery.policyWriteThread && ds.location !== undefined
      ? new ThreadResultsWriter(ds, log, config.osquery.policyWriteThreadNice)
      : new InlineResultsWriter(ds, log),
  );
  checkin.sources.push(policySource);
  const automations = new PolicyAutomations(ds, bus, log, clock);
  automations.add(new WebhookAutomation(ds, activities, log, config.serverUrl, clock));
  policySource.useAutomations(automations);
  // Pass/fail changes also go out as result-log events, for the scopes that turn it on.
  const policyLog = new PolicyResultLog(ds, bus, log, (lines) => pipeline.append('result', lines));
  policySource.onTransitions({
    policyIds: () => policyLog.policyIds(policySource.policyFacts()),
    handle: (t) => policyLog.handle(t, policySource.policyFacts()),
  });
  const policies = new PolicyService(ctx, policySource);
  const softwareSource = new SoftwareQuerySource(
    ds,
    log,
    config.software.updateIntervalS,
    undefined,
    writerThread(config.software.writeThread)
      ? new ThreadSoftwareWriter(ds, log)
      : new InlineSoftwareWriter(ds),
  );
  checkin.sources.push(softwareSource);
  // A host's first inventory is settled: its place in the enroll gate goes to the next host.
  softwareSource.onSettled((ids) => checkin.enrollGate.inventoried(ids));
  const vulnScan = new VulnScanJob(ds, log, clock, {
    intervalS: config.vulnerabilities.scanIntervalS,
    feedsDir: config.vulnerabilities.feedsDir,
    goodDir: join(config.dataDir, 'vulndb-last-good'),
    feedsUrl: config.vulnerabilities.feedsUrl,
    // A worker thread keeps its own time (Date.now): an injected clock keeps the scan here.
    thread: config.vulnerabilities.scanThread && opts.clock === undefined,
  });
  const softwareSvc = new SoftwareService(ds, () => softwareSource.flush());
  const vulnSvc = new VulnerabilityService(ds, softwareSvc, vulnScan);
  const campaigns = new CampaignService(ctx, registry);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Flotilla API',
        version: VERSION,
        description: "Fleet-compatible REST API and osquery's TLS remote API.",
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  installErrorHandler(app);
  installJsonParser(app);
  installAuth(app, ds, config.sessionTtlS, clock);

  const carveBodyBytes = Math.ceil((config.osquery.maxCarveBlockBytes * 4) / 3) + 64 * 1024;
  registerOsqueryRoutes(app, checkin, config.osquery.maxBodyBytes, carveBodyBytes);
  if (config.osquery.agentConnections) {
    const agents = frontAgentConnections(app.server, {
      svc: checkin,
      limits: plainLimits,
      route: (r) =>
        app
          .inject({
            method: r.method as 'POST',
            url: r.url,
            headers: r.headers,
            payload: r.body,
            remoteAddress: r.remoteAddress ?? '',
          })
          .then((res) => ({ status: res.statusCode, headers: res.headers, body: res.rawPayload })),
      maxBody: Math.max(config.osquery.maxBodyBytes, carveBodyBytes, 1024 * 1024),
      idleTimeoutMs: 185_000,
      log,
    });
    ctx.agentConnections = agents;
    app.addHook('preClose', (done) => {
      agents.close();
      done();
    });
  }

  const users = new UserService(ctx);
  const secretsSvc = new EnrollSecretService(ctx);
  const hosts = new HostService(ctx);
  hosts.hostPolicies = (id, teamId) => policies.hostPolicies(id, teamId);
  hosts.hostVulnerabilities = (id) => softwareSvc.hostVulnerabilities(id, false);
  hosts.flushPolicies = () => policySource.flush();
  registerSessionRoutes(app, ctx, users);
  for (const prefix of ['/api/v1/fleet', '/api/latest/fleet']) {
    const hide = prefix !== '/api/v1/fleet';
    await app.register(
      async (api) => {
        registerUserRoutes(api, ctx, users, hide);
        registerTeamRoutes(api, ctx, secretsSvc, hide);
        registerSettingsRoutes(api, ctx, secretsSvc, hide);
        registerHostRoutes(api, ctx, hosts, hide);
        registerActivityRoutes(api, ctx, hide);
        registerCarveRoutes(api, ctx, hide);
        registerQueryRoutes(api, ctx, hide);
        registerLabelRoutes(api, ctx, labelSource, hosts, hide);
        registerLiveQueryRoutes(api, ctx, campaigns, hide);
        registerPolicyRoutes(api, ctx, policies, hide);
        registerSoftwareRoutes(api, ctx, softwareSvc, vulnSvc, hide);
        registerReportRoutes(api, ctx, reports, hide);
        registerPackRoutes(api, ctx, packs, hide);
        registerLoggingRoutes(api, ctx, pipeline, hide);
      },
      { prefix },
    );
  }

  registerResultsWebsocket(app, ctx, campaigns);
  app.get('/api/openapi.json', { config: { public: true }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
  const metrics = buildMetrics(checkin, pipeline);
  app.get('/metrics', { config: { public: true }, schema: { hide: true } }, async (_req, reply) =>
    reply.type(metrics.contentType).send(await metrics.metrics()),
  );
  app.get('/healthz', { schema: { hide: true } }, async () => ({
    status: 'ok',
    hosts: checkin.cache.size,
  }));

  app.addHook('onReady', async () => {
    await labelSource.reload();
    await schedule.reload();
    await packs.reload();
    packs.start();
    pipeline.start();
    await policySource.start();
    await softwareSource.start();
    await checkin.start();
    await vulnScan.start();
  });
  app.addHook('onClose', async () => {
    campaigns.close();
    registry.close();
    await labelSource.flush();
    await policySource.stop();
    await vulnScan.stop();
    await softwareSource.stop();
    await checkin.stop();
    await reports.flush();
    await scheduleStats.flush();
    await pipeline.stop();
    packs.stop();
  });
  return { app, ctx, software: softwareSource, vulnScan };
}
