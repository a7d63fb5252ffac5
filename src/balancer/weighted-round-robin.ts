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
 * changes. `ctx.exclude` sits the pick out when another server is eligible. O(1) per pick with
 * a sequence, O(n) without; no allocation per pick.
 */
export class WeightedRoundRobinBalancer extends BaseBalancer {
  readonly #current: number[] = [];
  #version = -1;
  /** The smooth sequence of eligible-list indexes for weights version the eligible set's versions, or null. */
  #sequence: Uint32Array | null = null;
  #seqWeights = -1;
  #seqMembers = -1;

  override select(ctx: PickContext, _t: number, advance = true): ServerRuntime | undefined {
    const seq = this.#sequenceNow();
    if (seq !== null) return this.#fromSequence(seq, ctx, advance);
    const { list, weights, count } = this.el;
    const current = this.#current;
    // Credits reset when the eligible set changed; `peek` reads them as zeros without resetting.
    const reset = this.#version !== this.el.membershipVersion;
    if (reset && advance) {
      this.#version = this.el.membershipVersion;
      current.length = count;
      current.fill(0);
    }
    const fresh = reset && !advance;
    const skip = count > 1 ? ctx.exclude : undefined;
    let best = -1;
    let bestCredit = 0;
    let total = 0;
    for (let i = 0; i < count; i++) {
      if (list[i] === skip) continue;
      const w = weights[i]!;
      const c = (fresh ? 0 : current[i]!) + w;
      if (advance) current[i] = c;
      total += w;
      if (best < 0 || c > bestCredit) {
        best = i;
        bestCredit = c;
      }
    }
    if (advance) current[best]! -= total;
    return list[best];
  }

  #fromSequence(seq: Uint32Array, ctx: PickContext, advance: boolean): ServerRuntime | undefined {
    const { list, count } = this.el;
    let ticket = advance ? this.ticket.take() : this.ticket.peek();
    let s = list[seq[ticket % seq.length]!]!;
    if (s !== ctx.exclude || count < 2) return s;
    // Sit this one out: the next entry of the sequence that is another server.
    for (let k = 1; k <= seq.length; k++) {
      ticket = advance ? this.ticket.take() : ticket + 1;
      s = list[seq[ticket % seq.length]!]!;
      if (s !== ctx.exclude) return s;
    }
    return s;
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
