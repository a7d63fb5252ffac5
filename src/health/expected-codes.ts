import { parseExpectedCodes as codeRanges, expectedCodesProblem } from '../config/expected-codes.ts';
import { FulcrumError } from '../core/errors.ts';
import { compileLinearRegex, splitSlashPattern } from '../core/linear-regex.ts';
import type { BodyMatcher, CodeMatcher } from './types.ts';

/**
 * Parses the expected HTTP status codes of an http/https check (H3; the grammar is
 * config/expected-codes.ts): a comma-separated list of codes and inclusive ranges, e.g.
 * `200`, `200,204`, `200-299,302`. Returns a matcher (an O(1) table lookup, safe for the hot
 * path).
 *
 * @throws FulcrumError('invalid', …, 'healthCheck.http.expectedCodes') naming the bad item.
 */
export function parseExpectedCodes(text: string): CodeMatcher {
  const field = 'healthCheck.http.expectedCodes';
  const ranges = codeRanges(text);
  if (!ranges) throw new FulcrumError('invalid', `${field}: ${expectedCodesProblem(text)}`, field);
  const table = new Uint8Array(600);
  for (const [lo, hi] of ranges) table.fill(1, lo, hi + 1);
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
