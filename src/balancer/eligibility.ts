import type { ServerRuntime } from '../runtime/server-runtime.ts';

/** While any eligible server is in slow start, effective weights are re-read at least this often (ms, SS1). */
export const SLOW_START_REFRESH_MS = 250;
/** Safety net: the eligible list is rebuilt at least this often (ms) even without `invalidate()`. */
export const MAX_CACHE_MS = 1000;

/**
 * The servers a balancer may pick from right now, shared by every algorithm (S3, S4, S5,
 * H4–H7, SS1).
 *
 * A server is eligible when `s.isAvailable(now)` (enabled, not draining, health ok, not
 * ejected, weight > 0). Active (non-passive) servers are preferred; only when no active
 * server is available does the list hold the available passive servers instead (S5), and
 * it returns to the actives on the first rebuild after one is available again.
 *
 * A server at its `maxConnections` (`s.atLimit(now)`, issue 15 point 4) stays in the list, in
 * its place: reaching or leaving a limit happens on every request of a busy server, and a
 * change of membership would rebuild the rotation cycle, the Maglev table and the load index
 * (O(n) at each crossing). The algorithms skip it at pick time instead, as HAProxy skips a
 * full server in its trees (`limited` says whether any server of the list has a limit).
 *
 * The list is cached: rebuilt lazily by `refresh(now)` after `invalidate()`, when an
 * ejection expires, every 250 ms while an eligible server is in slow start (its effective
 * weight grows with time) and at least every second as a safety net. `weights[i]` is the
 * effective weight (`s.effectiveWeight(now)`, weight × slow-start factor) of `list[i]`,
 * read at rebuild time. Arrays are reused: a refresh allocates nothing in steady state.
 */
export class Eligibility {
  /** Every server of the backend, in configuration order. */
  readonly all: readonly ServerRuntime[];
  /** Eligible servers (first `count` entries are valid). */
  readonly list: ServerRuntime[] = [];
  /** Effective weight of `list[i]` at the last rebuild. */
  readonly weights: number[] = [];
  count = 0;
  /** Sum of `weights`. */
  totalWeight = 0;
  /** True when the list holds passive servers because no active server is available (S5). */
  passiveTier = false;
  /** True when some server of the list has a `maxConnections`: picks must skip the ones at it (`blocked`). */
  limited = false;
  /** Incremented whenever the set of eligible servers (or their order) changes. */
  membershipVersion = 0;
  /** Incremented whenever membership or any effective weight changes. */
  weightsVersion = 0;
  #dirty = true;
  #nextCheckAt = 0;

  constructor(servers: readonly ServerRuntime[]) {
    this.all = servers;
  }

  /** Marks the cache stale: the next `refresh` rebuilds it. */
  invalidate(): void {
    this.#dirty = true;
  }

  /** Brings the cached list up to date for `now` (ms epoch); returns `count`. */
  refresh(now: number): number {
    if (this.#dirty || now >= this.#nextCheckAt) this.#rebuild(now);
    return this.count;
  }

  #rebuild(now: number): void {
    this.#dirty = false;
    let next = now + MAX_CACHE_MS;
    let membershipChanged = false;
    let weightsChanged = false;
    let n = 0;
    let total = 0;
    let passive = false;
    let limited = false;
    let tier = 0;
    for (let pass = 0; pass < 2 && tier === 0; pass++) {
      passive = pass === 1;
      for (let i = 0; i < this.all.length; i++) {
        const s = this.all[i]!;
        if (s.ejectedUntil > now && s.ejectedUntil < next) next = s.ejectedUntil;
        if (s.spec.passive !== passive || !s.isAvailable(now)) continue;
        // A server at its maxConnections stays (see the class): it keeps its tier (S5: passives
        // are for when no active is available, not when actives are busy), picks skip it.
        tier++;
        if (s.spec.maxConnections > 0) limited = true;
        const w = s.effectiveWeight(now);
        if (w < s.spec.weight && now + SLOW_START_REFRESH_MS < next) next = now + SLOW_START_REFRESH_MS;
        if (n >= this.count || this.list[n] !== s) membershipChanged = true;
        if (membershipChanged || this.weights[n] !== w) weightsChanged = true;
        this.list[n] = s;
        this.weights[n] = w;
        total += w;
        n++;
      }
    }
    if (n !== this.count) membershipChanged = weightsChanged = true;
    this.list.length = n;
    this.weights.length = n;
    this.count = n;
    this.totalWeight = total;
    this.passiveTier = passive && tier > 0;
    this.limited = limited;
    if (membershipChanged) this.membershipVersion++;
    if (weightsChanged) this.weightsVersion++;
    this.#nextCheckAt = next;
  }

  /**
   * True when a pick at `now` (ms) may not return `s`: it is `exclude` (a retry sits it out)
   * or it is at its connection limit (issue 15 point 4). Allocation-free.
   */
  blocked(s: ServerRuntime, exclude: ServerRuntime | undefined, now: number): boolean {
    return s === exclude || (this.limited && s.atLimit(now));
  }

  /** Index of `s` in the list, or -1. */
  indexOf(s: ServerRuntime | undefined): number {
    if (!s) return -1;
    for (let i = 0; i < this.count; i++) if (this.list[i] === s) return i;
    return -1;
  }
}
