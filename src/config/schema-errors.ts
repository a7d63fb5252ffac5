import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { combineErrors, FulcrumError } from '../core/errors.ts';

/**
 * The per-field rules of schemas.ts in words: turns TypeBox errors into FulcrumErrors (400)
 * that name the field and the rule (`port: must be an integer from 1 to 65535`), one per
 * failing field. Shared by the API's input validation (api/errors.ts), declarative files
 * and config/validate.ts, so a rule is written once, in schemas.ts.
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

/** A TypeBox validation error, as far as this module reads it. */
export interface SchemaError {
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

/**
 * Every problem of a value, one FulcrumError (400) per failing field, deepest first within a
 * branch: an error on an object whose own fields also fail (a nullable union, say) is left
 * out, so each problem is named where it is. `part` is `body`, `querystring`, `params`…;
 * `prefix` is put before every field (`servers[2]`).
 */
export function schemaProblems(
  schema: Json,
  errors: readonly SchemaError[],
  part = 'body',
  prefix: readonly string[] = [],
): FulcrumError[] {
  const where = part === 'body' ? '' : `${part} `;
  const out: FulcrumError[] = [];
  const seen = new Set<string>();
  const paths = errors.map((e) => e.instancePath);
  const add = (field: string, message: string): void => {
    if (seen.has(field)) return;
    seen.add(field);
    out.push(new FulcrumError('invalid', message, field || part));
  };
  for (const e of errors) {
    // An ancestor's error (anyOf over a nullable object…) is named by its descendants' ones.
    const own = e.keyword === 'required' || e.keyword === 'additionalProperties';
    if (!own && paths.some((p) => p !== e.instancePath && p.startsWith(`${e.instancePath}/`))) continue;
    const segs = segmentsOf(e.instancePath);
    if (e.keyword === 'required') {
      const missing = (e.params.requiredProperties as string[] | undefined) ?? [String(e.params.missingProperty)];
      for (const m of missing) {
        const field = fieldName([...prefix, ...segs, m]);
        add(field, `${where}${field}: is required (${describeRule(schemaAt(schema, [...segs, m]))})`);
      }
      continue;
    }
    if (e.keyword === 'additionalProperties' || e.keyword === 'boolean') {
      const extras =
        e.keyword === 'additionalProperties'
          ? ((e.params.additionalProperties as string[] | undefined) ?? [''])
          : [segs.pop() ?? ''];
      for (const x of extras) {
        const field = fieldName([...prefix, ...segs, x]);
        add(field, `${where}${field}: is not a field here, or cannot be changed`);
      }
      continue;
    }
    const field = fieldName([...prefix, ...segs]);
    if (field === '') {
      add('', `${where || 'body: '}${describeRule(schema)}`);
      continue;
    }
    add(field, `${where}${field}: ${describeRule(schemaAt(schema, segs))}`);
  }
  if (out.length === 0)
    out.push(new FulcrumError('invalid', `${where}is not valid`, part === 'body' ? undefined : part));
  return out;
}

/** The refusal of a value that breaks its schema: every problem in `details`, the first as message and field. */
export function schemaErrorToFulcrum(
  schema: Json,
  errors: readonly SchemaError[],
  part = 'body',
  prefix: readonly string[] = [],
): FulcrumError {
  return combineErrors(schemaProblems(schema, errors, part, prefix))!;
}

const compiled = new WeakMap<TSchema, ReturnType<typeof Compile>>();

/** Checks `value` against `schema` (compiled once per schema); answers every problem, none when it conforms. */
export function checkSchema(schema: TSchema, value: unknown, prefix: readonly string[] = []): FulcrumError[] {
  let check = compiled.get(schema);
  if (!check) {
    check = Compile(schema);
    compiled.set(schema, check);
  }
  if (check.Check(value)) return [];
  return schemaProblems(
    schema as unknown as Json,
    [...check.Errors(value)] as unknown as SchemaError[],
    'body',
    prefix,
  );
}
