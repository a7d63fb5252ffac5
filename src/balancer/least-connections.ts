import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { BaseBalancer } from './base.ts';
import type { PickContext } from './types.ts';

/**
 * `least-connections`, weighted (A1, S4): picks the eligible server with the smallest
 * `(activeConnections + 1) / weight` (the load it would have after this pick, per unit of
 * effective weight; HAProxy's leastconn with weights). Ties are broken by rotation: the scan
 * starts one server further on each pick, so equal servers share the traffic instead of the
 * first one taking it all. Compared by cross-multiplication (no division). Skips
 * `ctx.exclude` when another server is eligible. O(n), no allocation.
 */
export class LeastConnectionsBalancer extends BaseBalancer {
  #start = 0;

  override select(ctx: PickContext, _t: number): ServerRuntime | undefined {
    const { list, weights, count } = this.el;
    const skip = count > 1 ? ctx.exclude : undefined;
    const start = this.#start++ % count;
    let best: ServerRuntime | undefined;
    let bestLoad = 0;
    let bestWeight = 1;
    for (let k = 0, i = start; k < count; k++, i = i + 1 === count ? 0 : i + 1) {
      const s = list[i]!;
      if (s === skip) continue;
      const load = s.activeConnections + 1;
      const w = weights[i]!;
      if (!best || load * bestWeight < bestLoad * w) {
        best = s;
        bestLoad = load;
        bestWeight = w;
      }
    }
    return best;
  }
}
