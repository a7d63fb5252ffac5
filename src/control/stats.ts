import type { ConfigState } from '../config/model.ts';
import type { BackendRuntime } from '../runtime/runtime.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { newTerminationCounts } from '../runtime/terminations.ts';
import { ttfbHistogramOf, ttfbQuantile } from '../runtime/ttfb-histogram.ts';
import { type HistoryInput, HistoryStore } from './history.ts';
import type { DataPlanePort } from './ports.ts';
import { allServers, outOfRotationReason } from './views.ts';

/** Response counts by class (O1). */
export interface ResponsesView {
  '1xx': number;
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '5xx': number;
  other: number;
}

/** Per-second series over the last window (oldest first), for the console's charts. */
export interface SeriesView {
  requests: number[];
  bytesIn: number[];
  bytesOut: number[];
  connections: number[];
}

interface Totals {
  requests: number;
  bytesIn: number;
  bytesOut: number;
  connections: number;
}

/** A fixed-size ring of per-second deltas. */
class Series {
  readonly #size: number;
  #data: Totals[] = [];
  #last: Totals | undefined;
  constructor(size: number) {
    this.#size = size;
  }
  /** Records the delta from the previous totals (the first call only sets the baseline). */
  push(t: Totals): void {
    const last = this.#last;
    this.#last = t;
    if (!last) return;
    const d = {
      requests: Math.max(0, t.requests - last.requests),
      bytesIn: Math.max(0, t.bytesIn - last.bytesIn),
      bytesOut: Math.max(0, t.bytesOut - last.bytesOut),
      connections: Math.max(0, t.connections - last.connections),
    };
    this.#data.push(d);
    if (this.#data.length > this.#size) this.#data.shift();
  }
  /** The newest delta (per second), or zeros. */
  get latest(): Totals {
    return this.#data[this.#data.length - 1] ?? { requests: 0, bytesIn: 0, bytesOut: 0, connections: 0 };
  }
  view(): SeriesView {
    return {
      requests: this.#data.map((d) => d.requests),
      bytesIn: this.#data.map((d) => d.bytesIn),
      bytesOut: this.#data.map((d) => d.bytesOut),
      connections: this.#data.map((d) => d.connections),
    };
  }
}

/** A backend's queue in /stats (issue 15 point 4): settings, length now and since start, waits in ms. */
export interface QueueView {
  maxLength: number;
  timeoutSeconds: number;
  length: number;
  peakLength: number;
  queued: number;
  served: number;
  timeouts: number;
  full: number;
  waitMsAvg: number;
  waitMsMax: number;
  waitMsTotal: number;
}

function queueView(brt: BackendRuntime | undefined): QueueView {
  const q = brt?.queue;
  const served = q?.served ?? 0;
  return {
    maxLength: brt?.spec.queue.maxLength ?? 0,
    timeoutSeconds: (brt?.spec.queue.timeoutMs ?? 0) / 1000,
    length: q?.length ?? 0,
    peakLength: q?.peakLength ?? 0,
    queued: q?.queued ?? 0,
    served,
    timeouts: q?.timeouts ?? 0,
    full: q?.full ?? 0,
    waitMsAvg: served > 0 ? Math.round(((q?.waitMsTotal ?? 0) / served) * 10) / 10 : 0,
    waitMsMax: q?.maxWaitMs ?? 0,
    waitMsTotal: q?.waitMsTotal ?? 0,
  };
}

function responsesOf(r: readonly number[]): ResponsesView {
  return { other: r[0] ?? 0, '1xx': r[1] ?? 0, '2xx': r[2] ?? 0, '3xx': r[3] ?? 0, '4xx': r[4] ?? 0, '5xx': r[5] ?? 0 };
}

function serverTotals(rts: readonly (ServerRuntime | undefined)[]): Totals & { active: number; responses: number[] } {
  const t = { requests: 0, bytesIn: 0, bytesOut: 0, connections: 0, active: 0, responses: [0, 0, 0, 0, 0, 0] };
  for (const rt of rts) {
    if (!rt) continue;
    t.requests += rt.requests;
    t.bytesIn += rt.bytesIn;
    t.bytesOut += rt.bytesOut;
    t.connections += rt.totalConnections;
    t.active += rt.activeConnections;
    for (let i = 0; i < 6; i++) t.responses[i]! += rt.responses[i] ?? 0;
  }
  return t;
}

/**
 * Counters per frontend, backend and server (O1) and a ring of 1-second samples over the
 * last `windowSeconds` (default 300) per frontend, per backend, per server and in total, so
 * the console can chart requests/s. Sampling reads the live counters only; no store access.
 */
export class StatsCollector {
  readonly windowSeconds: number;
  #plane: DataPlanePort;
  #state: () => Readonly<ConfigState>;
  #series = new Map<string, Series>();
  #timer: NodeJS.Timeout | undefined;
  #lastSampleAt = 0;
  /** Per-server and per-frontend history: 1 s × 15 min and 1 min × 24 h (issue 16 point 3). */
  readonly history = new HistoryStore();
  /** Each server's TTFB histogram at the previous sample, for the newest second's p50/p95. */
  #ttfbPrev = new Map<string, { prev: Uint32Array; p50: number | null; p95: number | null }>();

