import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { type ConfigState, emptyConfig, type ResourceKind } from '../config/model.ts';
import { FulcrumError } from '../core/errors.ts';
import type { FulcrumEvent } from '../runtime/events.ts';
import { createPrivateFile, secureDataDir } from './data-dir.ts';
import { sqliteFault } from './faults.ts';
import { latestSchemaVersion, type Migration, Migrations } from './migrations.ts';
import {
  type AuditEntry,
  type ConfigChange,
  type ConfigStore,
  EVENTS_KEPT_PER_LOAD_BALANCER,
  type EventQuery,
  type NodeRecord,
  type Role,
  type StoreChange,
  type StoredEvent,
  staleVersionError,
  type TokenRecord,
  type Upsert,
} from './types.ts';

interface KindTable {
  table: string;
  key: keyof ConfigState;
  /** Extra indexed columns taken from the document. */
  columns: readonly [column: string, from: (doc: Record<string, unknown>) => SQLInputValue][];
}

const str = (k: string) => (d: Record<string, unknown>) => (d[k] ?? null) as SQLInputValue;

const Tables: Record<ResourceKind, KindTable> = {
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

/** Rolls back the open transaction, if SQLite has not already (it does on disk full, I/O errors). */
function rollback(db: DatabaseSync): void {
  if (db.isTransaction) db.exec('ROLLBACK');
}

/**
 * Runs pending migrations in order, each in its own transaction. Returns the schema version.
 * Throws an Error (changing nothing) when the database was written by a newer Fulcrum.
 */
export function migrate(db: DatabaseSync, migrations: readonly Migration[] = Migrations): number {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  let current = row.v ?? 0;
  const latest = latestSchemaVersion(migrations);
  if (current > latest) {
    throw new Error(
      `store: the database is at schema version ${current}, newer than this Fulcrum knows (${latest}); run a newer Fulcrum`,
    );
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
      db.exec('COMMIT');
    } catch (err) {
      rollback(db);
      throw err;
    }
    current = m.version;
  }
  return current;
}

/**
 * SQLite configuration store (C2) over `node:sqlite`, file `<dataDir>/fulcrum.db` in WAL
 * mode. Statements are synchronous; the async interface lets PostgreSQL implement the same
 * contract (C5). One transaction per change; configVersion in the `meta` table.
 */
export class SqliteStore implements ConfigStore {
  readonly engine = 'sqlite' as const;
  readonly path: string;
  #db: DatabaseSync;
  #closed = false;

