import type { BackendSpec, ServerSpec, Snapshot } from '../config/snapshot.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { Health, ServerRuntime } from '../runtime/server-runtime.ts';
import { OutlierDetector } from './outlier.ts';
import { healthChecks } from './registry.ts';
import { buildTarget, effectiveCheckType, type TlsOptionsFor } from './target.ts';
import type { HealthCheck, ProbeResult, ProbeTarget } from './types.ts';

/** Options of HealthService. */
export interface HealthServiceOptions {
  runtime: Runtime;
  clock: Clock;
  log: Logger;
  /** TLS options (CA, SNI, verify) for https / tls checks of a server (T3); default: backend.tls.verify/sni. */
  tlsOptionsFor?: TlsOptionsFor;
  /** Replaces probe implementations by type (tests with FakeClock). */
  checks?: Partial<Record<HealthCheck['type'], HealthCheck>>;
  /** Uniform random in [0, 1) for jitter (tests inject a seeded one). */
  random?: () => number;
}

/** Per-interval jitter: each period is the interval ± 5 % (HAProxy's spread-checks idea). */
const PERIOD_JITTER = 0.05;
/** Abort reasons, allocated once. */
const TIMEOUT = new Error('health probe timeout');
const STOPPED = new Error('health check stopped');
/**
 * Probe start times are rounded up to this grid (ms). Waking the event loop once per probe
 * costs more than the probe itself at 1,000 probes a second; on a 10 ms grid the loop wakes
 * at most 100 times a second, each wake starting the few probes due in that slot (the
 * random offsets still spread servers evenly over the interval).
 */
const TICK_MS = 10;
/** After an endpoint change or reset, the first probe comes within this many ms (or the interval if shorter). */
const RESET_PROBE_WITHIN_MS = 1000;

interface Entry {
  readonly rt: ServerRuntime;
  /** Settings signature: a change rebuilds the target and reschedules. */
  key: string;
  endpoint: string;
  check: HealthCheck;
  target: ProbeTarget | undefined;
  /** Why `target` could not be built (bad settings that slipped through validation). */
  targetError: string | undefined;
  intervalMs: number;
  timeoutMs: number;
  successes: number;
  failures: number;
  /** The health this scheduler last saw or set; a difference means the Runtime reset it. */
  seenHealth: Health;
  /** Bumped on reschedule/stop so a late probe result is ignored. */
  generation: number;
  cancelTimer: (() => void) | undefined;
  inflight: AbortController | undefined;
  /** Reused across probes until one is aborted (an AbortController per probe is measurable at 1,000/s). */
  controller: AbortController | undefined;
}

/**
 * The active health checker of one node (H1–H6): one prober per node, run by the primary
 * process only (DESIGN.md: workers receive health, they never probe). Wire it once:
 *
 * ```ts
 * const health = new HealthService({ runtime, clock, log, tlsOptionsFor });
 * await plane.apply(snapshot); health.sync(snapshot);   // after every apply
 * health.stop();                                         // on shutdown
 * ```
 *
 * Scheduling (H2, H4): each checked server is probed every `intervalSeconds` (± 5 %), the
 * first probe at a uniform random offset within the interval so 1,000 servers are not probed
 * in the same millisecond; each probe is aborted after `timeoutSeconds`. The port is the
 * check's `port` or the server's port.
 *
 * States (H4–H6): `rise` consecutive successes make a server healthy; `fall` consecutive
 * failures make a healthy server unhealthy; an `unknown` server (new, or reset by the Runtime
 * after an address/port change) becomes unhealthy at its first failure and healthy after
 * `rise` successes. Each transition sets `rt.health`, `rt.healthReason` (the probe's stable
 * reason code, null when healthy), `rt.lastCheck`, calls `runtime.invalidate(rt)` and emits a
 * `health` event `{ from, to, reason, detail: { message, latencyMs } }`. Every probe updates
 * `rt.lastCheck` (and the reason of an unhealthy server). On the first healthy declaration the
 * slow-start ramp begins (SS4).
 *
 * Also installs the outlier detector (H7) as `runtime.outcomeListener`.
 */
