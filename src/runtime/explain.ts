/**
 * Explain (issue 16): the answer to "where does this client go, and why?", computed by the
 * data plane from the same routing, persistence and balancer code that serves traffic, without
 * sending any. Types only: the data plane implements `Explainer` (src/dataplane/explain.ts),
 * the control plane's port carries it, the API serves it.
 */

/** What is known of the request to explain. */
export interface ExplainQuery {
  /** Client IP address (strict IPv4 or IPv6; an IPv4-mapped IPv6 address counts as IPv4). */
  client: string;
  /** Client port (no algorithm uses it; echoed). */
  clientPort?: number;
  /** Host header (HTTP); default: none. */
  host?: string;
  /** Request target, path and query (HTTP); default `/`. */
  path?: string;
  /** Method (HTTP); default GET. */
  method?: string;
  /** Request headers (HTTP). */
  headers?: { name: string; value: string }[];
  /** Cookie header value (cookie and app-cookie persistence). */
  cookie?: string;
}

/** One routing rule as tried, in order. */
export interface RuleTrial {
  index: number;
  backendId: string;
  backendName: string;
  /** The rule's conditions as configured. */
  match: Record<string, unknown>;
  matched: boolean;
  /** The first condition that did not match (`host`, `hostSuffix`, `path`, `pathPrefix`, `method`, `header`). */
  failed?: string;
  /** What the rule wanted and what the request had, for a failed condition. */
  expected?: string;
  actual?: string;
}

/** The routing decision of a frontend (F4). */
export interface RoutingExplanation {
  /** What the rules see: the host without port, lower-case; the normalised path; the method. */
  request: { host: string; path: string; method: string };
  /** Rules tried in order, up to and including the one that matched. */
  rules: RuleTrial[];
  /** The index of the matching rule; null when the default backend serves the request. */
  matchedRule: number | null;
  backendId: string | null;
  reason: string;
}

/** The persistence decision. */
export interface PersistenceView {
  type: 'none' | 'source-ip' | 'cookie' | 'app-cookie';
  /** none, hit, miss, no-cookie, valid, expired, forged, server-gone, cannot-keep, learned, hashed. */
  outcome: string;
  reason: string;
  /** The server the session names, even when it cannot keep it. */
  pinnedServerId: string | null;
  /** The server the session stays on; null when a new one is chosen. */
  keptServerId: string | null;
  /** How the server is chosen: the kept session, the balancer, or a consistent hash. */
  fallback: 'pinned' | 'balancer' | 'hash';
  cookieExpiresAt?: string;
  configError?: string;
}

/** One server of the backend. */
export interface ServerExplanation {
  id: string;
  name: string;
  address: string;
  port: number;
  passive: boolean;
  eligible: boolean;
  /**
   * Null when eligible; else a stable code: `disabled`, `draining`, `removed`, `ejected`,
   * `unhealthy`, `initial-check`, `weight-zero`, `passive-standby`, `not-applied`.
   */
  reason: string | null;
  /** The reason in words, with times and the last check. */
  detail: string;
  health: 'unknown' | 'healthy' | 'unhealthy';
  lastCheck: { at: string; ok: boolean; reason: string; latencyMs: number } | null;
  drainingUntil: string | null;
  ejectedUntil: string | null;
  weight: number;
  slowStartFactor: number;
  effectiveWeight: number;
  /** Long-run share of new requests from clients like this one (0 when not eligible). */
  expectedShare: number;
  activeConnections: number;
  ewmaTtfbMs: number;
}

/** One possible next server. */
export interface CandidateView {
  serverId: string;
  probability: number;
  activeConnections: number;
  ewmaTtfbMs: number;
  /** The algorithm's score (lower wins). */
  score: number;
}

/** The server the next request from this client reaches. */
export interface NextExplanation {
  /** True when the answer is certain (nothing else changes first); false when `candidates` spread it. */
  exact: boolean;
  /** The server; for least-* the one the next pick takes if nothing changes first; null when none or random. */
  serverId: string | null;
  via: 'persistence' | 'hash' | 'balancer' | 'none';
  candidates: CandidateView[];
  reason: string;
}

export interface Explanation {
  at: string;
  client: { address: string; port: number | null };
  frontend: { id: string; name: string; protocol: string } | null;
  routing: RoutingExplanation | null;
  backend: { id: string; name: string; algorithm: string } | null;
  persistence: PersistenceView | null;
  passives: { inUse: boolean; reason: string } | null;
  servers: ServerExplanation[];
  next: NextExplanation;
}

/** Implemented by the data plane; undefined answers: the id is unknown to the running snapshot. */
export interface Explainer {
  frontend(id: string, q: ExplainQuery): Explanation | undefined;
  backend(id: string, q: ExplainQuery): Explanation | undefined;
}
