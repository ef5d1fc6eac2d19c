import type { Actor, Role } from './roles.js';

/**
 * The authorization policy: one table saying which role may do what to which kind of object.
 * Every route asks `authorize()` before it touches data; the server fails any request in
 * which no check ran (the backstop).
 */
export type ObjectType =
  | 'host'
  | 'user'
  | 'team'
  | 'enroll_secret'
  | 'activity'
  | 'app_config'
  | 'agent_options'
  | 'carve'
  | 'query'
  | 'label'
  | 'policy'
  | 'software'
  | 'vulnerability';

export type Action = 'read' | 'write' | 'refetch' | 'run' | 'run_new' | 'transfer';

export interface AuthzObject {
  type: ObjectType;
  /** Team the object belongs to; null for global objects, undefined for "any/global list". */
  teamId?: number | null;
  /** For users: the user's own id, so a person may always read and edit themselves. */
  userId?: number;
  /** Saved queries: whether observers may run them. */
  observerCanRun?: boolean;
  /** Saved queries and policies: the author, so authors may edit their own. */
  authorId?: number | null;
}

type Grants = Partial<Record<Action, readonly Role[]>>;

const READERS = ['admin', 'maintainer', 'observer', 'observer_plus'] as const;
const WRITERS = ['admin', 'maintainer'] as const;

/** Global-role grants. A team role grants the same on objects of that team (see below). */
const POLICY: Record<ObjectType, Grants> = {
  host: { read: READERS, refetch: READERS, write: WRITERS, transfer: WRITERS },
  user: { read: ['admin'], write: ['admin'] },
  team: {
    read: ['admin', 'maintainer', 'observer', 'observer_plus', 'gitops'],
    write: ['admin', 'gitops'],
  },
  enroll_secret: {
    read: ['admin', 'maintainer', 'gitops'],
    write: ['admin', 'maintainer', 'gitops'],
  },
  activity: { read: READERS },
  app_config: {
    read: ['admin', 'maintainer', 'observer', 'observer_plus', 'gitops'],
    write: ['admin', 'gitops'],
  },
  agent_options: { read: ['admin', 'maintainer', 'gitops'], write: ['admin', 'gitops'] },
  carve: { read: WRITERS, write: WRITERS },
  query: {
    read: ['admin', 'maintainer', 'observer', 'observer_plus', 'gitops'],
    write: ['admin', 'maintainer', 'gitops'],
    run: ['admin', 'maintainer', 'observer_plus'],
    run_new: ['admin', 'maintainer', 'observer_plus'],
  },
  label: {
    read: ['admin', 'maintainer', 'observer', 'observer_plus', 'gitops'],
    write: ['admin', 'maintainer', 'gitops'],
  },
  policy: {
    read: ['admin', 'maintainer', 'observer', 'observer_plus', 'gitops'],
    write: ['admin', 'maintainer', 'gitops'],
  },
  software: { read: READERS },
  vulnerability: { read: READERS },
};

/**
 * Team roles: a team admin manages the team's users, secrets and agent options; other team
 * roles act like the global role but only on objects of their team.
 */
const TEAM_EXTRA: Partial<Record<ObjectType, Grants>> = {
  team: { write: ['admin', 'gitops'] },
  user: { read: ['admin'], write: ['admin'] },
  agent_options: { read: ['admin', 'maintainer', 'gitops'], write: ['admin', 'gitops'] },
};

/** Objects whose team-scoped instances team members may reach. */
const TEAM_SCOPED: ReadonlySet<ObjectType> = new Set([
  'host',
  'team',
  'enroll_secret',
  'carve',
  'query',
  'policy',
  'user',
  'agent_options',
  'software',
  'vulnerability',
  'label',
  'activity',
]);

const granted = (grants: Grants | undefined, action: Action, role: Role): boolean =>
  grants?.[action]?.includes(role) ?? false;

export function authorize(actor: Actor, action: Action, object: AuthzObject): boolean {
  // Everyone may read themselves and change their own name/password.
  if (
    object.type === 'user' &&
    object.userId === actor.id &&
    (action === 'read' || action === 'write')
  ) {
    return true;
  }
  if (object.type === 'query' && action === 'run' && object.observerCanRun) {
    // Saved queries flagged observer_can_run are runnable by observers too.
    if (actor.globalRole === 'observer' || actor.globalRole === 'observer_plus') return true;
    if (
      object.teamId != null &&
      actor.teams.some(
        (t) => t.teamId === object.teamId && (t.role === 'observer' || t.role === 'observer_plus'),
      )
    ) {
      return true;
    }
  }
  if (
    (object.type === 'query' || object.type === 'policy') &&
    action === 'write' &&
    object.authorId === actor.id
  ) {
    // Authors may edit what they wrote if they still may write that kind of object somewhere.
    if (hasWriteSomewhere(actor, object.type)) return true;
  }
  if (actor.globalRole && granted(POLICY[object.type], action, actor.globalRole)) return true;

  if (!TEAM_SCOPED.has(object.type)) return false;
  const grants = { ...POLICY[object.type], ...TEAM_EXTRA[object.type] };
  if (object.teamId == null) {
    // A global object or a global list: team members may list (the service filters to their
    // teams) but may not read or write global-only objects.
    return (
      object.teamId === undefined &&
      action === 'read' &&
      actor.teams.some((t) => granted(grants, action, t.role))
    );
  }
  const membership = actor.teams.find((t) => t.teamId === object.teamId);
  return membership !== undefined && granted(grants, action, membership.role);
}

function hasWriteSomewhere(actor: Actor, type: ObjectType): boolean {
  const grants = POLICY[type];
  if (actor.globalRole && granted(grants, 'write', actor.globalRole)) return true;
  return actor.teams.some((t) => granted(grants, 'write', t.role));
}

/** Team ids whose objects of `type` the actor may read; `'all'` for a global reader. */
export function readableTeams(
  actor: Actor,
  type: ObjectType,
  action: Action = 'read',
): 'all' | number[] {
  if (actor.globalRole && granted(POLICY[type], action, actor.globalRole)) return 'all';
  const grants = { ...POLICY[type], ...TEAM_EXTRA[type] };
  return actor.teams.filter((t) => granted(grants, action, t.role)).map((t) => t.teamId);
}
