import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { conflict, invalid, isRole, notFound, readableTeams } from '@flotilla/core';
import {
  CreateTeamBody,
  EnrollSecret,
  IdParams,
  PageQuery,
  SecretInput,
  Team,
  TeamUsersBody,
  UpdateTeamBody,
  User,
} from '@flotilla/api';
import type { AppContext } from '../context.js';
import { teamToApi, userToApi } from '../http/format.js';
import { validateAgentOptions } from '../settings/agent-options.js';
import type { EnrollSecretService } from './enroll-secrets.service.js';

export function registerTeamRoutes(
  app: FastifyInstance,
  ctx: AppContext,
  secrets: EnrollSecretService,
  hide: boolean,
): void {
  const tags = ['teams'];
  const getTeam = async (id: number) => {
    const t = await ctx.ds.teams.get(id);
    if (!t) throw notFound('team', 'TEAM_NOT_FOUND');
    return t;
  };

  app.get(
    '/teams',
    {
      schema: {
        hide,
        tags,
        summary: 'List teams',
        querystring: Type.Object({
          ...PageQuery,
          query: Type.Optional(Type.String({ maxLength: 255 })),
        }),
        response: { 200: Type.Object({ teams: Type.Array(Team) }) },
      },
    },
    async (req) => {
      const actor = req.authorize('read', { type: 'team' });
      const q = req.query as { page?: number; per_page?: number; query?: string };
      const visible = readableTeams(actor, 'team');
      const teams = await ctx.ds.teams.list({
        ...(visible === 'all' ? {} : { ids: visible }),
        ...(q.query ? { query: q.query } : {}),
        page: q.page ?? 0,
        perPage: q.per_page ?? 100,
      });
      return { teams: teams.map(teamToApi) };
    },
  );

  app.post(
    '/teams',
    {
      schema: {
        hide,
        tags,
        summary: 'Create a team',
        body: CreateTeamBody,
        response: { 200: Type.Object({ team: Team }) },
      },
    },
    async (req) => {
      const actor = req.authorize('write', { type: 'team', teamId: null });
      const body = req.body as { name: string; description?: string };
      const name = body.name.trim();
      if (!name)
        throw invalid('Validation Failed', [{ name: 'name', reason: 'must not be blank' }]);
      if (await ctx.ds.teams.getByName(name))
        throw conflict(`a team named "${name}" already exists`, 'TEAM_NAME_TAKEN');
      const id = await ctx.ds.teams.create(name, body.description ?? '', ctx.clock());
      await ctx.activities.record(actor, 'created_team', { team_id: id, team_name: name });
      return { team: teamToApi(await getTeam(id)) };
    },
  );

  app.get(
    '/teams/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'Get a team',
        params: IdParams,
        response: { 200: Type.Object({ team: Team }) },
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      req.authorize('read', { type: 'team', teamId: id });
      return { team: teamToApi(await getTeam(id)) };
    },
  );

  app.patch(
    '/teams/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'Rename or describe a team',
        params: IdParams,
        body: UpdateTeamBody,
        response: { 200: Type.Object({ team: Team }) },
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      const actor = req.authorize('write', { type: 'team', teamId: id });
      const team = await getTeam(id);
      const body = req.body as { name?: string; description?: string };
      if (body.name && body.name !== team.name && (await ctx.ds.teams.getByName(body.name)))
        throw conflict(`a team named "${body.name}" already exists`, 'TEAM_NAME_TAKEN');
      await ctx.ds.teams.update(id, body, ctx.clock());
      await ctx.activities.record(actor, 'edited_team', {
        team_id: id,
        team_name: body.name ?? team.name,
        fields: Object.keys(body),
      });
      return { team: teamToApi(await getTeam(id)) };
    },
  );

  app.delete(
    '/teams/:id',
    {
      schema: {
        hide,
        tags,
        summary: 'Delete a team (its hosts move to no team)',
        params: IdParams,
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      const actor = req.authorize('write', { type: 'team', teamId: null });
      const team = await getTeam(id);
      const hosts = await ctx.ds.hosts.list(
        { visibleTeams: [id], nowMs: ctx.clock() },
        { page: 0, perPage: 1_000_000, orderKey: 'id', orderDirection: 'asc' },
      );
      await ctx.ds.teams.delete(id);
      for (const h of hosts) ctx.checkin.hostChanged(h.id);
      await ctx.activities.record(actor, 'deleted_team', { team_id: id, team_name: team.name });
      return {};
    },
  );

  app.post(
    '/teams/:id/agent_options',
    {
      schema: {
        hide,
        tags,
        summary: "Replace a team's agent options",
        params: IdParams,
        body: Type.Object({}, { additionalProperties: true }),
        response: { 200: Type.Object({ team: Team }) },
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      const actor = req.authorize('write', { type: 'agent_options', teamId: id });
      const team = await getTeam(id);
      const opts = validateAgentOptions(req.body);
      await ctx.ds.teams.update(id, { agent_options: JSON.stringify(opts) }, ctx.clock());
      ctx.checkin.agentOptionsChanged();
      await ctx.activities.record(actor, 'edited_agent_options', {
        team_id: id,
        team_name: team.name,
        global: false,
      });
      return { team: teamToApi(await getTeam(id)) };
    },
  );

  app.get(
    '/teams/:id/users',
    {
      schema: {
        hide,
        tags,
        summary: "A team's users",
        params: IdParams,
        response: { 200: Type.Object({ users: Type.Array(User) }) },
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      req.authorize('read', { type: 'user', teamId: id });
      const users = await ctx.ds.users.list({
        teamIds: [id],
        orderKey: 'name',
        orderDirection: 'asc',
        page: 0,
        perPage: 100_000,
      });
      return { users: users.map(userToApi) };
    },
  );

  app.patch(
    '/teams/:id/users',
    {
      schema: {
        hide,
        tags,
        summary: 'Add users to a team with roles',
        params: IdParams,
        body: TeamUsersBody,
        response: { 200: Type.Object({ team: Team }) },
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      const actor = req.authorize('write', { type: 'user', teamId: id });
      const team = await getTeam(id);
      const body = req.body as { users: Array<{ id: number; role?: string }> };
      for (const u of body.users) {
        const role = u.role ?? 'observer';
        if (!isRole(role))
          throw invalid('Validation Failed', [
            { name: 'users.role', reason: `unknown role ${role}` },
          ]);
        const user = await ctx.ds.users.get(u.id);
        if (!user) throw notFound(`user ${u.id}`, 'USER_NOT_FOUND');
        if (user.global_role)
          throw invalid('Validation Failed', [
            { name: 'users.id', reason: `user ${u.id} has a global role` },
          ]);
        const teams = user.teams
          .filter((t) => t.team_id !== id)
          .map((t) => ({ teamId: t.team_id, role: t.role }));
        teams.push({ teamId: id, role });
        await ctx.ds.users.update(u.id, {}, teams, ctx.clock());
        await ctx.activities.record(actor, 'changed_user_role', {
          user_id: u.id,
          user_email: user.email,
          team_id: id,
          team_name: team.name,
          role,
        });
      }
      return { team: teamToApi(await getTeam(id)) };
    },
  );

  app.delete(
    '/teams/:id/users',
    {
      schema: {
        hide,
        tags,
        summary: 'Remove users from a team',
        params: IdParams,
        body: TeamUsersBody,
        response: { 200: Type.Object({ team: Team }) },
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      const actor = req.authorize('write', { type: 'user', teamId: id });
      const team = await getTeam(id);
      for (const u of (req.body as { users: Array<{ id: number }> }).users) {
        const user = await ctx.ds.users.get(u.id);
        if (!user) continue;
        await ctx.ds.users.update(
          u.id,
          {},
          user.teams
            .filter((t) => t.team_id !== id)
            .map((t) => ({ teamId: t.team_id, role: t.role })),
          ctx.clock(),
        );
        await ctx.activities.record(actor, 'deleted_user_team_role', {
          user_id: u.id,
          user_email: user.email,
          team_id: id,
          team_name: team.name,
        });
      }
      return { team: teamToApi(await getTeam(id)) };
    },
  );

  app.get(
    '/teams/:id/secrets',
    {
      schema: {
        hide,
        tags,
        summary: "A team's enroll secrets",
        params: IdParams,
        response: { 200: Type.Object({ secrets: Type.Array(EnrollSecret) }) },
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      req.authorize('read', { type: 'enroll_secret', teamId: id });
      await getTeam(id);
      return { secrets: await secrets.list(id) };
    },
  );

  app.patch(
    '/teams/:id/secrets',
    {
      schema: {
        hide,
        tags,
        summary: "Replace a team's enroll secrets",
        params: IdParams,
        body: Type.Object(
          { secrets: Type.Array(SecretInput, { maxItems: 50 }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ secrets: Type.Array(EnrollSecret) }) },
      },
    },
    async (req) => {
      const id = (req.params as { id: number }).id;
      const actor = req.authorize('write', { type: 'enroll_secret', teamId: id });
      const team = await getTeam(id);
      await secrets.replace(
        id,
        (req.body as { secrets: Array<{ secret: string }> }).secrets.map((s) => s.secret),
      );
      await ctx.activities.record(actor, 'edited_enroll_secrets', {
        team_id: id,
        team_name: team.name,
      });
      return { secrets: await secrets.list(id) };
    },
  );
}
