import type { PickContext } from '../../balancer/types.ts';
import type { BackendSpec, CompiledRule, FrontendSpec } from '../../config/snapshot.ts';
import type { BackendRuntime } from '../../runtime/runtime.ts';
import type { ServerRuntime } from '../../runtime/server-runtime.ts';
import type { HttpHead } from './parser.ts';

/**
 * Routing (F4): the first rule whose every given condition matches wins, else the
 * frontend's default backend. Host is compared lower-cased without its port; `hostSuffix`
 * matches wildcard rules (`*.example.com` → any host ending in `.example.com`); `path` is
 * exact and `pathPrefix` a prefix of the path without its query; `header` compares a
 * lower-case name and an exact value; `method` is exact (upper case).
 * Returns the rule index (rules.length for the default) through `out.index`.
 */
export function route(
  spec: FrontendSpec,
  head: HttpHead,
  path: string,
  out: { index: number },
): BackendSpec | undefined {
  const rules = spec.rules;
  if (rules.length > 0) {
    let host: string | undefined;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i] as CompiledRule;
      if (r.host !== undefined || r.hostSuffix !== undefined) host ??= hostOf(head.host);
      if (ruleMismatch(r, host ?? '', head, path) !== null) continue;
      out.index = i;
      return r.backend;
    }
  }
  out.index = rules.length;
  return spec.defaultBackend;
}

/** A condition of a compiled rule (F4), in the order `ruleMismatch` tests them. */
export type RuleCondition = 'host' | 'hostSuffix' | 'path' | 'pathPrefix' | 'method' | 'header';

/**
 * The first condition of rule `r` that the request does not meet, or null when every given
 * condition matches: the one rule test of `route` (and of explain, which reports the
 * condition). `host` is `hostOf(head.host)`, needed only when the rule has a host condition.
 */
export function ruleMismatch(r: CompiledRule, host: string, head: HttpHead, path: string): RuleCondition | null {
  if (r.host !== undefined && host !== r.host) return 'host';
  if (r.hostSuffix !== undefined && !(host.endsWith(r.hostSuffix) && host.length > r.hostSuffix.length))
    return 'hostSuffix';
  if (r.path !== undefined && path !== r.path) return 'path';
  if (r.pathPrefix !== undefined && !path.startsWith(r.pathPrefix)) return 'pathPrefix';
  if (r.method !== undefined && head.method !== r.method) return 'method';
  if (r.header !== undefined && !hasHeader(head, r.header.name, r.header.value)) return 'header';
  return null;
}

/** Lower-case host without port (`Example.COM:8080` → `example.com`, `[::1]:80` → `[::1]`). */
export function hostOf(host: string | null): string {
  if (!host) return '';
  let end = host.length;
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && host.indexOf(']', colon) < 0) end = colon;
  if (end > 0 && host.charCodeAt(end - 1) === 46) end--; // trailing dot of a FQDN
  return host.slice(0, end).toLowerCase();
}

function hasHeader(head: HttpHead, name: string, value: string): boolean {
  const lower = head.lower;
  for (let i = 0; i < lower.length; i++) if (lower[i] === name && head.values[i] === value) return true;
  return false;
}

/** What a chooser sees of the request (no allocation: the connection's own objects). */
export interface ChooseRequest {
  readonly head: HttpHead;
  readonly clientAddress: string;
  /** Reused per connection; `exclude` is set when retrying after a failed connect (redispatch). */
  readonly pick: PickContext;
}

/**
 * The ONE place where an HTTP request gets its server (seam for persistence, P1–P3): the
 * default asks the backend's balancer. A persistence module replaces it (e.g. reads a
 * cookie in `choose`, adds `Set-Cookie` in `responseHeaders`).
 */
export interface ServerChooser {
  /** The server for this request, or undefined when none is available (→ 503). */
  choose(backend: BackendRuntime, req: ChooseRequest): ServerRuntime | undefined;
  /**
   * Extra response header lines for the client, each ending in CRLF (e.g. `Set-Cookie: …\r\n`),
   * or '' for none. Called once per final response from `server`, before its head is written;
   * `response` is the server's parsed head (e.g. to learn app-cookie values from Set-Cookie).
   */
  responseHeaders(
    backend: BackendRuntime,
    server: ServerRuntime,
    req: ChooseRequest,
    status: number,
    response: HttpHead,
  ): string;
}

/** Balancer only: `backend.balancer.pick({ clientAddress, exclude })`. */
export const balancerChooser: ServerChooser = {
  choose(backend, req) {
    return backend.balancer.pick(req.pick);
  },
  responseHeaders() {
    return '';
  },
};
