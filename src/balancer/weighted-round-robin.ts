import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { BaseBalancer } from './base.ts';
import type { PickContext } from './types.ts';

/**
 * `weighted-round-robin` (A1, S4, SS1): smooth weighted round robin as nginx does it
 * (ngx_http_upstream_get_peer): on each pick every eligible server adds its effective weight
 * (weight × slow-start factor) to its `current`; the server with the largest `current` wins
 * and has the total subtracted. Shares are exactly proportional over a cycle and picks of one
 * server are spread out: weights 1:2:3 never give more than 2 picks in a row to one server.
 *
 * `current` values survive weight changes (slow-start ramps) and reset when the eligible set
 * changes. `ctx.exclude` sits the pick out when another server is eligible. O(n), no allocation.
 */
export class WeightedRoundRobinBalancer extends BaseBalancer {
  readonly #current: number[] = [];
  #version = -1;

  override select(ctx: PickContext, _t: number, advance = true): ServerRuntime | undefined {
    const { list, weights, count } = this.el;
    const current = this.#current;
    // Credits reset when the eligible set changed; `peek` reads them as zeros without resetting.
    const reset = this.#version !== this.el.membershipVersion;
    if (reset && advance) {
      this.#version = this.el.membershipVersion;
      current.length = count;
      current.fill(0);
    }
    const fresh = reset && !advance;
    const skip = count > 1 ? ctx.exclude : undefined;
    let best = -1;
    let bestCredit = 0;
    let total = 0;
    for (let i = 0; i < count; i++) {
      if (list[i] === skip) continue;
      const w = weights[i]!;
      const c = (fresh ? 0 : current[i]!) + w;
      if (advance) current[i] = c;
      total += w;
      if (best < 0 || c > bestCredit) {
        best = i;
        bestCredit = c;
      }
    }
    if (advance) current[best]! -= total;
    return list[best];
  }
}
