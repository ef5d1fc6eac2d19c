import Type, { type Static } from 'typebox';

/** Fleet's error body, plus our stable `code`. */
export const ErrorBody = Type.Object({
  message: Type.String(),
  code: Type.String(),
  errors: Type.Array(Type.Object({ name: Type.String(), reason: Type.String() })),
  uuid: Type.Optional(Type.String()),
});

export const OrderDirection = Type.Union([Type.Literal('asc'), Type.Literal('desc')]);

/** `page`, `per_page`, `order_key`, `order_direction`, as in Fleet's list endpoints. */
export const PageQuery = {
  page: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  order_direction: Type.Optional(OrderDirection),
};

export const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });

export const Empty = Type.Object({});

export const Meta = Type.Object({
  has_next_results: Type.Boolean(),
  has_previous_results: Type.Boolean(),
});

export type TErrorBody = Static<typeof ErrorBody>;