  constructor(plane: DataPlanePort, state: () => Readonly<ConfigState>, options: { windowSeconds?: number } = {}) {
    this.#plane = plane;
    this.#state = state;
    this.windowSeconds = options.windowSeconds ?? 300;
  }

  /** Starts sampling every second (real timer, unref'd). */
  start(): void {
    if (this.#timer) return;
    this.sample();
    this.#timer = setInterval(() => this.sample(), 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #push(key: string, t: Totals, seen: Set<string>): void {
    seen.add(key);
    let s = this.#series.get(key);
    if (!s) this.#series.set(key, (s = new Series(this.windowSeconds)));
    s.push(t);
  }

  /** Takes one sample of every counter (called each second; tests call it directly). */
  sample(): void {
    const state = this.#state();
    const rt = this.#plane.runtime;
    this.#lastSampleAt = rt.clock.now();
    const seen = new Set<string>();
    const hist = new Map<string, HistoryInput>();
    const total: Totals = { requests: 0, bytesIn: 0, bytesOut: 0, connections: 0 };
    for (const f of state.frontends) {
      const c = this.#plane.counters.get(f.id);
      if (!c) continue;
      const t = { requests: c.requests, bytesIn: c.bytesIn, bytesOut: c.bytesOut, connections: c.totalConnections };
      total.requests += t.requests;
      total.bytesIn += t.bytesIn;
      total.bytesOut += t.bytesOut;
      total.connections += t.connections;
      this.#push(`fe:${f.id}`, t, seen);
      hist.set(`fe:${f.id}`, { ...t, responses: c.responses, activeConnections: c.activeConnections });
    }
    const byBackend = new Map<string, ServerRuntime[]>();
    for (const s of allServers(state, this.#plane)) {
      const srt = rt.server(s.id);
      if (!srt) continue;
      this.#push(
        `srv:${s.id}`,
        { requests: srt.requests, bytesIn: srt.bytesIn, bytesOut: srt.bytesOut, connections: srt.totalConnections },
        seen,
      );
      const ttfb = ttfbHistogramOf(srt);
      hist.set(`srv:${s.id}`, {
        requests: srt.requests,
        responses: srt.responses,
        bytesIn: srt.bytesIn,
        bytesOut: srt.bytesOut,
        activeConnections: srt.activeConnections,
        ttfb,
      });
      this.#ttfbLatest(s.id, ttfb);
      let l = byBackend.get(s.backendId);
      if (!l) byBackend.set(s.backendId, (l = []));
      l.push(srt);
    }
    for (const b of state.backends) this.#push(`be:${b.id}`, serverTotals(byBackend.get(b.id) ?? []), seen);
    this.#push('total', total, seen);
    for (const k of this.#series.keys()) if (!seen.has(k)) this.#series.delete(k);
    for (const k of this.#ttfbPrev.keys()) if (!seen.has(`srv:${k}`)) this.#ttfbPrev.delete(k);
    this.history.record(this.#lastSampleAt, hist);
  }

  /** The p50/p95 of the time to first byte over the newest second (null without answers). */
  #ttfbLatest(id: string, cur: Uint32Array): void {
    const t = this.#ttfbPrev.get(id);
    if (!t) {
      this.#ttfbPrev.set(id, { prev: cur.slice(), p50: null, p95: null });
      return;
    }
    const d = cur.map((n, i) => Math.max(0, n - t.prev[i]!));
    t.prev.set(cur);
    t.p50 = ttfbQuantile(d, 0.5);
    t.p95 = ttfbQuantile(d, 0.95);
  }

  #rate(key: string): Totals {
    return this.#series.get(key)?.latest ?? { requests: 0, bytesIn: 0, bytesOut: 0, connections: 0 };
  }

  /** The `/stats` answer: current counters, health and per-second series (O1, P4). */
  view() {
    const state = this.#state();
    const rt = this.#plane.runtime;
    const now = rt.clock.now();
    const frontends = state.frontends.map((f) => {
      const c = this.#plane.counters.get(f.id);
      const st = this.#plane.status(f.id);
      return {
        id: f.id,
        name: f.name,
        loadBalancerId: f.loadBalancerId,
        protocol: f.protocol,
        listening: st?.listening ?? false,
        activeConnections: c?.activeConnections ?? 0,
        totalConnections: c?.totalConnections ?? 0,
        requests: c?.requests ?? 0,
        bytesIn: c?.bytesIn ?? 0,
        bytesOut: c?.bytesOut ?? 0,
        refused: c?.refused ?? 0,
        responses: responsesOf(c?.responses ?? []),
        requestsPerSecond: this.#rate(`fe:${f.id}`).requests,
        // F4: hits per routing rule, in rule order, and for the default backend.
        rules: f.rules.map((r, index) => ({ index, backendId: r.backendId, hits: c?.ruleHits[index] ?? 0 })),
        defaultBackendHits: c?.ruleHits[f.rules.length] ?? 0,
        // U1: UDP flows evicted because the flow table was full.
        flowsEvicted: c?.flowsEvicted ?? 0,
        // issue 15 point 3: connections closed for a missing, malformed or untrusted PROXY header
        proxyProtocolRefused: c?.proxyProtocolRefused ?? 0,
        // issue 12: requests and connections that ended other than normally, by reason; client socket errors
        terminations: { ...(c?.terminations ?? newTerminationCounts()) },
        clientErrors: c?.clientErrors ?? 0,
      };
    });
    const everyServer = allServers(state, this.#plane);
    const servers = everyServer.map((s) => {
      const srt = rt.server(s.id);
      return {
        id: s.id,
        backendId: s.backendId,
        name: s.name,
        address: s.address,
        weight: s.weight,
        health: srt?.health ?? 'unknown',
        state: srt?.state(now) ?? (s.enabled ? 'active' : 'disabled'),
        reason: srt ? outOfRotationReason(srt, now) : 'not-applied',
        slowStartFactor: srt ? Math.round(srt.slowStartFactor(now) * 1000) / 1000 : 1,
        activeConnections: srt?.activeConnections ?? 0,
        // issue 15 point 4: the configured limit (0 = unlimited) and the one in force now (slow start scales it)
        maxConnections: s.maxConnections ?? 0,
        connectionLimit: srt ? srt.connectionLimit(now) : (s.maxConnections ?? 0),
        totalConnections: srt?.totalConnections ?? 0,
        requests: srt?.requests ?? 0,
        bytesIn: srt?.bytesIn ?? 0,
        bytesOut: srt?.bytesOut ?? 0,
        failures: srt?.failures ?? 0,
        // issue 12: requests and connections to this server that ended other than normally, by reason
        terminations: { ...(srt?.terminations ?? newTerminationCounts()) },
        responses: responsesOf(srt?.responses ?? []),
        requestsPerSecond: this.#rate(`srv:${s.id}`).requests,
        // issue 16: time to first byte over the newest second (null without answers), and the EWMA least-response-time uses
        ttfbP50Ms: this.#ttfbPrev.get(s.id)?.p50 ?? null,
        ttfbP95Ms: this.#ttfbPrev.get(s.id)?.p95 ?? null,
        ewmaTtfbMs: srt ? Math.round(srt.ewmaTtfbMs * 100) / 100 : 0,
      };
    });
    const backends = state.backends.map((b) => {
      const rts = everyServer.filter((s) => s.backendId === b.id).map((s) => rt.server(s.id));
      const t = serverTotals(rts);
      const brt = rt.backends.get(b.id);
      return {
        id: b.id,
        name: b.name,
        loadBalancerId: b.loadBalancerId,
        mode: b.mode,
        servers: rts.length,
        healthy: rts.filter((x) => x?.healthOk).length,
        activeConnections: t.active,
        totalConnections: t.connections,
        requests: t.requests,
        bytesIn: t.bytesIn,
        bytesOut: t.bytesOut,
        noServer: brt?.noServer ?? 0,
        // issue 15 point 4: requests (tcp: connections) waiting for a server at its maxConnections
        queue: queueView(brt),
        responses: responsesOf(t.responses),
        requestsPerSecond: this.#rate(`be:${b.id}`).requests,
      };
    });
    const seriesOf = (prefix: string, ids: string[]) =>
      Object.fromEntries(ids.map((id) => [id, this.#series.get(`${prefix}${id}`)?.view() ?? emptySeries()]));
    return {
      at: new Date(now).toISOString(),
      configVersion: state.version,
      frontends,
      backends,
      servers,
      series: {
        intervalSeconds: 1,
        windowSeconds: this.windowSeconds,
        /** ISO time of the newest sample; element i of each array is (length-1-i) seconds before it. */
        lastSampleAt: this.#lastSampleAt ? new Date(this.#lastSampleAt).toISOString() : null,
        total: this.#series.get('total')?.view() ?? emptySeries(),
        frontends: seriesOf(
          'fe:',
          state.frontends.map((f) => f.id),
        ),
        backends: seriesOf(
          'be:',
          state.backends.map((b) => b.id),
        ),
      },
    };
  }
}

function emptySeries(): SeriesView {
  return { requests: [], bytesIn: [], bytesOut: [], connections: [] };
}
