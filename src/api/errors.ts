import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { FulcrumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

/**
 * Input validation and error answers of the API (API.md "Conventions", C1): every refusal
 * is `{ "error": { "code", "message", "field" } }`, and a 400's message names the field and
 * the rule (`port: must be an integer from 1 to 65535`).
 */

type Json = Record<string, unknown>;

/** The human rule a schema states, e.g. `must be an integer from 1 to 65535`. */
export function describeRule(schema: Json | undefined): string {
  if (!schema) return 'is not allowed here';
  if (typeof schema['x-rule'] === 'string') return schema['x-rule'];
  if (Array.isArray(schema.anyOf)) {
    const variants = schema.anyOf as Json[];
    const nonNull = variants.filter((v) => v.type !== 'null');
    const consts = nonNull.filter((v) => 'const' in v).map((v) => String(v.const));
    const base =
      consts.length === nonNull.length && consts.length > 0
        ? `must be one of ${consts.join(', ')}`
        : nonNull.map((v) => describeRule(v)).join(', or ');
    return nonNull.length < variants.length ? `${base} or null` : base;
  }
  if (Array.isArray(schema.enum)) return `must be one of ${(schema.enum as unknown[]).join(', ')}`;
  if ('const' in schema) return `must be ${JSON.stringify(schema.const)}`;
  const min = schema.minimum as number | undefined;
  const max = schema.maximum as number | undefined;
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const what = schema.type === 'integer' ? 'an integer' : 'a number';
      if (min !== undefined && max !== undefined) return `must be ${what} from ${min} to ${max}`;
      if (min !== undefined) return `must be ${what} of at least ${min}`;
      if (max !== undefined) return `must be ${what} of at most ${max}`;
      return `must be ${what}`;
    }
    case 'string': {
      const lo = schema.minLength as number | undefined;
      const hi = schema.maxLength as number | undefined;
      if (lo !== undefined && hi !== undefined) return `must be a string of ${lo} to ${hi} characters`;
      if (hi !== undefined) return `must be a string of at most ${hi} characters`;
      if (lo !== undefined) return `must be a string of at least ${lo} characters`;
      return 'must be a string';
    }
    case 'boolean':
      return 'must be true or false';
    case 'object':
      return 'must be an object';
    case 'array':
      return schema.maxItems !== undefined
        ? `must be an array of at most ${schema.maxItems} items`
        : 'must be an array';
    default:
      return 'is not valid';
  }
}

/** The sub-schema at a JSON pointer path of the value (`/healthCheck/port`), following objects, arrays and nullable unions. */
export function schemaAt(schema: Json, segments: readonly string[]): Json | undefined {
  let cur: Json | undefined = schema;
  for (const seg of segments) {
    if (!cur) return undefined;
    if (Array.isArray(cur.anyOf)) {
      const variants = cur.anyOf as Json[];
      cur = variants.find((v) => v.type === 'object' || v.type === 'array') ?? variants[0];
      if (!cur) return undefined;
    }
    if (cur.type === 'object') cur = (cur.properties as Record<string, Json> | undefined)?.[seg];
    else if (cur.type === 'array') cur = cur.items as Json | undefined;
    else return undefined;
  }
  return cur;
}

/** `/rules/0/backendId` → `rules[0].backendId`. */
export function fieldName(segments: readonly string[]): string {
  let out = '';
  for (const s of segments) {
    if (/^\d+$/.test(s)) out += `[${s}]`;
    else out += out ? `.${s}` : s;
  }
  return out;
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
}

function segmentsOf(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Turns schema errors into one FulcrumError (400) naming the deepest failing field and its rule. */
export function schemaErrorToFulcrum(schema: Json, errors: readonly SchemaError[], part: string): FulcrumError {
  const where = part === 'body' ? '' : `${part} `;
  let best: SchemaError | undefined;
  let bestDepth = -1;
  for (const e of errors) {
    const depth = segmentsOf(e.instancePath).length + (e.keyword === 'anyOf' ? 0 : 0.5);
    if (depth > bestDepth) {
      best = e;
      bestDepth = depth;
    }
  }
  if (!best) return new FulcrumError('invalid', `${where}is not valid`);
  const segs = segmentsOf(best.instancePath);
  if (best.keyword === 'required') {
    const missing =
      (best.params.requiredProperties as string[] | undefined)?.[0] ?? String(best.params.missingProperty);
    const field = fieldName([...segs, missing]);
    const rule = describeRule(schemaAt(schema, [...segs, missing]));
    return new FulcrumError('invalid', `${field}: is required (${rule})`, field);
  }
  if (best.keyword === 'additionalProperties' || best.keyword === 'boolean') {
    const extra =
      best.keyword === 'additionalProperties'
        ? ((best.params.additionalProperties as string[] | undefined)?.[0] ?? '')
        : (segs.pop() ?? '');
    const field = fieldName([...segs, extra]);
    return new FulcrumError('invalid', `${field}: is not a field here, or cannot be changed`, field);
  }
  const field = fieldName(segs);
  if (segs.length === 0) return new FulcrumError('invalid', `${where || 'body: '}${describeRule(schema)}`, part);
  return new FulcrumError('invalid', `${where}${field}: ${describeRule(schemaAt(schema, segs))}`, field);
}

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
  const body: { error: { code: string; message: string; field?: string } } = {
    error: { code: err.code, message: err.message },
  };
  if (err.field !== undefined) body.error.field = err.field;
  return reply.code(err.status).type('application/json').send(body);
}

/** The error handler: FulcrumError as is, Fastify's own 4xx (bad JSON, too large) as `invalid`, anything else 500. */
export function errorHandler(log: Logger) {
  return (error: FastifyError | FulcrumError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof FulcrumError) return sendError(reply, error);
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
