/**
 * Events (H6, S3, issue 3 point 6): health transitions, ejections, drains and configuration
 * changes, as the API serves them.
 */
export interface FulcrumEvent {
  /** ISO 8601 time. */
  at: string;
  /** e.g. `health`, `ejection`, `drain-start`, `drain-end`, `config`. */
  kind: string;
  loadBalancerId: string | null;
  backendId: string | null;
  serverId: string | null;
  from: string | null;
  to: string | null;
  reason: string | null;
  /** Extra facts (connections cut by a drain, configVersion of a change, …). */
  detail?: Record<string, unknown>;
}

/** Receives events; the control plane stores and streams them. Must not throw. */
export type EventSink = (event: FulcrumEvent) => void;
