/**
 * Live statistics (O1, P4): reads `GET /api/v1/stats` and keeps a short history for the
 * charts (requests per second per server, response classes, active connections).
 *
 * The reader accepts the counters as totals or with recent rates. Rates are the difference
 * between two samples divided by the time between them; the API's rate serves the first sample.
 */

/** Counters of one server, frontend or backend at one moment. */
export interface Counters {
  id: string;
  name?: string;
  backendId?: string;
  activeConnections: number;
  requests: number;
  /** Requests per second as the API reports it; null when it gives only totals. */
  requestsPerSecond: number | null;
  /** Responses by class: index 0 other, 1–5 = 1xx…5xx. */
  responses: number[];
  bytesIn: number;
  bytesOut: number;
  /** Requests and connections that ended other than normally, by reason (`connect-refused`, …). */
  terminations: Record<string, number>;
  /** Servers: the maxConnections in force now (slow start scales it); 0 or absent = unlimited. */
  connectionLimit?: number;
  /** Backends: the queue for servers at their limit (issue 15 point 4). */
  queue?: QueueCounters;
}

/** A backend's queue as /stats gives it. */
export interface QueueCounters {
  maxLength: number;
  length: number;
  served: number;
  timeouts: number;
  full: number;
  waitMsAvg: number;
  waitMsMax: number;
}

/** One poll of /stats. */
export interface StatsSample {
  /** ms epoch of the poll. */
  at: number;
  servers: Map<string, Counters>;
  frontends: Map<string, Counters>;
  backends: Map<string, Counters>;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function pick(o: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) {
    if (k.includes('.')) {
      let cur: unknown = o;
      for (const part of k.split('.'))
        cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
      if (cur !== undefined) return cur;
    } else if (o[k] !== undefined) return o[k];
  }
  return undefined;
}

/** Responses in any of `[other, 1xx…5xx]`, `{ '2xx': n }`, `{ c2xx: n }` or `{ 2: n }` → a 6-slot array. */
export function readResponses(v: unknown): number[] {
  const out = [0, 0, 0, 0, 0, 0];
  if (Array.isArray(v)) {
    for (let i = 0; i < 6; i++) out[i] = num(v[i]);
    return out;
  }
  if (v && typeof v === 'object') {
    for (const [k, n] of Object.entries(v as Record<string, unknown>)) {
      const m = /^c?([1-5])(xx)?$/i.exec(k);
      if (m) out[Number(m[1])] = num(n);
      else if (k === 'other' || k === '0') out[0] = num(n);
    }
  }
  return out;
}

/** `{ reason: count }` with only the reasons that counted something (non-numbers dropped). */
export function readTerminations(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!v || typeof v !== 'object') return out;
  for (const [k, n] of Object.entries(v as Record<string, unknown>)) {
    if (typeof n === 'number' && Number.isFinite(n) && n > 0) out[k] = n;
  }
  return out;
}

/**
 * The termination reasons as one line, most frequent first: `connect-refused 3 · no-server 1`,
 * or `none`. `retried` is a request that succeeded on another server, listed like the others.
 */
export function describeTerminations(t: Record<string, number> | undefined): string {
  const rows = Object.entries(t ?? {}).filter(([, n]) => n > 0);
  if (rows.length === 0) return 'none';
  rows.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return rows.map(([k, n]) => `${k} ${n}`).join(' · ');
}

/** One entry (a server, frontend or backend) of the stats answer → Counters. */
export function readCounters(id: string, o: Record<string, unknown>): Counters {
  const rps = pick(
    o,
    'requestsPerSecond',
    'rates.requestsPerSecond',
    'rate.requestsPerSecond',
    'rps',
    'rates.requests',
  );
  const c: Counters = {
    id,
    activeConnections: num(pick(o, 'activeConnections', 'connections.active', 'current.connections')),
    requests: num(pick(o, 'requests', 'totalRequests', 'requestsTotal', 'requests.total')),
    requestsPerSecond: typeof rps === 'number' ? rps : null,
    responses: readResponses(pick(o, 'responses', 'responseClasses')),
    bytesIn: num(pick(o, 'bytesIn', 'bytes.in')),
    bytesOut: num(pick(o, 'bytesOut', 'bytes.out')),
    terminations: readTerminations(o.terminations),
  };
  if (typeof o.name === 'string') c.name = o.name;
  if (typeof o.backendId === 'string') c.backendId = o.backendId;
  if (typeof o.connectionLimit === 'number') c.connectionLimit = o.connectionLimit;
  const q = o.queue;
  if (q && typeof q === 'object') {
    const r = q as Record<string, unknown>;
    c.queue = {
      maxLength: num(r.maxLength),
      length: num(r.length),
      served: num(r.served),
      timeouts: num(r.timeouts),
      full: num(r.full),
      waitMsAvg: num(r.waitMsAvg),
      waitMsMax: num(r.waitMsMax),
    };
  }
  return c;
}

