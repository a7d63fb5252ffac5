import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import type { ResourceOf, Server } from '../config/model.ts';
import {
  BackendCreate,
  BackendPatch,
  BackendResource,
  ErrorSchema,
  FrontendCreate,
  FrontendPatch,
  FrontendResource,
  IdSchema,
  InstanceCreate,
  InstancePatch,
  InstanceResource,
  LoadBalancerCreate,
  LoadBalancerPatch,
  LoadBalancerResource,
  ServerCreate,
  ServerPatch,
  ServerResource,
  withVersion,
} from '../config/schemas.ts';
import { MAX_BATCH_ITEMS, type ServerBatch } from '../control/batch.ts';
import type { Changed, IfMatch } from '../control/control-plane.ts';
import {
  backendShares,
  backendView,
  discoveredViews,
  drainingRemovedViews,
  frontendView,
  hasTags,
  serverView,
} from '../control/views.ts';
import { FulcrumError } from '../core/errors.ts';
import type { ApiContext } from './context.ts';
import { validatorCompiler } from './errors.ts';
import { addEtagHook, ifMatchOf } from './etag.ts';

type Body = Record<string, unknown>;
type Req = FastifyRequest<{
  Params: { id: string; serverId: string };
  Body: Body;
  Querystring: Record<string, string>;
}>;

const IdParams = Type.Object({ id: IdSchema });
/** `?tag=env=prod&tag=canary` (or `?tag=env=prod,canary`): servers with every tag; `key` matches any `key=value`. */
const TagQuery = Type.Object({
  tag: Type.Optional(
    Type.Union([Type.String({ maxLength: 2048 }), Type.Array(Type.String({ maxLength: 2048 }), { maxItems: 32 })], {
      description: 'servers carrying every tag given (`key` matches `key` and any `key=value`)',
    }),
  ),
});
function tagsOf(q: Record<string, unknown>): string[] {
  const raw = q.tag;
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return list
    .flatMap((t) => String(t).split(','))
    .map((t) => t.trim())
    .filter((t) => t !== '');
}
const ServerParams = Type.Object({ id: IdSchema, serverId: IdSchema });

const batchList = (items: TSchema, what: string) =>
  Type.Optional(Type.Array(items, { maxItems: MAX_BATCH_ITEMS, description: what }));
/** `POST /backends/{id}/servers/batch` as documented (/openapi.json): each item has the single-server rules. */
const ServerBatchBody = Type.Object(
  {
    add: batchList(ServerCreate, 'servers to add, each as `POST …/servers` takes it'),
    update: batchList(
      Type.Intersect([Type.Object({ id: IdSchema }), ServerPatch]),
      'server PATCHes, each with the `id` of the server',
    ),
    remove: batchList(IdSchema, 'ids of servers to remove (they drain, S3)'),
    drain: batchList(IdSchema, 'ids of servers to drain (disabled; open connections finish)'),
  },
  {
    additionalProperties: false,
    description: `at most ${MAX_BATCH_ITEMS} items in all; each server id at most once`,
  },
);
/**
 * What Fastify checks of a batch before the change: its envelope. The items are checked by the
 * batch itself (control/batch.ts), so that a refusal names every failing item with its index.
 */
const ServerBatchEnvelope = Type.Object(
  {
    add: batchList(Type.Object({}), 'servers to add'),
    update: batchList(Type.Object({}), 'server PATCHes with their id'),
    remove: batchList(IdSchema, 'ids of servers to remove'),
    drain: batchList(IdSchema, 'ids of servers to drain'),
  },
  { additionalProperties: false },
);
const envelopeCheck = validatorCompiler({ schema: ServerBatchEnvelope, httpPart: 'body', method: 'POST', url: '' });
const errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  412: ErrorSchema,
};

