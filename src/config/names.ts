import { invalid } from '../core/errors.ts';
import type { ConfigState } from './model.ts';

/**
 * Names of load balancers, frontends, backends, servers, instances, certificates and tokens
 * (issue 10 "Admin-plane security", point 5): one rule for the API's create and update, the
 * declarative file and the token and certificate routes. A name is stored in Unicode NFC, so
 * two spellings of the same text (`é` as one code point or as `e` + U+0301) are one name, and
 * uniqueness compares NFC forms. Pure.
 */

/** The longest name (UTF-16 code units, after NFC) of every kind but certificates (S1). */
export const NameMaxLength = 64;
/** The longest certificate name. */
export const CertificateNameMaxLength = 100;

/** The name as stored: Unicode NFC. */
export function normalizeName(name: string): string {
  return name.normalize('NFC');
}

/** Characters a name may not hold, each range with the rule in words. */
const Forbidden: readonly { test: RegExp; rule: string }[] = [
  { test: /[\u0000-\u001f\u007f-\u009f]/u, rule: 'control characters (U+0000–U+001F, U+007F–U+009F)' },
  {
    test: /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/u,
    rule: 'bidirectional overrides, isolates or marks (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C)',
  },
  { test: /[\u200b-\u200d\u2060\ufeff]/u, rule: 'zero-width characters (U+200B–U+200D, U+2060, U+FEFF)' },
  { test: /[\u2028\u2029]/u, rule: 'line or paragraph separators (U+2028, U+2029)' },
  { test: /\//u, rule: '"/" (it separates LB/BACKEND/SERVER in the CLI\'s paths)' },
];

function codePoint(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Why `name` (already NFC) is not a valid name, in words (`must …`); undefined when it is.
 * Rules: 1 to `max` characters; well-formed Unicode (no lone surrogate); no leading or
 * trailing whitespace; none of the control, bidi, zero-width or separator characters above,
 * and no `/`. The message shows the offending code point and its position (1-based).
 */
export function nameProblem(name: string, max = NameMaxLength): string | undefined {
  if (name.length === 0 || name.length > max) return `must be a string of 1 to ${max} characters`;
  if (!name.isWellFormed()) return 'must be well-formed Unicode (it holds a lone surrogate)';
  for (const f of Forbidden) {
    const m = f.test.exec(name);
    if (m) return `must not contain ${f.rule}; found ${codePoint(m[0])} at position ${m.index + 1}`;
  }
  if (name.trim() !== name) return 'must not start or end with whitespace';
  return undefined;
}

/**
 * The one name check: normalises `value` to NFC, then checks it with {@link nameProblem}.
 * Answers the NFC name to store. Throws FulcrumError `invalid` (400) naming `field`, e.g.
 * `name: must not contain zero-width characters (…); found U+200B at position 4`.
 */
export function checkName(value: unknown, field = 'name', max = NameMaxLength): string {
  if (typeof value !== 'string') throw invalid(field, `${field}: must be a string of 1 to ${max} characters`);
  const nfc = normalizeName(value);
  const problem = nameProblem(nfc, max);
  if (problem) throw invalid(field, `${field}: ${problem}`);
  return nfc;
}

/** True when two names are the same name (equal NFC forms). */
export function sameName(a: string, b: string): boolean {
  return normalizeName(a) === normalizeName(b);
}

/**
 * Stores in NFC the name of every resource of `after` that is new or renamed relative to
 * `before` (the control plane calls it on each change's draft, before validation). Names
 * that did not change are left as they are, so restored data is not rewritten.
 */
export function normalizeNewNames(before: ConfigState, after: ConfigState): void {
  const kinds = ['loadBalancers', 'frontends', 'backends', 'servers', 'instances', 'certificates'] as const;
  for (const kind of kinds) {
    const old = new Map<string, string>(before[kind].map((d) => [d.id, d.name]));
    for (const d of after[kind]) {
      if (typeof d.name === 'string' && old.get(d.id) !== d.name) d.name = normalizeName(d.name);
    }
  }
}
