import type { BackendSpec } from '../config/snapshot.ts';
import type { ServerRuntime } from './server-runtime.ts';
import type { Ticket } from './shared-cells.ts';

/**
 * The seam between the runtime, which keeps one balancer per backend, and the algorithms in
 * balancer/ (one file each), which implement it. It lives here so the runtime imports nothing
 * from balancer/ (DESIGN.md: the two are siblings over config/).
 */

/** What a pick may use. Every field is optional; none is allocated per pick by the caller if avoidable. */
export interface PickContext {
  /** The client's IP address (source-ip hashing, P1). */
  clientAddress?: string;
  /** An explicit hash key (cookie-less hashing, app-cookie values not yet learned). */
  hashKey?: string;
  /** A server to avoid (retry after a failed connect). */
  exclude?: ServerRuntime;
}

/**
 * One balancer per backend per snapshot (DESIGN.md "The seams"). `pick` returns a server
 * that may take new traffic, preferring active servers and falling back to passive ones
 * only when no active server is available (S5); undefined when none is.
 *
 * Balancers read live state (health, drain, ejection, connections, slow start) from the
 * ServerRuntime objects at pick time, and are told when the set changes by `invalidate()`.
 */
export interface Balancer {
  pick(ctx: PickContext): ServerRuntime | undefined;
  /** Optional: what `pick(ctx)` would return now, without advancing any state (explain, issue 16). */
  peek?(ctx: PickContext): ServerRuntime | undefined;
  /** Called when any server's availability or weight may have changed (health, drain, ejection, slow start). */
  invalidate(): void;
  /** Optional: the runtime replaced or removed this balancer; it lets go of its servers (load index). */
  dispose?(): void;
  /**
   * Optional: consistent-hash choice of `key` over the servers `pick` would consider (same
   * active/passive tier), without bounded load, so every worker and node computes the same
   * answer (P1, P5: persistence first choice, app-cookie values not learned yet). `exclude`
   * is avoided when another server is available. Undefined when no server is available.
   */
  pickHashed?(key: string, exclude?: ServerRuntime): ServerRuntime | undefined;
}

/**
 * Builds a balancer over `servers` (the backend's servers in configuration order, all with
 * live runtimes). `now` gives the current time in ms (injected clock). `ticket`: the
 * backend's round-robin position, shared by every worker thread (issue 13 point 1) and kept
 * across rebuilds of the balancer; a private one when absent.
 */
export type BalancerFactory = (
  backend: BackendSpec,
  servers: readonly ServerRuntime[],
  now: () => number,
  ticket?: Ticket,
) => Balancer;
