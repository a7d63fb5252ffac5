import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { BaseBalancer } from './base.ts';
import type { PickContext } from './types.ts';

/**
 * `round-robin` (A1): rotates over the eligible servers one by one, ignoring weights (a
 * weight-0 server is not eligible, S4). Skips `ctx.exclude` when another server is eligible.
 * The position is the backend's ticket, one atomic word shared by every worker thread (issue
 * 13 point 1), so the rotation is one rotation whichever worker takes the request.
 * O(1) per pick, no allocation.
 */
export class RoundRobinBalancer extends BaseBalancer {
  override select(ctx: PickContext, _t: number, advance = true): ServerRuntime | undefined {
    const { list, count } = this.el;
    let ticket = advance ? this.ticket.take() : this.ticket.peek();
    let s = list[ticket % count]!;
    if (s === ctx.exclude && count > 1) {
      ticket = advance ? this.ticket.take() : ticket + 1;
      s = list[ticket % count]!;
      if (s === ctx.exclude) s = list[(ticket + 1) % count]!;
    }
    return s;
  }

  /** Round robin ignores weights: each eligible server gets an equal share. */
  override shares(t: number): number[] {
    const n = this.el.refresh(t);
    return Array.from({ length: n }, () => 1 / n);
  }
}
