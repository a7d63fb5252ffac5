import type { Upsert } from '../config/diff.ts';
import type { ConfigState, ResourceKind } from '../config/model.ts';
import type { FulcrumEvent } from '../runtime/events.ts';
import type { AuditEntry, EventQuery, NodeRecord, Role, SessionRecord, StoredEvent, TokenRecord } from './types.ts';

/**
 * What the SQLite and PostgreSQL stores share (issue 14): the resource tables, the shape of
 * every row they read and write, and the SQL that differs only by its placeholders (`?` in
 * SQLite, `$1…` in PostgreSQL). Each store keeps only its dialect: how a statement runs, its
 * transactions, and the few statements written differently.
 */

/** A value bound to a statement parameter. */
export type SqlValue = string | number | null;

/** A row as both drivers answer it (PostgreSQL answers BIGINT columns as strings). */
export type Row = Record<string, unknown>;

/** The table of one resource kind: its name, the ConfigState key, and the indexed columns taken from the document. */
export interface KindTable {
  table: string;
  key: keyof ConfigState;
  columns: readonly [column: string, from: (doc: Record<string, unknown>) => SqlValue][];
}

const str = (k: string) => (d: Record<string, unknown>) => (d[k] ?? null) as SqlValue;

/** One table per kind: id, parent ids, name, the JSON document (migrations.ts). */
export const Tables: Record<ResourceKind, KindTable> = {
  loadBalancer: { table: 'load_balancers', key: 'loadBalancers', columns: [['name', str('name')]] },
  instance: {
    table: 'instances',
    key: 'instances',
    columns: [
      ['name', str('name')],
      ['private_ip', str('privateIp')],
    ],
  },
  certificate: { table: 'certificates', key: 'certificates', columns: [['name', str('name')]] },
  backend: {
    table: 'backends',
    key: 'backends',
    columns: [
      ['load_balancer_id', str('loadBalancerId')],
      ['name', str('name')],
    ],
  },
  frontend: {
    table: 'frontends',
    key: 'frontends',
    columns: [
      ['load_balancer_id', str('loadBalancerId')],
      ['name', str('name')],
    ],
  },
  server: {
    table: 'servers',
    key: 'servers',
    columns: [
      ['backend_id', str('backendId')],
      ['instance_id', str('instanceId')],
      ['name', str('name')],
      ['address', str('address')],
    ],
  },
};

/** Placeholder of the n-th parameter (1-based): `?` for SQLite, `$n` for PostgreSQL. */
export type Placeholder = (n: number) => string;
export const sqlitePlaceholder: Placeholder = () => '?';
export const postgresPlaceholder: Placeholder = (n) => `$${n}`;

/** A statement and its parameters. */
export interface Statement {
  sql: string;
  args: SqlValue[];
}

/**
 * Upsert of one resource: its indexed columns and the JSON document, without `version` — the
 * resource's version lives in its column, 1 when created and + 1 on every change.
 */
export function resourceUpsert(u: Upsert, ph: Placeholder): Statement {
  const t = Tables[u.kind];
  const { version: _version, ...doc } = u.doc as unknown as Record<string, unknown>;
  const cols = t.columns.map((c) => c[0]);
  const sql =
    `INSERT INTO ${t.table} (id, ${cols.join(', ')}, doc, version) VALUES (${params(cols.length + 2, ph)}, 1) ` +
    `ON CONFLICT (id) DO UPDATE SET ${cols.map((c) => `${c} = excluded.${c}`).join(', ')}, doc = excluded.doc, ` +
    `version = ${t.table}.version + 1`;
  return { sql, args: [doc.id as string, ...t.columns.map((c) => c[1](doc)), JSON.stringify(doc)] };
}

/** Most rows a list answers (and the default). */
export function listLimit(limit: number | undefined): number {
  return Math.min(Math.max(1, limit ?? 100), 10_000);
}

/** SELECT of events matching the filters, newest first (GET /events). */
export function eventsQuery(q: EventQuery, ph: Placeholder): Statement {
  const where: string[] = [];
  const args: SqlValue[] = [];
  const add = (cond: string, v: SqlValue | undefined) => {
    if (v === undefined) return;
    args.push(v);
    where.push(`${cond} ${ph(args.length)}`);
  };
  add('load_balancer_id =', q.loadBalancerId);
  add('backend_id =', q.backendId);
  add('server_id =', q.serverId);
  add('kind =', q.kind);
  add('at >', q.sinceAt);
  add('id >', q.sinceId);
  const sql = `SELECT id, doc FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${listLimit(q.limit)}`;
  return { sql, args };
}

