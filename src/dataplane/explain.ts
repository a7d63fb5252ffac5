import { BaseBalancer, type Candidate } from '../balancer/base.ts';
import type { PickContext } from '../balancer/types.ts';
import type { BackendSpec, CompiledRule, FrontendSpec } from '../config/snapshot.ts';
import { invalid } from '../core/errors.ts';
import type { PersistenceExplanation, PersistenceManager } from '../persistence/choose.ts';
import type {
  Explainer,
  ExplainQuery,
  Explanation,
  NextExplanation,
  PersistenceView,
  RoutingExplanation,
  RuleTrial,
  ServerExplanation,
} from '../runtime/explain.ts';
import type { BackendRuntime, Runtime } from '../runtime/runtime.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { unmapV4 } from './http/connection.ts';
import { type HttpHead, HttpParseError, parseHead } from './http/parser.ts';
import { parseTarget, targetOut } from './http/request-target.ts';
import { hostOf, route, ruleMismatch } from './http/route.ts';

/**
 * Explain (issue 16): where the next request of a client goes and why, answered from the live
 * state without sending traffic and without changing any (no rotation advanced, nothing
 * learned or pinned). Every decision comes from the code that serves traffic:
 *
 * - routing: the request head is built and parsed by the HTTP parser, its target normalised by
 *   `parseTarget`, the backend chosen by `route`; each rule's first failing condition comes
 *   from `ruleMismatch`, the test `route` itself runs;
 * - persistence: `PersistenceManager.explain`, the read-only twin of `choose`;
 * - servers: the balancer's eligibility list (actives first, passives only when no active is
 *   available) and its `shares`;
 * - next server: the kept session, `pickHashed`, or the balancer's `peek` (exact for round
 *   robin, weighted round robin, source-ip); for least-connections, least-response-time and
 *   random-two-choices the balancer's `candidates` with their probabilities.
 *
 * Throws FulcrumError `invalid` (field `client`, `host`, `path`, `method` or `header`) when
 * the request could not reach the data plane as described.
 */
export function createExplainer(runtime: Runtime, persistence: PersistenceManager): Explainer {
  return {
    frontend(id, q) {
      const spec = runtime.snapshot?.frontends.get(id);
      if (!spec) return undefined;
      const client = unmapV4(q.client);
      const http = spec.protocol === 'http' || spec.protocol === 'https';
      let routing: RoutingExplanation;
      let bspec: BackendSpec | undefined;
      let cookie = q.cookie;
      if (http) {
        const head = requestHead(q);
        const t = parseTarget(head.method, head.target, spec.mergeSlashes, targetOut());
        if (t.status !== 0) throw invalid('path', `path: ${t.reason}`);
        if (t.authority !== null) head.host = t.authority;
        routing = explainRules(spec, head, t.path);
        bspec = route(spec, head, t.path, { index: 0 });
        cookie = cookieOf(head);
      } else {
        bspec = spec.defaultBackend;
        const sni = spec.sniRules.length > 0 ? ' (SNI rules pick by the TLS server name, not explained here)' : '';
        routing = {
          request: { host: '', path: '', method: '' },
          rules: [],
          matchedRule: null,
          backendId: bspec?.id ?? null,
          reason: `${spec.protocol} frontend: every connection goes to the default backend${sni}`,
        };
        cookie = undefined;
      }
      const frontend = { id: spec.id, name: spec.name, protocol: spec.protocol };
      const brt = bspec ? runtime.backends.get(bspec.id) : undefined;
      return explainBackend(runtime, persistence, brt, { ...q, client, cookie }, frontend, routing, http);
    },
    backend(id, q) {
      const brt = runtime.backends.get(id);
      if (!brt) return undefined;
      return explainBackend(runtime, persistence, brt, { ...q, client: unmapV4(q.client) }, null, null, true);
    },
  };
}

