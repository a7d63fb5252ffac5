import type { ServerRuntime } from '../runtime/server-runtime.ts';
import type { Ticket } from '../runtime/shared-cells.ts';
import { BaseBalancer, type Candidate } from './base.ts';
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

  constructor(
    servers: readonly ServerRuntime[],
    now: () => number,
    ticket?: Ticket,
    random: () => number = Math.random,
  ) {
    super(servers, now, ticket);
    this.#random = random;
  }

  override select(ctx: PickContext, _t: number, _advance = true): ServerRuntime | undefined {
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
    return secondWins(list, weights, a, b) ? list[b] : list[a];
  }

  /**
   * Exact probabilities of the next pick: every ordered draw (a, b) of two different candidates
   * is equally likely (1 / (m × (m − 1))), and the same comparison as `select` decides it.
   */
  override candidates(ctx: PickContext): Candidate[] {
    if (this.el.refresh(this.now()) === 0) return [];
    const { list, weights, count } = this.el;
    const ex = count > 1 ? this.el.indexOf(ctx.exclude) : -1;
    const idx: number[] = [];
    for (let i = 0; i < count; i++) if (i !== ex) idx.push(i);
    const m = idx.length;
    const p = new Map<number, number>();
    if (m === 1) p.set(idx[0]!, 1);
    else {
      for (const a of idx) {
        for (const b of idx) {
          if (a === b) continue;
          const w = secondWins(list, weights, a, b) ? b : a;
          p.set(w, (p.get(w) ?? 0) + 1 / (m * (m - 1)));
        }
      }
    }
    return idx.map((i) => ({
      server: list[i]!,
      probability: p.get(i) ?? 0,
      score: (list[i]!.activeConnections + 1) / weights[i]!,
    }));
  }
}

/** The comparison of two draws: true when `b` is strictly less loaded per weight than `a` (a tie goes to `a`). */
function secondWins(list: readonly ServerRuntime[], weights: readonly number[], a: number, b: number): boolean {
  return (list[b]!.activeConnections + 1) * weights[a]! < (list[a]!.activeConnections + 1) * weights[b]!;
}
