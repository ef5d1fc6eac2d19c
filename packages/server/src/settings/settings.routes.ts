import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { invalid } from '@flotilla/core';
import { EnrollSecret, SecretInput } from '@flotilla/api';
import type { AppContext } from '../context.js';
import type { EnrollSecretService } from '../teams/enroll-secrets.service.js';
import { DEFAULT_AGENT_OPTIONS, validateAgentOptions } from './agent-options.js';

export const VERSION = '0.1.0';

const ConfigPatch = Type.Object(
  {
    org_info: Type.Optional(
      Type.Object(
        {
          org_name: Type.Optional(Type.String({ maxLength: 255 })),
          org_logo_url: Type.Optional(Type.String({ maxLength: 2048 })),
          contact_url: Type.Optional(Type.String({ maxLength: 2048 })),
        },
        { additionalProperties: false },
      ),
    ),
    server_settings: Type.Optional(
      Type.Object(
        {
          server_url: Type.Optional(Type.String({ maxLength: 2048 })),
          live_query_disabled: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    agent_options: Type.Optional(Type.Object({}, { additionalProperties: true })),
    host_expiry_settings: Type.Optional(
      Type.Object(
        {
          host_expiry_enabled: Type.Boolean(),
          host_expiry_window: Type.Optional(Type.Integer({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** Organisation settings, agent options, global enroll secrets, the CA certificate, version. */
export function registerSettingsRoutes(
  app: FastifyInstance,
  ctx: AppContext,
  secrets: EnrollSecretService,
  hide: boolean,
): void {
  const tags = ['settings'];
  const current = async () => {
    const cfg = (await ctx.ds.appConfig.get()) ?? {};
    return {
      org_info: {
        org_name: 'Flotilla',
        org_logo_url: '',
        contact_url: '',
        ...((cfg['org_info'] as object | undefined) ?? {}),
      },
      server_settings: {
        server_url: ctx.config.serverUrl,
        live_query_disabled: false,
        ...((cfg['server_settings'] as object | undefined) ?? {}),
      },
      host_expiry_settings: {
        host_expiry_enabled: false,
        host_expiry_window: 0,
        ...((cfg['host_expiry_settings'] as object | undefined) ?? {}),
      },
      agent_options: (cfg['agent_options'] as object | undefined) ?? DEFAULT_AGENT_OPTIONS,
      update_interval: {
        osquery_detail: ctx.config.osquery.detailUpdateIntervalS * 1e9,
        osquery_policy: ctx.config.osquery.policyUpdateIntervalS * 1e9,
      },
      license: { tier: 'free', expiration: '0001-01-01T00:00:00Z' },
    };
  };

  app.get(
    '/config',
    {
      schema: {
        hide,
        tags,
        summary: 'Organisation settings (agent options for admins and maintainers only)',
      },
    },
    async (req) => {
      const actor = req.authorize('read', { type: 'app_config', teamId: null });
      const cfg = await current();
      const { agent_options: _options, ...rest } = cfg;
      const mayReadOptions =
        actor.globalRole === 'admin' ||
        actor.globalRole === 'maintainer' ||
        actor.globalRole === 'gitops';
      return mayReadOptions ? cfg : { ...rest, agent_options: undefined };
    },
  );

  app.patch(
    '/config',
    {
      schema: {
        hide,
        tags,
        summary: 'Modify organisation settings or global agent options',
        body: ConfigPatch,
      },
    },
    async (req) => {
      const actor = req.authorize('write', { type: 'app_config', teamId: null });
      const body = req.body as Record<string, Record<string, unknown> | undefined>;
      const stored = (await ctx.ds.appConfig.get()) ?? {};
      const next: Record<string, unknown> = { ...stored };
      for (const key of ['org_info', 'server_settings', 'host_expiry_settings'] as const) {
        if (body[key]) next[key] = { ...((stored[key] as object | undefined) ?? {}), ...body[key] };
      }
      if (body['agent_options'])
        next['agent_options'] = validateAgentOptions(body['agent_options']);
      await ctx.ds.appConfig.put(next, ctx.clock());
      if (body['agent_options']) {
        ctx.checkin.agentOptionsChanged();
        await ctx.activities.record(actor, 'edited_agent_options', { global: true });
      }
      const other = Object.keys(body).filter((k) => k !== 'agent_options');
      if (other.length) await ctx.activities.record(actor, 'edited_app_config', { fields: other });
      return current();
    },
  );

  app.get(
    '/spec/enroll_secret',
    {
      schema: {
        hide,
        tags,
        summary: 'Global enroll secrets',
        response: {
          200: Type.Object({ spec: Type.Object({ secrets: Type.Array(EnrollSecret) }) }),
        },
      },
    },
    async (req) => {
      req.authorize('read', { type: 'enroll_secret', teamId: null });
      return { spec: { secrets: await secrets.list(null) } };
    },
  );

  app.post(
    '/spec/enroll_secret',
    {
      schema: {
        hide,
        tags,
        summary: 'Replace all global enroll secrets',
        body: Type.Object(
          {
            spec: Type.Object(
              { secrets: Type.Array(SecretInput, { maxItems: 50 }) },
              { additionalProperties: false },
            ),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const actor = req.authorize('write', { type: 'enroll_secret', teamId: null });
      await secrets.replace(
        null,
        (req.body as { spec: { secrets: Array<{ secret: string }> } }).spec.secrets.map(
          (s) => s.secret,
        ),
      );
      await ctx.activities.record(actor, 'edited_enroll_secrets', { global: true });
      return {};
    },
  );

  app.get(
    '/config/certificate',
    {
      schema: {
        hide,
        tags,
        summary: 'The CA certificate agents use as --tls_server_certs (base64 PEM)',
        response: { 200: Type.Object({ certificate_chain: Type.String() }) },
      },
    },
    async (req) => {
      req.authorize('read', { type: 'app_config', teamId: null });
      if (!ctx.tls)
        throw invalid(
          'this server does not terminate TLS (tls=off); use your load balancer certificate',
          [],
          'TLS_OFF',
        );
      return { certificate_chain: Buffer.from(ctx.tls.ca).toString('base64') };
    },
  );

  app.get(
    '/version',
    {
      schema: {
        hide,
        tags,
        summary: 'Server version',
        response: {
          200: Type.Object({
            version: Type.String(),
            go_version: Type.String(),
            node_version: Type.String(),
          }),
        },
      },
    },
    async (req) => {
      req.skipAuthz();
      return { version: VERSION, go_version: '', node_version: process.version };
    },
  );
}
