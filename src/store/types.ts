import type { Upsert } from '../config/diff.ts';
import type { ConfigState, ResourceKind } from '../config/model.ts';
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

/** How many events are kept per load balancer (newest first); older ones are pruned. */
export const EVENTS_KEPT_PER_LOAD_BALANCER = 10_000;

/**
 * The configuration store (C2; C5 later with PostgreSQL). Async so another engine can
 * implement it; every method may throw FulcrumError (`conflict` on a stale baseVersion).
 */
export interface ConfigStore {
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
  /** Returns false when no such token. */
  deleteToken(id: string): Promise<boolean>;
  getSecret(key: string): Promise<string | undefined>;
  setSecret(key: string, value: string): Promise<void>;
  close(): Promise<void>;
}
