import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { BaseBalancer } from './base.ts';
import { hashClientKey } from './hash.ts';
import { LoadIndex } from './load-index.ts';
import type { PickContext } from './types.ts';

/** Bounded load: no server takes a new connection above this multiple of its fair share (A2). */
export const LOAD_BOUND = 1.25;

/**
 * `source-ip` (A1, A2): consistent hashing of `ctx.hashKey ?? ctx.clientAddress` over the
 * eligible servers with a weighted Maglev table (`maglev.ts`), so a client keeps its server
 * and removing one server of ten moves about a tenth of the clients (test: ≤ 15 %).
 *
 * Bounded load (Mirrokni et al., "Consistent Hashing with Bounded Loads", 2018): a server
 * accepts the connection only while `activeConnections + 1 ≤ ceil(1.25 × (total + 1) × w / W)`
 * (total = active connections over the eligible servers, w / W its share of the configured
 * weight); otherwise the walk continues through the following table slots to the next server
 * under its bound, so skewed hashing (one huge client, a NAT) cannot overload one server.
 * After 16 × n slots without success the least loaded server (per weight) is taken.
 * Without any key it falls back to rotation. Skips `ctx.exclude` when another server is
 * eligible, and servers at their connection limit (issue 15 point 4; they keep their table
 * slots, so a client returns to its server once it has room). O(1) typical + O(n) for the
 * load total, no allocation.
 *
 * From `indexFrom` (LOAD_INDEX_FROM) eligible servers on (issue 13 point 5), the total and the
 * least loaded server come from a LoadIndex kept up to date as connections open and close
 * (O(log n) each) instead of a scan per pick; with several worker threads the total may miss
 * another worker's changes of the last LOAD_INDEX_RESYNC_MS (load-index.ts), while each
 * server's own bound is always checked against its live count.
 */
export class SourceIpBalancer extends BaseBalancer {
  #next = 0;
  /** Configured weights parallel to the eligible list, and their sum, for weights version `#weighed`. */
  readonly #specWeights: number[] = [];
  #specTotal = 0;
  #weighed = -1;

  override select(ctx: PickContext, t: number, advance = true): ServerRuntime | undefined {
    const el = this.el;
    const { list, count } = el;
    const skip = count > 1 ? ctx.exclude : undefined;
    const key = ctx.hashKey ?? ctx.clientAddress;
    if (key === undefined) {
      const next = this.#next;
      for (let k = 0; k < count; k++) {
        const s = list[(next + k) % count]!;
        if (el.blocked(s, skip, t)) continue;
        if (advance) this.#next = next + k + 1;
        return s;
      }
      return this.fallback(skip, t);
    }
    const table = this.maglev();
    const index = count >= this.indexFrom ? this.loadIndex(t, this.#configuredWeights(), LoadIndex) : undefined;
    let total = 0;
    let totalWeight = 0;
    if (index) {
      total = index.total;
      totalWeight = this.#specTotal;
    } else {
      for (let i = 0; i < count; i++) {
        total += list[i]!.activeConnections;
        totalWeight += list[i]!.spec.weight;
      }
    }
    const budget = (LOAD_BOUND * (total + 1)) / totalWeight;
    const size = table.size;
    let slot = table.slotOf(hashClientKey(key));
    const limit = Math.min(size, 16 * count);
    for (let k = 0; k < limit; k++) {
      const s = list[table.slots[slot]!]!;
      if (s.activeConnections + 1 <= Math.ceil(budget * s.spec.weight) && !el.blocked(s, skip, t)) return s;
      slot = slot + 1 === size ? 0 : slot + 1;
    }
    if (index && skip === undefined) {
      const i = index.best();
      return i < 0 ? undefined : index.servers[i];
    }
    let best: ServerRuntime | undefined;
    for (let i = 0; i < count; i++) {
      const s = list[i]!;
      if (el.blocked(s, skip, t)) continue;
      if (!best || (s.activeConnections + 1) * best.spec.weight < (best.activeConnections + 1) * s.spec.weight)
        best = s;
    }
    return best ?? this.fallback(skip, t);
  }

  /** `spec.weight` of each eligible server (the bound's weights), recomputed when the eligible set changed. */
  #configuredWeights(): number[] {
    const { list, count, weightsVersion } = this.el;
    if (this.#weighed !== weightsVersion) {
      this.#weighed = weightsVersion;
      this.#specWeights.length = count;
      let total = 0;
      for (let i = 0; i < count; i++) {
        this.#specWeights[i] = list[i]!.spec.weight;
        total += list[i]!.spec.weight;
      }
      this.#specTotal = total;
    }
    return this.#specWeights;
  }

  /** Each eligible server's share of the Maglev table (its share of hashed clients, before bounded load). */
  override shares(t: number): number[] {
    const n = this.el.refresh(t);
    if (n === 0) return [];
    const table = this.maglev();
    const owned = new Array<number>(n).fill(0);
    for (let i = 0; i < table.size; i++) owned[table.slots[i]!]!++;
    return owned.map((c) => c / table.size);
  }
}
