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
  /** `If-Match` named a version the resource no longer has (issue 15 point 6); the message names the current one. */
  precondition_failed: 412,
  /** Too many failed authentications from one client address (Retry-After says when to retry). */
  rate_limited: 429,
  internal: 500,
  /**
   * `?wait=all`: the change is stored and live on the node that answered, but some live nodes
   * had not applied it when the wait ran out; the message names them (issue 14).
   */
  lagging: 504,
  /**
   * The configuration store cannot take a write now (disk full, read-only, busy, PostgreSQL
   * unreachable); the message names the cause (`store-unavailable: disk full`). The data plane
   * keeps serving the last applied configuration; retry later (issue 14).
   */
  store_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/**
 * One problem of a request (API.md second wave, `error.details`): the field, the rule it
 * breaks in words, and the message (`field: rule`); `index` for an item of a batch.
 */
export interface ErrorDetail {
  field: string;
  rule: string;
  message: string;
  index?: number;
}

/**
 * A refusal with a stable code, a message that names the field and the rule, and the field
 * (dotted path such as `healthCheck.timeoutSeconds`) when one field is at fault. `details`
 * lists every problem found when there are several (the first is `message`/`field`).
 */
export class FulcrumError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly details: ErrorDetail[] | undefined;
  constructor(code: ErrorCode, message: string, field?: string, details?: ErrorDetail[]) {
    super(message);
    this.name = 'FulcrumError';
    this.code = code;
    this.field = field;
    this.details = details;
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

/** The detail of one refusal: its field, its rule in words (the message without `field: `) and its message. */
export function detailOf(err: FulcrumError): ErrorDetail {
  const field = err.field ?? '';
  const prefix = `${field}: `;
  const rule = field && err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  return { field, rule, message: err.message };
}

/**
 * Several refusals as one: the first one's code, message and field, and `details` listing
 * every one (each refusal's own details when it has some). Undefined when the list is empty.
 */
export function combineErrors(errors: readonly FulcrumError[]): FulcrumError | undefined {
  const first = errors[0];
  if (!first) return undefined;
  const details = errors.flatMap((e) => e.details ?? [detailOf(e)]);
  return new FulcrumError(first.code, first.message, first.field, details);
}
