import Type from 'typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authorize, forbidden, type Actor } from '@flotilla/core';
import type { UserWithTeams } from '@flotilla/db';
import {
  ChangePasswordBody,
  CreateUserBody,
  IdParams,
  LoginBody,
  PageQuery,
  SetupBody,
  UpdateUserBody,
  User,
} from '@flotilla/api';
import type { AppContext } from '../context.js';
import { userToApi } from '../http/format.js';
import type { UserService } from './users.service.js';

/** May the actor see/manage this user? Self, a global admin, or an admin of one of their teams. */
function authorizeUser(
  req: FastifyRequest,
  action: 'read' | 'write',
  target: UserWithTeams,
): Actor {
  const actor = req.skipAuthz();
  if (authorize(actor, action, { type: 'user', userId: target.id, teamId: null })) return actor;
  if (target.teams.some((t) => authorize(actor, action, { type: 'user', teamId: t.team_id })))
    return actor;
  throw forbidden();
}

/** First-run setup and sessions (under /api/v1), then user management (under the fleet prefix). */
export function registerSessionRoutes(
  app: FastifyInstance,
  ctx: AppContext,
  users: UserService,
): void {
  app.post(
    '/api/v1/setup',
    {
      config: { public: true },
      schema: {
        tags: ['users'],
        summary: 'First-run setup: create the first admin',
        body: SetupBody,
        response: {
          200: Type.Object({
            admin: User,
            token: Type.String(),
            org_info: Type.Object({ org_name: Type.String() }),
            server_url: Type.String(),
          }),
        },
      },
    },
    async (req) => {
      const body = req.body as {
        admin: { email: string; name: string; password: string; password_confirmation?: string };
        org_info?: { org_name: string };
        server_url?: string;
      };
      const { user, token } = await users.setup(
        body.admin,
        body.org_info?.org_name,
        body.server_url,
      );
      return {
        admin: userToApi(user),
        token,
        org_info: { org_name: body.org_info?.org_name ?? 'Flotilla' },
        server_url: body.server_url ?? ctx.config.serverUrl,
      };
    },
  );

  app.get(
    '/api/v1/setup',
    {
      config: { public: true },
      schema: {
        tags: ['users'],
        summary: 'Whether first-run setup is still needed',
        response: { 200: Type.Object({ setup_required: Type.Boolean() }) },
      },
    },
    async () => ({ setup_required: (await ctx.ds.users.count()) === 0 }),
  );
}

