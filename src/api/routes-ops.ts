import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ErrorSchema, IdSchema, NameSchema } from '../config/schemas.ts';
import { FulcrumError } from '../core/errors.ts';
import type { EventQuery, Role, StoredEvent } from '../store/types.ts';
import { cookieValue, SESSION_COOKIE, SESSION_TTL_MS } from './auth.ts';
import type { ApiContext } from './context.ts';
import { registerHistoryRoutes } from './routes-history.ts';

type Req = FastifyRequest<{
  Params: { id: string };
  Body: Record<string, unknown>;
  Querystring: Record<string, unknown>;
}>;

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema };

const EventSchema = Type.Object({
  id: Type.Integer(),
  at: Type.String(),
  kind: Type.String({ description: 'health, ejection, drain-start, drain-end, config, …' }),
  loadBalancerId: Type.Union([Type.String(), Type.Null()]),
  backendId: Type.Union([Type.String(), Type.Null()]),
  serverId: Type.Union([Type.String(), Type.Null()]),
  from: Type.Union([Type.String(), Type.Null()]),
  to: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Optional(Type.Object({}, { additionalProperties: true })),
});

const EventFilters = Type.Object({
  backendId: Type.Optional(IdSchema),
  serverId: Type.Optional(IdSchema),
  loadBalancerId: Type.Optional(IdSchema),
  kind: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  since: Type.Optional(
    Type.String({ minLength: 1, maxLength: 64, 'x-rule': 'must be an ISO 8601 time or an event id' }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
});

const RoleSchema = Type.String({ enum: ['admin', 'operator', 'viewer'] });
const TokenSchema = Type.Object({ id: Type.String(), name: Type.String(), role: RoleSchema, createdAt: Type.String() });

function eventQuery(q: Record<string, unknown>): EventQuery {
  const out: EventQuery = {};
  for (const k of ['backendId', 'serverId', 'loadBalancerId', 'kind'] as const) {
    if (typeof q[k] === 'string') out[k] = q[k] as string;
  }
  if (typeof q.limit === 'number') out.limit = q.limit;
  if (typeof q.since === 'string') {
    if (/^\d+$/.test(q.since)) out.sinceId = Number(q.since);
    else {
      const t = Date.parse(q.since);
      if (Number.isNaN(t)) throw new FulcrumError('invalid', 'since: must be an ISO 8601 time or an event id', 'since');
      out.sinceAt = new Date(t).toISOString();
    }
  }
  return out;
}

function matches(e: StoredEvent, q: EventQuery): boolean {
  return (
    (q.backendId === undefined || e.backendId === q.backendId) &&
    (q.serverId === undefined || e.serverId === q.serverId) &&
    (q.loadBalancerId === undefined || e.loadBalancerId === q.loadBalancerId) &&
    (q.kind === undefined || e.kind === q.kind)
  );
}

/** Heartbeat comment interval of the event stream (ms), so proxies keep it open. */
const SSE_HEARTBEAT_MS = 15_000;

/**
 * Observability and access routes: events (+ SSE stream), stats (O1), audit (C6), tokens,
 * console session, nodes.
 */
export function registerOpsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const cp = ctx.control;

  app.get(
    '/events',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['events'],
        summary: 'Health transitions, drains, ejections and configuration changes, newest first (H6)',
        querystring: EventFilters,
        response: { 200: Type.Array(EventSchema), ...errors },
      },
    },
    async (req: Req) => {
      await cp.events.flush();
      return cp.store.listEvents(eventQuery(req.query));
    },
  );

  const streams = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const s of streams) s.end();
    streams.clear();
  });
  app.get(
    '/events/stream',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['events'],
        summary:
          'Server-Sent Events: each stored event as `id: <id>` and `data: <event JSON>` (same filters as /events; Last-Event-ID replays)',
        querystring: EventFilters,
        response: { 200: { type: 'string', description: 'text/event-stream' }, ...errors },
      },
    },
    async (req: Req, reply) => {
      const q = eventQuery(req.query);
      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write('retry: 3000\n\n');
      let lastId = 0;
      const send = (e: StoredEvent) => {
        if (e.id <= lastId || !matches(e, q)) return;
        lastId = e.id;
        raw.write(`id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`);
      };
      const unsubscribe = cp.events.subscribe(send);
      streams.add(raw);
      const last = Number(req.headers['last-event-id']);
      if (Number.isInteger(last) && last > 0) {
        const missed = await cp.store.listEvents({ ...q, sinceId: last, limit: 1000 });
        for (const e of missed.reverse()) send(e);
      }
      const beat = setInterval(() => raw.write(': ping\n\n'), SSE_HEARTBEAT_MS);
      beat.unref();
      const done = () => {
        clearInterval(beat);
        unsubscribe();
        streams.delete(raw);
      };
      raw.on('close', done);
      raw.on('error', done);
    },
  );

  app.get(
    '/stats',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['observability'],
        summary:
          'Counters per frontend, backend and server (O1, P4) with health and slow-start factor, each backend queue (length, waits, queue-timeout, queue-full) and server connection limit, and per-second series over the last 5 minutes',
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errors },
      },
    },
    async () => ctx.stats.view(),
  );
  // issue 16 point 3: per-second and per-minute history for the console's charts
  registerHistoryRoutes(app, ctx);

  app.get(
    '/audit',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['audit'],
        summary: 'Every change: who, when, what, before/after (C6), newest first',
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
          resource: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
        }),
        response: {
          200: Type.Array(
            Type.Object({
              id: Type.Integer(),
              at: Type.String(),
              actor: Type.String(),
              action: Type.String(),
              resource: Type.String(),
              before: Type.Unknown(),
              after: Type.Unknown(),
              configVersion: Type.Integer(),
            }),
          ),
          ...errors,
        },
      },
    },
    async (req: Req) =>
      cp.store.listAudit({
        limit: req.query.limit as number | undefined,
        resource: req.query.resource as string | undefined,
      }),
  );

  // ---------- tokens (admin) ----------
  app.get(
    '/tokens',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['access'],
        summary: 'API tokens, without secrets',
        response: { 200: Type.Array(TokenSchema), ...errors },
      },
    },
    async () => ctx.auth.listTokens(),
  );
  app.post(
    '/tokens',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['access'],
        summary: 'Create a token; the answer is the only time the secret is shown',
        body: Type.Object({ name: NameSchema, role: RoleSchema }, { additionalProperties: false }),
        response: { 201: Type.Object({ ...TokenSchema.properties, token: Type.String() }), ...errors },
      },
    },
    async (req: Req, reply) => {
      const t = await ctx.auth.createToken(ctx.actor(req), String(req.body.name), req.body.role as Role);
      // The only answer that carries the secret: never kept by a cache (issue 10 point 4).
      return reply.code(201).header('cache-control', 'no-store').send(t);
    },
  );
  app.delete(
    '/tokens/:id',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['access'],
        summary: 'Revoke a token (and its console sessions)',
        params: Type.Object({ id: IdSchema }),
        response: { 200: TokenSchema, ...errors },
      },
    },
    async (req: Req) => ctx.auth.deleteToken(ctx.actor(req), req.params.id),
  );

  // ---------- console session ----------
  app.post(
    '/session',
    {
      config: { public: true },
      schema: {
        tags: ['access'],
        summary:
          'Exchange a token for the HttpOnly fulcrum_session cookie (SameSite=Strict, Path=/) used by the web console; ' +
          'the session is kept in the store, so every node sharing it accepts the cookie within a second',
        security: [],
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ name: Type.String(), role: RoleSchema, expiresAt: Type.String() }), ...errors },
      },
    },
    async (req: Req, reply) => {
      const p = ctx.auth.checkToken(String(req.body.token));
      if (!p) {
        // A sign-in presented and wrong counts against the client (issue 10 point 4).
        if (await ctx.authFailed(req, reply)) return reply;
        throw new FulcrumError('unauthorized', 'token: not a valid API token', 'token');
      }
      const sid = await ctx.auth.openSession(p, req.ip);
      const maxAge = SESSION_TTL_MS / 1000;
      const secure = req.protocol === 'https' ? '; Secure' : '';
      reply.header('cache-control', 'no-store');
      reply.header(
        'set-cookie',
        `${SESSION_COOKIE}=${sid}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}${secure}`,
      );
      return { name: p.name, role: p.role, expiresAt: new Date(Date.now() + SESSION_TTL_MS).toISOString() };
    },
  );
  app.delete(
    '/session',
    {
      config: { public: true },
      schema: {
        tags: ['access'],
        summary: 'End the console session on every node sharing the store (within a second) and clear the cookie',
        security: [],
        response: { 200: Type.Object({ ok: Type.Boolean() }) },
      },
    },
    async (req, reply) => {
      await ctx.auth.closeSession(cookieValue(req.headers.cookie, SESSION_COOKIE), req.ip);
      reply.header('set-cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
      return { ok: true };
    },
  );
  app.get(
    '/session',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['access'],
        summary: 'Who the caller is (token name and role)',
        response: { 200: Type.Object({ name: Type.String(), role: RoleSchema }), ...errors },
      },
    },
    async (req) => {
      const p = ctx.principal(req);
      return { name: p.name, role: p.role };
    },
  );

  // ---------- nodes ----------
  app.get(
    '/nodes',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['nodes'],
        summary: 'Nodes sharing the store: the configVersion each applied, its last heartbeat, and live or stale (C5)',
        description:
          'Every node that shares the configuration store, by name: `appliedVersion` (the configVersion its data ' +
          'plane applied), `lastSeen` (its last heartbeat, every 2 s by default) and `status`: `live`, or `stale` ' +
          'when its heartbeat is older than 3 intervals. A write with `?wait=all` answers once every live node ' +
          'applied it, or 504 `lagging` naming the nodes behind. When the store cannot answer, this node alone.',
        response: {
          200: Type.Array(
            Type.Object({
              name: Type.String(),
              appliedVersion: Type.Integer(),
              lastSeen: Type.String(),
              status: Type.Union([Type.Literal('live'), Type.Literal('stale')]),
            }),
          ),
          ...errors,
        },
      },
    },
    // Every node sharing the store (C5): `live`, or `stale` when its heartbeat is older than 3 intervals.
    async () => cp.nodes(ctx.nodeName),
  );
}
