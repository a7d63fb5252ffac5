import type { Upsert } from '../config/diff.ts';
import type { ConfigState, ResourceKind } from '../config/model.ts';
import { FulcrumError } from '../core/errors.ts';
import type { FulcrumEvent } from '../runtime/events.ts';

/** The resource kinds the store holds, in dependency order (parents first). */
export const ResourceKinds: readonly ResourceKind[] = [
  'loadBalancer',
  'instance',
  'certificate',
  'backend',
  'frontend',
  'server',
];

/** One resource written by a change (defined with the diff that makes it, config/diff.ts). */
export type { Upsert };

/** One audit row (C6): who, when, what, before/after. */
export interface AuditEntry {
  id: number;
  /** ISO 8601 time. */
  at: string;
  /** Token name of the caller (`admin` for the admin token, `system` for start-up work). */
  actor: string;
  /** `create`, `update`, `delete`, `apply`, … */
  action: string;
  /** `kind/id` of the resource changed, e.g. `server/srv-1a2b`. */
  resource: string;
  before: unknown;
  after: unknown;
  configVersion: number;
}

/**
 * One configuration change, written in one transaction (C2): the resources to upsert and
 * delete, the audit row, and configVersion bumped by exactly 1.
 */
export interface ConfigChange {
  /** The version the change was computed from; the commit fails with `conflict` when the store moved on. */
  baseVersion: number;
  upserts: Upsert[];
  deletes: { kind: ResourceKind; id: string }[];
  audit: Omit<AuditEntry, 'id' | 'configVersion'>;
  /**
   * Versions the change was made against (`If-Match`, issue 15 point 6): checked inside the
   * transaction against the stored `version` of each resource; a mismatch refuses the whole
   * change with `precondition_failed` naming the current version.
   */
  expect?: { kind: ResourceKind; id: string; version: number }[];
}

/**
 * Each resource row carries its own `version` (issue 15 point 6): 1 when created, + 1 on every
 * upsert of that resource, kept in a column (never inside the stored document); `load` puts it
 * into each document as `version`.
 */
export function nextResourceVersion(current: number | undefined): number {
  return (current ?? 0) + 1;
}

/** The message of a stale `If-Match` (one wording for both stores and the pipeline). */
export function staleVersionError(
  kind: ResourceKind,
  id: string,
  current: number | undefined,
  expected: number,
): FulcrumError & { currentVersion: number | null } {
  const now = current === undefined ? 'is gone' : `is at version ${current}`;
  const err = new FulcrumError(
    'precondition_failed',
    `version: ${kind} "${id}" changed meanwhile: it ${now}, If-Match asked for ${expected}`,
    'version',
    [
      {
        field: 'version',
        rule: `changed meanwhile: now ${current ?? 'deleted'}, If-Match asked for ${expected}`,
        message: `version: changed meanwhile (now ${current ?? 'deleted'})`,
      },
    ],
  );
  return Object.assign(err, { currentVersion: current ?? null });
}

/** A stored event: the event plus its sequence number (for SSE ids and `?since=`). */
export interface StoredEvent extends FulcrumEvent {
  id: number;
}

/** Filters of GET /events (all optional). */
export interface EventQuery {
  loadBalancerId?: string;
  backendId?: string;
  serverId?: string;
  kind?: string;
  /** Only events after this ISO time. */
  sinceAt?: string;
  /** Only events with a larger id. */
  sinceId?: number;
  /** At most this many (default 100, max 10 000). */
  limit?: number;
}

/** Roles of API tokens (API.md "More of the contract"). */
export type Role = 'admin' | 'operator' | 'viewer';
export const Roles: readonly Role[] = ['admin', 'operator', 'viewer'];

/** An API token as stored: only the SHA-256 of the secret. */
export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  /** Hex SHA-256 of the secret. */
  secretSha256: string;
  /** ISO 8601 time. */
  createdAt: string;
}

/**
 * A console session as stored (C5: every node knows it): only the SHA-256 of the cookie's
 * value, the token it signed in with (`admin` for the admin token) and when it expires.
 */
