// The balancer seam (Balancer, BalancerFactory, PickContext) is defined beside the runtime that
// holds one balancer per backend; the algorithms here implement it.
export type { Balancer, BalancerFactory, PickContext } from '../runtime/balancer.ts';
