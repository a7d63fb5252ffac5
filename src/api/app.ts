import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
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
import { browserCheck } from './browser-guard.ts';
import type { ApiContext } from './context.ts';
import { errorHandler, sendError, validatorCompiler } from './errors.ts';
import { Metrics } from './metrics.ts';
import { registerApplyRoutes } from './routes-apply.ts';
import { registerConfigRoutes } from './routes-config.ts';
import { registerOpsRoutes } from './routes-ops.ts';
import { installWaitAll } from './wait-all.ts';

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
  /** Failed authentications allowed per client address per minute before 429 (default 20). */
  authFailuresPerMinute?: number;
  /** Serve the API over HTTPS with this PEM certificate chain and key (`--api-cert`, `--api-key`). */
  https?: { cert: string | Buffer; key: string | Buffer };
  /**
   * The API's listening host (`--api`), for the Host check: when it is a loopback address,
   * requests must name a loopback host (DNS-rebinding guard, as Caddy's admin API does).
   */
  listenHost?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The least role the route needs. Every route declares either `role` or `public: true`;
     * a route that declares neither is refused when it is registered (issue 10 point 1).
     */
    role?: Role;
    /** The route answers without authentication (sign-in, OpenAPI document, console assets). */
    public?: boolean;
  }
}

/** Body limit of every API request (bytes): a certificate chain and key fit easily. */
export const API_BODY_LIMIT_BYTES = 1024 * 1024;

/** How one registered route is protected: a row of `routeTable(app)`. */
export interface RouteAccess {
  method: string;
  url: string;
  /** The least role, or `public`. */
  access: Role | 'public';
}

const ROUTE_TABLE = Symbol('fulcrum.routeTable');
const PUBLIC_ASSETS = 'fulcrumPublicAssets';

/** True for a path of the API's own (`/api/…`, `/metrics`): never answered by the console's files or page. */
function isApiPath(path: string): boolean {
  return path.startsWith('/api/') || path === '/api' || path === '/metrics' || path.startsWith('/metrics/');
}

/**
 * Every route registered on an app built by `buildApi`, with the access it declared, as
 * Fastify registered it (collected by an `onRoute` hook, so plugins' routes are included).
 */
