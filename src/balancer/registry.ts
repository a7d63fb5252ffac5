import type { Balancer, BalancerFactory } from './types.ts';

/**
 * Placeholder registry: plain round robin over available servers with passive fallback.
 * Replaced by the real algorithms (A1, A2).
 */
export const createBalancer: BalancerFactory = (_backend, servers, now): Balancer => {
  let next = 0;
  return {
    invalidate() {},
    pick(ctx) {
      const t = now();
      for (const passive of [false, true]) {
        for (let i = 0; i < servers.length; i++) {
          const s = servers[(next + i) % servers.length]!;
          if (s.spec.passive === passive && s.isAvailable(t) && s !== ctx.exclude) {
            next = (next + i + 1) % servers.length;
            return s;
          }
        }
      }
      return undefined;
    },
  };
};
