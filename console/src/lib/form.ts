/**
 * Form state ↔ API payload, shared by every dialog. A form's values are a flat record keyed
 * by the API's dotted field path (`port`, `healthCheck.intervalSeconds`), so an API error's
 * `field` names the input it belongs beside (API.md "Conventions").
 *
 * Conversions only: range rules (port 1–65535, weight 0–100, …) are the API's (C1), so the
 * message the operator sees is the API's message, beside the field it names.
 */

/**
 * How a value is read from its input:
 * - `text`: string, kept as typed (trimmed);
 * - `optText`: string, or null when empty;
 * - `omitText`: string, or left out of the payload when empty (optional, not nullable);
 * - `int`: whole number (required);
 * - `optInt`: whole number, or null when empty;
 * - `bool`: checkbox;
 * - `list`: comma/space/newline separated strings → string[].
 */
export type FieldKind = 'text' | 'optText' | 'omitText' | 'int' | 'optInt' | 'bool' | 'list';

export interface FieldSpec {
  /** Dotted API path, e.g. `healthCheck.http.path`. */
  path: string;
  kind: FieldKind;
}

/** Form values keyed by field path: strings for inputs and selects, booleans for checkboxes. */
export type FormValues = Record<string, string | boolean>;

/** Field path → message (client-side conversion errors and API errors alike). */
export type FieldErrors = Record<string, string>;

/** Reads a dotted path from an object; undefined when any step is missing. */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Sets a dotted path in an object, creating plain objects on the way. */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = obj;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i] as string;
    const next = cur[k];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1] as string] = value;
}

/** Resource → form values: numbers and strings become strings, null/undefined become '', lists are joined. */
export function valuesFrom(specs: readonly FieldSpec[], resource: unknown): FormValues {
  const out: FormValues = {};
  for (const s of specs) {
    const v = getPath(resource, s.path);
    if (s.kind === 'bool') out[s.path] = v === true;
    else if (s.kind === 'list') out[s.path] = Array.isArray(v) ? v.join(', ') : '';
    else out[s.path] = v === null || v === undefined ? '' : String(v);
  }
  return out;
}

const WHOLE = /^[+-]?\d+$/;

/**
 * Converts one value. Returns `{ value }` or `{ error }` (e.g. "port must be a whole number"
 * for `8o80`). Numbers out of range are passed on for the API to judge (C1).
 */
export function convert(spec: FieldSpec, raw: string | boolean | undefined): { value: unknown } | { error: string } {
  const name = spec.path.split('.').pop() as string;
  if (spec.kind === 'bool') return { value: raw === true };
  const text = typeof raw === 'string' ? raw.trim() : '';
  switch (spec.kind) {
    case 'text':
      return { value: text };
    case 'optText':
      return { value: text === '' ? null : text };
    case 'omitText':
      return { value: text === '' ? undefined : text };
    case 'list':
      return {
        value: text
          .split(/[\s,]+/)
          .map((x) => x.trim())
          .filter(Boolean),
      };
    case 'int':
    case 'optInt': {
      if (text === '') return spec.kind === 'optInt' ? { value: null } : { error: `${name} is required` };
      if (!WHOLE.test(text)) return { error: `${name} must be a whole number` };
      return { value: Number(text) };
    }
  }
}

/**
 * Form values → nested payload. Only the specs listed are read; `skip(path)` leaves a field
 * out (e.g. http check settings of a tcp check). Errors are per field path.
 */
export function toPayload(
  specs: readonly FieldSpec[],
  values: FormValues,
  skip: (path: string) => boolean = () => false,
): { payload: Record<string, unknown>; errors: FieldErrors } {
  const payload: Record<string, unknown> = {};
  const errors: FieldErrors = {};
  for (const s of specs) {
    if (skip(s.path)) continue;
    const r = convert(s, values[s.path]);
    if ('error' in r) errors[s.path] = r.error;
    else if (r.value !== undefined) setPath(payload, s.path, r.value);
  }
  return { payload, errors };
}

/**
 * The top-level keys of `next` whose value differs from `prev` (deep, by JSON): a PATCH that
 * sends only what the operator changed, whole sub-objects included (persistence, healthCheck…).
 */
export function changedOnly(next: Record<string, unknown>, prev: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(next)) {
    if (stableJson(v) !== stableJson(prev[k])) out[k] = v;
  }
  return out;
}

/** JSON with object keys sorted, so key order never counts as a change. */
export function stableJson(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(',')}}`;
}

/**
 * Where to show an API error: the field's own path when the form has it, otherwise the
 * nearest parent path the form has (`healthCheck.http` → `healthCheck.type`'s group is not
 * guessed: it falls back to `null`, shown at the top of the dialog).
 */
export function fieldFor(field: string | null, known: Iterable<string>): string | null {
  if (!field) return null;
  const set = new Set(known);
  if (set.has(field)) return field;
  // `servers.0.port` or `server.port` → the last segments that the form knows.
  const parts = field.split('.');
  for (let i = 1; i < parts.length; i++) {
    const tail = parts.slice(i).join('.');
    if (set.has(tail)) return tail;
  }
  return null;
}
