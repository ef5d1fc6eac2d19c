import {
  conflict,
  forbidden,
  invalid,
  isRole,
  notFound,
  passwordProblems,
  unauthenticated,
  type Actor,
  type FieldError,
} from '@flotilla/core';
import type { UserWithTeams } from '@flotilla/db';
import type { AppContext } from '../context.js';
import {
  DUMMY_PASSWORD_HASH,
  hashPassword,
  randomToken,
  tokenHash,
  verifyPassword,
} from '../crypto/secrets.js';
import { RateLimiter } from '../http/rate-limiter.js';

export interface TeamRoleInput {
  id: number;
  role: string;
}

/** People: first-run setup, sessions, and user management with Fleet's role rules. */
export class UserService {
  private readonly loginLimiter: RateLimiter;

  constructor(private readonly ctx: AppContext) {
    this.loginLimiter = new RateLimiter(ctx.config.rateLimits.loginPerMinute, ctx.clock);
  }

  async setup(
    input: {
      email: string;
      name: string;
      password: string;
      password_confirmation?: string | undefined;
    },
    orgName: string | undefined,
    serverUrl: string | undefined,
  ) {
    if ((await this.ctx.ds.users.count()) > 0)
      throw conflict('setup has already been completed', 'SETUP_DONE');
    const problems = passwordProblems(input.password, 'admin.password');
    if (
      input.password_confirmation !== undefined &&
      input.password_confirmation !== input.password
    ) {
      problems.push({ name: 'admin.password_confirmation', reason: 'does not match password' });
    }
    if (problems.length) throw invalid('Validation Failed', problems);
    const now = this.ctx.clock();
    const id = await this.ctx.ds.users.create({
      name: input.name,
      email: input.email.toLowerCase(),
      passwordHash: await hashPassword(input.password),
      globalRole: 'admin',
      apiOnly: false,
      teams: [],
      nowMs: now,
    });
    const cfg = (await this.ctx.ds.appConfig.get()) ?? {};
    await this.ctx.ds.appConfig.put(
      {
        ...cfg,
        org_info: { org_name: orgName ?? 'Flotilla', org_logo_url: '' },
        server_settings: { server_url: serverUrl ?? this.ctx.config.serverUrl },
      },
      now,
    );
    const token = await this.newSession(id);
    const user = (await this.ctx.ds.users.get(id))!;
    await this.ctx.activities.record(user, 'created_user', {
      user_id: id,
      user_name: user.name,
      user_email: user.email,
      global_role: 'admin',
    });
    return { user, token };
  }