export function routeTable(app: FastifyInstance): readonly RouteAccess[] {
  return (app as unknown as Record<symbol, RouteAccess[]>)[ROUTE_TABLE] ?? [];
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
    bodyLimit: API_BODY_LIMIT_BYTES,
    // One canonical path handling (README "Security"): case-sensitive, a doubled slash or a
    // trailing slash is another path (404), percent-escapes are decoded before matching, and
    // access is decided on the matched route, never on the raw URL.
    routerOptions: { caseSensitive: true, ignoreTrailingSlash: false, ignoreDuplicateSlashes: false },
    ...(options.https
      ? { https: { cert: options.https.cert, key: options.https.key, minVersion: 'TLSv1.2' as const } }
      : {}),
  }) as unknown as FastifyInstance;
  // An empty JSON body is no body (`curl -X DELETE -H 'content-type: application/json'` as the
  // README's walkthrough sends); any other body goes through Fastify's own parser, which
  // refuses __proto__ and constructor keys.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '') done(null, undefined);
    else jsonParser(req, String(body), done);
  });
  app.setValidatorCompiler(validatorCompiler);
  // Answers are plain JSON of full resources; schemas document them but never strip fields.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.setErrorHandler(errorHandler(log));

  // Deny by default: every route states who may call it, or the app does not start.
  const table: RouteAccess[] = [];
  (app as unknown as Record<symbol, RouteAccess[]>)[ROUTE_TABLE] = table;
  app.addHook('onRoute', function (this: FastifyInstance, route) {
    const config = (route.config ?? {}) as { role?: Role; public?: boolean };
    if (config.public === undefined && config.role === undefined && this.hasDecorator(PUBLIC_ASSETS)) {
      route.config = { ...config, public: true };
      config.public = true;
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if ((config.public === true) === (config.role !== undefined)) {
      throw new Error(
        `route ${methods.join(',')} ${route.url}: declare exactly one of config.role (viewer, operator, admin) or config.public: true`,
      );
    }
    for (const method of methods)
      table.push({ method, url: route.url, access: config.public ? 'public' : config.role! });
  });

  // `?wait=all` on every write (issue 14): documented on each write, held in onSend.
  installWaitAll(app, () => control.cluster);

  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: true,
      directives: {
        'frame-ancestors': ["'none'"],
        'upgrade-insecure-requests': options.https ? [] : null,
      },
    },
    strictTransportSecurity: options.https ? { maxAge: 15_552_000, includeSubDomains: false } : false,
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginEmbedderPolicy: false,
  });

  await app.register(fastifyRateLimit, { global: false });
  const failures = app.createRateLimit({
    max: options.authFailuresPerMinute ?? 20,
    timeWindow: 60_000,
    keyGenerator: (req) => req.ip,
  });
  /** 429 with Retry-After for a client over the failed-authentication limit. */
  const tooMany = (reply: FastifyReply, ttlSeconds: number) => {
    reply.header('retry-after', String(Math.max(1, ttlSeconds)));
    return sendError(
      reply,
      new FulcrumError(
        'rate_limited',
        `authorization: too many failed authentications from this address; retry in ${Math.max(1, ttlSeconds)} s`,
        'authorization',
      ),
    );
  };
  const guardBrowser = browserCheck({ listenHost: options.listenHost });

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
    async authFailed(req, reply) {
      const r = await failures(req);
      if (!r.isAllowed && r.isExceeded) {
        tooMany(reply, r.ttlInSeconds);
        return true;
      }
      return false;
    },
  };

  // With worker threads, counters are summed on read (issue 13 point 1): a read after a
  // request sees it. Only for routes that need a role, after authentication (preHandler):
  // an anonymous client (console files, sign-in, the OpenAPI document) cannot make the workers report.
  const refresh = control.plane.refresh;
  if (refresh) {
    app.addHook('preHandler', async (req: FastifyRequest) => {
      if (req.method === 'GET' && !req.is404 && req.routeOptions.config.public !== true) await refresh();
    });
  }

  // Authentication and roles, decided on the matched route (issue 10 point 1). A request
  // that matched no route gets the not-found answer (404, or the console's page), nothing else.
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const hostProblem = guardBrowser.host(req);
    if (hostProblem) return sendError(reply, hostProblem);
    if (req.is404) return;
    const config = req.routeOptions.config;
    if (config.public === true) {
      const originProblem = guardBrowser.origin(req, true);
      if (originProblem) return sendError(reply, originProblem);
      return;
    }
    const need = config.role;
    if (need === undefined) throw new FulcrumError('internal', 'route declares no role'); // refused at start already
    const presented = req.headers.authorization !== undefined;
    if (presented) {
      const seen = await failures(req, { increment: false });
      if (!seen.isAllowed && seen.isExceeded) return tooMany(reply, seen.ttlInSeconds);
    }
    const a = auth.authenticate(req.headers.authorization, req.headers.cookie);
    if (a.kind !== 'ok') {
      if (a.kind === 'failed' && (await ctx.authFailed(req, reply))) return reply;
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
    const p = a.principal;
    if (a.via === 'session') {
      const originProblem = guardBrowser.origin(req, false);
      if (originProblem) return sendError(reply, originProblem);
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

  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());

  // Each group of routes is a Fastify plugin (its own encapsulated context) under /api/v1.
  const groups: ((api: FastifyInstance, ctx: ApiContext) => void | Promise<void>)[] = [
    registerConfigRoutes,
    registerApplyRoutes,
    registerOpsRoutes,
    ...(options.extraRoutes ?? []),
  ];
  for (const group of groups) {
    await app.register(async (api) => group(api, ctx), { prefix: '/api/v1' });
  }

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
    // The console's files are public (the page asks for a token); declared so for every route
    // this context registers.
    await app.register(async (assets) => {
      assets.decorate(PUBLIC_ASSETS, true);
      await assets.register(fastifyStatic, {
        root: consoleDir,
        prefix: '/',
        wildcard: true,
        index: ['index.html'],
        // The files never answer a path of the API's (any spelling the router decoded to one)
        // nor one with a NUL; those go to the not-found answer (404, or the console's page).
        allowedPath: (pathName) => !pathName.includes('\0') && !isApiPath(pathName),
      });
    });
  }
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?', 1)[0] ?? '';
    if (serveConsole && req.method === 'GET' && !isApiPath(path)) {
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
