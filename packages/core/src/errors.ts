/**
 * Domain errors. They carry behaviour (not found, invalid, conflict…) but no HTTP status:
 * the server maps them to responses in one place.
 */
export type ErrorKind =
  | 'invalid'
  | 'not_found'
  | 'conflict'
  | 'unauthenticated'
  | 'forbidden'
  | 'rate_limited'
  | 'too_large'
  | 'unavailable';

export interface FieldError {
  name: string;
  reason: string;
}

export class FlotillaError extends Error {
  readonly kind: ErrorKind;
  /** Stable SCREAMING_SNAKE identifier that clients may branch on (never the message). */
  readonly code: string;
  readonly fields: FieldError[];
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: ErrorKind,
    code: string,
    message: string,
    fields: FieldError[] = [],
    retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'FlotillaError';
    this.kind = kind;
    this.code = code;
    this.fields = fields;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export const invalid = (message: string, fields: FieldError[] = [], code = 'INVALID_ARGUMENT') =>
  new FlotillaError('invalid', code, message, fields);

export const notFound = (what: string, code = 'NOT_FOUND') =>
  new FlotillaError('not_found', code, `${what} was not found`);

export const conflict = (message: string, code = 'CONFLICT') =>
  new FlotillaError('conflict', code, message);

export const unauthenticated = (message = 'Authentication required', code = 'UNAUTHENTICATED') =>
  new FlotillaError('unauthenticated', code, message);

export const forbidden = (message = 'forbidden', code = 'FORBIDDEN') =>
  new FlotillaError('forbidden', code, message);

export const rateLimited = (retryAfterSeconds: number, code = 'RATE_LIMITED') =>
  new FlotillaError(
    'rate_limited',
    code,
    `limit exceeded, retry after: ${retryAfterSeconds}s`,
    [],
    retryAfterSeconds,
  );

export const isFlotillaError = (e: unknown): e is FlotillaError => e instanceof FlotillaError;
