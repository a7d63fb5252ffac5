import type { FrontendRuntime } from '../runtime/frontend-runtime.ts';
import type { BackendRuntime, Runtime } from '../runtime/runtime.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { TERMINATIONS, type TerminationCounts } from '../runtime/terminations.ts';
import { TTFB_BUCKETS, ttfbHistogramOf } from '../runtime/ttfb-histogram.ts';
import type { CounterDump } from './protocol.ts';

/**
 * Counters of several worker threads, summed on read (issue 13 point 1). Each worker sends
 * its own counters as flat vectors (`dumpCounters`); the primary keeps every worker's latest
 * vectors (and those of workers that died) and writes their sums into its own runtime objects
 * (`CounterSums.writeInto`), which `/stats`, `/metrics` and the history read as before.
 *
 * Server vector: totalConnections, requests, bytesIn, bytesOut, failures, ewmaTtfbMs,
 * responses[6], terminations[14], TTFB histogram[64]. Frontend vector: totalConnections,
 * requests, bytesIn, bytesOut, refused, flowsEvicted, proxyProtocolRefused, clientErrors,
 * responses[6], terminations[14], ruleHits[…]. Backend vector: requests, noServer, and the
 * queue's length, peakLength, queued, served, timeouts, full, waitMsTotal, maxWaitMs.
 */

const NT = TERMINATIONS.length;
/** Plain counters, in vector order (the rest of each vector follows them). */
const SERVER_FIELDS = ['totalConnections', 'requests', 'bytesIn', 'bytesOut', 'failures', 'ewmaTtfbMs'] as const;
const FRONTEND_FIELDS = [
  'totalConnections',
  'requests',
  'bytesIn',
  'bytesOut',
  'refused',
  'flowsEvicted',
  'proxyProtocolRefused',
  'clientErrors',
] as const;
const QUEUE_FIELDS = [
  'length',
  'peakLength',
  'queued',
  'served',
  'timeouts',
  'full',
  'waitMsTotal',
  'maxWaitMs',
] as const;
const S_EWMA = SERVER_FIELDS.indexOf('ewmaTtfbMs');
const S_RESP = SERVER_FIELDS.length;
const S_TERM = S_RESP + 6;
const S_TTFB = S_TERM + NT;
const S_LEN = S_TTFB + TTFB_BUCKETS;
const F_RESP = FRONTEND_FIELDS.length;
const F_TERM = F_RESP + 6;
const F_RULES = F_TERM + NT;
/** Backend vector: requests, noServer, then the queue's fields; peaks are maxima, not sums. */
const B_QUEUE = 2;
const B_MAX = [B_QUEUE + QUEUE_FIELDS.indexOf('peakLength'), B_QUEUE + QUEUE_FIELDS.indexOf('maxWaitMs')];

type Counted = Record<string, number>;

/** Appends `o`'s `fields`, its responses by class and its terminations by reason to `v`. */
function pushCounts(
  v: number[],
  o: object,
  fields: readonly string[],
  c: { responses: readonly number[]; terminations: TerminationCounts },
): void {
  for (const f of fields) v.push((o as Counted)[f] ?? 0);
  for (let i = 0; i < 6; i++) v.push(c.responses[i] ?? 0);
  for (const t of TERMINATIONS) v.push(c.terminations[t]);
}

/** Writes `v`'s plain counters, responses and terminations back (the inverse of pushCounts). */
function writeCounts(
  o: object,
  fields: readonly string[],
  c: { responses: number[]; terminations: TerminationCounts },
  v: readonly number[],
): void {
  fields.forEach((f, i) => {
    (o as Counted)[f] = v[i]!;
  });
  const resp = fields.length;
  for (let i = 0; i < 6; i++) c.responses[i] = v[resp + i]!;
  for (let i = 0; i < NT; i++) c.terminations[TERMINATIONS[i]!] = v[resp + 6 + i]!;
}

function serverVector(rt: ServerRuntime): number[] {
  const v: number[] = [];
  pushCounts(v, rt, SERVER_FIELDS, rt);
  const h = ttfbHistogramOf(rt);
  for (let i = 0; i < TTFB_BUCKETS; i++) v.push(h[i]!);
  return v;
}

/** Monotonic counters only: the sum changes exactly when one of them did. */
function serverChange(rt: ServerRuntime): number {
  return rt.totalConnections + rt.requests + rt.bytesIn + rt.bytesOut + rt.failures;
}

function frontendVector(c: FrontendRuntime): number[] {
  const v: number[] = [];
  pushCounts(v, c, FRONTEND_FIELDS, c);
  for (const h of c.ruleHits) v.push(h ?? 0);
  return v;
}

