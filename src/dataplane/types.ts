import type { FrontendSpec } from '../config/snapshot.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { FrontendRuntime } from '../runtime/frontend-runtime.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { AccessLog } from './access-log.ts';

// Live per-frontend state belongs to runtime/ (kept by id across swaps), where the control
// plane's port reads it without importing the data plane.
export { FrontendRuntime, type ListenerStatus } from '../runtime/frontend-runtime.ts';

/** What every listener gets from the plane. */
export interface ListenerContext {
  readonly runtime: Runtime;
  readonly log: Logger;
  readonly clock: Clock;
  readonly counters: FrontendRuntime;
  /** Access log (O2); undefined when off. */
  readonly accessLog?: AccessLog;
}

/**
 * A listening socket for one frontend (DESIGN.md "The seams"). The plane opens it once per
 * bind address and protocol, hands it each new FrontendSpec with `replace` (new connections
 * use the new spec, open ones finish on theirs), and closes it when the frontend goes away.
 */
export interface ProtocolListener {
  /** Binds. Rejects with the system error (e.g. EADDRINUSE) when the address cannot be bound. */
  open(): Promise<void>;
  /** Same bind address and protocol, new settings: effective for new connections at once. */
  replace(spec: FrontendSpec): void;
  /** Stops accepting new connections; resolves once the listening socket is closed (the port is free). */
  stopAccepting(): Promise<void>;
  /**
   * Stops accepting, lets open connections finish for at most `drainMs` milliseconds, then
   * closes what is left. Resolves when every socket is closed.
   */
  close(drainMs: number): Promise<void>;
}

/** Builds a listener for a spec of the protocols it serves. */
export type ListenerFactory = (spec: FrontendSpec, ctx: ListenerContext) => ProtocolListener;