/**
 * A backend's queue in one line for the statistics table: `3 waiting · 120 ms avg wait ·
 * 2 timed out · 1 full`; `off` when it has no queue and never refused, '—' when unknown.
 */
export function describeQueue(q: QueueCounters | undefined): string {
  if (!q) return '—';
  if (q.maxLength === 0 && q.full === 0) return 'off';
  const parts = [`${q.length} waiting`];
  if (q.served > 0) parts.push(`${Math.round(q.waitMsAvg)} ms avg wait (max ${Math.round(q.waitMsMax)})`);
  if (q.timeouts > 0) parts.push(`${q.timeouts} timed out`);
  if (q.full > 0) parts.push(`${q.full} refused full`);
  return parts.join(' · ');
}

function readGroup(
  v: unknown,
  into: Map<string, Counters>,
  extra?: (c: Counters, o: Record<string, unknown>) => void,
): void {
  const entries: [string, Record<string, unknown>][] = [];
  if (Array.isArray(v)) {
    for (const o of v) if (o && typeof o === 'object' && typeof o.id === 'string') entries.push([o.id, o]);
  } else if (v && typeof v === 'object') {
    for (const [k, o] of Object.entries(v as Record<string, unknown>)) {
      if (o && typeof o === 'object')
        entries.push([
          typeof (o as { id?: unknown }).id === 'string' ? (o as { id: string }).id : k,
          o as Record<string, unknown>,
        ]);
    }
  }
  for (const [id, o] of entries) {
    const c = readCounters(id, o);
    into.set(id, c);
    extra?.(c, o);
  }
}

/**
 * Reads a /stats answer: `{ frontends, backends, servers }` as arrays of `{ id, … }` or maps
 * by id; servers may also be nested in their backend (`backends[].servers`).
 */
export function readStats(body: unknown, at: number): StatsSample {
  const s: StatsSample = { at, servers: new Map(), frontends: new Map(), backends: new Map() };
  if (!body || typeof body !== 'object') return s;
  const b = body as Record<string, unknown>;
  readGroup(b.frontends, s.frontends);
  readGroup(b.backends, s.backends, (c, o) => {
    if (o.servers) {
      const inner = new Map<string, Counters>();
      readGroup(o.servers, inner);
      for (const [id, sc] of inner) {
        sc.backendId ??= c.id;
        s.servers.set(id, sc);
      }
    }
  });
  readGroup(b.servers, s.servers);
  return s;
}

/**
 * Requests per second between two samples (the same window as the response-class rates);
 * without a previous sample, the API's own recent rate, else 0.
 */
export function rateOf(cur: Counters, prev: Counters | undefined, seconds: number): number {
  if (!prev || seconds <= 0) return cur.requestsPerSecond ?? 0;
  return Math.max(0, (cur.requests - prev.requests) / seconds);
}

/** A point of a series: time in seconds (uPlot's x unit) and a value. */
export interface SeriesPoint {
  t: number;
  v: number;
}

/** A series of `GET /api/v1/stats/history`: one array per field, oldest first, null where unknown. */
export type HistorySeries = Partial<Record<string, (number | null)[]>>;

/** The answer of `GET /api/v1/stats/history` (issue 16 point 3), as far as the charts read it. */
export interface HistoryAnswer {
  intervalSeconds: number;
  /** ms epoch, oldest first. */
  times: number[];
  servers?: Record<string, HistorySeries>;
  frontends?: Record<string, HistorySeries>;
}

type Metric = 'rps' | 'active' | 'c1' | 'c2' | 'c3' | 'c4' | 'c5';

/** One id's seeded past: times (s) and values per chart metric. */
interface Past {
  times: number[];
  values: Record<Metric, number[]>;
}

