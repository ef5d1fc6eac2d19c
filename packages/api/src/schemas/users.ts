import Type, { type Static } from 'typebox';

export const RoleName = Type.Union(
  ['admin', 'maintainer', 'observer', 'observer_plus', 'gitops'].map((r) => Type.Literal(r)),
);

export const UserTeam = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  role: Type.String(),
});

export const User = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  email: Type.String(),
  global_role: Type.Union([Type.String(), Type.Null()]),
  api_only: Type.Boolean(),
  enabled: Type.Boolean(),
  force_password_reset: Type.Boolean(),
  gravatar_url: Type.String(),
  sso_enabled: Type.Boolean(),
  teams: Type.Array(UserTeam),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export type TUser = Static<typeof User>;

export const TeamRoleInput = Type.Object(
  { id: Type.Integer({ minimum: 1 }), role: RoleName },
  { additionalProperties: false },
);

export const CreateUserBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255 }),
    email: Type.String({ format: 'email', maxLength: 255 }),
    password: Type.Optional(Type.String({ maxLength: 256 })),
    global_role: Type.Optional(Type.Union([RoleName, Type.Null()])),
    teams: Type.Optional(Type.Array(TeamRoleInput, { maxItems: 1000 })),
    api_only: Type.Optional(Type.Boolean()),
    sso_enabled: Type.Optional(Type.Boolean()),
    admin_forced_password_reset: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const UpdateUserBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    email: Type.Optional(Type.String({ format: 'email', maxLength: 255 })),
    password: Type.Optional(Type.String({ maxLength: 256 })),
    new_password: Type.Optional(Type.String({ maxLength: 256 })),
    global_role: Type.Optional(Type.Union([RoleName, Type.Null()])),
    teams: Type.Optional(Type.Array(TeamRoleInput, { maxItems: 1000 })),
    enabled: Type.Optional(Type.Boolean()),
    force_password_reset: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const LoginBody = Type.Object(
  { email: Type.String({ maxLength: 255 }), password: Type.String({ maxLength: 256 }) },
  { additionalProperties: false },
);

export const SetupBody = Type.Object(
  {
    admin: Type.Object(
      {
        admin: Type.Optional(Type.Boolean()),
        email: Type.String({ format: 'email', maxLength: 255 }),
        name: Type.String({ minLength: 1, maxLength: 255 }),
        password: Type.String({ maxLength: 256 }),
        password_confirmation: Type.Optional(Type.String({ maxLength: 256 })),
      },
      { additionalProperties: false },
    ),
    org_info: Type.Optional(
      Type.Object(
        { org_name: Type.String({ maxLength: 255 }), org_logo_url: Type.Optional(Type.String()) },
        { additionalProperties: false },
      ),
    ),
    server_url: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);

export const ChangePasswordBody = Type.Object(
  { old_password: Type.String({ maxLength: 256 }), new_password: Type.String({ maxLength: 256 }) },
  { additionalProperties: false },
);