  async login(email: string, password: string, ip: string) {
    const key = `${ip}|${email.toLowerCase()}`;
    this.loginLimiter.check(key);
    this.loginLimiter.check(ip);
    const user = await this.ctx.ds.users.getByEmail(email.toLowerCase());
    // Always run scrypt, so response time does not reveal whether the account exists.
    const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_PASSWORD_HASH);
    if (!user || !ok || !user.enabled || user.api_only) {
      this.loginLimiter.hit(key);
      this.loginLimiter.hit(`${ip}`);
      throw unauthenticated('Authentication failed', 'LOGIN_FAILED');
    }
    this.loginLimiter.reset(key);
    const token = await this.newSession(user.id);
    await this.ctx.activities.record(user, 'user_logged_in', { public_ip: ip });
    return { user, token };
  }

  async logout(actor: Actor, sessionHash: string | null): Promise<void> {
    if (sessionHash) await this.ctx.ds.sessions.delete(sessionHash);
    await this.ctx.activities.record(actor, 'user_logged_out', {});
  }

  private async newSession(userId: number): Promise<string> {
    const token = randomToken();
    await this.ctx.ds.sessions.create(userId, tokenHash(token), this.ctx.clock());
    return token;
  }

  async validateTeams(teams: TeamRoleInput[]): Promise<FieldError[]> {
    const errs: FieldError[] = [];
    for (const t of teams) {
      if (!isRole(t.role)) errs.push({ name: 'teams.role', reason: `unknown role ${t.role}` });
      if (!(await this.ctx.ds.teams.get(t.id)))
        errs.push({ name: 'teams.id', reason: `team ${t.id} does not exist` });
    }
    return errs;
  }

  /** Creates a user; API-only users get a token that never expires, returned once. */
  async create(
    actor: Actor,
    input: {
      name: string;
      email: string;
      password?: string | undefined;
      global_role?: string | null | undefined;
      teams?: TeamRoleInput[] | undefined;
      api_only?: boolean | undefined;
    },
  ) {
    const teams = input.teams ?? [];
    const globalRole = input.global_role ?? null;
    const errs: FieldError[] = [];
    if (globalRole && teams.length)
      errs.push({
        name: 'teams',
        reason: 'a user has either a global role or team roles, not both',
      });
    if (!globalRole && !teams.length)
      errs.push({
        name: 'global_role',
        reason: 'a global role or at least one team role is required',
      });
    errs.push(...(await this.validateTeams(teams)));
    let password = input.password;
    if (input.api_only) password ??= randomToken(24) + '!1';
    if (!password) errs.push({ name: 'password', reason: 'required' });
    else errs.push(...passwordProblems(password));
    if (errs.length) throw invalid('Validation Failed', errs);
    if (await this.ctx.ds.users.getByEmail(input.email.toLowerCase()))
      throw conflict('a user with this email already exists', 'EMAIL_TAKEN');
    // Team admins may only create users in teams they administer.
    if (actor.globalRole !== 'admin') {
      for (const t of teams)
        if (!actor.teams.some((m) => m.teamId === t.id && m.role === 'admin')) throw forbidden();
      if (globalRole) throw forbidden();
    }
    const id = await this.ctx.ds.users.create({
      name: input.name,
      email: input.email.toLowerCase(),
      passwordHash: await hashPassword(password!),
      globalRole,
      apiOnly: input.api_only ?? false,
      teams: teams.map((t) => ({ teamId: t.id, role: t.role })),
      nowMs: this.ctx.clock(),
    });
    const token = input.api_only ? await this.newSession(id) : undefined;
    const user = (await this.ctx.ds.users.get(id))!;
    await this.ctx.activities.record(actor, 'created_user', {
      user_id: id,
      user_name: user.name,
      user_email: user.email,
      global_role: globalRole,
      teams,
      api_only: user.api_only === 1,
    });
    return { user, token };
  }

  async get(id: number): Promise<UserWithTeams> {
    const u = await this.ctx.ds.users.get(id);
    if (!u) throw notFound('user', 'USER_NOT_FOUND');
    return u;
  }

  async update(
    actor: Actor,
    target: UserWithTeams,
    input: {
      name?: string | undefined;
      email?: string | undefined;
      password?: string | undefined;
      new_password?: string | undefined;
      global_role?: string | null | undefined;
      teams?: TeamRoleInput[] | undefined;
      enabled?: boolean | undefined;
      force_password_reset?: boolean | undefined;
    },
  ) {
    const isAdmin = actor.globalRole === 'admin';
    const self = actor.id === target.id;
    const roleChange = input.global_role !== undefined || input.teams !== undefined;
    if (roleChange || input.enabled !== undefined || input.force_password_reset !== undefined) {
      if (!isAdmin) {
        // Team admins may change roles only within teams they administer.
        const teamsTouched = [
          ...(input.teams ?? []).map((t) => t.id),
          ...target.teams.map((t) => t.team_id),
        ];
        const adminOfAll = teamsTouched.every((tid) =>
          actor.teams.some((m) => m.teamId === tid && m.role === 'admin'),
        );
        if (input.global_role !== undefined || !adminOfAll || target.global_role) throw forbidden();
      }
    }
    const errs: FieldError[] = [];
    const set: {
      name?: string;
      email?: string;
      password_hash?: string;
      global_role?: string | null;
      enabled?: number;
      force_password_reset?: number;
    } = {};
    if (input.name !== undefined) set.name = input.name;
    if (input.email !== undefined && input.email.toLowerCase() !== target.email) {
      const other = await this.ctx.ds.users.getByEmail(input.email.toLowerCase());
      if (other) throw conflict('a user with this email already exists', 'EMAIL_TAKEN');
      set.email = input.email.toLowerCase();
    }
    const newPassword = input.new_password ?? input.password;
    if (newPassword !== undefined) {
      if (self && !isAdmin) {
        if (
          !input.password ||
          !input.new_password ||
          !(await verifyPassword(input.password, target.password_hash))
        ) {
          errs.push({ name: 'password', reason: 'current password is required and must match' });
        }
      }
      errs.push(...passwordProblems(newPassword, 'new_password'));
      if (!errs.length) set.password_hash = await hashPassword(newPassword);
    }
    let teams: Array<{ teamId: number; role: string }> | undefined;
    if (input.global_role !== undefined) set.global_role = input.global_role;
    if (input.teams !== undefined) {
      errs.push(...(await this.validateTeams(input.teams)));
      teams = input.teams.map((t) => ({ teamId: t.id, role: t.role }));
    }
    const finalGlobal = set.global_role !== undefined ? set.global_role : target.global_role;
    const finalTeams = teams ?? target.teams;
    if (finalGlobal && finalTeams.length) {
      if (input.global_role && input.teams === undefined)
        teams = []; // promoting to global clears team roles
      else
        errs.push({
          name: 'teams',
          reason: 'a user has either a global role or team roles, not both',
        });
    }
    if (input.enabled !== undefined) set.enabled = input.enabled ? 1 : 0;
    if (input.force_password_reset !== undefined)
      set.force_password_reset = input.force_password_reset ? 1 : 0;
    if (errs.length) throw invalid('Validation Failed', errs);
    await this.ctx.ds.users.update(target.id, set, teams, this.ctx.clock());
    if (set.password_hash && !self) await this.ctx.ds.sessions.deleteForUser(target.id);
    const user = (await this.ctx.ds.users.get(target.id))!;
    if (roleChange) {
      await this.ctx.activities.record(actor, 'changed_user_role', {
        user_id: user.id,
        user_email: user.email,
        global_role: user.global_role,
        teams: user.teams.map((t) => ({ id: t.team_id, role: t.role })),
      });
    }
    const changed = Object.keys(set).filter((k) => k !== 'global_role' && k !== 'password_hash');
    if (set.password_hash) changed.push('password');
    if (changed.length)
      await this.ctx.activities.record(actor, 'edited_user', {
        user_id: user.id,
        user_email: user.email,
        fields: changed,
      });
    return user;
  }

  async delete(actor: Actor, target: UserWithTeams): Promise<void> {
    if (target.id === actor.id)
      throw invalid(
        'you cannot delete yourself',
        [{ name: 'id', reason: 'is the current user' }],
        'CANNOT_DELETE_SELF',
      );
    await this.ctx.ds.users.delete(target.id);
    await this.ctx.activities.record(actor, 'deleted_user', {
      user_id: target.id,
      user_name: target.name,
      user_email: target.email,
    });
  }
}