export class HealthService {
  readonly #runtime: Runtime;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #tlsOptionsFor: TlsOptionsFor | undefined;
  readonly #checks: Record<HealthCheck['type'], HealthCheck>;
  readonly #random: () => number;
  readonly #entries = new Map<string, Entry>();
  /** The snapshot of the last `sync`. */
  #synced: Snapshot | undefined;
  readonly #outlier: OutlierDetector;
  #stopped = false;

  constructor(options: HealthServiceOptions) {
    this.#runtime = options.runtime;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#tlsOptionsFor = options.tlsOptionsFor;
    this.#checks = { ...healthChecks, ...options.checks };
    this.#random = options.random ?? Math.random;
    this.#outlier = new OutlierDetector(this.#runtime, this.#clock);
    this.#runtime.outcomeListener = this.#outlier.onOutcome;
  }

  /** Number of servers being checked. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Aligns the checks with a snapshot the Runtime has already reconciled: starts checks for
   * new servers, stops them for removed servers and backends with checks disabled,
   * reschedules servers whose check settings or endpoint changed (an endpoint change or a
   * health reset by the Runtime restarts the rise count), keeps everything else (state,
   * counters, timers) untouched. Idempotent.
   */
  sync(snapshot: Snapshot): void {
    if (this.#stopped) return;
    // Issue 13 point 4: after one change, only the servers of the backend whose spec is not
    // the last snapshot's own object can need anything (the Runtime reconciled only those).
    const last = this.#synced;
    this.#synced = snapshot;
    const scope = last && last.certificates === snapshot.certificates ? changedScope(last, snapshot) : undefined;
    const keep = new Set<string>();
    for (const spec of scope ? scope.specs : snapshot.servers.values()) {
      const rt = this.#runtime.servers.get(spec.id);
      const backend = snapshot.backends.get(spec.backendId);
      if (!rt || !backend?.healthCheck.enabled || !rt.checked) continue;
      keep.add(spec.id);
      let e = this.#entries.get(spec.id);
      if (e && e.rt !== rt) {
        this.#stopEntry(e);
        this.#entries.delete(spec.id);
        e = undefined;
      }
      const key = signature(backend, spec, snapshot);
      if (!e) {
        e = this.#newEntry(rt, backend, spec, key, snapshot);
        this.#entries.set(spec.id, e);
        this.#schedule(e, this.#random() * e.intervalMs);
        continue;
      }
      const moved = e.endpoint !== spec.endpoint;
      const reset = moved || rt.health !== e.seenHealth;
      if (e.key === key && !reset) continue;
      const intervalChanged = e.intervalMs !== backend.healthCheck.intervalSeconds * 1000;
      this.#configure(e, backend, spec, key, snapshot);
      if (reset) {
        e.successes = 0;
        e.failures = 0;
        e.seenHealth = rt.health;
      }
      if (moved) {
        // issue 15 point 7: a server whose address or port changed is checked at once, so
        // traffic resumes as soon as the new endpoint passes (not after a whole interval).
        this.#cancel(e);
        this.#schedule(e, 0);
      } else if (reset || intervalChanged || e.inflight) {
        this.#cancel(e);
        this.#schedule(e, this.#random() * Math.min(e.intervalMs, reset ? RESET_PROBE_WITHIN_MS : e.intervalMs));
      }
    }
    for (const id of scope ? scope.ids : [...this.#entries.keys()]) {
      const e = this.#entries.get(id);
      if (!e || keep.has(id)) continue;
      this.#stopEntry(e);
      this.#entries.delete(id);
    }
  }

  /** Stops every check and ejection timer and uninstalls the outlier detector. */
  stop(): void {
    this.#stopped = true;
    for (const e of this.#entries.values()) this.#stopEntry(e);
    this.#entries.clear();
    this.#outlier.stop();
    if (this.#runtime.outcomeListener === this.#outlier.onOutcome) this.#runtime.outcomeListener = () => {};
  }

  #newEntry(rt: ServerRuntime, backend: BackendSpec, spec: ServerSpec, key: string, snapshot: Snapshot): Entry {
    const e: Entry = {
      rt,
      key,
      endpoint: spec.endpoint,
      check: this.#checks.tcp,
      target: undefined,
      targetError: undefined,
      intervalMs: 0,
      timeoutMs: 0,
      successes: 0,
      failures: 0,
      seenHealth: rt.health,
      generation: 0,
      cancelTimer: undefined,
      inflight: undefined,
      controller: undefined,
    };
    this.#configure(e, backend, spec, key, snapshot);
    return e;
  }

  #configure(e: Entry, backend: BackendSpec, spec: ServerSpec, key: string, snapshot: Snapshot): void {
    const hc = backend.healthCheck;
    e.key = key;
    e.endpoint = spec.endpoint;
    e.check = this.#checks[effectiveCheckType(backend, spec)];
    e.intervalMs = Math.max(1, hc.intervalSeconds) * 1000;
    e.timeoutMs = Math.min(Math.max(0.001, hc.timeoutSeconds) * 1000, e.intervalMs);
    try {
      e.target = buildTarget(backend, spec, this.#tlsOptionsFor, snapshot.certificates);
      e.targetError = undefined;
    } catch (err) {
      e.target = undefined;
      e.targetError = (err as Error).message;
      this.#log.error({ err, serverId: spec.id, backendId: backend.id }, 'health check settings do not compile');
    }
  }

  #schedule(e: Entry, delayMs: number): void {
    const gen = e.generation;
    // Due times land on a TICK_MS grid so the process wakes at most 1000/TICK_MS times a second.
    const now = this.#clock.now();
    delayMs = Math.ceil((now + delayMs) / TICK_MS) * TICK_MS - now;
    e.cancelTimer = this.#clock.setTimeout(() => {
      if (gen === e.generation) void this.#run(e);
    }, delayMs);
  }

