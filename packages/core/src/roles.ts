/** The five roles, global or per team, as Fleet defines them. */
export const ROLES = ['admin', 'maintainer', 'observer', 'observer_plus', 'gitops'] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (v: unknown): v is Role =>
  typeof v === 'string' && (ROLES as readonly string[]).includes(v);

export interface TeamRole {
  teamId: number;
  role: Role;
}

/** Who is acting: a person or an API-only user. */
export interface Actor {
  id: number;
  name: string;
  email: string;
  globalRole: Role | null;
  teams: TeamRole[];
  apiOnly: boolean;
}