/** SELECT of audit rows, newest first, optionally of one resource. */
export function auditQuery(q: { limit?: number; resource?: string }, ph: Placeholder): Statement {
  const limit = listLimit(q.limit);
  return q.resource === undefined
    ? { sql: `SELECT * FROM audit ORDER BY id DESC LIMIT ${limit}`, args: [] }
    : { sql: `SELECT * FROM audit WHERE resource = ${ph(1)} ORDER BY id DESC LIMIT ${limit}`, args: [q.resource] };
}

/** INSERT of one audit row at `configVersion`. */
export function auditInsert(
  a: Omit<AuditEntry, 'id' | 'configVersion'>,
  configVersion: number,
  ph: Placeholder,
): Statement {
  return {
    sql: `INSERT INTO audit (at, actor, action, resource, before, after, config_version) VALUES (${params(7, ph)})`,
    args: [
      a.at,
      a.actor,
      a.action,
      a.resource,
      a.before === undefined ? null : JSON.stringify(a.before),
      a.after === undefined ? null : JSON.stringify(a.after),
      configVersion,
    ],
  };
}

/** `?, ?, ?` or `$1, $2, $3` for n parameters (from `first`). */
export function params(n: number, ph: Placeholder, first = 1): string {
  return Array.from({ length: n }, (_, i) => ph(first + i)).join(', ');
}

/** INSERT of one token (the hash of its secret only). */
export function tokenInsert(t: TokenRecord, ph: Placeholder): Statement {
  return {
    sql: `INSERT INTO tokens (id, name, role, secret_sha256, created_at) VALUES (${params(5, ph)})`,
    args: [t.id, t.name, t.role, t.secretSha256, t.createdAt],
  };
}

/** Upsert of a node's heartbeat row. */
export function heartbeatUpsert(n: NodeRecord, ph: Placeholder): Statement {
  return {
    sql:
      `INSERT INTO nodes (name, applied_version, last_seen) VALUES (${params(3, ph)}) ` +
      'ON CONFLICT (name) DO UPDATE SET applied_version = excluded.applied_version, last_seen = excluded.last_seen',
    args: [n.name, n.appliedVersion, n.lastSeen],
  };
}

/** Upsert of a secret (replaces the value). */
export function secretUpsert(key: string, value: string, ph: Placeholder): Statement {
  return {
    sql: `INSERT INTO secrets (key, value) VALUES (${params(2, ph)}) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    args: [key, value],
  };
}

/** Insert of a secret only when its key has none yet: one statement, so nodes starting together agree. */
export function secretInsertIfAbsent(key: string, value: string, ph: Placeholder): Statement {
  return {
    sql: `INSERT INTO secrets (key, value) VALUES (${params(2, ph)}) ON CONFLICT (key) DO NOTHING`,
    args: [key, value],
  };
}

/** Insert of a console session. */
export function sessionInsert(s: SessionRecord, ph: Placeholder): Statement {
  return {
    sql: `INSERT INTO sessions (id_sha256, token_id, expires_at) VALUES (${params(3, ph)})`,
    args: [s.idSha256, s.tokenId, s.expiresAt],
  };
}

export const NODES_SELECT = 'SELECT name, applied_version, last_seen FROM nodes ORDER BY name';

export function auditOf(r: Row): AuditEntry {
  return {
    id: Number(r.id),
    at: String(r.at),
    actor: String(r.actor),
    action: String(r.action),
    resource: String(r.resource),
    before: r.before === null ? null : JSON.parse(String(r.before)),
    after: r.after === null ? null : JSON.parse(String(r.after)),
    configVersion: Number(r.config_version),
  };
}

export function tokenOf(r: Row): TokenRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    role: r.role as Role,
    secretSha256: String(r.secret_sha256),
    createdAt: String(r.created_at),
  };
}

export function nodeOf(r: Row): NodeRecord {
  return { name: String(r.name), appliedVersion: Number(r.applied_version), lastSeen: String(r.last_seen) };
}

export function sessionOf(r: Row): SessionRecord {
  return { idSha256: String(r.id_sha256), tokenId: String(r.token_id), expiresAt: Number(r.expires_at) };
}

export function eventOf(r: Row): StoredEvent {
  return { ...(JSON.parse(String(r.doc)) as FulcrumEvent), id: Number(r.id) };
}

/** The `conflict` message of a token name taken. */
export function tokenNameTaken(name: string): string {
  return `name: a token named "${name}" already exists`;
}

/** The `conflict` message of a stale base version. */
export function staleBaseMessage(now: number, base: number): string {
  return `configVersion: the configuration changed meanwhile (now ${now}, change based on ${base}); retry`;
}
