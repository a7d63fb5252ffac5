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
 * `ctx.exclude` when another server is eligible, and servers at their connection limit
 * (issue 15 point 4). No allocation.
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

  override select(ctx: PickContext, t: number, _advance = true): ServerRuntime | undefined {
    const el = this.el;
    const { count } = el;
    const ex = count > 1 ? el.indexOf(ctx.exclude) : -1;
    // Draw among the `m` candidate indexes [0, count) minus `ex`.
    const m = ex >= 0 ? count - 1 : count;
    let a: number;
    let b: number;
    if (m === 1) a = b = ex === 0 ? 1 : 0;
    else {
      a = Math.floor(this.#random() * m) % m;
      b = Math.floor(this.#random() * (m - 1)) % (m - 1);
      if (b >= a) b++;
      if (ex >= 0) {
        if (a >= ex) a++;
        if (b >= ex) b++;
      }
    }
    return this.#decide(a, b, ex, t);
  }

  /**
   * The winner of the draw (a, b), `ex` being the excluded index (-1: none): the less loaded
   * per weight, a tie to `a`. A draw at its connection limit (issue 15 point 4) loses to the
   * other; two of them send the pick to the least loaded server with room (a scan: every
   * server is busy then).
   */
  #decide(a: number, b: number, ex: number, t: number): ServerRuntime | undefined {
    const { list, weights, limited } = this.el;
    if (limited) {
      const fullA = list[a]!.atLimit(t);
      const fullB = list[b]!.atLimit(t);
      if (fullA && fullB) return this.#leastWithRoom(ex >= 0 ? list[ex] : undefined, t);
      if (fullA) return list[b];
      if (fullB) return list[a];
    }
    return secondWins(list, weights, a, b) ? list[b] : list[a];
  }

  /** The least loaded server (per weight) that can take the pick; `exclude` only as the last resort. */
  #leastWithRoom(exclude: ServerRuntime | undefined, t: number): ServerRuntime | undefined {
    const { list, weights, count } = this.el;
    let best = -1;
    for (let i = 0; i < count; i++) {
      if (this.el.blocked(list[i]!, exclude, t)) continue;
      if (best < 0 || secondWins(list, weights, best, i)) best = i;
    }
    return best >= 0 ? list[best] : this.fallback(exclude, t);
  }

  /**
   * Exact probabilities of the next pick: every ordered draw (a, b) of two different candidates
   * is equally likely (1 / (m × (m − 1))), and the same comparison as `select` decides it.
   */
  override candidates(ctx: PickContext): Candidate[] {
    const t = this.now();
    if (this.el.refresh(t) === 0) return [];
    const { list, weights, count } = this.el;
    const ex = count > 1 ? this.el.indexOf(ctx.exclude) : -1;
    const idx: number[] = [];
    for (let i = 0; i < count; i++) if (i !== ex) idx.push(i);
    const m = idx.length;
    const p = new Map<ServerRuntime, number>();
    const add = (s: ServerRuntime | undefined, q: number) => {
      if (s) p.set(s, (p.get(s) ?? 0) + q);
    };
    if (m === 1) add(this.#decide(idx[0]!, idx[0]!, ex, t), 1);
    else {
      for (const a of idx) {
        for (const b of idx) if (a !== b) add(this.#decide(a, b, ex, t), 1 / (m * (m - 1)));
      }
    }
    const out: Candidate[] = [];
    for (let i = 0; i < count; i++) {
      const q = p.get(list[i]!);
      if (q === undefined && (i === ex || (this.el.limited && list[i]!.atLimit(t)))) continue;
      out.push({ server: list[i]!, probability: q ?? 0, score: (list[i]!.activeConnections + 1) / weights[i]! });
    }
    return out;
  }
}

/** The comparison of two draws: true when `b` is strictly less loaded per weight than `a` (a tie goes to `a`). */
function secondWins(list: readonly ServerRuntime[], weights: readonly number[], a: number, b: number): boolean {
  return (list[b]!.activeConnections + 1) * weights[a]! < (list[a]!.activeConnections + 1) * weights[b]!;
}