  #cancel(e: Entry): void {
    e.generation++;
    e.cancelTimer?.();
    e.cancelTimer = undefined;
    e.inflight?.abort(STOPPED);
    e.inflight = undefined;
  }

  #stopEntry(e: Entry): void {
    this.#cancel(e);
  }

  async #run(e: Entry): Promise<void> {
    const gen = e.generation;
    // Fixed rate: the next probe is due one (jittered) interval after this one started.
    this.#schedule(e, e.intervalMs * (1 + (this.#random() - 0.5) * 2 * PERIOD_JITTER));
    if (e.inflight) return; // the previous probe has not finished (cannot happen with timeout ≤ interval)
    // A host name without a usable address (src/runtime/dns.ts): never probe the name itself.
    if (e.rt.dnsProblem !== null) return;
    const startedAt = this.#clock.now();
    let result: ProbeResult;
    if (!e.target) {
      result = { ok: false, reason: 'failed-checks', message: e.targetError ?? 'no target', latencyMs: 0 };
    } else {
      let ac = e.controller;
      if (!ac || ac.signal.aborted) e.controller = ac = new AbortController();
      e.inflight = ac;
      result = await this.#probe(e, e.target, ac);
      if (e.inflight === ac) e.inflight = undefined;
    }
    if (gen !== e.generation || this.#stopped) return;
    this.#record(e, result, startedAt);
  }

  /**
   * Runs one probe, aborting it after the timeout. Resolves with the probe's result or a
   * `timeout` result, whichever comes first; never rejects. Aborts with a preallocated reason
   * (no DOMException per probe: this runs 1,000 times a second in the benchmark).
   */
  #probe(e: Entry, target: ProbeTarget, ac: AbortController): Promise<ProbeResult> {
    return new Promise<ProbeResult>((resolve) => {
      let settled = false;
      const cancelTimeout = this.#clock.setTimeout(() => {
        if (settled) return;
        settled = true;
        ac.abort(TIMEOUT);
        resolve({
          ok: false,
          reason: 'timeout',
          message: `no complete answer within ${e.timeoutMs} ms`,
          latencyMs: e.timeoutMs,
        });
      }, e.timeoutMs);
      let pending: Promise<ProbeResult>;
      try {
        pending = e.check.probe(target, ac.signal);
      } catch (err) {
        pending = Promise.reject(err);
      }
      pending.then(
        (r) => {
          if (settled) return;
          settled = true;
          cancelTimeout();
          resolve(r);
        },
        (err: unknown) => {
          if (settled) return;
          settled = true;
          cancelTimeout();
          this.#log.error({ err, serverId: e.rt.id }, 'health probe threw');
          resolve({ ok: false, reason: 'failed-checks', message: (err as Error).message, latencyMs: 0 });
        },
      );
    });
  }

  #record(e: Entry, r: ProbeResult, at: number): void {
    const rt = e.rt;
    rt.lastCheck = {
      at: new Date(at).toISOString(),
      ok: r.ok,
      reason: r.reason,
      latencyMs: r.latencyMs,
      message: r.message,
    };
    const hc = rt.backend.healthCheck;
    if (r.ok) {
      e.failures = 0;
      e.successes++;
      if (rt.health !== 'healthy' && e.successes >= hc.rise) this.#transition(e, 'healthy', r);
    } else {
      e.successes = 0;
      e.failures++;
      if (rt.health === 'unknown' || (rt.health === 'healthy' && e.failures >= hc.fall)) {
        this.#transition(e, 'unhealthy', r);
      } else if (rt.health === 'unhealthy') {
        rt.healthReason = r.reason;
      }
    }
  }

  #transition(e: Entry, to: Health, r: ProbeResult): void {
    const rt = e.rt;
    const from = rt.health;
    rt.health = to;
    rt.healthReason = to === 'healthy' ? null : r.reason;
    e.seenHealth = to;
    const now = this.#clock.now();
    if (to === 'healthy' && rt.backend.slowStart.enabled && !rt.slowStartDone && rt.slowStartFrom === 0) {
      rt.slowStartFrom = now; // SS4
    }
    this.#runtime.invalidate(rt);
    this.#runtime.emit({
      kind: 'health',
      loadBalancerId: rt.spec.loadBalancerId,
      backendId: rt.spec.backendId,
      serverId: rt.id,
      from,
      to,
      reason: r.reason,
      detail: {
        message: r.message,
        latencyMs: r.latencyMs,
        consecutive: to === 'healthy' ? e.successes : e.failures,
      },
    });
    this.#log.info(
      { serverId: rt.id, backendId: rt.spec.backendId, from, to, reason: r.reason, message: r.message },
      'server health changed',
    );
  }
}

