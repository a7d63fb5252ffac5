/**
 * One error class for the whole project, with a stable `code` that the API maps to an
 * HTTP status (API.md "Conventions": 400 invalid input, 404 unknown id, 409 conflict).
 */

/** Stable error codes and the HTTP status each maps to. */
export const ErrorCodes = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  quota: 409,
  port_in_use: 409,
  rule: 409,
  /** Too many failed authentications from one client address (Retry-After says when to retry). */
  rate_limited: 429,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/**
 * A refusal with a stable code, a message that names the field and the rule, and the field
 * (dotted path such as `healthCheck.timeoutSeconds`) when one field is at fault.
 */
export class FulcrumError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  constructor(code: ErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'FulcrumError';
    this.code = code;
    this.field = field;
  }
  /** The HTTP status this error answers with. */
  get status(): number {
    return ErrorCodes[this.code];
  }
}

/** Shorthand for a 400 naming the field and the rule. */
export function invalid(field: string, message: string): FulcrumError {
  return new FulcrumError('invalid', message, field);
}
