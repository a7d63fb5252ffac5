import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import type { NodeSync } from '../control/cluster.ts';
import { FulcrumError } from '../core/errors.ts';

/**
 * `?wait=all` on every write (API.md "Additions of the second wave", issue 14). A change's
 * answer normally means "live on this node"; with `?wait=all` it comes only when every live
 * node sharing the store applied the change's `configVersion`, or `504 lagging` naming the
 * nodes still behind after `waitTimeoutSeconds` (default 5). The change itself is committed
 * either way. One place for every route: an `onRoute` hook adds the two query parameters to
 * each authenticated write (validated and in /openapi.json), and an `onSend` hook holds the
 * answer of a successful write that carries a `configVersion`. Writes that change no
 * configuration (tokens, sessions) answer at once: every node reloads them on the same
 * notification within a second.
 */

/** How long `?wait=all` waits when `waitTimeoutSeconds` is not given (seconds). */
export const WAIT_ALL_TIMEOUT_SECONDS = 5;

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The query parameters every write accepts. */
const WaitParameters: Record<string, TSchema> = {
  wait: Type.Optional(
    Type.Literal('all', {
      description:
        'answer only when every live node sharing the store applied this change (its configVersion); ' +
        '504 `lagging` naming the nodes still behind after waitTimeoutSeconds. The change is stored either way.',
    }),
  ),
  waitTimeoutSeconds: Type.Optional(
    Type.Number({
      minimum: 0.1,
      maximum: 60,
      description: `how long ?wait=all waits (seconds, default ${WAIT_ALL_TIMEOUT_SECONDS})`,
    }),
  ),
};

type RouteSchema = { querystring?: TSchema & { properties?: Record<string, TSchema> } } & Record<string, unknown>;

/**
 * Installs `?wait=all` on `app` (call before any route is registered). `cluster` answers this
 * node's NodeSync, or undefined when it runs alone (then there is nothing to wait for).
 */
export function installWaitAll(app: FastifyInstance, cluster: () => NodeSync | undefined): void {
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const config = (route.config ?? {}) as { role?: string };
    if (config.role === undefined || !methods.some((m) => WRITES.has(m))) return;
    const schema = (route.schema ?? {}) as RouteSchema;
    const qs = schema.querystring;
    schema.querystring =
      qs === undefined
        ? Type.Object(WaitParameters)
        : ({ ...qs, properties: { ...(qs.properties ?? {}), ...WaitParameters } } as RouteSchema['querystring']);
    route.schema = schema;
  });

  app.addHook('onSend', async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const q = req.query as { wait?: string; waitTimeoutSeconds?: number } | undefined;
    if (q?.wait !== 'all' || !WRITES.has(req.method) || reply.statusCode >= 300) return payload;
    const sync = cluster();
    if (sync === undefined || typeof payload !== 'string') return payload;
    let version: unknown;
    try {
      version = (JSON.parse(payload) as { configVersion?: unknown }).configVersion;
    } catch {
      return payload;
    }
    if (typeof version !== 'number') return payload;
    const seconds = q.waitTimeoutSeconds ?? WAIT_ALL_TIMEOUT_SECONDS;
    const { lagging, unreachable } = await sync.waitForAll(version, seconds * 1000);
    if (lagging.length === 0 && unreachable === undefined) return payload;
    const behind = lagging.map((n) => `${n.name} (applied ${n.appliedVersion})`).join(', ');
    const err = new FulcrumError(
      'lagging',
      `wait: configVersion ${version} is stored and live on ${sync.name}, but after ${seconds} s ` +
        (unreachable !== undefined
          ? `the store could not say which nodes applied it (${unreachable})`
          : `${lagging.length === 1 ? 'this node has' : 'these nodes have'} not applied it: ${behind}`),
      'wait',
      lagging.map((n) => ({
        field: 'wait',
        rule: `node ${n.name} applied ${n.appliedVersion}, not yet ${version}`,
        message: `wait: node ${n.name} applied ${n.appliedVersion}, not yet ${version}`,
      })),
    );
    reply.code(err.status).header('content-type', 'application/json; charset=utf-8');
    reply.removeHeader('etag');
    const body: { error: Record<string, unknown> } = {
      error: { code: err.code, message: err.message, field: err.field, nodes: lagging.map((n) => n.name) },
    };
    if (err.details && err.details.length > 0) body.error.details = err.details;
    return JSON.stringify(body);
  });
}
