import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ErrorSchema, IdSchema } from '../config/schemas.ts';
import type { ExplainQuery, Explanation } from '../control/ports.ts';
import { FulcrumError, invalid } from '../core/errors.ts';
import { isIpAddress } from '../core/net.ts';
import type { ApiContext } from './context.ts';

/**
 * Explain (issue 16 point 1): `GET /frontends/{id}/explain` and `GET /backends/{id}/explain`
 * answer where a client's next request goes and why, computed by the data plane from the same
 * routing, persistence and balancer code that serves traffic, without sending any and without
 * changing any state. Role viewer.
 */

const MAX = { client: 64, host: 255, path: 2048, method: 32, header: 8192, headers: 32, cookie: 8192 } as const;

const HeaderParam = Type.String({ minLength: 3, maxLength: MAX.header, description: 'A request header, `name:value`' });

export const ExplainQuerySchema = Type.Object({
  client: Type.String({
    minLength: 1,
    maxLength: MAX.client,
    description:
      'Client IP address, optionally with a port: `203.0.113.7`, `203.0.113.7:51000`, `2001:db8::7`, `[2001:db8::7]:51000`',
  }),
  host: Type.Optional(Type.String({ minLength: 1, maxLength: MAX.host, description: 'Host header (HTTP frontends)' })),
  path: Type.Optional(
    Type.String({ minLength: 1, maxLength: MAX.path, description: 'Request target, path and query (default `/`)' }),
  ),
  method: Type.Optional(Type.String({ minLength: 1, maxLength: MAX.method, description: 'Method (default GET)' })),
  header: Type.Optional(
    Type.Union([HeaderParam, Type.Array(HeaderParam, { maxItems: MAX.headers })], {
      description: 'Request header `name:value`; repeat for several',
    }),
  ),
  cookie: Type.Optional(Type.String({ maxLength: MAX.cookie, description: 'The Cookie header value' })),
});

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const RuleTrialSchema = Type.Object({
  index: Type.Integer(),
  backendId: Type.String(),
  backendName: Type.String(),
  match: Type.Record(Type.String(), Type.Unknown()),
  matched: Type.Boolean(),
  failed: Type.Optional(Type.String({ description: 'First condition that did not match' })),
  expected: Type.Optional(Type.String()),
  actual: Type.Optional(Type.String()),
});

const ServerExplanationSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  address: Type.String(),
  port: Type.Integer(),
  passive: Type.Boolean(),
  eligible: Type.Boolean(),
  reason: Nullable(
    Type.String({
      description:
        'disabled, draining, removed, ejected, unhealthy, initial-check, weight-zero, passive-standby; null when eligible',
    }),
  ),
  detail: Type.String(),
  health: Type.String(),
  lastCheck: Nullable(
    Type.Object({ at: Type.String(), ok: Type.Boolean(), reason: Type.String(), latencyMs: Type.Number() }),
  ),
  drainingUntil: Nullable(Type.String()),
  ejectedUntil: Nullable(Type.String()),
  weight: Type.Number(),
  slowStartFactor: Type.Number(),
  effectiveWeight: Type.Number(),
  expectedShare: Type.Number(),
  activeConnections: Type.Integer(),
  ewmaTtfbMs: Type.Number(),
});

const CandidateSchema = Type.Object({
  serverId: Type.String(),
  probability: Type.Number(),
  activeConnections: Type.Integer(),
  ewmaTtfbMs: Type.Number(),
  score: Type.Number(),
});

export const ExplanationSchema = Type.Object({
  at: Type.String(),
  client: Type.Object({ address: Type.String(), port: Nullable(Type.Integer()) }),
  frontend: Nullable(Type.Object({ id: Type.String(), name: Type.String(), protocol: Type.String() })),
  routing: Nullable(
    Type.Object({
      request: Type.Object({ host: Type.String(), path: Type.String(), method: Type.String() }),
      rules: Type.Array(RuleTrialSchema),
      matchedRule: Nullable(Type.Integer()),
      backendId: Nullable(Type.String()),
      reason: Type.String(),
    }),
  ),
  backend: Nullable(Type.Object({ id: Type.String(), name: Type.String(), algorithm: Type.String() })),
  persistence: Nullable(
    Type.Object({
      type: Type.String(),
      outcome: Type.String({
        description: 'none, hit, miss, no-cookie, valid, expired, forged, server-gone, cannot-keep, learned, hashed',
      }),
      reason: Type.String(),
      pinnedServerId: Nullable(Type.String()),
      keptServerId: Nullable(Type.String()),
      fallback: Type.String({ description: 'pinned, balancer or hash' }),
      cookieExpiresAt: Type.Optional(Type.String()),
      configError: Type.Optional(Type.String()),
    }),
  ),
  passives: Nullable(Type.Object({ inUse: Type.Boolean(), reason: Type.String() })),
  servers: Type.Array(ServerExplanationSchema),
  next: Type.Object({
    exact: Type.Boolean(),
    serverId: Nullable(Type.String()),
    via: Type.String({ description: 'persistence, hash, balancer or none' }),
    candidates: Type.Array(CandidateSchema),
    reason: Type.String(),
  }),
});