function schema(
  tag: string,
  summary: string,
  parts: { params?: TSchema; body?: TSchema; querystring?: TSchema; ok?: TSchema; status?: number },
) {
  const s: Record<string, unknown> = {
    tags: [tag],
    summary,
    response: { [parts.status ?? 200]: parts.ok ?? {}, ...errors },
  };
  if (parts.params) s.params = parts.params;
  if (parts.body) s.body = parts.body;
  if (parts.querystring) s.querystring = parts.querystring;
  return s;
}

/** The commands and views of one kind of resource that `resourceRoutes` exposes. */
interface ResourceSpec<K extends 'loadBalancer' | 'frontend' | 'backend' | 'instance'> {
  kind: K;
  /** Collection path under /api/v1, e.g. `/load-balancers`. */
  path: string;
  /** OpenAPI tag and the noun used in summaries. */
  tag: string;
  noun: string;
  schemas: { resource: TSchema; create: TSchema; patch: TSchema; listQuery?: TSchema };
  /** A filter from the list's query string (e.g. `?loadBalancerId=`), or undefined for all. */
  listFilter?: (query: Record<string, string>) => ((x: ResourceOf[K]) => boolean) | undefined;
  /** The answer for a resource (with its live status where it has one). */
  view: (x: ResourceOf[K]) => unknown;
  /** The answer for a deleted resource (default: `view`). */
  deletedView?: (x: ResourceOf[K]) => unknown;
  summaries?: { list?: string; create?: string; one?: string; update?: string; delete?: string };
  commands: {
    create(actor: string, body: Body): Promise<Changed<ResourceOf[K]>>;
    update(actor: string, id: string, patch: Body, ifMatch: IfMatch): Promise<Changed<ResourceOf[K]>>;
    delete(actor: string, id: string, ifMatch: IfMatch): Promise<Changed<ResourceOf[K]>>;
  };
}

/**
 * The five routes of a top-level resource (API.md "Resources"): list (viewer), create (admin,
 * 201), one (viewer), update (admin), delete (admin). Every change answers with the resource
 * and the `configVersion` in which it is live. One definition for load balancers, frontends,
 * backends and instances, so their routes cannot drift apart.
 */
function resourceRoutes<K extends 'loadBalancer' | 'frontend' | 'backend' | 'instance'>(
  app: FastifyInstance,
  ctx: ApiContext,
  spec: ResourceSpec<K>,
): void {
  const cp = ctx.control;
  const { tag, noun, view } = spec;
  const { resource, create, patch, listQuery } = spec.schemas;
  const deleted = spec.deletedView ?? view;
  const sum = spec.summaries ?? {};
  const changed = (r: Changed<ResourceOf[K]>, v = view) => ({
    ...(v(r.resource) as object),
    configVersion: r.configVersion,
  });
  app.get(
    spec.path,
    {
      config: { role: 'viewer' },
      schema: schema(tag, sum.list ?? `List ${tag}`, {
        ...(listQuery ? { querystring: listQuery } : {}),
        ok: Type.Array(resource),
      }),
    },
    async (req: Req) => cp.list(spec.kind, spec.listFilter?.(req.query)).map(view),
  );
  app.post(
    spec.path,
    {
      config: { role: 'admin' },
      schema: schema(tag, sum.create ?? `Create a ${noun}`, { body: create, ok: withVersion(resource), status: 201 }),
    },
    async (req: Req, reply) => reply.code(201).send(changed(await spec.commands.create(ctx.actor(req), req.body))),
  );
  app.get(
    `${spec.path}/:id`,
    {
      config: { role: 'viewer' },
      schema: schema(tag, sum.one ?? `One ${noun}`, { params: IdParams, ok: resource }),
    },
    async (req: Req) => view(cp.get(spec.kind, req.params.id)),
  );
  app.patch(
    `${spec.path}/:id`,
    {
      config: { role: 'admin' },
      schema: schema(tag, sum.update ?? `Update a ${noun}`, {
        params: IdParams,
        body: patch,
        ok: withVersion(resource),
      }),
    },
    async (req: Req) => changed(await spec.commands.update(ctx.actor(req), req.params.id, req.body, ifMatchOf(req))),
  );
  app.delete(
    `${spec.path}/:id`,
    {
      config: { role: 'admin' },
      schema: schema(tag, sum.delete ?? `Delete a ${noun}`, { params: IdParams, ok: withVersion(resource) }),
    },
    async (req: Req) => changed(await spec.commands.delete(ctx.actor(req), req.params.id, ifMatchOf(req)), deleted),
  );
}

