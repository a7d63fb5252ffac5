import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { BaseBalancer } from './base.ts';
import type { PickContext } from './types.ts';

/**
 * `round-robin` (A1): rotates over the eligible servers one by one, ignoring weights (a
 * weight-0 server is not eligible, S4). Skips `ctx.exclude` when another server is eligible.
 * O(1) per pick, no allocation.
 */
export class RoundRobinBalancer extends BaseBalancer {
  #next = 0;

  override select(ctx: PickContext, _t: number, advance = true): ServerRuntime | undefined {
    const { list, count } = this.el;
    let i = this.#next % count;
    let s = list[i]!;
    if (s === ctx.exclude && count > 1) {
      i = (i + 1) % count;
      s = list[i]!;
    }
    if (advance) this.#next = (i + 1) % count;
    return s;
  }

  /** Round robin ignores weights: each eligible server gets an equal share. */
  override shares(t: number): number[] {
    const n = this.el.refresh(t);
    return Array.from({ length: n }, () => 1 / n);
  }
}
