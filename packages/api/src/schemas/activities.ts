import Type from 'typebox';

export const Activity = Type.Object({
  id: Type.Integer(),
  created_at: Type.String(),
  actor_id: Type.Union([Type.Integer(), Type.Null()]),
  actor_full_name: Type.Union([Type.String(), Type.Null()]),
  actor_email: Type.Union([Type.String(), Type.Null()]),
  actor_gravatar: Type.String(),
  type: Type.String(),
  details: Type.Object({}, { additionalProperties: true }),
});
