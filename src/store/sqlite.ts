import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type ConfigState, emptyConfig } from '../config/model.ts';
import { FulcrumError } from '../core/errors.ts';
import type { FulcrumEvent } from '../runtime/events.ts';
import { createPrivateFile, secureDataDir } from './data-dir.ts';
import { sqliteFault } from './faults.ts';
import { type Migration, Migrations, pendingMigrations, SCHEMA_MIGRATIONS_TABLE } from './migrations.ts';
import {
  auditInsert,
  auditOf,
  auditQuery,
  eventOf,
  eventsQuery,
  heartbeatUpsert,
  NODES_SELECT,
  nodeOf,
  sqlitePlaceholder as ph,
  type Row,
  resourceUpsert,
  type SqlValue,
  type Statement,
  secretInsertIfAbsent,
  secretUpsert,
  sessionInsert,
  sessionOf,
  staleBaseMessage,
  Tables,
  tokenInsert,
  tokenNameTaken,
  tokenOf,
} from './rows.ts';
import {
  type AuditEntry,
  type ConfigChange,
  type ConfigStore,
  EVENTS_KEPT_PER_LOAD_BALANCER,
  type EventQuery,
  type NodeRecord,
  type SessionRecord,
  type StoreChange,
  type StoredEvent,
  staleVersionError,
  type TokenRecord,
} from './types.ts';

/** Rolls back the open transaction, if SQLite has not already (it does on disk full, I/O errors). */
function rollback(db: DatabaseSync): void {
  if (db.isTransaction) db.exec('ROLLBACK');
}

/** How long a write waits for another process's lock before answering 503 (ms). */
export const BUSY_TIMEOUT_MS = 250;

/**
 * Runs pending migrations in order, each in its own transaction. Returns the schema version.
 * Throws an Error (changing nothing) when the database was written by a newer Fulcrum.
 */