/** Reads one history series into per-second chart values (a per-minute row is divided by 60). */
function pastOf(answer: HistoryAnswer, s: HistorySeries): Past {
  const per = Math.max(1, answer.intervalSeconds);
  const col = (name: string, rate: boolean) =>
    answer.times.map((_, i) => {
      const v = s[name]?.[i];
      return typeof v === 'number' && Number.isFinite(v) ? (rate ? v / per : v) : 0;
    });
  return {
    times: answer.times.map((t) => t / 1000),
    values: {
      rps: col('requests', true),
      active: col('activeConnections', false),
      c1: col('1xx', true),
      c2: col('2xx', true),
      c3: col('3xx', true),
      c4: col('4xx', true),
      c5: col('5xx', true),
    },
  };
}

/**
 * A bounded history of samples (default 10 minutes at 2 s = 300), with derived series for
 * the charts. `push` is O(1) amortised; older samples fall off the front. `seed` adds the
 * API's kept history (`/stats/history`), charted before the first live sample, so the charts
 * open with the last minutes instead of empty.
 */
export class StatsHistory {
  readonly capacity: number;
  #samples: StatsSample[] = [];
  #past = { servers: new Map<string, Past>(), frontends: new Map<string, Past>(), backends: new Map<string, Past>() };

  constructor(capacity = 300) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#samples.length;
  }

  get latest(): StatsSample | undefined {
    return this.#samples[this.#samples.length - 1];
  }

  /** Number of seeded past points of an id (0 when none). */
  pastSize(id: string, group: 'servers' | 'frontends' | 'backends' = 'servers'): number {
    return this.#past[group].get(id)?.times.length ?? 0;
  }

  /** Keeps the API's history of the servers and frontends in `answer` (replacing what was seeded for them). */
  seed(answer: HistoryAnswer): void {
    for (const [id, s] of Object.entries(answer.servers ?? {})) this.#past.servers.set(id, pastOf(answer, s));
    for (const [id, s] of Object.entries(answer.frontends ?? {})) this.#past.frontends.set(id, pastOf(answer, s));
  }

  push(sample: StatsSample): void {
    this.#samples.push(sample);
    if (this.#samples.length > this.capacity) this.#samples.splice(0, this.#samples.length - this.capacity);
  }

  /** Current requests per second of a server (the last two samples). */
  serverRate(id: string): number {
    const n = this.#samples.length;
    const cur = this.#samples[n - 1]?.servers.get(id);
    if (!cur) return 0;
    const prevSample = this.#samples[n - 2];
    const secs = prevSample ? (this.#samples[n - 1]!.at - prevSample.at) / 1000 : 0;
    return rateOf(cur, prevSample?.servers.get(id), secs);
  }

  /**
   * Aligned columns for uPlot: `[times(s), ...one column per id]`. `metric` picks what is
   * charted per sample: `rps` (requests per second), `active` (active connections), or a
   * response class `c1`…`c5` (responses per second of that class).
   */
  columns(ids: readonly string[], metric: Metric, group: 'servers' | 'frontends' | 'backends' = 'servers'): number[][] {
    const times: number[] = [];
    const cols: number[][] = ids.map(() => []);
    // The seeded past, up to the first live point: on the times of the longest seeded id.
    const firstLive = this.#samples[1] ? this.#samples[1].at / 1000 : Number.POSITIVE_INFINITY;
    const pasts = ids.map((id) => this.#past[group].get(id));
    const base = pasts.reduce<Past | undefined>(
      (a, p) => (p && (!a || p.times.length > a.times.length) ? p : a),
      undefined,
    );
    if (base) {
      const at = pasts.map((p) => new Map(p?.times.map((t, i) => [t, i]) ?? []));
      base.times.forEach((t) => {
        if (t >= firstLive) return;
        times.push(t);
        pasts.forEach((p, j) => {
          const i = at[j]!.get(t);
          cols[j]!.push(p && i !== undefined ? (p.values[metric][i] ?? 0) : 0);
        });
      });
    }
    for (let i = 1; i < this.#samples.length; i++) {
      const cur = this.#samples[i]!;
      const prev = this.#samples[i - 1]!;
      const secs = (cur.at - prev.at) / 1000;
      times.push(cur.at / 1000);
      ids.forEach((id, j) => {
        const c = cur[group].get(id);
        const p = prev[group].get(id);
        let v = 0;
        if (c) {
          if (metric === 'rps') v = rateOf(c, p, secs);
          else if (metric === 'active') v = c.activeConnections;
          else {
            const k = Number(metric.slice(1));
            v = p && secs > 0 ? Math.max(0, ((c.responses[k] ?? 0) - (p.responses[k] ?? 0)) / secs) : 0;
          }
        }
        cols[j]!.push(v);
      });
    }
    return [times, ...cols];
  }
}
