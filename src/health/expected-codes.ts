import { FulcrumError } from '../core/errors.ts';
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

/**
 * Parses `expectBody` of an http/https check: `/pattern/flags` is a regular expression,
 * anything else a plain substring. Compiled once per configuration change.
 *
 * @throws FulcrumError('invalid', …, 'healthCheck.http.expectBody') for an invalid pattern.
 */
export function parseExpectBody(text: string): BodyMatcher {
  const last = text.lastIndexOf('/');
  if (text.length > 2 && text.startsWith('/') && last > 0) {
    let re: RegExp;
    try {
      re = new RegExp(text.slice(1, last), text.slice(last + 1));
    } catch (err) {
      throw new FulcrumError(
        'invalid',
        `expectBody is not a valid regular expression: ${(err as Error).message}`,
        'healthCheck.http.expectBody',
      );
    }
    return (body) => {
      re.lastIndex = 0;
      return re.test(body);
    };
  }
  return (body) => body.includes(text);
}
