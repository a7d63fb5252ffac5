import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { BaseBalancer } from './base.ts';
import type { PickContext } from './types.ts';

/**
 * `random-two-choices` (A2): the power of two random choices (Mitzenmacher; HAProxy
 * `random(2)`, Envoy's least-request default): draw two different eligible servers at random
 * and take the one with the smaller `(activeConnections + 1) / weight` (effective weight);
 * a tie goes to the first draw. Near least-connections balance at O(1) cost per pick, and no
 * herd behaviour when several workers or nodes balance the same servers.
 *
 * `random` returns a number in [0, 1) (default Math.random; injectable for tests). Skips
 * `ctx.exclude` when another server is eligible. No allocation.
 */
export class RandomTwoChoicesBalancer extends BaseBalancer {
  readonly #random: () => number;

  constructor(servers: readonly ServerRuntime[], now: () => number, random: () => number = Math.random) {
    super(servers, now);
    this.#random = random;
  }

  override select(ctx: PickContext, _t: number): ServerRuntime | undefined {
    const { list, weights, count } = this.el;
    const ex = count > 1 ? this.el.indexOf(ctx.exclude) : -1;
    // Draw among the `m` candidate indexes [0, count) minus `ex`.
    const m = ex >= 0 ? count - 1 : count;
    if (m === 1) return list[ex === 0 ? 1 : 0];
    let a = Math.floor(this.#random() * m) % m;
    let b = Math.floor(this.#random() * (m - 1)) % (m - 1);
    if (b >= a) b++;
    if (ex >= 0) {
      if (a >= ex) a++;
      if (b >= ex) b++;
    }
    const sa = list[a]!;
    const sb = list[b]!;
    return (sb.activeConnections + 1) * weights[a]! < (sa.activeConnections + 1) * weights[b]! ? sb : sa;
  }
}
