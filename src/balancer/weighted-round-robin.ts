import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { BaseBalancer } from './base.ts';
import type { PickContext } from './types.ts';

/**
 * The longest smooth sequence precomputed per eligible set (picks × servers to build it): a
 * larger one, or fractional weights (a slow-start ramp), falls back to per-worker credits.
 */
const MAX_SEQUENCE_WORK = 1 << 22;

/**
 * `weighted-round-robin` (A1, S4, SS1): smooth weighted round robin as nginx does it
 * (ngx_http_upstream_get_peer): on each pick every eligible server adds its effective weight
 * (weight × slow-start factor) to its `current`; the server with the largest `current` wins
 * and has the total subtracted. Shares are exactly proportional over a cycle and picks of one
 * server are spread out: weights 1:2:3 never give more than 2 picks in a row to one server.
 *
 * Several worker threads (issue 13 point 1): when the effective weights are integers (no
 * slow-start ramp under way) the whole cycle of the smooth sequence (Σweights / gcd picks) is
 * precomputed once per eligible set and indexed by the backend's shared ticket, so every
 * worker walks one sequence and the split is exact whichever worker takes a request. During a
 * ramp, or when the cycle would cost more than MAX_SEQUENCE_WORK to build, each worker keeps
 * its own credits (each worker's split is exact over its own requests).
 *
 * `current` values survive weight changes (slow-start ramps) and reset when the eligible set
 * changes. `ctx.exclude` sits the pick out when another server is eligible, and so does a
 * server at its connection limit (issue 15 point 4; it stays in the cycle, its entries are
 * walked past). O(1) per pick with a sequence (plus the entries walked past), O(n) without;
 * no allocation per pick.
 */
export class WeightedRoundRobinBalancer extends BaseBalancer {
  readonly #current: number[] = [];
  #version = -1;
  /** The smooth sequence of eligible-list indexes for weights version the eligible set's versions, or null. */
  #sequence: Uint32Array | null = null;
  #seqWeights = -1;
  #seqMembers = -1;

  override select(ctx: PickContext, t: number, advance = true): ServerRuntime | undefined {
    const seq = this.#sequenceNow();
    if (seq !== null) return this.#fromSequence(seq, ctx, t, advance);
    const el = this.el;
    const { list, weights, count } = el;
    const current = this.#current;
    // Credits reset when the eligible set changed; `peek` reads them as zeros without resetting.
    const reset = this.#version !== el.membershipVersion;
    if (reset && advance) {
      this.#version = el.membershipVersion;
      current.length = count;
      current.fill(0);
    }
    const fresh = reset && !advance;
    let best = -1;
    let bestCredit = 0;
    let total = 0;
    // A server that sits this pick out (excluded, at its limit) earns no credit for it.
    for (let i = 0; i < count; i++) {
      if (el.blocked(list[i]!, ctx.exclude, t)) continue;
      const w = weights[i]!;
      const c = (fresh ? 0 : current[i]!) + w;
      if (advance) current[i] = c;
      total += w;
      if (best < 0 || c > bestCredit) {
        best = i;
        bestCredit = c;
      }
    }
    if (best < 0) return this.fallback(ctx.exclude, t);
    if (advance) current[best]! -= total;
    return list[best];
  }

  /**
   * The sequence entry of the next ticket, else the next entry whose server can take the pick.
   * Entries walked past because their server is at its limit are consumed (one
   * `Ticket.advance`, not an atomic each), so the servers with room share the picks by their
   * own entries, i.e. by weight. A retry's walk past `ctx.exclude` consumes only its own
   * ticket: a heavy server sat out once must not lose its whole run of the cycle.
   */
  #fromSequence(seq: Uint32Array, ctx: PickContext, t: number, advance: boolean): ServerRuntime | undefined {
    const el = this.el;
    const list = el.list;
    const ticket = advance ? this.ticket.take() : this.ticket.peek();
    const n = seq.length;
    for (let k = 0; k < n; k++) {
      const s = list[seq[(ticket + k) % n]!]!;
      if (el.blocked(s, ctx.exclude, t)) continue;
      if (advance && ctx.exclude === undefined) this.ticket.advance(k);
      return s;
    }
    return this.fallback(ctx.exclude, t);
  }

  /** The precomputed cycle for the current eligible set and weights, or null (see the class). */
  #sequenceNow(): Uint32Array | null {
    const { weightsVersion, membershipVersion } = this.el;
    if (weightsVersion === this.#seqWeights && membershipVersion === this.#seqMembers) return this.#sequence;
    this.#seqWeights = weightsVersion;
    this.#seqMembers = membershipVersion;
    this.#sequence = smoothSequence(this.el.weights, this.el.count);
    return this.#sequence;
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * One whole cycle of smooth weighted round robin over `weights[0 … count)`: Σw/gcd(w) indexes,
 * the order the credits algorithm above yields from zero credits. Null when a weight is not a
 * whole number or the cycle costs more than MAX_SEQUENCE_WORK to build.
 */
export function smoothSequence(weights: readonly number[], count: number): Uint32Array | null {
  let g = 0;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const w = weights[i]!;
    if (!Number.isInteger(w) || w <= 0) return null;
    g = gcd(w, g);
    total += w;
  }
  if (count === 0) return null;
  const length = total / g;
  if (length === count) {
    // Equal weights: the smooth sequence is the servers in order (ties go to the first), at any size.
    const seq = new Uint32Array(count);
    for (let i = 0; i < count; i++) seq[i] = i;
    return seq;
  }
  if (length * count > MAX_SEQUENCE_WORK) return null;
  const seq = new Uint32Array(length);
  const current = new Float64Array(count);
  for (let k = 0; k < length; k++) {
    let best = 0;
    for (let i = 0; i < count; i++) {
      current[i]! += weights[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    seq[k] = best;
  }
  return seq;
}
