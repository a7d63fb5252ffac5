import { ConnectionCount } from './shared-cells.ts';
import { newTerminationCounts, type TerminationCounts } from './terminations.ts';

/** Whether a frontend is listening, and why not (F5). */
export interface ListenerStatus {
  listening: boolean;
  /** Why not listening: `disabled`, `no default backend`, `address in use (EADDRINUSE)`, … */
  reason: string | null;
}

/** Live counters of one frontend (O1); survive swaps, keyed by frontend id. */
export class FrontendRuntime {
  readonly id: string;
  /** Open client connections (UDP: flows), shared by every worker (issue 13 point 1). */
  readonly active = new ConnectionCount();
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
  /** Connections closed for a missing, malformed or untrusted PROXY header (issue 15 point 3; also in `refused`). */
  proxyProtocolRefused = 0;
  /** Requests and connections that ended other than normally, by reason (issue 12). */
  readonly terminations: TerminationCounts = newTerminationCounts();
  /** Client socket errors (resets, TLS alerts after the handshake, …): counted, never swallowed. */
  clientErrors = 0;
  /** Per routing rule hits (F4), by rule index; index = rules.length for the default backend. */
  ruleHits: number[] = [];
  constructor(id: string) {
    this.id = id;
  }

  /** Open client connections across every worker. */
  get activeConnections(): number {
    return this.active.value;
  }

  /** A client connection (UDP flow) opened: counted atomically. */
  opened(): void {
    this.active.add(1);
  }

  /** A client connection (UDP flow) closed. */
  closed(): void {
    this.active.add(-1);
  }
}
