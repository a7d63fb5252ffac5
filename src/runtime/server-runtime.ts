import { isIP } from 'node:net';
import type { BackendSpec, ServerSpec } from '../config/snapshot.ts';
import { ConnectionCount } from './shared-cells.ts';
import { newTerminationCounts, type TerminationCounts } from './terminations.ts';

/** Health of a server as the checks see it (H4–H6). */
export type Health = 'unknown' | 'healthy' | 'unhealthy';

/** What the server is doing in rotation (API.md server `status.state`). */
export type ServerState = 'active' | 'passive' | 'slow-start' | 'draining' | 'disabled';

/** Result of the last active health check (issue 3 point 4). */
export interface LastCheck {
  /** ISO 8601 time of the check. */
  at: string;
  ok: boolean;
  /** Short reason: a stable code such as `timeout`, or the probe's message. */
  reason: string;
  latencyMs: number;
  /** Human text of the last check: the server's own error message when it sent one (src/health). */
  message?: string;
}

/** Something a drain can close: an open client/server connection pair, a UDP flow. */
export interface Closeable {
  destroy(): void;
}

/**
 * Told when a server's open-connection count changes on this thread (issue 13 point 5): an
 * index that keeps servers ordered by load (balancer/load-index.ts) without scanning them.
 */
export interface LoadWatcher {
  loadChanged(s: ServerRuntime): void;
  /** `s`'s latency average changed (least-response-time's index re-keys it; the others ignore it). */
  latencyChanged(s: ServerRuntime): void;
}

/** Counter indexes for `responses`: 1xx … 5xx, and index 0 for answers of our own/other. */
export const ResponseClass = { other: 0, c1xx: 1, c2xx: 2, c3xx: 3, c4xx: 4, c5xx: 5 } as const;

/**
 * The live state of one server, keyed by its stable id; survives every configuration swap
 * (DESIGN.md: health, admin state, slow-start clock, connection counts). Mutated in place
 * by the health scheduler, the outlier detector and the data plane; read by balancers.
 *
 * Availability (S5, H4, H5, S3, S4) is the combination of separate signals, decided late:
 * `enabled && !draining && healthOk && !ejected && weight > 0`.
 */
export class ServerRuntime {
  readonly id: string;
  spec: ServerSpec;
  backend: BackendSpec;
  health: Health = 'unknown';
  /** Stable reason code when out of rotation because of health (`initial-check`, `failed-checks`, …). */
  healthReason: string | null = 'initial-check';
  lastCheck: LastCheck | null = null;
  /** Set when removed from or disabled in the configuration: no new traffic (S3). */
  draining = false;
  /** ms epoch when the drain began; 0 when not draining. */
  drainStartedAt = 0;
  /** ms epoch when what is still open is cut (the drain's timeout); 0 when not draining. */
  drainDeadline = 0;
  /** True once the server is gone from the configuration (DELETE): the runtime ends with its drain. */
  removed = false;
  /** Passive health (H7): ms epoch until which the server is ejected; 0 = not ejected. */
  ejectedUntil = 0;
  ejections = 0;
  consecutiveFailures = 0;
  /** Slow start (SS4, SS5): ms epoch at which the ramp began; 0 = not started. */
  slowStartFrom = 0;
  /** SS6: once the ramp has ended, never again. */
  slowStartDone = false;
  /**
   * Why a server whose address is a host name has no usable address now (issue 15 point 2,
   * src/runtime/dns.ts): `dns-pending`, `dns-failed`, `dns-refused`; null otherwise. Such a
   * server takes no traffic and is not probed.
   */
  dnsProblem: string | null = null;
  /** EWMA of time to first byte in ms (least-response-time). */
  ewmaTtfbMs = 0;

  /** Open connections (requests) to this server, shared by every worker (issue 13 point 1). */
  readonly active = new ConnectionCount();
  /** The load index that holds this server, told of every change of `active` here; set by it. */
  loadWatcher: LoadWatcher | undefined = undefined;
  /** This server's slot in `loadWatcher`; -1 when none. */
  loadSlot = -1;
  totalConnections = 0;
  requests = 0;
  bytesIn = 0;
  bytesOut = 0;
  failures = 0;
  /** Indexed by ResponseClass. */
  readonly responses: number[] = [0, 0, 0, 0, 0, 0];
  /** Requests and connections to this server that ended other than normally, by reason (issue 12). */
  readonly terminations: TerminationCounts = newTerminationCounts();
  /** Open connections to this server, so a drain can close what is left at its deadline. */
  readonly connections = new Set<Closeable>();