/** The request as the HTTP/1.1 parser would have it (the same parser as the data plane). */
function requestHead(q: ExplainQuery): HttpHead {
  const method = q.method ?? 'GET';
  const target = q.path ?? '/';
  const lines = [`${method} ${target} HTTP/1.${q.host === undefined ? 0 : 1}`];
  if (q.host !== undefined) lines.push(`Host: ${q.host}`);
  for (const h of q.headers ?? []) lines.push(`${h.name}: ${h.value}`);
  if (q.cookie !== undefined) lines.push(`Cookie: ${q.cookie}`);
  const buf = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  try {
    return parseHead(buf, 0, buf.length, true);
  } catch (err) {
    if (!(err instanceof HttpParseError)) throw err;
    const m = err.message.toLowerCase();
    const field = m.includes('host')
      ? 'host'
      : m.includes('method')
        ? 'method'
        : m.includes('target')
          ? 'path'
          : 'header';
    throw invalid(field, `${field}: the data plane would refuse this request: ${err.message}`);
  }
}

function cookieOf(head: HttpHead): string | undefined {
  const values: string[] = [];
  for (let i = 0; i < head.lower.length; i++) if (head.lower[i] === 'cookie') values.push(head.values[i]!);
  return values.length === 0 ? undefined : values.join('; ');
}

function ruleMatch(r: CompiledRule): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  if (r.host !== undefined) m.host = r.host;
  if (r.hostSuffix !== undefined) m.host = `*${r.hostSuffix}`;
  if (r.path !== undefined) m.path = r.path;
  if (r.pathPrefix !== undefined) m.pathPrefix = r.pathPrefix;
  if (r.method !== undefined) m.method = r.method;
  if (r.header !== undefined) m.header = { ...r.header };
  return m;
}

/** Each rule tried in order with its first failing condition (`ruleMismatch`, the test of `route`). */
function explainRules(spec: FrontendSpec, head: HttpHead, path: string): RoutingExplanation {
  const host = hostOf(head.host);
  const rules: RuleTrial[] = [];
  let matched: CompiledRule | undefined;
  for (const r of spec.rules) {
    const failed = ruleMismatch(r, host, head, path);
    const trial: RuleTrial = {
      index: r.index,
      backendId: r.backend.id,
      backendName: r.backend.name,
      match: ruleMatch(r),
      matched: failed === null,
    };
    if (failed !== null) {
      trial.failed = failed;
      const [expected, actual] = conditionValues(r, failed, host, head, path);
      trial.expected = expected;
      trial.actual = actual;
    }
    rules.push(trial);
    if (failed === null) {
      matched = r;
      break;
    }
  }
  const backend = matched ? matched.backend : spec.defaultBackend;
  const reason = matched
    ? `rule ${matched.index} matched → backend ${matched.backend.name}`
    : spec.rules.length === 0
      ? backend
        ? `no rules: default backend ${backend.name}`
        : 'no rules and no default backend: 503'
      : backend
        ? `no rule matched: default backend ${backend.name}`
        : 'no rule matched and no default backend: 503';
  return {
    request: { host, path, method: head.method },
    rules,
    matchedRule: matched ? matched.index : null,
    backendId: backend?.id ?? null,
    reason,
  };
}

