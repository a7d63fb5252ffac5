/**
 * Stats history (issue 16 point 3): per server and per frontend, a 1-second series over the
 * last 15 minutes and a 1-minute series over the last 24 hours, in fixed-size rings of typed
 * arrays, so the console's charts open with history instead of starting empty.
 *
 * Each row holds `FIELDS`: requests, responses by class (other, 1xx–5xx), active connections
 * (at the sample; the minute row holds the mean), time to first byte p50/p95 in ms (from the
 * server's log-scale histogram, `runtime/ttfb-histogram.ts`; null for frontends and for a
 * period without answers), bytes in and out.
 *
 * Memory bound per series (server or frontend), fixed at creation and never growing:
 * (900 + 1440) rows × 12 fields × 4 bytes (Float32Array) = 112,320 bytes of rings, plus
 * 96 + 96 bytes of totals and minute sums (Float64Array) and 2 × 256 bytes of TTFB histograms
 * (previous second, current minute) — 113,024 bytes, `HISTORY_BYTES_PER_SERIES`. The two rows
 * of sample times (900 + 1440 Float64) are shared by every series: 18,720 bytes once.
 */
import { TTFB_BUCKETS, ttfbQuantile } from '../runtime/ttfb-histogram.ts';

export const SECOND_ROWS = 900;
export const MINUTE_ROWS = 1440;

/** The fields of one row, in order. */
export const FIELDS = [
  'requests',
  'other',
  '1xx',
  '2xx',
  '3xx',
  '4xx',
  '5xx',
  'activeConnections',
  'ttfbP50Ms',
  'ttfbP95Ms',
  'bytesIn',
  'bytesOut',
] as const;
const F = FIELDS.length;
const REQ = 0;
const RESP = 1; // RESP + class index (0 other, 1–5)
const ACTIVE = 7;
const P50 = 8;
const P95 = 9;
const BIN = 10;
const BOUT = 11;

export const HISTORY_BYTES_PER_SERIES = (SECOND_ROWS + MINUTE_ROWS) * F * 4 + 2 * F * 8 + 2 * TTFB_BUCKETS * 4;

/** What one series reads at a sample: cumulative counters and the current active connections. */
export interface HistoryInput {
  requests: number;
  /** Cumulative responses by class: index 0 other, 1–5 = 1xx…5xx. */
  responses: readonly number[];
  bytesIn: number;
  bytesOut: number;
  activeConnections: number;
  /** The cumulative TTFB histogram (servers only). */
  ttfb?: Uint32Array;
}

class Entity {
  readonly sec = new Float32Array(SECOND_ROWS * F);
  readonly min = new Float32Array(MINUTE_ROWS * F);
  /** Valid newest rows in each ring. */
  secCount = 0;
  minCount = 0;
  /** Cumulative counters at the previous sample (requests, responses ×6, bytes in/out at their field index). */
  readonly prev = new Float64Array(F);
  readonly prevTtfb = new Uint32Array(TTFB_BUCKETS);
  /** Sums over the current minute (active: sum of samples, divided at the flush). */
  readonly acc = new Float64Array(F);
  readonly accTtfb = new Uint32Array(TTFB_BUCKETS);
  accSamples = 0;
  readonly hasTtfb: boolean;
  constructor(input: HistoryInput) {
    this.hasTtfb = input.ttfb !== undefined;
    this.#baseline(input);
  }
  #baseline(input: HistoryInput): void {
    this.prev[REQ] = input.requests;
    for (let i = 0; i < 6; i++) this.prev[RESP + i] = input.responses[i] ?? 0;
    this.prev[BIN] = input.bytesIn;
    this.prev[BOUT] = input.bytesOut;
    if (input.ttfb) this.prevTtfb.set(input.ttfb);
  }
  /** Writes the second row at `slot` (deltas since the previous sample) and adds it to the minute. */
  record(slot: number, input: HistoryInput): void {
    const row = this.sec.subarray(slot * F, slot * F + F);
    const delta = (field: number, now: number) => {
      const d = Math.max(0, now - this.prev[field]!);
      this.prev[field] = now;
      row[field] = d;
      this.acc[field]! += d;
    };
    delta(REQ, input.requests);
    for (let i = 0; i < 6; i++) delta(RESP + i, input.responses[i] ?? 0);
    delta(BIN, input.bytesIn);
    delta(BOUT, input.bytesOut);
    row[ACTIVE] = input.activeConnections;
    this.acc[ACTIVE]! += input.activeConnections;
    row[P50] = Number.NaN;
    row[P95] = Number.NaN;
    if (input.ttfb) {
      const d = new Uint32Array(TTFB_BUCKETS);
      for (let i = 0; i < TTFB_BUCKETS; i++) {
        d[i] = Math.max(0, input.ttfb[i]! - this.prevTtfb[i]!);
        this.accTtfb[i]! += d[i]!;
      }
      this.prevTtfb.set(input.ttfb);
      row[P50] = ttfbQuantile(d, 0.5) ?? Number.NaN;
      row[P95] = ttfbQuantile(d, 0.95) ?? Number.NaN;
    }
    this.accSamples++;
    if (this.secCount < SECOND_ROWS) this.secCount++;
  }
  /** Writes the minute row at `slot` from the sums, and starts a new minute. */
  flush(slot: number): void {
    if (this.accSamples === 0) return;
    const row = this.min.subarray(slot * F, slot * F + F);
    row.set(this.acc.subarray(0, F));
    row[ACTIVE] = this.acc[ACTIVE]! / this.accSamples;
    row[P50] = this.hasTtfb ? (ttfbQuantile(this.accTtfb, 0.5) ?? Number.NaN) : Number.NaN;
    row[P95] = this.hasTtfb ? (ttfbQuantile(this.accTtfb, 0.95) ?? Number.NaN) : Number.NaN;
    this.acc.fill(0);
    this.accTtfb.fill(0);
    this.accSamples = 0;
    if (this.minCount < MINUTE_ROWS) this.minCount++;
  }
}

