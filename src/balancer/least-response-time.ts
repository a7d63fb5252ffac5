import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { BaseBalancer, type Candidate } from './base.ts';
import { tied } from './least-connections.ts';
import { LatencyIndex } from './load-index.ts';
import type { PickContext } from './types.ts';

/**
 * Weight of a new sample in the time-to-first-byte EWMA: `ewma += 0.2 × (sample − ewma)`.
 * A sample's influence decays by 0.8 per later sample (half-life ≈ 3.1 samples), so a slow
 * server is noticed within a handful of requests and one outlier moves the average by 20 %.
 */
export const TTFB_EWMA_ALPHA = 0.2;

/** Unmeasured servers (`ewmaTtfbMs` 0) are scored as this fraction of the best measured EWMA. */
export const UNMEASURED_FACTOR = 0.9;

/**
 * Records one time-to-first-byte sample (ms) into `s.ewmaTtfbMs` (least-response-time, A2).
 * The first sample seeds the average; later ones move it by `TTFB_EWMA_ALPHA`. A measured
 * average never reads as 0 (floored at 0.001 ms), since 0 means "no data yet".
 * Returns false and changes nothing when `ms` is not a finite number ≥ 0 (a clock step).
 */
export function recordTtfb(s: ServerRuntime, ms: number): boolean {
  if (!(ms >= 0) || ms === Number.POSITIVE_INFINITY) return false;
  const prev = s.ewmaTtfbMs;
  const next = prev === 0 ? ms : prev + TTFB_EWMA_ALPHA * (ms - prev);
  s.ewmaTtfbMs = Math.max(next, 0.001);
  s.loadWatcher?.latencyChanged(s);
  return true;
}

/**
 * `least-response-time` (A2): picks the eligible server with the smallest
 * `ewmaTtfbMs × (1 + activeConnections) / weight` (effective weight): fast servers get more,
 * and a fast server that piles up connections stops looking fast. A server without data yet
 * (`ewmaTtfbMs` 0, maintained by the data plane via `recordTtfb`) is scored as
 * `UNMEASURED_FACTOR` × the best measured EWMA, so it is preferred a little and gets sampled
 * without taking everything; with no data at all every server scores by connections alone.
 * Ties rotate. Skips `ctx.exclude` when another server is eligible, and servers at their
 * connection limit (issue 15 point 4). O(n), no allocation.
 *
 * From `indexFrom` (LOAD_INDEX_FROM) eligible servers on (issue 13 point 5), the scores are
 * kept in a LatencyIndex (load-index.ts), told of each connection and each new EWMA, and a
 * pick costs O(log n); with several worker threads a count another worker lowered is seen
 * within LOAD_INDEX_RESYNC_MS. A pick that must avoid `ctx.exclude` (a retry) scans.
 */
export class LeastResponseTimeBalancer extends BaseBalancer {
  #start = 0;

  override select(ctx: PickContext, t: number, advance = true): ServerRuntime | undefined {
    const el = this.el;
    const { list, weights, count } = el;
    const skip = count > 1 ? ctx.exclude : undefined;
    if (count >= this.indexFrom && skip === undefined) {
      const index = this.loadIndex(t, weights, LatencyIndex);
      const i = index.best(UNMEASURED_FACTOR);
      if (i < 0) return undefined;
      if (advance) index.touch(i);
      return index.servers[i];
    }
    const unmeasured = this.#unmeasured();
    const start = (advance ? this.#start++ : this.#start) % count;
    let best: ServerRuntime | undefined;
    let bestScore = 0;
    for (let k = 0, i = start; k < count; k++, i = i + 1 === count ? 0 : i + 1) {
      const s = list[i]!;
      if (el.blocked(s, skip, t)) continue;
      const score = scoreOf(s, weights[i]!, unmeasured);
      if (!best || score < bestScore) {
        best = s;
        bestScore = score;
      }
    }
    return best ?? this.fallback(skip, t);
  }

  /** The EWMA an unmeasured server is scored with (see the class comment; servers at their limit count too). */
  #unmeasured(): number {
    const { list, count } = this.el;
    let minMeasured = 0;
    for (let i = 0; i < count; i++) {
      const e = list[i]!.ewmaTtfbMs;
      if (e > 0 && (minMeasured === 0 || e < minMeasured)) minMeasured = e;
    }
    return minMeasured > 0 ? minMeasured * UNMEASURED_FACTOR : 1;
  }

  /** The servers tied at the smallest score of `select`, equally likely (the rotation breaks ties). */
  override candidates(ctx: PickContext): Candidate[] {
    const t = this.now();
    if (this.el.refresh(t) === 0) return [];
    const { list, weights, count } = this.el;
    const skip = count > 1 ? ctx.exclude : undefined;
    const unmeasured = this.#unmeasured();
    return tied(
      list,
      count,
      (s) => this.el.blocked(s, skip, t),
      (i) => scoreOf(list[i]!, weights[i]!, unmeasured),
      () => 1,
    );
  }
}

/** The least-response-time score: EWMA (or the unmeasured stand-in) × (1 + connections) / effective weight. */
function scoreOf(s: ServerRuntime, weight: number, unmeasured: number): number {
  const e = s.ewmaTtfbMs > 0 ? s.ewmaTtfbMs : unmeasured;
  return (e * (1 + s.activeConnections)) / weight;
}