function conditionValues(r: CompiledRule, c: string, host: string, head: HttpHead, path: string): [string, string] {
  switch (c) {
    case 'host':
      return [r.host!, host || '(none)'];
    case 'hostSuffix':
      return [`*${r.hostSuffix}`, host || '(none)'];
    case 'path':
      return [r.path!, path];
    case 'pathPrefix':
      return [`${r.pathPrefix}…`, path];
    case 'method':
      return [r.method!, head.method];
    default: {
      const name = r.header!.name;
      const got = head.values.filter((_, i) => head.lower[i] === name);
      return [`${name}: ${r.header!.value}`, got.length ? got.map((v) => `${name}: ${v}`).join(', ') : `(no ${name})`];
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

const round = (x: number): number => Math.round(x * 10_000) / 10_000;

function explainBackend(
  runtime: Runtime,
  persistence: PersistenceManager,
  brt: BackendRuntime | undefined,
  q: ExplainQuery,
  frontend: Explanation['frontend'],
  routing: RoutingExplanation | null,
  http: boolean,
): Explanation {
  const now = runtime.clock.now();
  const client = { address: q.client, port: q.clientPort ?? null };
  if (!brt) {
    return {
      at: iso(now),
      client,
      frontend,
      routing,
      backend: null,
      persistence: null,
      passives: null,
      servers: [],
      next: {
        exact: true,
        serverId: null,
        via: 'none',
        candidates: [],
        reason: 'no backend: the request is answered 503',
      },
    };
  }
  const balancer = brt.balancer;
  const base = balancer instanceof BaseBalancer ? balancer : undefined;
  const pickCtx: PickContext = { clientAddress: q.client };
  // Persistence first: its passive check peeks the balancer, which refreshes eligibility.
  const pe = persistence.explain(brt, { clientAddress: q.client, cookie: http ? q.cookie : undefined }, now);
  const el = base?.el;
  el?.refresh(now);
  const shares = base ? base.shares(now) : [];
  const servers = brt.servers.map((s) => serverExplanation(brt, s, now, el?.indexOf(s) ?? -1, shares));
  // Servers deleted from the backend that still drain (S3): no new traffic, shown until their drain ends.
  for (const s of runtime.drainingRemoved.values()) {
    if (s.spec.backendId === brt.id && s.draining) servers.push(serverExplanation(brt, s, now, -1, shares));
  }
  const passiveCount = brt.servers.filter((s) => s.spec.passive).length;
  const passives =
    passiveCount === 0
      ? { inUse: false, reason: 'no passive server' }
      : el?.passiveTier
        ? { inUse: true, reason: 'no active server is available: the passive servers take the traffic' }
        : el && el.count > 0
          ? { inUse: false, reason: 'an active server is available: passive servers stand by' }
          : { inUse: false, reason: 'no server is available, active or passive' };
  return {
    at: iso(now),
    client,
    frontend,
    routing,
    backend: { id: brt.id, name: brt.spec.name, algorithm: brt.spec.algorithm },
    persistence: persistenceView(pe),
    passives,
    servers,
    next: nextServer(brt, base, pe, pickCtx),
  };
}

function persistenceView(pe: PersistenceExplanation): PersistenceView {
  const v: PersistenceView = {
    type: pe.type,
    outcome: pe.outcome,
    reason: pe.reason,
    pinnedServerId: pe.pinnedServerId ?? null,
    keptServerId: pe.server?.id ?? null,
    fallback: pe.fallback,
  };
  if (pe.cookieExpiresAt !== undefined) v.cookieExpiresAt = pe.cookieExpiresAt;
  if (pe.configError !== undefined) v.configError = pe.configError;
  return v;
}

function serverExplanation(
  brt: BackendRuntime,
  s: ServerRuntime,
  now: number,
  index: number,
  shares: readonly number[],
): ServerExplanation {
  const factor = s.slowStartFactor(now);
  const drainingUntil = s.draining ? s.drainStartedAt + brt.spec.drainTimeoutMs : 0;
  let reason: string | null = null;
  let detail: string;
  const check = s.lastCheck;
  const checkText = check
    ? `last check ${check.at}: ${check.reason}${check.message ? ` (${check.message})` : ''}`
    : 'no check yet';
  if (!s.spec.enabled) {
    reason = 'disabled';
    detail = 'disabled by an operator';
    if (s.draining) detail += `; its ${s.activeConnections} open connection(s) drain until ${iso(drainingUntil)}`;
  } else if (s.draining) {
    reason = s.removed ? 'removed' : 'draining';
    detail = `draining until ${iso(drainingUntil)} (${s.activeConnections} open connection(s) finish; no new traffic)`;
  } else if (s.isEjected(now)) {
    reason = 'ejected';
    detail = `ejected by passive health checks until ${iso(s.ejectedUntil)} (${s.ejections} ejection(s))`;
  } else if (!s.healthOk) {
    reason = s.health === 'unknown' ? 'initial-check' : 'unhealthy';
    detail =
      s.health === 'unknown'
        ? `waiting for its first successful health check (${checkText})`
        : `unhealthy (${s.healthReason ?? 'failed-checks'}; ${checkText})`;
  } else if (s.spec.weight === 0) {
    reason = 'weight-zero';
    detail = 'weight 0: no new clients; persisted sessions stay';
  } else if (index < 0) {
    reason = 'passive-standby';
    detail = 'passive: stands by while an active server is available';
  } else {
    detail = s.spec.passive ? 'eligible: passive, in use because no active server is available' : 'eligible';
    if (factor < 1) detail += `; slow start at ${Math.round(factor * 100)} % of its weight`;
  }
  return {
    id: s.id,
    name: s.spec.name,
    address: s.spec.address,
    port: s.spec.port,
    passive: s.spec.passive,
    eligible: index >= 0,
    reason,
    detail,
    health: s.health,
    lastCheck: check ? { at: check.at, ok: check.ok, reason: check.reason, latencyMs: check.latencyMs } : null,
    drainingUntil: s.draining ? iso(drainingUntil) : null,
    ejectedUntil: s.isEjected(now) ? iso(s.ejectedUntil) : null,
    weight: s.spec.weight,
    slowStartFactor: round(factor),
    effectiveWeight: round(s.effectiveWeight(now)),
    expectedShare: index >= 0 ? round(shares[index] ?? 0) : 0,
    activeConnections: s.activeConnections,
    ewmaTtfbMs: round(s.ewmaTtfbMs),
  };
}

/** Algorithms whose next pick `peek` predicts exactly. */
const EXACT = new Set(['round-robin', 'weighted-round-robin', 'source-ip']);

function nextServer(
  brt: BackendRuntime,
  base: BaseBalancer | undefined,
  pe: PersistenceExplanation,
  ctx: PickContext,
): NextExplanation {
  const one = (s: ServerRuntime | undefined, via: NextExplanation['via'], reason: string): NextExplanation => ({
    exact: true,
    serverId: s?.id ?? null,
    via: s ? via : 'none',
    candidates: s ? [candidateView({ server: s, probability: 1, score: 0 })] : [],
    reason: s ? reason : 'no server is available: the request is answered 503',
  });
  if (pe.server) return one(pe.server, 'persistence', `persistence keeps the session on ${pe.server.id}`);
  const b = brt.balancer;
  if (pe.fallback === 'hash' && pe.hashKey !== undefined) {
    const s = b.pickHashed ? b.pickHashed(pe.hashKey) : b.peek?.({ hashKey: pe.hashKey });
    return one(
      s,
      'hash',
      `consistent hash (Maglev) of ${pe.type === 'source-ip' ? 'the client address' : 'the cookie value'}`,
    );
  }
  const algorithm = brt.spec.algorithm;
  if (!base) return one(b.peek?.(ctx), 'balancer', `${algorithm}: the next pick`);
  if (EXACT.has(algorithm)) {
    const s = base.peek(ctx);
    const how =
      algorithm === 'source-ip'
        ? 'source-ip: Maglev hash of the client address, under the bounded load'
        : `${algorithm}: the next pick of the rotation (unless another request takes it first)`;
    return one(s, 'balancer', how);
  }
  const candidates = base.candidates(ctx).map(candidateView);
  if (candidates.length === 0) return one(undefined, 'none', '');
  const likely = algorithm === 'random-two-choices' ? null : (base.peek(ctx)?.id ?? null);
  const reason =
    algorithm === 'random-two-choices'
      ? 'random-two-choices: two servers drawn at random, the less loaded per weight wins; probabilities from the current connection counts'
      : algorithm === 'least-connections'
        ? 'least-connections: the smallest (connections + 1) / weight wins; ties go by rotation'
        : 'least-response-time: the smallest time-to-first-byte EWMA × (1 + connections) / weight wins; ties go by rotation';
  return {
    exact: candidates.length === 1 && candidates[0]!.probability === 1,
    serverId: likely,
    via: 'balancer',
    candidates,
    reason,
  };
}

function candidateView(c: Candidate): NextExplanation['candidates'][number] {
  return {
    serverId: c.server.id,
    probability: round(c.probability),
    activeConnections: c.server.activeConnections,
    ewmaTtfbMs: round(c.server.ewmaTtfbMs),
    score: round(c.score),
  };
}