export function migrate(db: DatabaseSync, migrations: readonly Migration[] = Migrations): number {
  db.exec(SCHEMA_MIGRATIONS_TABLE);
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  let current = row.v ?? 0;
  for (const m of pendingMigrations(current, migrations)) {
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
      // node:sqlite is synchronous: waiting for another process's lock blocks the event loop, and
      // with it every listener. This process is the only writer; wait briefly, then answer 503.
      this.#db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
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
        throw new FulcrumError('conflict', staleBaseMessage(version, change.baseVersion), 'configVersion');
      }
      for (const e of change.expect ?? []) {
        const row = db.prepare(`SELECT version FROM ${Tables[e.kind].table} WHERE id = ?`).get(e.id) as
          | { version: number }
          | undefined;
        const current = row === undefined ? undefined : Number(row.version);
        if (current !== e.version) throw staleVersionError(e.kind, e.id, current, e.version);
      }
      for (const d of change.deletes) db.prepare(`DELETE FROM ${Tables[d.kind].table} WHERE id = ?`).run(d.id);
      for (const u of change.upserts) this.#run(resourceUpsert(u, ph));
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

  async appendEvents(events: readonly FulcrumEvent[]): Promise<StoredEvent[]> {
    return this.#guard(() => this.#appendEvents(events));
  }

  #appendEvents(events: readonly FulcrumEvent[]): StoredEvent[] {
    if (events.length === 0) return [];
    const db = this.#db;
    const out: StoredEvent[] = [];
    const lbs = new Set<string | null>();
    this.#transaction(() => {
      const ins = db.prepare(
        'INSERT INTO events (at, kind, load_balancer_id, backend_id, server_id, doc) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const e of events) {
        const r = ins.run(e.at, e.kind, e.loadBalancerId, e.backendId, e.serverId, JSON.stringify(e));
        out.push({ ...e, id: Number(r.lastInsertRowid) });
        lbs.add(e.loadBalancerId);
      }
      for (const lb of lbs) {
        const cut = this.#get(
          'SELECT id FROM events WHERE load_balancer_id IS ? ORDER BY id DESC LIMIT 1 OFFSET ?',
          lb,
          EVENTS_KEPT_PER_LOAD_BALANCER,
        );
        if (cut) db.prepare('DELETE FROM events WHERE load_balancer_id IS ? AND id <= ?').run(lb, Number(cut.id));
      }
    });
    return out;
  }

  async listEvents(q: EventQuery): Promise<StoredEvent[]> {
    return this.#guard(() => this.#listEvents(q));
  }

  #listEvents(q: EventQuery): StoredEvent[] {
    return this.#all(eventsQuery(q, ph)).map(eventOf);
  }

  /** Runs one statement (`run`), or all its rows (`all`) or its first (`get`). */
  #run(st: Statement) {
    return this.#db.prepare(st.sql).run(...st.args);
  }
  #all(st: Statement): Row[] {
    return this.#db.prepare(st.sql).all(...st.args) as Row[];
  }
  #get(sql: string, ...args: SqlValue[]): Row | undefined {
    return this.#db.prepare(sql).get(...args) as Row | undefined;
  }

  #insertAudit(a: Omit<AuditEntry, 'id' | 'configVersion'>, configVersion: number): void {
    this.#run(auditInsert(a, configVersion, ph));
  }

  async appendAudit(entry: Omit<AuditEntry, 'id' | 'configVersion'>): Promise<void> {
    this.#guard(() => this.#insertAudit(entry, this.#version()));
  }

  async listAudit(q: { limit?: number; resource?: string }): Promise<AuditEntry[]> {
    return this.#guard(() => this.#all(auditQuery(q, ph)).map(auditOf));
  }

  async createToken(t: TokenRecord): Promise<void> {
    try {
      this.#run(tokenInsert(t, ph));
    } catch (err) {
      if (String((err as Error).message).includes('UNIQUE')) {
        throw new FulcrumError('conflict', tokenNameTaken(t.name), 'name');
      }
      throw sqliteFault(err);
    }
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.#guard(() => this.#all({ sql: 'SELECT * FROM tokens ORDER BY rowid', args: [] }).map(tokenOf));
  }

  async deleteToken(id: string): Promise<boolean> {
    return this.#guard(() => this.#transaction(() => this.#deleteToken(id)));
  }

  #deleteToken(id: string): boolean {
    this.#db.prepare('DELETE FROM sessions WHERE token_id = ?').run(id);
    return Number(this.#db.prepare('DELETE FROM tokens WHERE id = ?').run(id).changes) > 0;
  }

  /** Runs `fn` in one write transaction. */
  #transaction<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.#db.exec('COMMIT');
      return out;
    } catch (err) {
      rollback(this.#db);
      throw err;
    }
  }

  async getSecret(key: string): Promise<string | undefined> {
    const r = this.#guard(() => this.#get('SELECT value FROM secrets WHERE key = ?', key));
    return r === undefined ? undefined : String(r.value);
  }

  async setSecret(key: string, value: string): Promise<void> {
    this.#guard(() => this.#run(secretUpsert(key, value, ph)));
  }

  async createSecretIfAbsent(key: string, value: string): Promise<string> {
    return this.#guard(() => {
      this.#run(secretInsertIfAbsent(key, value, ph));
      return String(this.#get('SELECT value FROM secrets WHERE key = ?', key)?.value);
    });
  }

  async createSession(s: SessionRecord, now: number): Promise<void> {
    this.#guard(() =>
      this.#transaction(() => {
        this.#db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now);
        this.#run(sessionInsert(s, ph));
      }),
    );
  }

  async listSessions(now: number): Promise<SessionRecord[]> {
    return this.#guard(() =>
      this.#all({ sql: 'SELECT * FROM sessions WHERE expires_at > ? ORDER BY rowid', args: [now] }).map(sessionOf),
    );
  }

  async deleteSession(idSha256: string): Promise<boolean> {
    return this.#guard(
      () => Number(this.#db.prepare('DELETE FROM sessions WHERE id_sha256 = ?').run(idSha256).changes) > 0,
    );
  }

  async heartbeat(node: NodeRecord): Promise<void> {
    this.#guard(() => this.#run(heartbeatUpsert(node, ph)));
  }

  async listNodes(): Promise<NodeRecord[]> {
    return this.#guard(() => this.#all({ sql: NODES_SELECT, args: [] }).map(nodeOf));
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
