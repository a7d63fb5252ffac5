import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ErrorSchema, IdSchema } from '../config/schemas.ts';
import {
  FIELDS,
  HISTORY_BYTES_PER_SERIES,
  MINUTE_ROWS,
  type Resolution,
  SECOND_ROWS,
  sumSeries,
} from '../control/history.ts';
import { FulcrumError } from '../core/errors.ts';
import type { ApiContext } from './context.ts';

/**
 * Stats history (issue 16 point 3): `GET /stats/history?serverId=|backendId=|frontendId=|loadBalancerId=`
 * serves the per-second series of the last 15 minutes (`resolution=second`, default) or the
 * per-minute series of the last 24 hours (`resolution=minute`) kept by the stats collector
 * (`control/history.ts`), so the console's charts open with history. Role viewer.
 */

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };

const Values = Type.Array(Type.Union([Type.Number(), Type.Null()]));
const SeriesSchema = Type.Object(Object.fromEntries(FIELDS.map((f) => [f, Values])));

const HistorySchema = Type.Object({
  resolution: Type.String({ enum: ['second', 'minute'] }),
  intervalSeconds: Type.Integer(),
  times: Type.Array(Type.Number(), { description: 'Sample times, ms epoch, oldest first' }),
  servers: Type.Record(Type.String(), SeriesSchema, { description: 'Per server id' }),
  frontends: Type.Record(Type.String(), SeriesSchema, { description: 'Per frontend id' }),
  total: Type.Union([SeriesSchema, Type.Null()], {
    description: 'The sum over the servers (backendId, loadBalancerId); TTFB percentiles do not add, so null there',
  }),
  bytesPerSeries: Type.Integer({ description: 'The fixed memory bound of one kept series' }),
});

type Req = FastifyRequest<{ Querystring: Record<string, unknown> }>;

export function registerHistoryRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get(
    '/stats/history',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['observability'],
        summary:
          'History of a server, a backend’s servers, a frontend or a load balancer: per second over the last 15 minutes ' +
          'or per minute over the last 24 hours — requests, responses by class, active connections, time to first byte p50/p95, bytes',
        querystring: Type.Object(
          {
            serverId: Type.Optional(IdSchema),
            backendId: Type.Optional(IdSchema),
            frontendId: Type.Optional(IdSchema),
            loadBalancerId: Type.Optional(IdSchema),
            resolution: Type.Optional(Type.String({ enum: ['second', 'minute'] })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MINUTE_ROWS })),
          },
          { additionalProperties: false },
        ),
        response: { 200: HistorySchema, ...errors },
      },
    },
    async (req: Req) => {
      const q = req.query;
      const given = (['serverId', 'backendId', 'frontendId', 'loadBalancerId'] as const).filter(
        (k) => typeof q[k] === 'string',
      );
      if (given.length !== 1) {
        throw new FulcrumError(
          'invalid',
          'query: give exactly one of serverId, backendId, frontendId or loadBalancerId',
          given[1] ?? 'serverId',
        );
      }
      const key = given[0]!;
      const id = q[key] as string;
      const resolution = (q.resolution as Resolution | undefined) ?? 'second';
      const limit = Math.min(
        (q.limit as number | undefined) ?? MINUTE_ROWS,
        resolution === 'second' ? SECOND_ROWS : MINUTE_ROWS,
      );
      const state = ctx.control.state;
      let serverIds: string[] = [];
      let frontendIds: string[] = [];
      const notFound = (what: string) => new FulcrumError('not_found', `${key}: no ${what} with id ${id}`, key);
      if (key === 'serverId') {
        if (!state.servers.some((s) => s.id === id)) throw notFound('server');
        serverIds = [id];
      } else if (key === 'backendId') {
        if (!state.backends.some((b) => b.id === id)) throw notFound('backend');
        serverIds = state.servers.filter((s) => s.backendId === id).map((s) => s.id);
      } else if (key === 'frontendId') {
        if (!state.frontends.some((f) => f.id === id)) throw notFound('frontend');
        frontendIds = [id];
      } else {
        if (!state.loadBalancers.some((l) => l.id === id)) throw notFound('load balancer');
        const backends = new Set(state.backends.filter((b) => b.loadBalancerId === id).map((b) => b.id));
        serverIds = state.servers.filter((s) => backends.has(s.backendId)).map((s) => s.id);
        frontendIds = state.frontends.filter((f) => f.loadBalancerId === id).map((f) => f.id);
      }
      const h = ctx.stats.history;
      const servers = h.read(
        serverIds.map((s) => `srv:${s}`),
        resolution,
        limit,
        serverIds,
      );
      const frontends = h.read(
        frontendIds.map((f) => `fe:${f}`),
        resolution,
        limit,
        frontendIds,
      );
      const many = key === 'backendId' || key === 'loadBalancerId';
      return {
        resolution,
        intervalSeconds: servers.intervalSeconds,
        times: servers.times,
        servers: servers.series,
        frontends: frontends.series,
        total: many ? sumSeries(Object.values(servers.series), servers.times.length) : null,
        bytesPerSeries: HISTORY_BYTES_PER_SERIES,
      };
    },
  );
}
