import { FulcrumError } from '../core/errors.ts';
import { compileLinearRegex, splitSlashPattern } from '../core/linear-regex.ts';
import type { BodyMatcher, CodeMatcher } from './types.ts';

const ITEM = /^(\d{3})(?:-(\d{3}))?$/;

/**
 * Parses the expected HTTP status codes of an http/https check (H3): a comma-separated list
 * of codes and inclusive ranges, e.g. `200`, `200,204`, `200-299,302`. Spaces around items
 * are allowed; every code must be within 100–599 and a range must not run backwards.
 * Returns a matcher (an O(1) table lookup, safe for the hot path).
 *
 * @throws FulcrumError('invalid', …, 'healthCheck.http.expectedCodes') naming the bad item.
 */
export function parseExpectedCodes(text: string): CodeMatcher {
  const field = 'healthCheck.http.expectedCodes';
  if (typeof text !== 'string' || text.trim() === '') {
    throw new FulcrumError('invalid', 'expectedCodes must list status codes or ranges, e.g. "200,204,300-399"', field);
  }
  const table = new Uint8Array(600);
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const m = ITEM.exec(item);
    if (!m) {
      throw new FulcrumError(
        'invalid',
        `expectedCodes item "${item}" is not a status code (e.g. 200) or a range (e.g. 200-299)`,
        field,
      );
    }
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 100 || hi > 599) {
      throw new FulcrumError('invalid', `expectedCodes item "${item}" is outside the HTTP status range 100-599`, field);
    }
    if (hi < lo) throw new FulcrumError('invalid', `expectedCodes range "${item}" ends before it starts`, field);
    table.fill(1, lo, hi + 1);
  }
  return (status: number) => status >= 100 && status < 600 && table[status] === 1;
}

/** Compiled `expectBody` matchers by text, shared by the servers of a backend (and warm across snapshots). */
const bodyMatchers = new Map<string, BodyMatcher>();
const BODY_MATCHERS_KEPT = 256;

/**
 * Parses `expectBody` of an http/https check: `/pattern/flags` is a regular expression,
 * anything else a plain substring. Compiled once per text (per configuration change at most,
 * never per probe). The pattern runs on a linear-time engine (`core/linear-regex.ts`, RE2
 * syntax: no backreferences, no lookaround, at most 1024 characters, flags i m s) so no
 * pattern can stall the event loop on a 64 KiB body (issue 10).
 *
 * @throws FulcrumError('invalid', …, 'healthCheck.http.expectBody') for a pattern the
 *   linear-time engine refuses, naming the rule.
 */
export function parseExpectBody(text: string): BodyMatcher {
  const known = bodyMatchers.get(text);
  if (known) return known;
  let matcher: BodyMatcher;
  const slash = splitSlashPattern(text);
  if (slash) {
    const re = compileLinearRegex(slash.pattern, slash.flags, 'healthCheck.http.expectBody');
    matcher = (body) => re.test(body);
  } else {
    matcher = (body) => body.includes(text);
  }
  if (bodyMatchers.size >= BODY_MATCHERS_KEPT) bodyMatchers.delete(bodyMatchers.keys().next().value as string);
  bodyMatchers.set(text, matcher);
  return matcher;
}