export interface SessionRecord {
  /** Hex SHA-256 of the `fulcrum_session` cookie value. */
  idSha256: string;
  tokenId: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** How many events are kept per load balancer (newest first); older ones are pruned. */
export const EVENTS_KEPT_PER_LOAD_BALANCER = 10_000;

/** One node sharing the store (C5, the `nodes` table): its heartbeat and the version it applied. */
export interface NodeRecord {
  name: string;
  /** The configVersion this node's data plane applied last. */
  appliedVersion: number;
  /** ISO 8601 time of its last heartbeat (the node's clock). */
  lastSeen: string;
}

/**
 * What a store reports to `watch` subscribers (C5): a configuration committed by some node
 * (`config`, with its version), the tokens or console sessions changed (`tokens`), or the notification channel
 * came back after a loss (`reconnected`: notifications may have been missed; compare versions).
 */
export type StoreChange = { kind: 'config'; version: number } | { kind: 'tokens' } | { kind: 'reconnected' };

/**
 * The configuration store (C2, C5): SQLite (`sqlite.ts`, one node) or PostgreSQL
 * (`postgres.ts`, several nodes). Every method may throw FulcrumError: `conflict` on a stale
 * baseVersion, `store_unavailable` (503, `store-unavailable: <cause>`, the original error as
 * `cause`) when the store cannot answer (disk full, read-only, busy, PostgreSQL unreachable).
 * Both pass the one conformance suite (`conformance.ts`).
 */
export interface ConfigStore {
  /** `sqlite` or `postgres`: a `postgres` store is shared by several nodes. */
  readonly engine: 'sqlite' | 'postgres';
  /** The committed configVersion now (a cheap read; nodes compare it with what they applied). */
  currentVersion(): Promise<number>;
  /** Upserts this node's row of the `nodes` table: its applied version and heartbeat time. */
  heartbeat(node: NodeRecord): Promise<void>;
  /** Every node that ever sent a heartbeat, by name. */
  listNodes(): Promise<NodeRecord[]>;
  /**
   * Calls `fn` when any node committed a configuration or changed the tokens (PostgreSQL
   * LISTEN/NOTIFY, own commits included), and with `reconnected` after the notification channel
   * came back. SQLite has one writer (this process) and never calls it. Answers the unsubscribe.
   */
  watch(fn: (change: StoreChange) => void): () => void;
  /** Everything, as at the last committed version (C2: a restart restores everything). */
  load(): Promise<ConfigState>;
  /** Writes one change in one transaction; returns the new configVersion (baseVersion + 1). */
  commit(change: ConfigChange): Promise<number>;
  /** Appends events (batched by the caller); keeps the newest 10 000 per load balancer. */
  appendEvents(events: readonly FulcrumEvent[]): Promise<StoredEvent[]>;
  /** Events matching the filters, newest first. */
  listEvents(q: EventQuery): Promise<StoredEvent[]>;
  /**
   * Appends an audit row that is not a configuration change (tokens created or revoked,
   * console sign-in and sign-out; C6), stamped with the current configVersion.
   */
  appendAudit(entry: Omit<AuditEntry, 'id' | 'configVersion'>): Promise<void>;
  /** Audit rows, newest first. */
  listAudit(q: { limit?: number; resource?: string }): Promise<AuditEntry[]>;
  createToken(t: TokenRecord): Promise<void>;
  listTokens(): Promise<TokenRecord[]>;
  /** Revokes a token and ends its console sessions; returns false when no such token. */
  deleteToken(id: string): Promise<boolean>;
  getSecret(key: string): Promise<string | undefined>;
  setSecret(key: string, value: string): Promise<void>;
  /**
   * Stores `value` under `key` only when the key has none (one statement, `INSERT … ON
   * CONFLICT DO NOTHING`), and answers the value stored: this one, or the one another node
   * stored first. Nodes starting together against a new database agree on one value.
   */
  createSecretIfAbsent(key: string, value: string): Promise<string>;
  /** Stores a new console session (and forgets those expired at `now`, epoch ms); every node hears `tokens`. */
  createSession(s: SessionRecord, now: number): Promise<void>;
  /** Sessions not expired at `now` (epoch ms). */
  listSessions(now: number): Promise<SessionRecord[]>;
  /** Ends a session everywhere (every node hears `tokens`); false when no such session. */
  deleteSession(idSha256: string): Promise<boolean>;
  close(): Promise<void>;
}