export type Resolution = 'second' | 'minute';

/** One series as the API serves it: one array per field, oldest first, null where unknown. */
export type SeriesHistory = Record<(typeof FIELDS)[number], (number | null)[]>;

export interface HistoryAnswer {
  resolution: Resolution;
  intervalSeconds: number;
  /** Sample times (ms epoch), oldest first; element i of every series belongs to times[i]. */
  times: number[];
  series: Record<string, SeriesHistory>;
}

/** The rings of every series, written by `StatsCollector.sample()` once a second. */
export class HistoryStore {
  readonly #entities = new Map<string, Entity>();
  readonly #secTimes = new Float64Array(SECOND_ROWS);
  readonly #minTimes = new Float64Array(MINUTE_ROWS);
  #secHead = 0;
  #secCount = 0;
  #minHead = 0;
  #minCount = 0;
  #minute = -1;

  /**
   * Records one sample at `now` (ms epoch) for every key in `inputs`; keys not in it are
   * dropped (a removed server or frontend). A new key only sets its baseline.
   */
  record(now: number, inputs: ReadonlyMap<string, HistoryInput>): void {
    const minute = Math.floor(now / 60_000);
    if (this.#minute !== -1 && minute !== this.#minute) {
      let any = false;
      for (const e of this.#entities.values()) {
        if (e.accSamples > 0) any = true;
        e.flush(this.#minHead);
      }
      if (any) {
        this.#minTimes[this.#minHead] = this.#minute * 60_000;
        this.#minHead = (this.#minHead + 1) % MINUTE_ROWS;
        if (this.#minCount < MINUTE_ROWS) this.#minCount++;
      }
    }
    this.#minute = minute;
    const slot = this.#secHead;
    let wrote = false;
    for (const [key, input] of inputs) {
      const e = this.#entities.get(key);
      if (!e) {
        this.#entities.set(key, new Entity(input));
        continue;
      }
      e.record(slot, input);
      wrote = true;
    }
    for (const key of this.#entities.keys()) if (!inputs.has(key)) this.#entities.delete(key);
    if (wrote) {
      this.#secTimes[slot] = now;
      this.#secHead = (slot + 1) % SECOND_ROWS;
      if (this.#secCount < SECOND_ROWS) this.#secCount++;
    }
  }

  has(key: string): boolean {
    return this.#entities.has(key);
  }

  /** Number of series kept (for the bound: × `HISTORY_BYTES_PER_SERIES`). */
  get size(): number {
    return this.#entities.size;
  }

  /**
   * The newest `limit` rows (all kept by default) of the series `keys` (answer keyed by
   * `names[i]`, defaulting to the key), at the given resolution. A series younger than the
   * window has null at the start.
   */
  read(keys: readonly string[], resolution: Resolution, limit?: number, names?: readonly string[]): HistoryAnswer {
    const sec = resolution === 'second';
    const rows = sec ? SECOND_ROWS : MINUTE_ROWS;
    const head = sec ? this.#secHead : this.#minHead;
    const count = Math.min(sec ? this.#secCount : this.#minCount, limit ?? rows);
    const times = sec ? this.#secTimes : this.#minTimes;
    const slotOf = (i: number) => (head - count + i + rows) % rows; // i-th of the `count` newest, oldest first
    const answer: HistoryAnswer = {
      resolution,
      intervalSeconds: sec ? 1 : 60,
      times: Array.from({ length: count }, (_, i) => times[slotOf(i)]!),
      series: {},
    };
    keys.forEach((key, k) => {
      const e = this.#entities.get(key);
      const ring = e ? (sec ? e.sec : e.min) : undefined;
      const valid = e ? (sec ? e.secCount : e.minCount) : 0;
      const out = {} as SeriesHistory;
      FIELDS.forEach((name, f) => {
        out[name] = Array.from({ length: count }, (_, i) => {
          if (!ring || i < count - valid) return null;
          const v = ring[slotOf(i) * F + f]!;
          return Number.isNaN(v) ? null : f === ACTIVE && !sec ? Math.round(v * 100) / 100 : v;
        });
      });
      answer.series[names?.[k] ?? key] = out;
    });
    return answer;
  }
}

/** The sum of several series (counts and bytes; TTFB percentiles do not add, so they are null). */
export function sumSeries(list: readonly SeriesHistory[], length: number): SeriesHistory {
  const out = {} as SeriesHistory;
  for (const name of FIELDS) {
    out[name] = Array.from({ length }, (_, i) => {
      if (name === 'ttfbP50Ms' || name === 'ttfbP95Ms') return null;
      let sum: number | null = null;
      for (const s of list) {
        const v = s[name][i];
        if (v !== null && v !== undefined) sum = (sum ?? 0) + v;
      }
      return sum;
    });
  }
  return out;
}
