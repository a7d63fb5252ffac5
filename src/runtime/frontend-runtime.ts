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
}