function backendVector(b: BackendRuntime): number[] {
  const v = [b.requests, b.noServer];
  for (const f of QUEUE_FIELDS) v.push(b.queue[f]);
  return v;
}

/**
 * A worker's side: the counters of its runtime and frontends since it started. Servers whose
 * counters did not move since the previous dump are left out (the primary keeps their last
 * vector), so an idle fleet of 10,000 servers costs nothing to report.
 */
export class CounterReporter {
  readonly #sent = new Map<string, number>();

  /** Takes a dump of `runtime`'s servers and backends and of `frontends`. */
  dump(runtime: Runtime, frontends: ReadonlyMap<string, FrontendRuntime>): CounterDump {
    const servers: [string, number[]][] = [];
    const seen = new Set<string>();
    const visit = (rt: ServerRuntime) => {
      seen.add(rt.id);
      const mark = serverChange(rt);
      if (this.#sent.get(rt.id) === mark) return;
      this.#sent.set(rt.id, mark);
      servers.push([rt.id, serverVector(rt)]);
    };
    for (const rt of runtime.servers.values()) visit(rt);
    for (const rt of runtime.drainingRemoved.values()) visit(rt);
    for (const id of this.#sent.keys()) if (!seen.has(id)) this.#sent.delete(id);
    return {
      servers,
      frontends: [...frontends].map(([id, c]) => [id, frontendVector(c)]),
      backends: [...runtime.backends].map(([id, b]) => [id, backendVector(b)]),
    };
  }
}

/** One worker's latest vectors by id (merged: servers that did not move keep their vector). */
export class WorkerCounters {
  readonly servers = new Map<string, number[]>();
  frontends = new Map<string, number[]>();
  backends = new Map<string, number[]>();

  /** Merges a dump from this worker. */
  merge(d: CounterDump): void {
    for (const [id, v] of d.servers) this.servers.set(id, v);
    this.frontends = new Map(d.frontends);
    this.backends = new Map(d.backends);
  }
}

function add(into: number[], v: readonly number[]): void {
  for (let i = 0; i < v.length; i++) into[i] = (into[i] ?? 0) + (v[i] ?? 0);
}

/**
 * Writes into the primary's runtime objects the sums of every worker's counters (`live`
 * workers and `retired` ones, whose last report is kept). Open connection counts are not
 * summed: they are shared cells already. Queue peaks and longest waits are maxima; the
 * least-response-time EWMA is the mean of the workers that measured one.
 */
export function writeSums(
  runtime: Runtime,
  frontends: ReadonlyMap<string, FrontendRuntime>,
  workers: readonly WorkerCounters[],
): void {
  const servers = new Map<string, { sum: number[]; ewma: number; n: number }>();
  const fronts = new Map<string, number[]>();
  const backs = new Map<string, number[]>();
  for (const w of workers) {
    for (const [id, v] of w.servers) {
      let e = servers.get(id);
      if (!e) servers.set(id, (e = { sum: new Array<number>(S_LEN).fill(0), ewma: 0, n: 0 }));
      add(e.sum, v);
      if ((v[S_EWMA] ?? 0) > 0) {
        e.ewma += v[S_EWMA]!;
        e.n++;
      }
    }
    for (const [id, v] of w.frontends) {
      let s = fronts.get(id);
      if (!s) fronts.set(id, (s = []));
      add(s, v);
    }
    for (const [id, v] of w.backends) {
      let s = backs.get(id);
      if (!s) backs.set(id, (s = new Array<number>(B_QUEUE + QUEUE_FIELDS.length).fill(0)));
      add(s, v);
      for (const i of B_MAX) s[i] = Math.max(s[i]! - v[i]!, v[i]!); // the largest, not the sum
    }
  }
  for (const [id, e] of servers) {
    const rt = runtime.server(id);
    if (!rt) continue;
    const v = e.sum;
    v[S_EWMA] = e.n > 0 ? e.ewma / e.n : 0;
    writeCounts(rt, SERVER_FIELDS, rt, v);
    const h = ttfbHistogramOf(rt);
    for (let i = 0; i < TTFB_BUCKETS; i++) h[i] = v[S_TTFB + i]!;
  }
  for (const [id, v] of fronts) {
    const c = frontends.get(id);
    if (!c) continue;
    writeCounts(c, FRONTEND_FIELDS, c, v);
    c.ruleHits = v.slice(F_RULES);
  }
  for (const [id, v] of backs) {
    const b = runtime.backends.get(id);
    if (!b) continue;
    b.requests = v[0]!;
    b.noServer = v[1]!;
    QUEUE_FIELDS.forEach((f, i) => {
      b.queue[f] = v[B_QUEUE + i]!;
    });
  }
}
