import Type from 'typebox';

export const Team = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  description: Type.String(),
  agent_options: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
  user_count: Type.Integer(),
  host_count: Type.Integer(),
  created_at: Type.String(),
});

export const CreateTeamBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255 }),
    description: Type.Optional(Type.String({ maxLength: 10_000 })),
  },
  { additionalProperties: false },
);

export const UpdateTeamBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    description: Type.Optional(Type.String({ maxLength: 10_000 })),
  },
  { additionalProperties: false },
);

export const EnrollSecret = Type.Object({
  secret: Type.String(),
  created_at: Type.String(),
  team_id: Type.Union([Type.Integer(), Type.Null()]),
});

export const SecretInput = Type.Object(
  { secret: Type.String({ minLength: 8, maxLength: 255 }) },
  { additionalProperties: false },
);

export const TeamUsersBody = Type.Object(
  {
    users: Type.Array(
      Type.Object(
        { id: Type.Integer({ minimum: 1 }), role: Type.Optional(Type.String()) },
        { additionalProperties: false },
      ),
      { maxItems: 10_000 },
    ),
  },
  { additionalProperties: false },
);