export function registerUserRoutes(
  app: FastifyInstance,
  ctx: AppContext,
  users: UserService,
  hide: boolean,
): void {
  const tags = ['users'];
  app.post(
    '/login',
    {
      config: { public: true },
      schema: {
        hide,
        tags,
        summary: 'Log in with email and password; returns a bearer token',
        body: LoginBody,
        response: { 200: Type.Object({ user: User, token: Type.String() }) },
      },
    },
    async (req) => {
      const { email, password } = req.body as { email: string; password: string };
      const { user, token } = await users.login(email, password, req.ip);
      return { user: userToApi(user), token };
    },
  );

  app.post('/logout', { schema: { hide, tags, summary: 'End this session' } }, async (req) => {
    const actor = req.skipAuthz();
    await users.logout(actor, req.sessionTokenHash);
    return {};
  });

  app.get(
    '/me',
    {
      schema: {
        hide,
        tags,
        summary: 'The logged-in user',
        response: { 200: Type.Object({ user: User }) },
      },
    },
    async (req) => {
      const actor = req.skipAuthz();
      return { user: userToApi(await users.get(actor.id)) };
    },
  );

  app.post(
    '/change_password',
    {
      schema: {
        hide,
        tags,
        summary: "Change the logged-in user's password",
        body: ChangePasswordBody,
      },
    },
    async (req) => {
      const actor = req.skipAuthz();
      const { old_password, new_password } = req.body as {
        old_password: string;
        new_password: string;
      };
      await users.update(actor, await users.get(actor.id), {
        password: old_password,
        new_password,
      });
      return {};
    },
  );

  app.get(
    '/users',
    {
      schema: {
        hide,
        tags,
        summary: 'List users',
        querystring: Type.Object({
          ...PageQuery,
          order_key: Type.Optional(
            Type.Union(['id', 'name', 'email', 'created_at'].map((k) => Type.Literal(k))),
          ),
          query: Type.Optional(Type.String({ maxLength: 255 })),
          team_id: Type.Optional(Type.Integer({ minimum: 1 })),
        }),
        response: { 200: Type.Object({ users: Type.Array(User) }) },
      },
    },
    async (req) => {
      const actor = req.authorize('read', { type: 'user' });
      const q = req.query as {
        page?: number;
        per_page?: number;
        order_key?: 'id' | 'name' | 'email' | 'created_at';
        order_direction?: 'asc' | 'desc';
        query?: string;
        team_id?: number;
      };
      let teamIds: number[] | undefined;
      if (actor.globalRole !== 'admin')
        teamIds = actor.teams.filter((t) => t.role === 'admin').map((t) => t.teamId);
      if (q.team_id !== undefined) {
        if (teamIds && !teamIds.includes(q.team_id)) throw forbidden();
        teamIds = [q.team_id];
      }
      const list = await ctx.ds.users.list({
        teamIds,
        query: q.query,
        orderKey: q.order_key ?? 'name',
        orderDirection: q.order_direction ?? 'asc',
        page: q.page ?? 0,
        perPage: q.per_page ?? 100,
      } as Parameters<typeof ctx.ds.users.list>[0]);
      return { users: list.map(userToApi) };
    },
  );

  const create = async (req: FastifyRequest) => {
    const body = req.body as Parameters<UserService['create']>[1];
    const teams = body.teams ?? [];
    const actor =
      teams.length && !body.global_role
        ? teams.map((t) => req.authorize('write', { type: 'user', teamId: t.id }))[0]!
        : req.authorize('write', { type: 'user', teamId: null });
    const { user, token } = await users.create(actor, body);
    return token ? { user: userToApi(user), token } : { user: userToApi(user) };
  };
  const createSchema = {
    hide,
    tags,
    body: CreateUserBody,
    response: { 200: Type.Object({ user: User, token: Type.Optional(Type.String()) }) },
  };
  app.post(
    '/users/admin',
    { schema: { ...createSchema, summary: 'Create a user (API-only users get a token)' } },
    create,
  );
  app.post('/users', { schema: { ...createSchema, summary: 'Create a user' } }, create);
  app.post(
    '/users/api_only',
    { schema: { ...createSchema, summary: 'Create an API-only user; returns its token' } },
    async (req) => {
      (req.body as { api_only?: boolean }).api_only = true;
      return create(req);
    },
  );

  app.get(
    '/users/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'Get a user',
        params: IdParams,
        response: { 200: Type.Object({ user: User }) },
      },
    },
    async (req) => {
      const target = await users.get((req.params as { id: number }).id);
      authorizeUser(req, 'read', target);
      return { user: userToApi(target) };
    },
  );

  app.patch(
    '/users/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'Edit a user (name, email, password, roles)',
        params: IdParams,
        body: UpdateUserBody,
        response: { 200: Type.Object({ user: User }) },
      },
    },
    async (req) => {
      const target = await users.get((req.params as { id: number }).id);
      const actor = authorizeUser(req, 'write', target);
      return {
        user: userToApi(
          await users.update(actor, target, req.body as Parameters<UserService['update']>[2]),
        ),
      };
    },
  );

  app.delete(
    '/users/:id',
    { schema: { hide, tags, summary: 'Delete a user', params: IdParams } },
    async (req) => {
      const target = await users.get((req.params as { id: number }).id);
      const actor = req.authorize('write', { type: 'user', teamId: null });
      await users.delete(actor, target);
      return {};
    },
  );
}
