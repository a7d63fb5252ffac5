import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { BaseBalancer } from './base.ts';
import type { PickContext } from './types.ts';

/**
 * `round-robin` (A1): rotates over the eligible servers one by one, ignoring weights (a
 * weight-0 server is not eligible, S4). Skips `ctx.exclude` when another server is eligible,
 * and servers at their connection limit (issue 15 point 4).
 * The position is the backend's ticket, one atomic word shared by every worker thread (issue
 * 13 point 1), so the rotation is one rotation whichever worker takes the request.
 * O(1) per pick (O(n) while servers are skipped), no allocation.
 */
export class RoundRobinBalancer extends BaseBalancer {
  override select(ctx: PickContext, t: number, advance = true): ServerRuntime | undefined {
    const el = this.el;
    const { list, count } = el;
    const ticket = advance ? this.ticket.take() : this.ticket.peek();
    // The server of this ticket, else the next one in the rotation that can take the pick.
    // The turns of servers at their limit are consumed (one Ticket.advance), so they do not all
    // go to the server after them; a retry's walk past `ctx.exclude` consumes only its ticket.
    for (let k = 0; k < count; k++) {
      const s = list[(ticket + k) % count]!;
      if (el.blocked(s, ctx.exclude, t)) continue;
      if (advance && ctx.exclude === undefined) this.ticket.advance(k);
      return s;
    }
    return this.fallback(ctx.exclude, t);
  }

  /** Round robin ignores weights: each eligible server gets an equal share. */
  override shares(t: number): number[] {
    const n = this.el.refresh(t);
    return Array.from({ length: n }, () => 1 / n);
  }
}
