import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { type SchemaError, schemaErrorToFulcrum } from '../config/schema-errors.ts';
import { type ErrorDetail, FulcrumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

/**
 * Input validation and error answers of the API (API.md "Conventions", C1): every refusal
 * is `{ "error": { "code", "message", "field", "details"? } }`, and a 400's message names the
 * field and the rule (`port: must be an integer from 1 to 65535`); `details` lists every
 * problem of the request (`[{ field, rule, message }]`), the first being `field`/`message`.
 */

type Json = Record<string, unknown>;

export { describeRule, fieldName, schemaAt, schemaErrorToFulcrum } from '../config/schema-errors.ts';

/**
 * Fastify validator compiler over TypeBox's compiler: bodies are checked as sent (no
 * coercion, no defaults: defaults come from config/defaults.ts), query strings and params
 * are converted first (`?limit=5` → 5).
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Compile(schema);
  const part = httpPart ?? 'body';
  return (value: unknown) => {
    const v = part === 'body' ? value : Value.Convert(schema, value);
    if (check.Check(v)) return { value: v };
    return {
      error: schemaErrorToFulcrum(schema as unknown as Json, check.Errors(v) as unknown as SchemaError[], part),
    };
  };
};

/** Sends the error body of API.md for a FulcrumError. */
export function sendError(reply: FastifyReply, err: FulcrumError): FastifyReply {
  const body: { error: { code: string; message: string; field?: string; details?: ErrorDetail[] } } = {
    error: { code: err.code, message: err.message },
  };
  if (err.field !== undefined) body.error.field = err.field;
  if (err.details !== undefined && err.details.length > 0) body.error.details = err.details;
  // 412 (issue 15 point 6): the version the resource is at now, also as its ETag (null when gone).
  const current = (err as { currentVersion?: unknown }).currentVersion;
  if (err.code === 'precondition_failed' && (typeof current === 'number' || current === null)) {
    (body.error as Record<string, unknown>).currentVersion = current;
    if (current !== null) reply.header('etag', `"${current}"`);
  }
  return reply.code(err.status).type('application/json').send(body);
}

/**
 * The error handler: FulcrumError as is (a `store_unavailable` 503 also logged with its original
 * error), Fastify's own 4xx (bad JSON, too large) as `invalid`, anything else 500.
 */
export function errorHandler(log: Logger) {
  return (error: FastifyError | FulcrumError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof FulcrumError) {
      // A store fault answers 503 naming the cause; the log keeps the original error (issue 14).
      if (error.code === 'store_unavailable') {
        log.error(
          { err: error.cause ?? error, url: request.url, method: request.method, code: error.code },
          error.message,
        );
      }
      return sendError(reply, error);
    }
    const status = (error as FastifyError).statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code =
        status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 404 ? 'not_found' : 'invalid';
      const body = { error: { code, message: `body: ${error.message}` } };
      return reply.code(status === 413 || status === 415 ? status : status === 404 ? 404 : 400).send(body);
    }
    log.error({ err: error, url: request.url, method: request.method, code: 'internal' }, 'API request failed');
    return reply.code(500).send({ error: { code: 'internal', message: 'internal error; see the server log' } });
  };
}