/**
 * The servers a sync after `last` must look at: those of the one backend whose spec changed
 * that are not the same spec at the same place under the same settings, and the ids of those
 * and of removed backends' servers. Undefined (look at every server) when several backends
 * changed.
 */
function changedScope(last: Snapshot, next: Snapshot): { specs: ServerSpec[]; ids: string[] } | undefined {
  if (last === next) return { specs: [], ids: [] };
  const specs: ServerSpec[] = [];
  const ids: string[] = [];
  let changed = 0;
  for (const b of next.backends.values()) {
    const was = last.backends.get(b.id);
    if (was === b) continue;
    if (++changed > 1) return undefined;
    // The same settings object: a server at the same place with the same spec is as it was.
    const same = was !== undefined && was.config === b.config;
    // Indexed loops: forEach on a frozen array takes a slow path in V8 (≈ 0.5 ms at 10,000).
    for (let i = 0; i < b.servers.length; i++) {
      const s = b.servers[i]!;
      if (same && was.servers[i] === s) continue;
      specs.push(s);
      ids.push(s.id);
    }
  }
  for (const b of last.backends.values()) {
    const now = next.backends.get(b.id);
    if (now === b) continue;
    const same = now !== undefined && now.config === b.config;
    for (let i = 0; i < b.servers.length; i++) {
      const s = b.servers[i]!;
      if (!same || now.servers[i] !== s) ids.push(s.id);
    }
  }
  return { specs, ids };
}

/** Everything about a backend and server that changes how the server is probed. */
function signature(backend: BackendSpec, spec: ServerSpec, snapshot: Snapshot): string {
  const caId = spec.caCertificateId ?? backend.tls.caCertificateId;
  return JSON.stringify([
    caId ? snapshot.certificates.get(caId)?.fingerprintSha256 : null,
    backend.healthCheck,
    backend.tls,
    spec.endpoint,
    spec.caCertificateId,
    spec.sslOffload,
    spec.healthCheck ?? null,
  ]);
}