type Query = {
  client?: string;
  host?: string;
  path?: string;
  method?: string;
  header?: string | string[];
  cookie?: string;
};

/** `IP`, `IPv4:port`, `[IPv6]:port` or a bare IPv6 address → address and port. Throws 400 naming `client`. */
export function parseClient(text: string): { address: string; port?: number } {
  const bad = () =>
    invalid('client', `client: expected an IP address, optionally with a port (IP:PORT or [IPv6]:PORT), got "${text}"`);
  if (isIpAddress(text)) return { address: text };
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) throw bad();
  const address = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (!isIpAddress(address) || (m[1] !== undefined && !address.includes(':')) || port > 65535) throw bad();
  return { address, port };
}

/** Validates the query parameters (400 naming the parameter) into an ExplainQuery. */
export function explainQuery(q: Query, http: boolean): ExplainQuery {
  if (q.client === undefined || q.client === '') throw invalid('client', 'client: required (the client IP address)');
  const { address, port } = parseClient(q.client);
  const out: ExplainQuery = { client: address };
  if (port !== undefined) out.clientPort = port;
  const text = (field: string, v: string | undefined, max: number, re: RegExp, rule: string) => {
    if (v === undefined) return undefined;
    if (v.length > max) throw invalid(field, `${field}: at most ${max} characters`);
    if (!re.test(v)) throw invalid(field, `${field}: ${rule}`);
    return v;
  };
  out.host = text(
    'host',
    q.host,
    MAX.host,
    /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]%]+$/,
    'a host name or address, optionally with a port',
  );
  out.path = text(
    'path',
    q.path,
    MAX.path,
    /^(\/[\x21-\x7e]*|\*)$/,
    'an origin-form target starting with / (visible ASCII)',
  );
  out.method = text('method', q.method, MAX.method, /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'an HTTP method token');
  out.cookie = text('cookie', q.cookie, MAX.cookie, /^[\x20-\x7e\t]*$/, 'printable ASCII only');
  const headers = q.header === undefined ? [] : Array.isArray(q.header) ? q.header : [q.header];
  if (headers.length > MAX.headers) throw invalid('header', `header: at most ${MAX.headers}`);
  out.headers = headers.map((h) => {
    if (h.length > MAX.header) throw invalid('header', `header: at most ${MAX.header} characters`);
    const colon = h.indexOf(':');
    const name = h.slice(0, colon).trim();
    const value = h.slice(colon + 1).trim();
    if (colon <= 0 || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) || !/^[\x20-\x7e\t]*$/.test(value)) {
      throw invalid('header', `header: expected name:value with a token name and printable value, got "${h}"`);
    }
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'cookie') {
      throw invalid('header', `header: give ${lower} with the ${lower} parameter`);
    }
    return { name, value };
  });
  if (!http && (out.host !== undefined || out.path !== undefined || out.method !== undefined || headers.length > 0)) {
    // Backends have no routing: host, path, method and headers would be silently ignored.
    const field =
      out.host !== undefined
        ? 'host'
        : out.path !== undefined
          ? 'path'
          : out.method !== undefined
            ? 'method'
            : 'header';
    throw invalid(field, `${field}: only a frontend's explain routes a request; a backend's takes client and cookie`);
  }
  return out;
}

const explainUnavailable = () =>
  new FulcrumError('internal', 'explain is not available: this control plane has no data plane explainer');

export function registerExplainRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const cp = ctx.control;
  const plane = cp.plane;
  const IdParams = Type.Object({ id: IdSchema });
  const response = { 200: ExplanationSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };
  type Req = FastifyRequest<{ Params: { id: string }; Querystring: Query }>;

  const answer = (e: Explanation | undefined, kind: string, id: string): Explanation => {
    if (e) return e;
    throw new FulcrumError('not_found', `${kind} ${id} is not applied to the data plane yet`);
  };

  app.get(
    '/frontends/:id/explain',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['explain'],
        summary:
          "Where this client's next request goes and why: rules tried, persistence, every server's eligibility, the next server (no traffic sent)",
        params: IdParams,
        querystring: ExplainQuerySchema,
        response,
      },
    },
    async (req: Req) => {
      cp.get('frontend', req.params.id); // 404 for an unknown id
      const q = explainQuery(req.query, true);
      if (!plane.explain) throw explainUnavailable();
      return answer(plane.explain.frontend(req.params.id, q), 'frontend', req.params.id);
    },
  );
  app.get(
    '/backends/:id/explain',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['explain'],
        summary:
          "Which server of this backend this client's next request reaches and why: persistence, every server's eligibility, the next server",
        params: IdParams,
        querystring: ExplainQuerySchema,
        response,
      },
    },
    async (req: Req) => {
      cp.get('backend', req.params.id);
      const q = explainQuery(req.query, false);
      if (!plane.explain) throw explainUnavailable();
      return answer(plane.explain.backend(req.params.id, q), 'backend', req.params.id);
    },
  );
}
