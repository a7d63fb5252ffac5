import type { Clock } from '../core/clock.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';

/**
 * Passive health / outlier detection (H7, issue point 5). Installed as
 * `runtime.outcomeListener`; the data plane reports each real request or connection with
 * `runtime.recordOutcome(rt, ok)`.
 *
 * Rules (backend `outlierDetection`):
 * - `consecutiveFailures` failures in a row (default 5) eject the server until
 *   `now + min(baseEjectionSeconds × 2^(n−1), maxEjectionSeconds)`, n = its ejection count
 *   (30 s, 60 s, 120 s, … capped at 300 s by default). A server that stayed un-ejected for
 *   `maxEjectionSeconds` after its last ejection starts again at the base time.
 * - Never more than `maxEjectionPercent` of the backend's servers are ejected at once:
 *   an ejection happens only when `(ejected + 1) × 100 ≤ servers × maxEjectionPercent`
 *   (so a backend with one server never ejects it; with 50 % and 2 servers, one may go).
 * - Both edges set `rt.ejectedUntil`, call `runtime.invalidate(rt)` and emit an event
 *   (`ejection` / `ejection-end`). The end is a clock timer.
 *
 * `onOutcome` is on the hot path: no allocation on success, one counter per failure.
 */
export class OutlierDetector {
  #runtime: Runtime;
  #clock: Clock;
  #timers = new Map<ServerRuntime, () => void>();
  #lastEnd = new WeakMap<ServerRuntime, number>();

  constructor(runtime: Runtime, clock: Clock) {
    this.#runtime = runtime;
    this.#clock = clock;
  }

  /** The outcome listener (arrow so it can be installed as is). */
  readonly onOutcome = (rt: ServerRuntime, ok: boolean): void => {
    if (ok) {
      if (rt.consecutiveFailures !== 0) rt.consecutiveFailures = 0;
      return;
    }
    const od = rt.backend.outlierDetection;
    if (!od.enabled || rt.removed) return;
    rt.consecutiveFailures++;
    if (rt.consecutiveFailures < od.consecutiveFailures) return;
    const now = this.#clock.now();
    if (rt.ejectedUntil > now) return;
    this.#eject(rt, now);
  };

  #eject(rt: ServerRuntime, now: number): void {
    const od = rt.backend.outlierDetection;
    const peers = this.#runtime.backends.get(rt.spec.backendId)?.servers ?? [rt];
    let ejected = 0;
    for (const s of peers) if (s.ejectedUntil > now) ejected++;
    if ((ejected + 1) * 100 > peers.length * od.maxEjectionPercent) return; // keep counting; retry on next failure
    const maxMs = od.maxEjectionSeconds * 1000;
    const lastEnd = this.#lastEnd.get(rt);
    if (lastEnd !== undefined && now - lastEnd >= maxMs) rt.ejections = 0;
    rt.ejections++;
    const ms = Math.min(od.baseEjectionSeconds * 1000 * 2 ** Math.min(rt.ejections - 1, 30), maxMs);
    const failures = rt.consecutiveFailures;
    rt.consecutiveFailures = 0;
    rt.ejectedUntil = now + ms;
    this.#timers.get(rt)?.();
    this.#timers.set(
      rt,
      this.#clock.setTimeout(() => this.#end(rt), ms),
    );
    this.#runtime.invalidate(rt);
    this.#runtime.emit({
      kind: 'ejection',
      loadBalancerId: rt.spec.loadBalancerId,
      backendId: rt.spec.backendId,
      serverId: rt.id,
      from: 'in-rotation',
      to: 'ejected',
      reason: 'ejected',
      detail: { consecutiveFailures: failures, ejectionSeconds: ms / 1000, ejections: rt.ejections },
    });
  }

  #end(rt: ServerRuntime): void {
    this.#timers.delete(rt);
    if (rt.ejectedUntil === 0) return;
    rt.ejectedUntil = 0;
    rt.consecutiveFailures = 0;
    this.#lastEnd.set(rt, this.#clock.now());
    this.#runtime.invalidate(rt);
    this.#runtime.emit({
      kind: 'ejection-end',
      loadBalancerId: rt.spec.loadBalancerId,
      backendId: rt.spec.backendId,
      serverId: rt.id,
      from: 'ejected',
      to: 'in-rotation',
      reason: 'ejection-expired',
      detail: { ejections: rt.ejections },
    });
  }

  /** Cancels every ejection timer (ejections in force stay recorded in `ejectedUntil`). */
  stop(): void {
    for (const cancel of this.#timers.values()) cancel();
    this.#timers.clear();
  }
}