  /** Opens (creating when needed) the database file at `path` and migrates it. */
  constructor(path: string) {
    this.path = path;
    this.#db = new DatabaseSync(path);
    try {
      this.#db.exec('PRAGMA journal_mode = WAL');
      this.#db.exec('PRAGMA synchronous = NORMAL');
      this.#db.exec('PRAGMA busy_timeout = 5000');
      // Freed content is zeroed, so a secret re-stored sealed leaves no clear copy in the file (issue 10).
      this.#db.exec('PRAGMA secure_delete = ON');
      migrate(this.#db);
    } catch (err) {
      this.#db.close();
      const fault = sqliteFault(err);
      const why = fault instanceof FulcrumError ? fault.message.split(';')[0] : (err as Error).message;
      throw new Error(`store: cannot open ${path}: ${why}`, { cause: err });
    }
  }

  /** Runs `fn`, turning SQLite faults into `store_unavailable` (faults.ts). */
  #guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw sqliteFault(err);
    }
  }

  /**
   * Opens `<dataDir>/fulcrum.db`, creating the directory when missing. The directory is
   * brought to 0700 and its files to 0600 (`secureDataDir`), and the database file is
   * created 0600 before SQLite opens it, so its `-wal` and `-shm` files are 0600 too
   * (issue 10), whatever the umask.
   */
  static open(dataDir: string): SqliteStore {
    secureDataDir(dataDir);
    const file = join(dataDir, 'fulcrum.db');
    createPrivateFile(file);
    return new SqliteStore(file);
  }

  #version(): number {
    const r = this.#db.prepare("SELECT value FROM meta WHERE key = 'configVersion'").get() as { value: string };
    return Number(r.value);
  }

  async load(): Promise<ConfigState> {
    return this.#guard(() => this.#load());
  }

  #load(): ConfigState {
    const state = emptyConfig();
    state.version = this.#version();
    for (const t of Object.values(Tables)) {
      const rows = this.#db.prepare(`SELECT doc, version FROM ${t.table} ORDER BY rowid`).all() as {
        doc: string;
        version: number;
      }[];
      (state[t.key] as unknown[]) = rows.map((r) => ({ ...JSON.parse(r.doc), version: Number(r.version) }));
    }
    return state;
  }

  async currentVersion(): Promise<number> {
    return this.#guard(() => this.#version());
  }

  async commit(change: ConfigChange): Promise<number> {
    return this.#guard(() => this.#commit(change));
  }

  #commit(change: ConfigChange): number {
    const db = this.#db;
    db.exec('BEGIN IMMEDIATE');
    try {
      const version = this.#version();
      if (version !== change.baseVersion) {
        throw new FulcrumError(
          'conflict',
          `configVersion: the configuration changed meanwhile (now ${version}, change based on ${change.baseVersion}); retry`,
          'configVersion',
        );
      }
      for (const e of change.expect ?? []) {
        const row = db.prepare(`SELECT version FROM ${Tables[e.kind].table} WHERE id = ?`).get(e.id) as
          | { version: number }
          | undefined;
        const current = row === undefined ? undefined : Number(row.version);
        if (current !== e.version) throw staleVersionError(e.kind, e.id, current, e.version);
      }
      for (const d of change.deletes) db.prepare(`DELETE FROM ${Tables[d.kind].table} WHERE id = ?`).run(d.id);
      for (const u of change.upserts) this.#upsert(u);
      const next = version + 1;
      db.prepare("UPDATE meta SET value = ? WHERE key = 'configVersion'").run(String(next));
      this.#insertAudit(change.audit, next);
      db.exec('COMMIT');
      return next;
    } catch (err) {
      rollback(db);
      throw err;
    }
  }

  #upsert(u: Upsert): void {
    const t = Tables[u.kind];
    const { version: _version, ...doc } = u.doc as unknown as Record<string, unknown>;
    const cols = t.columns.map((c) => c[0]);
    // The resource's version: 1 when created, + 1 on every change (the column, never the document).
    const sql =
      `INSERT INTO ${t.table} (id, ${cols.join(', ')}, doc, version) VALUES (?, ${cols.map(() => '?').join(', ')}, ?, 1) ` +
      `ON CONFLICT (id) DO UPDATE SET ${cols.map((c) => `${c} = excluded.${c}`).join(', ')}, doc = excluded.doc, ` +
      `version = ${t.table}.version + 1`;
    this.#db.prepare(sql).run(doc.id as string, ...t.columns.map((c) => c[1](doc)), JSON.stringify(doc));
  }

  async appendEvents(events: readonly FulcrumEvent[]): Promise<StoredEvent[]> {
    return this.#guard(() => this.#appendEvents(events));
  }

  #appendEvents(events: readonly FulcrumEvent[]): StoredEvent[] {
    if (events.length === 0) return [];
    const db = this.#db;
    const out: StoredEvent[] = [];
    const lbs = new Set<string | null>();
    db.exec('BEGIN IMMEDIATE');
    try {
      const ins = db.prepare(
        'INSERT INTO events (at, kind, load_balancer_id, backend_id, server_id, doc) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const e of events) {
        const r = ins.run(e.at, e.kind, e.loadBalancerId, e.backendId, e.serverId, JSON.stringify(e));
        out.push({ ...e, id: Number(r.lastInsertRowid) });
        lbs.add(e.loadBalancerId);
      }
      for (const lb of lbs) {
        const cut = db
          .prepare('SELECT id FROM events WHERE load_balancer_id IS ? ORDER BY id DESC LIMIT 1 OFFSET ?')
          .get(lb, EVENTS_KEPT_PER_LOAD_BALANCER) as { id: number } | undefined;
        if (cut) db.prepare('DELETE FROM events WHERE load_balancer_id IS ? AND id <= ?').run(lb, cut.id);
      }
      db.exec('COMMIT');
    } catch (err) {
      rollback(db);
      throw err;
    }
    return out;
  }

  async listEvents(q: EventQuery): Promise<StoredEvent[]> {
    return this.#guard(() => this.#listEvents(q));
  }

  #listEvents(q: EventQuery): StoredEvent[] {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    const eq = (col: string, v: string | undefined) => {
      if (v === undefined) return;
      where.push(`${col} = ?`);
      args.push(v);
    };
    eq('load_balancer_id', q.loadBalancerId);
    eq('backend_id', q.backendId);
    eq('server_id', q.serverId);
    eq('kind', q.kind);
    if (q.sinceAt !== undefined) {
      where.push('at > ?');
      args.push(q.sinceAt);
    }
    if (q.sinceId !== undefined) {
      where.push('id > ?');
      args.push(q.sinceId);
    }
    const limit = Math.min(Math.max(1, q.limit ?? 100), 10_000);
    const sql = `SELECT id, doc FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`;
    const rows = this.#db.prepare(sql).all(...args) as { id: number; doc: string }[];
    return rows.map((r) => ({ ...(JSON.parse(r.doc) as FulcrumEvent), id: r.id }));
  }

  #insertAudit(a: Omit<AuditEntry, 'id' | 'configVersion'>, configVersion: number): void {
    this.#db
      .prepare(
        'INSERT INTO audit (at, actor, action, resource, before, after, config_version) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        a.at,
        a.actor,
        a.action,
        a.resource,
        a.before === undefined ? null : JSON.stringify(a.before),
        a.after === undefined ? null : JSON.stringify(a.after),
        configVersion,
      );
  }

  async appendAudit(entry: Omit<AuditEntry, 'id' | 'configVersion'>): Promise<void> {
    this.#guard(() => this.#insertAudit(entry, this.#version()));
  }

  async listAudit(q: { limit?: number; resource?: string }): Promise<AuditEntry[]> {
    return this.#guard(() => this.#listAudit(q));
  }

  #listAudit(q: { limit?: number; resource?: string }): AuditEntry[] {
    const limit = Math.min(Math.max(1, q.limit ?? 100), 10_000);
    const rows = (
      q.resource === undefined
        ? this.#db.prepare(`SELECT * FROM audit ORDER BY id DESC LIMIT ${limit}`).all()
        : this.#db.prepare(`SELECT * FROM audit WHERE resource = ? ORDER BY id DESC LIMIT ${limit}`).all(q.resource)
    ) as Record<string, string | number | null>[];
    return rows.map((r) => ({
      id: Number(r.id),
      at: String(r.at),
      actor: String(r.actor),
      action: String(r.action),
      resource: String(r.resource),
      before: r.before === null ? null : JSON.parse(String(r.before)),
      after: r.after === null ? null : JSON.parse(String(r.after)),
      configVersion: Number(r.config_version),
    }));
  }

  async createToken(t: TokenRecord): Promise<void> {
    try {
      this.#db
        .prepare('INSERT INTO tokens (id, name, role, secret_sha256, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(t.id, t.name, t.role, t.secretSha256, t.createdAt);
    } catch (err) {
      if (String((err as Error).message).includes('UNIQUE')) {
        throw new FulcrumError('conflict', `name: a token named "${t.name}" already exists`, 'name');
      }
      throw sqliteFault(err);
    }
  }

  async listTokens(): Promise<TokenRecord[]> {
    const rows = this.#guard(
      () => this.#db.prepare('SELECT * FROM tokens ORDER BY rowid').all() as Record<string, string>[],
    );
    return rows.map((r) => ({
      id: r.id!,
      name: r.name!,
      role: r.role as Role,
      secretSha256: r.secret_sha256!,
      createdAt: r.created_at!,
    }));
  }

  async deleteToken(id: string): Promise<boolean> {
    return this.#guard(() => Number(this.#db.prepare('DELETE FROM tokens WHERE id = ?').run(id).changes) > 0);
  }

  async getSecret(key: string): Promise<string | undefined> {
    const r = this.#guard(
      () => this.#db.prepare('SELECT value FROM secrets WHERE key = ?').get(key) as { value: string } | undefined,
    );
    return r?.value;
  }

  async setSecret(key: string, value: string): Promise<void> {
    this.#guard(() =>
      this.#db
        .prepare(
          'INSERT INTO secrets (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        )
        .run(key, value),
    );
  }

  async heartbeat(node: NodeRecord): Promise<void> {
    this.#guard(() =>
      this.#db
        .prepare(
          'INSERT INTO nodes (name, applied_version, last_seen) VALUES (?, ?, ?) ' +
            'ON CONFLICT (name) DO UPDATE SET applied_version = excluded.applied_version, last_seen = excluded.last_seen',
        )
        .run(node.name, node.appliedVersion, node.lastSeen),
    );
  }

  async listNodes(): Promise<NodeRecord[]> {
    const rows = this.#guard(
      () =>
        this.#db.prepare('SELECT name, applied_version, last_seen FROM nodes ORDER BY name').all() as {
          name: string;
          applied_version: number;
          last_seen: string;
        }[],
    );
    return rows.map((r) => ({ name: r.name, appliedVersion: Number(r.applied_version), lastSeen: r.last_seen }));
  }

  /** One process writes a SQLite store: there is nothing to hear from others. */
  watch(_fn: (change: StoreChange) => void): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}
