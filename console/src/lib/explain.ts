/**
 * The Explain panel's logic (issue 16 point 1): its form → the query of
 * `GET /frontends/{id}/explain` or `GET /backends/{id}/explain`, and the answer in words.
 * The answer's shape is the server's own (`src/runtime/explain.ts`, see types.ts).
 */
import type { FieldErrors, FormValues } from './form.ts';
import type { Explanation, RuleTrial } from './types.ts';

/** What is explained: a frontend (routing, then its backend) or a backend directly. */
export type ExplainKind = 'frontend' | 'backend';

/** The form's fields, named as the API's query parameters (a 400's `field` names one). */
export const ExplainFields = ['client', 'host', 'path', 'method', 'header', 'cookie'] as const;

/**
 * The fields a target takes: an HTTP(S) frontend all of them; a backend client and cookie; a
 * TCP, UDP or TLS-passthrough frontend only the client (every connection goes to its default
 * backend, and no cookie is read).
 */
export function explainFieldsFor(kind: ExplainKind, protocol?: string): readonly string[] {
  if (kind === 'backend') return ['client', 'cookie'];
  return protocol === 'http' || protocol === 'https' ? ExplainFields : ['client'];
}

export function emptyExplainValues(): FormValues {
  return { client: '', host: '', path: '', method: '', header: '', cookie: '' };
}

/**
 * Form values → `?client=…&host=…` (empty fields left out, values sent as typed but trimmed;
 * the cookie kept as typed). Only `client` is checked here (required); every other rule is the
 * API's, whose 400 names the parameter.
 */
export function explainQuery(values: FormValues, fields: readonly string[]): { query: string; errors: FieldErrors } {
  const q = new URLSearchParams();
  const errors: FieldErrors = {};
  for (const f of fields) {
    const raw = String(values[f] ?? '');
    const v = f === 'cookie' ? raw : raw.trim();
    if (v === '') continue;
    q.set(f, v);
  }
  if (!q.has('client')) errors.client = 'client: required (the client IP address, optionally IP:port)';
  return { query: `?${q}`, errors };
}

/** A rule's conditions in words: `host api.shop.example, path prefix /api/`. */
export function describeMatch(match: Record<string, unknown>): string {
  const parts: string[] = [];
  const label: Record<string, string> = {
    host: 'host',
    hostSuffix: 'host suffix',
    path: 'path',
    pathPrefix: 'path prefix',
    method: 'method',
  };
  for (const [k, v] of Object.entries(match)) {
    if (v === undefined || v === null || v === '') continue;
    if (k === 'header' && typeof v === 'object') {
      const h = v as { name?: string; value?: string };
      parts.push(`header ${h.name}: ${h.value}`);
    } else parts.push(`${label[k] ?? k} ${String(v)}`);
  }
  return parts.join(', ') || 'any request';
}

/** Why a rule did or did not match: `matched → api` or `host wants api.shop.example, got www.shop.example`. */
export function ruleOutcome(t: RuleTrial): string {
  if (t.matched) return `matched → backend ${t.backendName}`;
  const cond = t.failed === 'pathPrefix' ? 'path prefix' : t.failed === 'hostSuffix' ? 'host suffix' : t.failed;
  return `did not match: ${cond ?? 'a condition'} wants ${t.expected ?? '?'}, got ${t.actual || '(none)'}`;
}

/** A share or a probability (0–1) as a percentage with at most one decimal: `33.3 %`, `100 %`. */
export function percent(x: number): string {
  return `${Math.round(x * 1000) / 10} %`;
}

/** The next server in one sentence: `web-2 (exact, by persistence)` or `one of 2 candidates`. */
export function nextSummary(e: Explanation): string {
  const n = e.next;
  const name = (id: string | null) => (id ? (e.servers.find((s) => s.id === id)?.name ?? id) : null);
  const who = name(n.serverId);
  if (n.exact) return who ? `${who} (exact, by ${n.via})` : 'none: no server is available';
  if (who) return `most likely ${who}, one of ${n.candidates.length} candidates`;
  return n.candidates.length ? `one of ${n.candidates.length} candidates` : 'none: no server is available';
}
