import type { ServerRuntime } from './server-runtime.ts';

/**
 * Time to first byte of every answered request, per server, as a cumulative log-scale
 * histogram (issue 16 point 3: p50/p95 in the stats history). Bucket `i` holds samples with
 * `4·log2(ms × 10)` in `[i, i+1)`, so buckets are 19 % wide from 0.1 ms up to ~5.5 s; the last
 * bucket takes everything slower. 64 Uint32 counters = 256 bytes per server.
 *
 * Kept beside the server's runtime in a WeakMap (the runtime survives every configuration
 * swap, and so does its histogram); the data plane records, the stats collector reads and
 * diffs it once a second.
 */
export const TTFB_BUCKETS = 64;

const histograms = new WeakMap<ServerRuntime, Uint32Array>();

/** The cumulative histogram of a server (created empty on first use). */
export function ttfbHistogramOf(rt: ServerRuntime): Uint32Array {
  let h = histograms.get(rt);
  if (!h) histograms.set(rt, (h = new Uint32Array(TTFB_BUCKETS)));
  return h;
}

/** The bucket of a sample in ms. */
export function ttfbBucket(ms: number): number {
  if (!(ms > 0.1)) return 0;
  return Math.min(TTFB_BUCKETS - 1, Math.floor(4 * Math.log2(ms * 10)));
}

/** The value reported for a bucket: its geometric middle in ms. */
export function ttfbBucketValue(i: number): number {
  return 2 ** ((i + 0.5) / 4) / 10;
}

/** Counts one time-to-first-byte sample; ignores what is not a finite number ≥ 0. */
export function recordTtfbSample(rt: ServerRuntime, ms: number): void {
  if (!(ms >= 0) || ms === Number.POSITIVE_INFINITY) return;
  const h = ttfbHistogramOf(rt);
  const i = ttfbBucket(ms);
  h[i] = (h[i]! + 1) >>> 0;
}

/**
 * The `q` quantile (0–1) of the samples counted in `counts` (a delta of the cumulative
 * histogram), in ms rounded to 0.01, or null when there are none.
 */
export function ttfbQuantile(counts: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return Math.round(ttfbBucketValue(i) * 100) / 100;
  }
  return null;
}
