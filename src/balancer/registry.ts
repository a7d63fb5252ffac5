import type { Algorithm } from '../config/model.ts';
import { invalid } from '../core/errors.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import type { Ticket } from '../runtime/shared-cells.ts';
import type { BaseBalancer } from './base.ts';
import { LeastConnectionsBalancer } from './least-connections.ts';
import { LeastResponseTimeBalancer } from './least-response-time.ts';
import { RandomTwoChoicesBalancer } from './random-two-choices.ts';
import { RoundRobinBalancer } from './round-robin.ts';
import { SourceIpBalancer } from './source-ip.ts';
import type { BalancerFactory } from './types.ts';
import { WeightedRoundRobinBalancer } from './weighted-round-robin.ts';

/** Constructors of every algorithm by its API name (A1, A2; API.md `algorithm`). */
export const balancerClasses: Readonly<
  Record<Algorithm, new (servers: readonly ServerRuntime[], now: () => number, ticket?: Ticket) => BaseBalancer>
> = {
  'round-robin': RoundRobinBalancer,
  'weighted-round-robin': WeightedRoundRobinBalancer,
  'least-connections': LeastConnectionsBalancer,
  'source-ip': SourceIpBalancer,
  'random-two-choices': RandomTwoChoicesBalancer,
  'least-response-time': LeastResponseTimeBalancer,
};

/**
 * The BalancerFactory the Runtime uses (A1, A2): builds the backend's algorithm over its
 * servers' live runtimes. Every balancer also offers `pickHashed` (consistent hashing for
 * persistence, P1/P5). Throws FulcrumError `invalid` (field `algorithm`) for a name that is
 * not one of `balancerClasses` (config validation refuses those before a snapshot exists).
 */
export const createBalancer: BalancerFactory = (backend, servers, now, ticket) => {
  const Ctor = Object.hasOwn(balancerClasses, backend.algorithm) ? balancerClasses[backend.algorithm] : undefined;
  if (!Ctor) {
    const names = Object.keys(balancerClasses).join(', ');
    throw invalid('algorithm', `backend ${backend.id}: algorithm "${backend.algorithm}" is not one of ${names}`);
  }
  return new Ctor(servers, now, ticket);
};
