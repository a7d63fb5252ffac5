import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import type { Backend, Frontend, Instance, LoadBalancer, Server } from '../config/model.ts';
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
import { backendView, drainingRemovedViews, frontendView, serverView } from '../control/views.ts';
import type { ApiContext } from './context.ts';

type Body = Record<string, unknown>;
type Req = FastifyRequest<{
  Params: { id: string; serverId: string };
  Body: Body;
  Querystring: Record<string, string>;
}>;

const IdParams = Type.Object({ id: IdSchema });
const ServerParams = Type.Object({ id: IdSchema, serverId: IdSchema });
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema };

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

/**
 * Configuration resources (API.md "Resources"): load balancers, frontends, backends, servers,
 * instances and the S8 lookup. Every change answers with the full resource (with its live
 * `status`) and `configVersion`, after the data plane applied it.
 */
export function registerConfigRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const cp = ctx.control;
  const plane = cp.plane;
  const lbView = (x: LoadBalancer) => ({ ...x });
  const feView = (x: Frontend) => frontendView(x, plane);
  const beView = (x: Backend) => backendView(x, cp.state, plane);
  const srvView = (x: Server) => serverView(x, plane);
  const instView = (x: Instance) => ({ ...x });

  // ---------- load balancers ----------
  const LB = 'load balancers';
  app.get(
    '/load-balancers',
    { config: { role: 'viewer' }, schema: schema(LB, 'List load balancers', { ok: Type.Array(LoadBalancerResource) }) },
    async () => cp.list('loadBalancer').map(lbView),
  );
  app.post(
    '/load-balancers',
    {
      config: { role: 'admin' },
      schema: schema(LB, 'Create a load balancer', {
        body: LoadBalancerCreate,
        ok: withVersion(LoadBalancerResource),
        status: 201,
      }),
    },
    async (req: Req, reply) => {
      const r = await cp.createLoadBalancer(ctx.actor(req), req.body);
      return reply.code(201).send({ ...lbView(r.resource), configVersion: r.configVersion });
    },
  );
  app.get(
    '/load-balancers/:id',
    {
      config: { role: 'viewer' },
      schema: schema(LB, 'One load balancer', { params: IdParams, ok: LoadBalancerResource }),
    },
    async (req: Req) => lbView(cp.get('loadBalancer', req.params.id)),
  );
  app.patch(
    '/load-balancers/:id',
    {
      config: { role: 'admin' },
      schema: schema(LB, 'Update a load balancer (ipAsBackend cannot be turned off, S7)', {
        params: IdParams,
        body: LoadBalancerPatch,
        ok: withVersion(LoadBalancerResource),
      }),
    },
    async (req: Req) => {
      const r = await cp.updateLoadBalancer(ctx.actor(req), req.params.id, req.body);
      return { ...lbView(r.resource), configVersion: r.configVersion };
    },
  );
  app.delete(
    '/load-balancers/:id',
    {
      config: { role: 'admin' },
      schema: schema(LB, 'Delete a load balancer (409 while it has frontends or backends)', {
        params: IdParams,
        ok: withVersion(LoadBalancerResource),
      }),
    },
    async (req: Req) => {
      const r = await cp.deleteLoadBalancer(ctx.actor(req), req.params.id);
      return { ...lbView(r.resource), configVersion: r.configVersion };
    },
  );

  // ---------- frontends ----------
  const FE = 'frontends';
  const ByLb = Type.Object({ loadBalancerId: Type.Optional(IdSchema) });
  app.get(
    '/frontends',
    {
      config: { role: 'viewer' },
      schema: schema(FE, 'List frontends', { querystring: ByLb, ok: Type.Array(FrontendResource) }),
    },
    async (req: Req) => {
      const lb = req.query.loadBalancerId;
      return cp.list('frontend', lb ? (f) => f.loadBalancerId === lb : undefined).map(feView);
    },
  );
  app.post(
    '/frontends',
    {
      config: { role: 'admin' },
      schema: schema(FE, 'Create a frontend (F1, F2, F5)', {
        body: FrontendCreate,
        ok: withVersion(FrontendResource),
        status: 201,
      }),
    },
    async (req: Req, reply) => {
      const r = await cp.createFrontend(ctx.actor(req), req.body);
      return reply.code(201).send({ ...feView(r.resource), configVersion: r.configVersion });
    },
  );
  app.get(
    '/frontends/:id',
    {
      config: { role: 'viewer' },
      schema: schema(FE, 'One frontend with its listening status', { params: IdParams, ok: FrontendResource }),
    },
    async (req: Req) => feView(cp.get('frontend', req.params.id)),
  );
  app.patch(
    '/frontends/:id',
    {
      config: { role: 'admin' },
      schema: schema(FE, 'Update a frontend', {
        params: IdParams,
        body: FrontendPatch,
        ok: withVersion(FrontendResource),
      }),
    },
    async (req: Req) => {
      const r = await cp.updateFrontend(ctx.actor(req), req.params.id, req.body);
      return { ...feView(r.resource), configVersion: r.configVersion };
    },
  );
  app.delete(
    '/frontends/:id',
    {
      config: { role: 'admin' },
      schema: schema(FE, 'Delete a frontend', { params: IdParams, ok: withVersion(FrontendResource) }),
    },
    async (req: Req) => {
      const r = await cp.deleteFrontend(ctx.actor(req), req.params.id);
      return { ...r.resource, status: { listening: false, reason: 'deleted' }, configVersion: r.configVersion };
    },
  );

  // ---------- backends ----------
  const BE = 'backends';
  app.get(
    '/backends',
    {
      config: { role: 'viewer' },
      schema: schema(BE, 'List backends', { querystring: ByLb, ok: Type.Array(BackendResource) }),
    },
    async (req: Req) => {
      const lb = req.query.loadBalancerId;
      return cp.list('backend', lb ? (b) => b.loadBalancerId === lb : undefined).map(beView);
    },
  );
  app.post(
    '/backends',
    {
      config: { role: 'admin' },
      schema: schema(BE, 'Create a backend (F3; defaults fill omitted settings)', {
        body: BackendCreate,
        ok: withVersion(BackendResource),
        status: 201,
      }),
    },
    async (req: Req, reply) => {
      const r = await cp.createBackend(ctx.actor(req), req.body);
      return reply.code(201).send({ ...beView(r.resource), configVersion: r.configVersion });
    },
  );
  app.get(
    '/backends/:id',
    {
      config: { role: 'viewer' },
      schema: schema(BE, 'One backend with per-zone health and warnings (S9, S10)', {
        params: IdParams,
        ok: BackendResource,
      }),
    },
    async (req: Req) => beView(cp.get('backend', req.params.id)),
  );
  app.patch(
    '/backends/:id',
    {
      config: { role: 'admin' },
      schema: schema(BE, 'Update a backend (nested settings merge field by field)', {
        params: IdParams,
        body: BackendPatch,
        ok: withVersion(BackendResource),
      }),
    },
    async (req: Req) => {
      const r = await cp.updateBackend(ctx.actor(req), req.params.id, req.body);
      return { ...beView(r.resource), configVersion: r.configVersion };
    },
  );
  app.delete(
    '/backends/:id',
    {
      config: { role: 'admin' },
      schema: schema(BE, 'Delete a backend and its servers (409 while a frontend uses it)', {
        params: IdParams,
        ok: withVersion(BackendResource),
      }),
    },
    async (req: Req) => {
      const r = await cp.deleteBackend(ctx.actor(req), req.params.id);
      return { ...beView(r.resource), configVersion: r.configVersion };
    },
  );

  // ---------- servers (operators may change them) ----------
  const SRV = 'servers';
  const operator = { role: 'operator' as const };
  app.get(
    '/backends/:id/servers',
    {
      config: { role: 'viewer' },
      schema: schema(SRV, "A backend's servers with live status", { params: IdParams, ok: Type.Array(ServerResource) }),
    },
    async (req: Req) => {
      cp.get('backend', req.params.id);
      const live = cp.list('server', (s) => s.backendId === req.params.id).map(srvView);
      return [...live, ...drainingRemovedViews(req.params.id, plane)]; // S3: deleted, still draining
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
      const r = await cp.updateServer(ctx.actor(req), req.params.id, req.params.serverId, req.body);
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
      const r = await cp.deleteServer(ctx.actor(req), req.params.id, req.params.serverId);
      return { ...serverView(r.resource, plane, true), configVersion: r.configVersion };
    },
  );
  app.get(
    '/servers',
    {
      config: { role: 'viewer' },
      schema: schema(SRV, 'Lookup by IP address, server id or instance id across all load balancers (S8)', {
        querystring: Type.Object({
          address: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          id: Type.Optional(IdSchema),
          instanceId: Type.Optional(IdSchema),
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
        .lookupServers({ address: q.address, id: q.id, instanceId: q.instanceId })
        .map((row) => ({ ...row, server: srvView(row.server) }));
    },
  );

  // ---------- instances ----------
  const INST = 'instances';
  app.get(
    '/instances',
    { config: { role: 'viewer' }, schema: schema(INST, 'The server inventory', { ok: Type.Array(InstanceResource) }) },
    async () => cp.list('instance').map(instView),
  );
  app.post(
    '/instances',
    {
      config: { role: 'admin' },
      schema: schema(INST, 'Add an inventory instance', {
        body: InstanceCreate,
        ok: withVersion(InstanceResource),
        status: 201,
      }),
    },
    async (req: Req, reply) => {
      const r = await cp.createInstance(ctx.actor(req), req.body);
      return reply.code(201).send({ ...instView(r.resource), configVersion: r.configVersion });
    },
  );
  app.get(
    '/instances/:id',
    { config: { role: 'viewer' }, schema: schema(INST, 'One instance', { params: IdParams, ok: InstanceResource }) },
    async (req: Req) => instView(cp.get('instance', req.params.id)),
  );
  app.patch(
    '/instances/:id',
    {
      config: { role: 'admin' },
      schema: schema(INST, 'Update an instance (a new privateIp moves every server naming it, in the same change)', {
        params: IdParams,
        body: InstancePatch,
        ok: withVersion(InstanceResource),
      }),
    },
    async (req: Req) => {
      const r = await cp.updateInstance(ctx.actor(req), req.params.id, req.body);
      return { ...instView(r.resource), configVersion: r.configVersion };
    },
  );
  app.delete(
    '/instances/:id',
    {
      config: { role: 'admin' },
      schema: schema(INST, 'Delete an instance (409 while a server uses it)', {
        params: IdParams,
        ok: withVersion(InstanceResource),
      }),
    },
    async (req: Req) => {
      const r = await cp.deleteInstance(ctx.actor(req), req.params.id);
      return { ...instView(r.resource), configVersion: r.configVersion };
    },
  );
}
