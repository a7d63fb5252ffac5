import type { TableKind } from '../persistence/choose.ts';
import type { ListenerStatus } from '../runtime/frontend-runtime.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import type { SnapshotDelta } from './snapshot-wire.ts';

/**
 * The messages between the primary and its worker threads (issue 13 point 1). The primary
 * keeps the control plane, the store, health checks and the event log; each worker runs a
 * data plane on every frontend (SO_REUSEPORT). Everything here is structured-clone data.
 */

/** What a worker is started with (`workerData`). */
export interface WorkerInit {
  /** The shared cells (open connections, round-robin tickets): src/runtime/shared-cells.ts. */
  readonly cells: SharedArrayBuffer;
  /** This worker's share of every count, which the primary takes back out if it dies. */
  readonly ledger: SharedArrayBuffer;
  /** Decrypts certificate private keys (T1). */
  readonly secretKey: Uint8Array;
  /** The cookie-persistence HMAC key (P2): a cookie set by one worker is honoured by every other. */
  readonly cookieKey: string;
  /** 48 bytes of TLS session ticket keys, the same in every worker. */
  readonly ticketKeys: Uint8Array;
  /** True when the primary writes an access log: workers send it their lines. */
  readonly accessLog: boolean;
  readonly logLevel?: string;
}

/**
 * One server's state as the primary owns it (health, ejection, slow start, address problem),
 * as a tuple: [id, health, ejectedUntil, slowStartFrom, slowStartDone, dnsProblem, draining,
 * failing]. `failing`: passive health counts failures in a row for it (workers then report its
 * successes too, which end the streak; otherwise only failures cross, H7).
 * A worker whose server still drains when the primary's no longer does cuts what is left
 * (the primary owns the deadline).
 * `health` 0 unknown, 1 healthy, 2 unhealthy. Times are ms epochs.
 */
export type ServerState = [string, number, number, number, boolean, string | null, boolean, boolean];

const HEALTH = ['unknown', 'healthy', 'unhealthy'] as const;

/** The state of `rt` the workers copy (see ServerState). */
export function serverState(rt: ServerRuntime): ServerState {
  return [
    rt.id,
    HEALTH.indexOf(rt.health),
    rt.ejectedUntil,
    rt.slowStartFrom,
    rt.slowStartDone,
    rt.dnsProblem,
    rt.draining,
    rt.consecutiveFailures > 0,
  ];
}

/** Copies a ServerState onto a worker's runtime of the same server. */
export function applyServerState(rt: ServerRuntime, s: ServerState): void {
  rt.health = HEALTH[s[1]] ?? 'unknown';
  rt.ejectedUntil = s[2];
  rt.slowStartFrom = s[3];
  rt.slowStartDone = s[4];
  rt.dnsProblem = s[5];
}

/** A persistence table entry: backend id, table, key (client address or cookie value), server id. */
export type StickyEntry = [string, TableKind, string, string];

/** Primary → worker. */
export type ToWorker =
  | {
      t: 'apply';
      seq: number;
      /** The worker's place 0 … N−1 (a spare learns it with its first snapshot): access-log lines carry it. */
      index: number;
      /** What changed from the worker's snapshot (or the whole one for a new worker): snapshot-wire.ts. */
      delta: SnapshotDelta;
      /** Shared cells' key → index entries after the primary reconciled it: all of them, or those of what changed. */
      cells: [string, number][];
      wholeCells: boolean;
      /** Server states after the primary reconciled it: every server's, or those the change touched. */
      states: ServerState[];
    }
  | { t: 'state'; states: ServerState[] }
  | { t: 'drain-timeout'; id: string; ms: number | undefined }
  | { t: 'collect'; seq: number }
  /** Persistence table entries other workers wrote: [backendId, kind, key, serverId] each. */
  | { t: 'sticky'; entries: StickyEntry[] }
  | { t: 'close'; drainMs: number };

/** Counters of one worker, by id: see src/workers/counters.ts for the layout of each vector. */
export interface CounterDump {
  servers: [string, number[]][];
  frontends: [string, number[]][];
  backends: [string, number[]][];
}

/** Worker → primary. */
export type FromWorker =
  | { t: 'ready' }
  /** `resync`: the delta did not fit this worker's snapshot; it needs the whole one. */
  | { t: 'applied'; seq: number; version: number; statuses: [string, ListenerStatus][]; resync?: boolean }
  | { t: 'counters'; seq: number; dump: CounterDump; statuses: [string, ListenerStatus][] }
  /** Outcomes of real requests for passive health (H7), in order: server ids and ok flags. */
  | { t: 'outcomes'; ids: string[]; ok: boolean[] }
  | { t: 'log'; text: string }
  /** Persistence table entries this worker wrote (relayed to the others). */
  | { t: 'sticky'; entries: StickyEntry[] }
  | { t: 'closed' };
