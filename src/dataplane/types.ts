import type { FrontendSpec } from '../config/snapshot.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { newTerminationCounts, type TerminationCounts } from '../runtime/terminations.ts';
import type { AccessLog } from './access-log.ts';

/** Whether a frontend is listening, and why not (F5). */
export interface ListenerStatus {
  listening: boolean;
  /** Why not listening: `disabled`, `no default backend`, `address in use (EADDRINUSE)`, … */
  reason: string | null;
}

/** Live counters of one frontend (O1); survive swaps, keyed by frontend id. */
export class FrontendRuntime {
  readonly id: string;
  activeConnections = 0;
  totalConnections = 0;
  requests = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Indexed like ServerRuntime.responses: 0 other, 1–5 status classes. */
  readonly responses: number[] = [0, 0, 0, 0, 0, 0];
  /** Requests refused before reaching a server (bad request, no server, …). */
  refused = 0;
  /** UDP frontends (U1): flows evicted, oldest idle first, because the flow table was full (`maxFlows`). */
  flowsEvicted = 0;
  /** Requests and connections that ended other than normally, by reason (issue 12). */
  readonly terminations: TerminationCounts = newTerminationCounts();
  /** Client socket errors (resets, TLS alerts after the handshake, …): counted, never swallowed. */
  clientErrors = 0;
  /** Per routing rule hits (F4), by rule index; index = rules.length for the default backend. */
  ruleHits: number[] = [];
  constructor(id: string) {
    this.id = id;
  }
}

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
