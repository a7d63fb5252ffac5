import { RE2JS } from 're2js';
import { invalid } from './errors.ts';

/**
 * Regular expressions an operator types (health-check `expectBody`), run in linear time.
 *
 * V8's RegExp backtracks: `/^(a+)+$/` against `"aaaa…b"` takes time exponential in the input
 * and, on the event loop, stalls the API and every listener (issue 10, "nothing an operator
 * types can stall the process"). These patterns run on RE2JS, a pure-JS port of RE2, whose
 * matching time is O(pattern × input) whatever the pattern; the price is RE2's syntax, which
 * has no backreferences and no lookaround (those need backtracking), so such patterns are
 * refused when the configuration is validated, never at probe time.
 */

/** Longest pattern accepted, in characters (between the slashes, flags excluded). */
export const MAX_PATTERN_LENGTH = 1024;

/** A compiled pattern: `test` answers whether it matches anywhere in `text` (linear time). */
export interface LinearRegex {
  readonly source: string;
  readonly flags: string;
  test(text: string): boolean;
}

/** The JS flags accepted: i, m, s map to RE2's; g, u and d change nothing for a yes/no match. */
const FLAG_BITS: Record<string, number> = {
  i: RE2JS.CASE_INSENSITIVE,
  m: RE2JS.MULTILINE,
  s: RE2JS.DOTALL,
  g: 0,
  u: 0,
  d: 0,
};

const RULE =
  'must be a regular expression the linear-time engine (RE2 syntax) accepts: no backreferences (\\1, \\k<name>) and no lookahead or lookbehind ((?=, (?!, (?<=, (?<!)';

/** First backreference (`\1`…`\9`, `\k<name>`) outside escapes, or undefined. */
function backreference(pattern: string): string | undefined {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '\\') continue;
    const next = pattern[i + 1] ?? '';
    if (next >= '1' && next <= '9') return `\\${next}`;
    if (next === 'k' && pattern[i + 2] === '<') return '\\k<';
    i++; // skip the escaped character
  }
  return undefined;
}

/**
 * Splits the `/pattern/flags` form (the shape of `expectBody` when it is a regular
 * expression): answers undefined for anything else (plain text, a lone `/`, `//`).
 */
export function splitSlashPattern(text: string): { pattern: string; flags: string } | undefined {
  const last = text.lastIndexOf('/');
  if (text.length > 2 && text.startsWith('/') && last > 0)
    return { pattern: text.slice(1, last), flags: text.slice(last + 1) };
  return undefined;
}

/**
 * Compiles `pattern` (JavaScript source syntax, translated with RE2JS.translateRegExp for
 * `\uXXXX`, `\cX`, `[^]`, named groups) with JS `flags` for linear-time matching. Accepts at
 * most MAX_PATTERN_LENGTH characters and the flags i, m, s (g, u, d are accepted and change
 * nothing; y and v are refused). `field` names the configuration field in the refusal.
 *
 * @throws FulcrumError('invalid', `${field}: …`, field) for a pattern too long, a flag not
 *   supported, a backreference or lookaround, or any other syntax RE2 does not compile —
 *   the message names the rule and the engine's reason.
 */
export function compileLinearRegex(pattern: string, flags: string, field: string): LinearRegex {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw invalid(field, `${field}: the regular expression is longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  let bits = 0;
  for (const f of flags) {
    const bit = FLAG_BITS[f];
    if (bit === undefined || flags.indexOf(f) !== flags.lastIndexOf(f)) {
      throw invalid(field, `${field}: regular expression flags may be i, m and s (g, u, d change nothing); "${flags}"`);
    }
    bits |= bit;
  }
  const backref = backreference(pattern);
  if (backref) throw invalid(field, `${field}: ${RULE}; found ${backref}`);
  let re: RE2JS;
  try {
    re = RE2JS.compile(RE2JS.translateRegExp(pattern), bits);
  } catch (err) {
    throw invalid(field, `${field}: ${RULE}; ${(err as Error).message}`);
  }
  return { source: pattern, flags, test: (text) => re.test(text) };
}
