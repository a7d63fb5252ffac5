import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { ControlPlane } from '../control/control-plane.ts';
import { StatsCollector } from '../control/stats.ts';
import { FulcrumError } from '../core/errors.ts';
import { type Logger, silentLogger } from '../core/log.ts';
import type { Role } from '../store/types.ts';
import { AuthService, type Principal, resolveAdminToken, roleAllows } from './auth.ts';
import { errorHandler, sendError, validatorCompiler } from './errors.ts';
import { Metrics } from './metrics.ts';
import { registerConfigRoutes } from './routes-config.ts';
import { registerOpsRoutes } from './routes-ops.ts';

/** What route modules get: the services and a way to know the caller. */
export interface ApiContext {
  readonly control: ControlPlane;
  readonly auth: AuthService;
  readonly stats: StatsCollector;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly nodeName: string;
  /** The authenticated caller of a request (set by the auth hook). */
  principal(req: FastifyRequest): Principal;
  /** The audit actor of a request: the token's name. */
  actor(req: FastifyRequest): string;
}

/** Options of `buildApi`. */
export interface ApiOptions {
  /** The control plane (it holds the data plane port as `control.plane`). */
  control: ControlPlane;
  /** Where `admin-token` lives when FULCRUM_ADMIN_TOKEN is not set. */
  dataDir: string;
  logger?: Logger;
  /** Prebuilt auth (tests, main); built from the env and data dir otherwise. */
  auth?: AuthService;
  /** Environment to read FULCRUM_ADMIN_TOKEN from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Prebuilt stats collector; otherwise one is created and sampled every second while the app runs. */
  stats?: StatsCollector;
  /** Serve the built web console from this directory at `/` when it exists. */
  consoleDir?: string;
  /** This node's name for `/nodes` (default: the host name). */
  nodeName?: string;
  /** Include the process metrics (default true). */
  processMetrics?: boolean;
  /** More routes (certificates, nodes, …) registered with the same auth, roles and error shape. */
  extraRoutes?: ((app: FastifyInstance, ctx: ApiContext) => void | Promise<void>)[];
}

/** Route option `config.role`: the least role a route needs; `public` skips authentication. */
export type Need = Role | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Least role the route needs (default: viewer for GET, admin otherwise). */
    role?: Role | 'public';
  }
}

/**
 * Builds the Fastify app of the REST API (C1, API.md): `/api/v1/*`, `/metrics`,
 * `/openapi.json`, and the console's static files. Every `/api/v1` route and `/metrics` need
 * `Authorization: Bearer <token>` (or the console's session cookie): 401 without a valid
 * one, 403 when the token's role does not allow the route. Not listening yet: call
 * `app.listen()` (or `app.inject()` in tests).
 */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const log = options.logger ?? silentLogger;
  const control = options.control;
  const auth =
    options.auth ??
    (await AuthService.create({
      adminToken: resolveAdminToken(options.dataDir, log, options.env),
      store: control.store,
    }));
  const ownStats = !options.stats;
  const stats = options.stats ?? new StatsCollector(control.plane, () => control.state);
  const metrics = new Metrics(stats, control.events, { processMetrics: options.processMetrics });
  const principals = new WeakMap<FastifyRequest, Principal>();

  const app: FastifyInstance = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 4 * 1024 * 1024,
  });
  app.setValidatorCompiler(validatorCompiler);
  // Answers are plain JSON of full resources; schemas document them but never strip fields.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.setErrorHandler(errorHandler(log));

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Fulcrum API',
        version: '1',
        description:
          'Control plane of the Fulcrum load balancer (API.md). Errors: `{ error: { code, message, field } }`; ' +
          'every change answers with the resource and `configVersion`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API token (admin, operator or viewer)' },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: 'fulcrum_session',
            description: 'console session (POST /api/v1/session)',
          },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });

  const ctx: ApiContext = {
    control,
    auth,
    stats,
    metrics,
    log,
    nodeName: options.nodeName ?? hostname(),
    principal(req) {
      const p = principals.get(req);
      if (!p) throw new FulcrumError('unauthorized', 'authorization: a valid Bearer token is required');
      return p;
    },
    actor(req) {
      return this.principal(req).name;
    },
  };

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?', 1)[0] ?? '';
    if (!path.startsWith('/api/') && path !== '/metrics') return;
    const need: Need =
      req.routeOptions.config?.role ?? (req.method === 'GET' || req.method === 'HEAD' ? 'viewer' : 'admin');
    if (need === 'public') return;
    const p = auth.authenticate(req.headers.authorization, req.headers.cookie);
    if (!p) {
      reply.header('www-authenticate', 'Bearer realm="fulcrum"');
      return sendError(
        reply,
        new FulcrumError(
          'unauthorized',
          'authorization: a valid "Authorization: Bearer <token>" header is required',
          'authorization',
        ),
      );
    }
    if (!roleAllows(p.role, need)) {
      return sendError(
        reply,
        new FulcrumError(
          'forbidden',
          `authorization: token "${p.name}" has role ${p.role}; this needs ${need} or above`,
          'authorization',
        ),
      );
    }
    principals.set(req, p);
  });

  app.get('/openapi.json', { schema: { hide: true }, config: { role: 'public' } }, async () => app.swagger());

  await app.register(
    async (api) => {
      registerConfigRoutes(api, ctx);
      registerOpsRoutes(api, ctx);
      for (const extra of options.extraRoutes ?? []) await extra(api, ctx);
    },
    { prefix: '/api/v1' },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['observability'],
        summary: 'Prometheus metrics (O1), text format; same bearer token',
        response: { 200: { type: 'string' } },
      },
      config: { role: 'viewer' },
    },
    async (_req, reply) => {
      const text = await metrics.text();
      return reply
        .type(metrics.contentType)
        .serializer((x: unknown) => x as string)
        .send(text);
    },
  );

  const consoleDir = options.consoleDir ? resolve(options.consoleDir) : undefined;
  const serveConsole = consoleDir !== undefined && existsSync(consoleDir);
  if (serveConsole) {
    await app.register(fastifyStatic, { root: consoleDir, prefix: '/', wildcard: true, index: ['index.html'] });
  }
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?', 1)[0] ?? '';
    if (serveConsole && req.method === 'GET' && !path.startsWith('/api/') && path !== '/metrics') {
      return reply.sendFile('index.html', { maxAge: 0, immutable: false });
    }
    return sendError(reply, new FulcrumError('not_found', `path: no route ${req.method} ${path}`, 'path'));
  });

  if (ownStats) {
    app.addHook('onReady', async () => stats.start());
    app.addHook('onClose', async () => stats.stop());
  }
  return app;
}
