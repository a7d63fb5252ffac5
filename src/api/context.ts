import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ControlPlane } from '../control/control-plane.ts';
import type { StatsCollector } from '../control/stats.ts';
import type { Logger } from '../core/log.ts';
import type { AuthService, Principal } from './auth.ts';
import type { Metrics } from './metrics.ts';

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
  /**
   * Counts a failed authentication (a token or sign-in presented and wrong) against the
   * client's address; when that client is over the limit, answers 429 with Retry-After and
   * resolves true (the caller stops there).
   */
  authFailed(req: FastifyRequest, reply: FastifyReply): Promise<boolean>;
}