  constructor(spec: ServerSpec, backend: BackendSpec) {
    this.id = spec.id;
    this.spec = spec;
    this.backend = backend;
    // A host name not yet resolved (src/runtime/dns.ts sets it from here on): no traffic, no probe.
    if (spec.instanceId === null && isIP(spec.address) === 0) this.dnsProblem = 'dns-pending';
    if (!this.checked) {
      this.health = 'healthy'; // H5
      this.healthReason = null;
    }
  }

  /** True when active checks probe this server: on for its backend and not turned off for it (issue 15 point 7). */
  get checked(): boolean {
    return this.backend.healthCheck.enabled && this.spec.healthCheck?.enabled !== false;
  }

  /** True when health allows traffic: healthy, or checks disabled (H5). */
  get healthOk(): boolean {
    return this.health === 'healthy' || !this.checked;
  }

  /** True while passive-health ejected at `now` (ms epoch). */
  isEjected(now: number): boolean {
    return this.ejectedUntil > now;
  }

  /**
   * May take new traffic (ignoring the active/passive split): enabled, not draining,
   * health ok, not ejected, weight above 0 (S3, S4, S5, H4–H7).
   */
  isAvailable(now: number): boolean {
    return (
      this.spec.enabled &&
      !this.draining &&
      this.spec.weight > 0 &&
      this.healthOk &&
      !(this.ejectedUntil > now) &&
      this.dnsProblem === null
    );
  }

  /** May keep a persisted client (S4: weight 0 keeps its sessions; P3: not when unhealthy/disabled/draining). */
  canKeepSession(now: number): boolean {
    return (
      this.spec.enabled && !this.draining && this.healthOk && !(this.ejectedUntil > now) && this.dnsProblem === null
    );
  }

  /** API state (API.md): disabled / draining / slow-start / passive / active. */
  state(now: number): ServerState {
    if (this.draining) return 'draining';
    if (!this.spec.enabled) return 'disabled';
    if (this.slowStartFactor(now) < 1) return 'slow-start';
    return this.spec.passive ? 'passive' : 'active';
  }

  /**
   * Slow-start share (SS1): 1 when not in slow start, otherwise grows linearly from 0.1 to 1
   * over the backend's `slowStart.durationSeconds`.
   */
  slowStartFactor(now: number): number {
    if (this.slowStartDone || this.slowStartFrom === 0 || !this.backend.slowStart.enabled) return 1;
    const durationMs = this.backend.slowStart.durationSeconds * 1000;
    const elapsed = now - this.slowStartFrom;
    if (elapsed >= durationMs) {
      this.slowStartDone = true;
      return 1;
    }
    return Math.max(0.1, Math.min(1, 0.1 + (0.9 * Math.max(0, elapsed)) / durationMs));
  }

  /**
   * The concurrent requests (tcp: connections) this server takes now (issue 15 point 4):
   * `maxConnections` scaled by the slow-start ramp, `ceil(limit × factor)` and at least 1;
   * 0 = unlimited.
   */
  connectionLimit(now: number): number {
    const max = this.spec.maxConnections;
    if (!(max > 0)) return 0;
    const f = this.slowStartFactor(now);
    return f >= 1 ? max : Math.max(1, Math.ceil(max * f));
  }

  /** True when the server holds as many requests as its `connectionLimit`: not eligible for a pick. */
  atLimit(now: number): boolean {
    const max = this.spec.maxConnections;
    return max > 0 && this.activeConnections >= this.connectionLimit(now);
  }

  /** The weight the balancers use: configured weight × slow-start factor (HAProxy's effective weight). */
  effectiveWeight(now: number): number {
    return this.spec.weight * this.slowStartFactor(now);
  }

  /** Open connections (requests) to this server, across every worker. */
  get activeConnections(): number {
    return this.active.value;
  }

  /** Sets the count (tests); the data plane uses `addConnections`. */
  set activeConnections(v: number) {
    this.active.value = v;
  }

  /**
   * Changes the open-connection count by `delta` (across every worker) and tells the load
   * index that holds this server (issue 13 point 5). Returns the count after the change.
   */
  addConnections(delta: number): number {
    const left = this.active.add(delta);
    this.loadWatcher?.loadChanged(this);
    return left;
  }

  /** Counts a response by status class. */
  countResponse(status: number): void {
    const cls = (status / 100) | 0;
    this.responses[cls >= 1 && cls <= 5 ? cls : 0]!++;
  }
}
