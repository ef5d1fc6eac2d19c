import type { FieldError } from './errors.js';

export const MIN_PASSWORD_LENGTH = 12;

/** Fleet's rule: at least 12 characters, with a number and a symbol. Returns problems found. */
export function passwordProblems(password: string, field = 'password'): FieldError[] {
  const problems: FieldError[] = [];
  if (password.length < MIN_PASSWORD_LENGTH) {
    problems.push({ name: field, reason: `must be at least ${MIN_PASSWORD_LENGTH} characters` });
  }
  if (!/[0-9]/.test(password)) problems.push({ name: field, reason: 'must contain a number' });
  if (!/[^A-Za-z0-9]/.test(password))
    problems.push({ name: field, reason: 'must contain a symbol' });
  if (password.length > 256)
    problems.push({ name: field, reason: 'must be at most 256 characters' });
  return problems;
}
