import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  authorize,
  forbidden,
  isRole,
  unauthenticated,
  type Action,
  type Actor,
  type AuthzObject,
} from '@flotilla/core';
import type { Datastore, UserWithTeams } from '@flotilla/db';
import { tokenHash } from '../crypto/secrets.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
    sessionTokenHash: string | null;
    authzChecked: boolean;
    /** Throws 403 unless the actor may do `action` on `object`; marks the request as checked. */
    authorize(action: Action, object: AuthzObject): Actor;
    /** For routes any logged-in user may call (me, logout): marks the request as checked. */
    skipAuthz(): Actor;
  }
  interface FastifyContextConfig {
    /** Routes reachable without a session (login, setup). */
    public?: boolean;
  }
}

const ACCESS_TOUCH_MS = 60_000;

/** The acting identity of a stored user (roles it does not know are ignored). */
export function actorOf(user: UserWithTeams): Actor {
  return {
    id: user.id,
    name: user.name,
    email: user.email,
    globalRole: isRole(user.global_role) ? user.global_role : null,
    teams: user.teams
      .filter((t) => isRole(t.role))
      .map((t) => ({ teamId: t.team_id, role: t.role as NonNullable<Actor['globalRole']> })),
    apiOnly: user.api_only === 1,
  };
}

/**
 * Bearer-token authentication for the REST API, the per-route permission check, and the
 * backstop that fails any authenticated request in which no permission check ran.
 */
export function installAuth(
  app: FastifyInstance,
  ds: Datastore,
  sessionTtlS: number,
  clock: () => number,
): void {
  app.decorateRequest('actor', null);
  app.decorateRequest('sessionTokenHash', null);
  app.decorateRequest('authzChecked', false);
  app.decorateRequest(
    'authorize',
    function (this: FastifyRequest, action: Action, object: AuthzObject): Actor {
      this.authzChecked = true;
      const actor = this.actor;
      if (!actor) throw unauthenticated();
      if (!authorize(actor, action, object)) throw forbidden();
      return actor;
    },
  );
  app.decorateRequest('skipAuthz', function (this: FastifyRequest): Actor {
    this.authzChecked = true;
    if (!this.actor) throw unauthenticated();
    return this.actor;
  });

  app.addHook('onRequest', async (req) => {
    const cfg = req.routeOptions.config;
    if (!req.url.startsWith('/api/v1/fleet') && !req.url.startsWith('/api/latest/fleet')) return;
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!token) {
      if (cfg.public) return;
      throw unauthenticated('Authentication required', 'UNAUTHENTICATED');
    }
    const hash = tokenHash(token);
    const session = await ds.sessions.findUserId(hash);
    const now = clock();
    const user = session ? await ds.users.get(session.user_id) : undefined;
    if (
      !session ||
      !user ||
      !user.enabled ||
      (!user.api_only && session.accessed_at + sessionTtlS * 1000 < now)
    ) {
      if (cfg.public) return;
      throw unauthenticated('Authentication failed', 'SESSION_INVALID');
    }
    if (now - session.accessed_at > ACCESS_TOUCH_MS) await ds.sessions.touch(hash, now);
    req.sessionTokenHash = hash;
    req.actor = actorOf(user);
  });

  // The backstop: a successful response from a protected route must have checked permission.
  app.addHook('onSend', async (req: FastifyRequest, reply: FastifyReply, payload) => {
    if (!req.url.startsWith('/api/v1/fleet') && !req.url.startsWith('/api/latest/fleet'))
      return payload;
    if (req.routeOptions.config.public || req.authzChecked || reply.statusCode >= 400)
      return payload;
    req.log.error(
      { route: req.routeOptions.url },
      'authorization check missing; response withheld',
    );
    void reply.code(500).header('content-type', 'application/json; charset=utf-8');
    return JSON.stringify({
      message: 'Internal server error',
      code: 'AUTHZ_CHECK_MISSING',
      errors: [{ name: 'base', reason: 'authorization check missing' }],
    });
  });
}
