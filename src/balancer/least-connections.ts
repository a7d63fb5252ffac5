import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { BaseBalancer, type Candidate } from './base.ts';
import { LoadIndex } from './load-index.ts';
import type { PickContext } from './types.ts';

/**
 * `least-connections`, weighted (A1, S4): picks the eligible server with the smallest
 * `(activeConnections + 1) / weight` (the load it would have after this pick, per unit of
 * effective weight; HAProxy's leastconn with weights). Ties are broken by rotation: the scan
 * starts one server further on each pick, so equal servers share the traffic instead of the
 * first one taking it all. Compared by cross-multiplication (no division). Skips
 * `ctx.exclude` when another server is eligible, and servers at their connection limit
 * (issue 15 point 4). O(n), no allocation.
 *
 * From LOAD_INDEX_FROM eligible servers on (issue 13 point 5), the servers are kept in a
 * LoadIndex (a heap by the same load per weight) and a pick costs O(log n): the same least
 * load, ties taken in turn (least recently picked first). With several worker threads a count
 * that another worker lowered is seen within LOAD_INDEX_RESYNC_MS (load-index.ts); a pick
 * that must avoid `ctx.exclude` (a retry) scans.
 */
export class LeastConnectionsBalancer extends BaseBalancer {
  #start = 0;

  override select(ctx: PickContext, t: number, advance = true): ServerRuntime | undefined {
    const el = this.el;
    const { list, weights, count } = el;
    const skip = count > 1 ? ctx.exclude : undefined;
    if (count >= this.indexFrom && skip === undefined) {
      const index = this.loadIndex(t, weights, LoadIndex);
      const i = index.best();
      if (i < 0) return undefined;
      if (advance) index.touch(i);
      return index.servers[i];
    }
    const start = (advance ? this.#start++ : this.#start) % count;
    let best: ServerRuntime | undefined;
    let bestLoad = 0;
    let bestWeight = 1;
    for (let k = 0, i = start; k < count; k++, i = i + 1 === count ? 0 : i + 1) {
      const s = list[i]!;
      if (el.blocked(s, skip, t)) continue;
      const load = s.activeConnections + 1;
      const w = weights[i]!;
      if (!best || load * bestWeight < bestLoad * w) {
        best = s;
        bestLoad = load;
        bestWeight = w;
      }
    }
    return best ?? this.fallback(skip, t);
  }

  /**
   * The servers tied at the smallest `(activeConnections + 1) / weight` (the comparison of
   * `select`), equally likely: which one the rotation gives depends on the picks before it.
   */
  override candidates(ctx: PickContext): Candidate[] {
    const t = this.now();
    if (this.el.refresh(t) === 0) return [];
    const { list, weights, count } = this.el;
    const skip = count > 1 ? ctx.exclude : undefined;
    return tied(
      list,
      count,
      (s) => this.el.blocked(s, skip, t),
      (i) => list[i]!.activeConnections + 1,
      (i) => weights[i]!,
    );
  }
}

/**
 * Candidates of a least-score choice: every server `select` may take (not `blocked`: excluded,
 * at its limit) whose `num(i) / den(i)` equals the smallest, compared by cross-multiplication
 * as `select` does; each with probability 1/k. Empty when every server is blocked.
 */
export function tied(
  list: readonly ServerRuntime[],
  count: number,
  blocked: (s: ServerRuntime) => boolean,
  num: (i: number) => number,
  den: (i: number) => number,
): Candidate[] {
  let best = -1;
  for (let i = 0; i < count; i++) {
    if (blocked(list[i]!)) continue;
    if (best < 0 || num(i) * den(best) < num(best) * den(i)) best = i;
  }
  if (best < 0) return [];
  const idx: number[] = [];
  for (let i = 0; i < count; i++) {
    if (!blocked(list[i]!) && num(i) * den(best) === num(best) * den(i)) idx.push(i);
  }
  return idx.map((i) => ({ server: list[i]!, probability: 1 / idx.length, score: num(i) / den(i) }));
}
