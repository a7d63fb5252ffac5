/**
 * The grammar of expected HTTP status codes of an http/https check (H3), the one copy: a
 * comma-separated list of codes and inclusive ranges (`200`, `200,204`, `200-299,302`),
 * spaces around items allowed, every code within 100–599, no range running backwards.
 * Used by config/validate.ts (the rule) and health/expected-codes.ts (the matcher).
 */

const ITEM = /^(\d{3})(?:-(\d{3}))?$/;

/** Why `text` is not a list of expected codes, in words; undefined when it is one. */
export function expectedCodesProblem(text: unknown): string | undefined {
  if (typeof text !== 'string' || text.trim() === '') {
    return 'must list status codes or ranges, e.g. "200,204,300-399"';
  }
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const m = ITEM.exec(item);
    if (!m) return `item "${item}" is not a status code (e.g. 200) or a range (e.g. 200-299)`;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 100 || hi > 599) return `item "${item}" is outside the HTTP status range 100-599`;
    if (hi < lo) return `range "${item}" ends before it starts`;
  }
  return undefined;
}

/** The inclusive ranges of a list of expected codes (`200-299, 302` → [[200, 299], [302, 302]]); undefined when it does not parse. */
export function parseExpectedCodes(text: string): [number, number][] | undefined {
  if (expectedCodesProblem(text) !== undefined) return undefined;
  return text.split(',').map((raw) => {
    const [lo, hi] = raw.trim().split('-');
    return [Number(lo), Number(hi ?? lo)];
  });
}