/**
 * Configuration resources (API.md "Resources"): load balancers, frontends, backends, servers,
 * instances and the S8 lookup. Every change answers with the full resource (with its live
 * `status`) and `configVersion`, after the data plane applied it.
 */
export function registerConfigRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const cp = ctx.control;
  const plane = cp.plane;
  const srvView = (x: Server, shares?: ReadonlyMap<string, number>) => serverView(x, plane, false, shares);
  const discoveredView = (backendId: string, id: string) => {
    const v = discoveredViews(backendId, plane).find((s) => s.id === id);
    if (!v) throw new FulcrumError('not_found', `id: backend "${backendId}" has no server "${id}"`, 'id');
    return v;
  };
  addEtagHook(app);

  // ---------- load balancers, frontends, backends, instances: one shape of routes ----------
  const ByLb = Type.Object({ loadBalancerId: Type.Optional(IdSchema) });
  const byLb = (q: Record<string, string>) => {
    const lb = q.loadBalancerId;
    return lb ? (x: { loadBalancerId: string }) => x.loadBalancerId === lb : undefined;
  };
  resourceRoutes(app, ctx, {
    kind: 'loadBalancer',
    path: '/load-balancers',
    tag: 'load balancers',
    noun: 'load balancer',
    schemas: { resource: LoadBalancerResource, create: LoadBalancerCreate, patch: LoadBalancerPatch },
    view: (x) => ({ ...x }),
    summaries: {
      update: 'Update a load balancer (ipAsBackend cannot be turned off)',
      delete: 'Delete a load balancer (409 while it has frontends or backends)',
    },
    commands: {
      create: (a, b) => cp.createLoadBalancer(a, b),
      update: (a, id, b, m) => cp.updateLoadBalancer(a, id, b, m),
      delete: (a, id, m) => cp.deleteLoadBalancer(a, id, m),
    },
  });
  resourceRoutes(app, ctx, {
    kind: 'frontend',
    path: '/frontends',
    tag: 'frontends',
    noun: 'frontend',
    schemas: { resource: FrontendResource, create: FrontendCreate, patch: FrontendPatch, listQuery: ByLb },
    listFilter: byLb,
    view: (x) => frontendView(x, plane),
    // A deleted frontend no longer listens: its answer says so rather than asking the plane.
    deletedView: (x) => ({ ...x, status: { listening: false, reason: 'deleted' } }),
    summaries: {
      create: 'Create a frontend (F1, F2, F5)',
      one: 'One frontend with its listening status',
    },
    commands: {
      create: (a, b) => cp.createFrontend(a, b),
      update: (a, id, b, m) => cp.updateFrontend(a, id, b, m),
      delete: (a, id, m) => cp.deleteFrontend(a, id, m),
    },
  });
  resourceRoutes(app, ctx, {
    kind: 'backend',
    path: '/backends',
    tag: 'backends',
    noun: 'backend',
    schemas: { resource: BackendResource, create: BackendCreate, patch: BackendPatch, listQuery: ByLb },
    listFilter: byLb,
    view: (x) => backendView(x, cp.state, plane),
    summaries: {
      create: 'Create a backend (F3; defaults fill omitted settings)',
      one: 'One backend with per-zone health and warnings (S9, S10)',
      update: 'Update a backend (nested settings merge field by field)',
      delete: 'Delete a backend and its servers (409 while a frontend uses it)',
    },
    commands: {
      create: (a, b) => cp.createBackend(a, b),
      update: (a, id, b, m) => cp.updateBackend(a, id, b, m),
      delete: (a, id, m) => cp.deleteBackend(a, id, m),
    },
  });
  resourceRoutes(app, ctx, {
    kind: 'instance',
    path: '/instances',
    tag: 'instances',
    noun: 'instance',
    schemas: { resource: InstanceResource, create: InstanceCreate, patch: InstancePatch },
    view: (x) => ({ ...x }),
    summaries: {
      list: 'The server inventory',
      create: 'Add an inventory instance',
      update: 'Update an instance (a new privateIp moves every server naming it, in the same change)',
      delete: 'Delete an instance (409 while a server uses it)',
    },
    commands: {
      create: (a, b) => cp.createInstance(a, b),
      update: (a, id, b, m) => cp.updateInstance(a, id, b, m),
      delete: (a, id, m) => cp.deleteInstance(a, id, m),
    },
  });

  // ---------- servers (operators may change them) ----------
  const SRV = 'servers';
  const operator = { role: 'operator' as const };
  app.get(
    '/backends/:id/servers',
    {
      config: { role: 'viewer' },
      schema: schema(SRV, "A backend's servers with live status (`?tag=` keeps those with every tag given)", {
        params: IdParams,
        querystring: TagQuery,
        ok: Type.Array(ServerResource),
      }),
    },
    async (req: Req) => {
      cp.get('backend', req.params.id);
      const tags = tagsOf(req.query);
      const shares = backendShares(req.params.id, plane);
      const live = cp
        .list('server', (s) => s.backendId === req.params.id && (tags.length === 0 || hasTags(s, tags)))
        .map((s) => srvView(s, shares));
      if (tags.length > 0) return live;
      const found = discoveredViews(req.params.id, plane, shares); // issue 15 point 2: from SRV records
      return [...live, ...found, ...drainingRemovedViews(req.params.id, plane)]; // S3: deleted, still draining
    },
  );
  app.post(
    '/backends/:id/servers',
    {
      config: operator,
      schema: schema(SRV, 'Add a server (S1, S6, S7)', {
        params: IdParams,
        body: ServerCreate,
        ok: withVersion(ServerResource),
        status: 201,
      }),
    },
    async (req: Req, reply) => {
      const r = await cp.createServer(ctx.actor(req), req.params.id, req.body);
      return reply.code(201).send({ ...srvView(r.resource), configVersion: r.configVersion });
    },
  );
  app.post(
    '/backends/:id/servers/batch',
    {
      config: operator,
      schema: schema(
        SRV,
        'Add, update, drain and remove servers as ONE change (one configVersion) or none: a refusal names every failing item (`details[].index`, `field` such as `add[2].port`)',
        {
          params: IdParams,
          body: ServerBatchBody,
          ok: Type.Object({
            configVersion: Type.Integer(),
            added: Type.Array(ServerResource),
            updated: Type.Array(ServerResource),
            drained: Type.Array(ServerResource),
            removed: Type.Array(ServerResource),
          }),
        },
      ),
      // The documented body is not what Fastify checks: items are judged one by one by the batch.
      validatorCompiler: (route) => (route.httpPart === 'body' ? envelopeCheck : validatorCompiler(route)),
    },
    async (req: Req) => {
      const r = await cp.serversBatch(ctx.actor(req), req.params.id, (req.body ?? {}) as ServerBatch);
      const { added, updated, drained, removed } = r.resource;
      const shares = backendShares(req.params.id, plane);
      return {
        configVersion: r.configVersion,
        added: added.map((s) => srvView(s, shares)),
        updated: updated.map((s) => srvView(s, shares)),
        drained: drained.map((s) => srvView(s, shares)),
        removed: removed.map((s) => serverView(s, plane, true)),
      };
    },
  );
  app.get(
    '/backends/:id/servers/:serverId',
    {
      config: { role: 'viewer' },
      schema: schema(SRV, 'One server with live status', { params: ServerParams, ok: ServerResource }),
    },
    async (req: Req) => {
      try {
        return srvView(cp.getServer(req.params.id, req.params.serverId));
      } catch (err) {
        // S3: a deleted server stays visible (state draining) until its drain ends.
        const draining = drainingRemovedViews(req.params.id, plane).find((s) => s.id === req.params.serverId);
        if (draining) return draining;
        if (cp.isDiscovered(req.params.id, req.params.serverId))
          return discoveredView(req.params.id, req.params.serverId);
        throw err;
      }
    },
  );
  app.patch(
    '/backends/:id/servers/:serverId',
    {
      config: operator,
      schema: schema(SRV, 'Update a server; live on the data plane when the answer comes (S2)', {
        params: ServerParams,
        body: ServerPatch,
        ok: withVersion(ServerResource),
      }),
    },
    async (req: Req) => {
      if (cp.isDiscovered(req.params.id, req.params.serverId)) {
        const r = await cp.overrideDiscovered(ctx.actor(req), req.params.id, req.params.serverId, req.body);
        return { ...discoveredView(req.params.id, req.params.serverId), configVersion: r.configVersion };
      }
      const r = await cp.updateServer(ctx.actor(req), req.params.id, req.params.serverId, req.body, ifMatchOf(req));
      return { ...srvView(r.resource), configVersion: r.configVersion };
    },
  );
  app.post(
    '/backends/:id/servers/:serverId/drain',
    {
      config: operator,
      schema: schema(
        SRV,
        "Drain a server: it is disabled, open connections finish until `timeoutSeconds` (default the backend's drainTimeoutSeconds; 0 cuts them now), then the rest is cut",
        {
          params: ServerParams,
          body: Type.Object(
            {
              timeoutSeconds: Type.Optional(
                Type.Integer({ minimum: 0, maximum: 3600, description: 'this drain only (0–3600)' }),
              ),
            },
            { additionalProperties: false },
          ),
          ok: withVersion(ServerResource),
        },
      ),
    },
    async (req: Req) => {
      const timeout = req.body?.timeoutSeconds as number | undefined;
      if (cp.isDiscovered(req.params.id, req.params.serverId)) {
        const { id, serverId } = req.params;
        if (timeout !== undefined) plane.runtime.setDrainTimeout(serverId, timeout * 1000);
        try {
          const r = await cp.overrideDiscovered(ctx.actor(req), id, serverId, { enabled: false }, undefined, 'drain');
          return { ...discoveredView(id, serverId), configVersion: r.configVersion };
        } finally {
          if (timeout !== undefined) plane.runtime.setDrainTimeout(serverId, undefined);
        }
      }
      const r = await cp.drainServer(ctx.actor(req), req.params.id, req.params.serverId, timeout, ifMatchOf(req));
      return { ...srvView(r.resource), configVersion: r.configVersion };
    },
  );
  app.delete(
    '/backends/:id/servers/:serverId',
    {
      config: operator,
      schema: schema(SRV, 'Remove a server: it drains (S3)', { params: ServerParams, ok: withVersion(ServerResource) }),
    },
    async (req: Req) => {
      const r = await cp.deleteServer(ctx.actor(req), req.params.id, req.params.serverId, ifMatchOf(req));
      return { ...serverView(r.resource, plane, true), configVersion: r.configVersion };
    },
  );
  app.get(
    '/servers',
    {
      config: { role: 'viewer' },
      schema: schema(SRV, 'Lookup by IP address, server id, instance id or tags across all load balancers (S8)', {
        querystring: Type.Object({
          address: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          id: Type.Optional(IdSchema),
          instanceId: Type.Optional(IdSchema),
          tag: TagQuery.properties.tag,
        }),
        ok: Type.Array(
          Type.Object({
            loadBalancerId: Type.String(),
            loadBalancerName: Type.String(),
            backendId: Type.String(),
            backendName: Type.String(),
            server: ServerResource,
          }),
        ),
      }),
    },
    async (req: Req) => {
      const q = req.query;
      return cp
        .lookupServers({ address: q.address, id: q.id, instanceId: q.instanceId, tags: tagsOf(q) })
        .map((row) => ({ ...row, server: srvView(row.server) }));
    },
  );
}
