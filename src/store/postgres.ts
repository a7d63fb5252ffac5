import pg from 'pg';
import { type ConfigState, emptyConfig, type ResourceKind } from '../config/model.ts';
import { FulcrumError } from '../core/errors.ts';
import type { FulcrumEvent } from '../runtime/events.ts';
import { postgresFault } from './faults.ts';
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

type Value = string | number | null;

interface KindTable {
  table: string;
  key: keyof ConfigState;
  columns: readonly [column: string, from: (doc: Record<string, unknown>) => Value][];
}

const str = (k: string) => (d: Record<string, unknown>) => (d[k] ?? null) as Value;

/** The same tables as sqlite.ts (one per kind, id, parent ids, name, the JSON document). */
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

/** The NOTIFY channel every node LISTENs on; payloads `config:<version>` and `tokens`. */
export const NOTIFY_CHANNEL = 'fulcrum_changes';

/** Advisory lock key held while migrating, so nodes starting together migrate once. */
const MIGRATION_LOCK = 7_314_159_265;

/** How long a query or a new connection may take before the store answers `store_unavailable` (ms). */
const QUERY_TIMEOUT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 3_000;

/** Delay between attempts to re-open the LISTEN connection after it was lost (ms). */
const RELISTEN_DELAY_MS = 500;

type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * Runs pending migrations (the `postgres` dialect) under an advisory lock, each in its own
 * transaction, recorded in `schema_migrations`. Answers the schema version. Throws an Error
 * (changing nothing) when the database was written by a newer Fulcrum.
 */
export async function migratePostgres(
  client: pg.ClientBase,
  migrations: readonly Migration[] = Migrations,
): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    const r = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
    let current = r.rows[0]?.v ?? 0;
    const latest = latestSchemaVersion(migrations);
    if (current > latest) {
      throw new Error(
        `store: the database is at schema version ${current}, newer than this Fulcrum knows (${latest}); run a newer Fulcrum`,
      );
    }
    for (const m of migrations) {
      if (m.version <= current) continue;
      await client.query('SAVEPOINT m');
      await client.query(m.postgres);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        new Date().toISOString(),
      ]);
      await client.query('RELEASE SAVEPOINT m');
      current = m.version;
    }
    await client.query('COMMIT');
    return current;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** `postgres://user:password@host:port/db` without the password, for logs and messages. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:***@');
}

/**
 * PostgreSQL configuration store (C5), shared by every node: the same tables and contract as
 * the SQLite store (one conformance suite, `conformance.ts`). A commit takes the version row
 * `FOR UPDATE`, so concurrent commits from several nodes are serialised and a stale
 * `baseVersion` is refused with `conflict` (no lost update); it bumps configVersion and sends
 * `NOTIFY fulcrum_changes, 'config:<version>'` in the same transaction. Token changes notify
 * `tokens`. A dedicated client LISTENs and re-opens itself when the connection is lost
 * (`watch` subscribers hear `reconnected`). Every fault of the server or the connection is a
 * `store_unavailable` error (faults.ts); the pool reconnects by itself on the next query.
 */
export class PostgresStore implements ConfigStore {
  readonly engine = 'postgres' as const;
  /** The connection URL without its password. */
  readonly url: string;
  readonly #connectionString: string;
  readonly #pool: pg.Pool;
  #listener: pg.Client | undefined;
  #relisten: NodeJS.Timeout | undefined;
  #watchers = new Set<(c: StoreChange) => void>();
  #closed = false;
  /** The last error of the LISTEN connection or of an idle pooled client (for the log of whoever asks). */
  lastConnectionError: Error | undefined;

  private constructor(connectionString: string) {
    this.#connectionString = connectionString;
    this.url = redactUrl(connectionString);
    this.#pool = new pg.Pool({
      connectionString,
      max: 5,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      idleTimeoutMillis: 10_000,
      application_name: 'fulcrum',
    });
    // An idle client whose backend was terminated emits here; the pool drops it and opens a new one when asked.
    this.#pool.on('error', (err) => {
      this.lastConnectionError = err;
    });
  }

  /**
   * Connects to `connectionString` (`postgres://user@host:port/db`), migrates the schema and
   * starts listening for changes. Throws an Error naming the (password-free) URL when the
   * server cannot be reached or the schema is newer than this build.
   */
  static async open(connectionString: string): Promise<PostgresStore> {
    const s = new PostgresStore(connectionString);
    try {
      const c = await s.#pool.connect();
      try {
        await migratePostgres(c);
      } finally {
        c.release();
      }
      await s.#listen();
    } catch (err) {
      await s.close();
      throw new Error(`store: cannot open ${s.url}: ${(err as Error).message}`, { cause: err });
    }
    return s;
  }

  async #listen(): Promise<void> {
    const c = new pg.Client({ connectionString: this.#connectionString, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    const lost = (err?: Error) => {
      if (err) this.lastConnectionError = err;
      if (this.#listener !== c) return;
      this.#listener = undefined;
      c.end().catch(() => {});
      this.#scheduleRelisten();
    };
    c.on('error', lost);
    c.on('end', () => lost());
    c.on('notification', (n) => {
      if (n.channel !== NOTIFY_CHANNEL) return;
      const p = n.payload ?? '';
      if (p === 'tokens') this.#emit({ kind: 'tokens' });
      else if (p.startsWith('config:')) this.#emit({ kind: 'config', version: Number(p.slice(7)) });
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch (err) {
      c.end().catch(() => {});
      throw err;
    }
    if (this.#closed) {
      await c.end().catch(() => {});
      return;
    }
    this.#listener = c;
  }

  #scheduleRelisten(): void {
    if (this.#closed || this.#relisten) return;
    this.#relisten = setTimeout(() => {
      this.#relisten = undefined;
      if (this.#closed) return;
      this.#listen().then(
        () => {
          if (this.#listener) this.#emit({ kind: 'reconnected' });
        },
        (err) => {
          this.lastConnectionError = err as Error;
          this.#scheduleRelisten();
        },
      );
    }, RELISTEN_DELAY_MS);
  }

  /** True while the LISTEN connection is open. */
  get listening(): boolean {
    return this.#listener !== undefined;
  }

  #emit(c: StoreChange): void {
    for (const fn of this.#watchers) {
      try {
        fn(c);
      } catch {
        // a watcher's failure is its own
      }
    }
  }

  watch(fn: (change: StoreChange) => void): () => void {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  async #q<R extends pg.QueryResultRow = Record<string, Value>>(
    sql: string,
    args: unknown[] = [],
    on: Queryable = this.#pool,
  ): Promise<pg.QueryResult<R>> {
    try {
      return await on.query<R>(sql, args);
    } catch (err) {
      throw postgresFault(err);
    }
  }

  /** Runs `fn` in one transaction on one pooled client; faults become `store_unavailable`. */
  async #tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await this.#pool.connect();
    } catch (err) {
      throw postgresFault(err);
    }
    let broken = false;
    try {
      await this.#q('BEGIN', [], c);
      const out = await fn(c);
      await this.#q('COMMIT', [], c);
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw postgresFault(err);
    } finally {
      c.release(broken);
    }
  }

  async #version(on: Queryable = this.#pool, lock = false): Promise<number> {
    const r = await this.#q<{ value: string }>(
      `SELECT value FROM meta WHERE key = 'configVersion'${lock ? ' FOR UPDATE' : ''}`,
      [],
      on,
    );
    return Number(r.rows[0]?.value ?? 0);
  }

  currentVersion(): Promise<number> {
    return this.#version();
  }

  /** One consistent read of everything (REPEATABLE READ: the version and the rows agree). */
  async load(): Promise<ConfigState> {
    return this.#tx(async (c) => {
      await this.#q('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY', [], c);
      const state = emptyConfig();
      state.version = await this.#version(c);
      for (const t of Object.values(Tables)) {
        const r = await this.#q<{ doc: string; version: number }>(
          `SELECT doc, version FROM ${t.table} ORDER BY seq`,
          [],
          c,
        );
        (state[t.key] as unknown[]) = r.rows.map((row) => ({ ...JSON.parse(row.doc), version: Number(row.version) }));
      }
      return state;
    });
  }

  async commit(change: ConfigChange): Promise<number> {
    return this.#tx(async (c) => {
      const version = await this.#version(c, true);
      if (version !== change.baseVersion) {
        throw new FulcrumError(
          'conflict',
          `configVersion: the configuration changed meanwhile (now ${version}, change based on ${change.baseVersion}); retry`,
          'configVersion',
        );
      }
      for (const e of change.expect ?? []) {
        const r = await this.#q<{ version: number }>(
          `SELECT version FROM ${Tables[e.kind].table} WHERE id = $1 FOR UPDATE`,
          [e.id],
          c,
        );
        const current = r.rows[0] === undefined ? undefined : Number(r.rows[0].version);
        if (current !== e.version) throw staleVersionError(e.kind, e.id, current, e.version);
      }
      for (const d of change.deletes) await this.#q(`DELETE FROM ${Tables[d.kind].table} WHERE id = $1`, [d.id], c);
      for (const u of change.upserts) await this.#upsert(u, c);
      const next = version + 1;
      await this.#q("UPDATE meta SET value = $1 WHERE key = 'configVersion'", [String(next)], c);
      await this.#insertAudit(change.audit, next, c);
      await this.#q('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, `config:${next}`], c);
      return next;
    });
  }

  async #upsert(u: Upsert, c: Queryable): Promise<void> {
    const t = Tables[u.kind];
    const { version: _version, ...doc } = u.doc as unknown as Record<string, unknown>;
    const cols = t.columns.map((x) => x[0]);
    const n = cols.length;
    // The resource's version: 1 when created, + 1 on every change (the column, never the document).
    const sql =
      `INSERT INTO ${t.table} (id, ${cols.join(', ')}, doc, version) VALUES ($1, ${cols.map((_, i) => `$${i + 2}`).join(', ')}, $${n + 2}, 1) ` +
      `ON CONFLICT (id) DO UPDATE SET ${cols.map((x) => `${x} = excluded.${x}`).join(', ')}, doc = excluded.doc, ` +
      `version = ${t.table}.version + 1`;
    await this.#q(sql, [doc.id as string, ...t.columns.map((x) => x[1](doc)), JSON.stringify(doc)], c);
  }

  async appendEvents(events: readonly FulcrumEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    return this.#tx(async (c) => {
      const out: StoredEvent[] = [];
      const lbs = new Set<string | null>();
      // One statement per 1 000 events; rows go in in the given order, so their ids grow with it.
      for (let i = 0; i < events.length; i += 1000) {
        const chunk = events.slice(i, i + 1000);
        const col = (f: (e: FulcrumEvent) => string | null) => chunk.map(f);
        const r = await this.#q<{ id: string }>(
          'INSERT INTO events (at, kind, load_balancer_id, backend_id, server_id, doc) ' +
            'SELECT at, kind, lb, be, srv, doc FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) ' +
            'WITH ORDINALITY AS t(at, kind, lb, be, srv, doc, n) ORDER BY n RETURNING id',
          [
            col((e) => e.at),
            col((e) => e.kind),
            col((e) => e.loadBalancerId),
            col((e) => e.backendId),
            col((e) => e.serverId),
            col((e) => JSON.stringify(e)),
          ],
          c,
        );
        const ids = r.rows.map((row) => Number(row.id)).sort((x, y) => x - y);
        chunk.forEach((e, j) => {
          out.push({ ...e, id: ids[j]! });
          lbs.add(e.loadBalancerId);
        });
      }
      for (const lb of lbs) {
        await this.#q(
          'DELETE FROM events WHERE load_balancer_id IS NOT DISTINCT FROM $1 AND id <= (' +
            'SELECT id FROM events WHERE load_balancer_id IS NOT DISTINCT FROM $1 ORDER BY id DESC LIMIT 1 OFFSET $2)',
          [lb, EVENTS_KEPT_PER_LOAD_BALANCER],
          c,
        );
      }
      return out;
    });
  }

  async listEvents(q: EventQuery): Promise<StoredEvent[]> {
    const where: string[] = [];
    const args: Value[] = [];
    const add = (cond: (n: number) => string, v: Value | undefined) => {
      if (v === undefined) return;
      args.push(v);
      where.push(cond(args.length));
    };
    add((n) => `load_balancer_id = $${n}`, q.loadBalancerId);
    add((n) => `backend_id = $${n}`, q.backendId);
    add((n) => `server_id = $${n}`, q.serverId);
    add((n) => `kind = $${n}`, q.kind);
    add((n) => `at > $${n}`, q.sinceAt);
    add((n) => `id > $${n}`, q.sinceId);
    const limit = Math.min(Math.max(1, q.limit ?? 100), 10_000);
    const r = await this.#q<{ id: string; doc: string }>(
      `SELECT id, doc FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`,
      args,
    );
    return r.rows.map((row) => ({ ...(JSON.parse(row.doc) as FulcrumEvent), id: Number(row.id) }));
  }

  async #insertAudit(a: Omit<AuditEntry, 'id' | 'configVersion'>, configVersion: number, c: Queryable): Promise<void> {
    await this.#q(
      'INSERT INTO audit (at, actor, action, resource, before, after, config_version) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [
        a.at,
        a.actor,
        a.action,
        a.resource,
        a.before === undefined ? null : JSON.stringify(a.before),
        a.after === undefined ? null : JSON.stringify(a.after),
        configVersion,
      ],
      c,
    );
  }

  async appendAudit(entry: Omit<AuditEntry, 'id' | 'configVersion'>): Promise<void> {
    await this.#tx(async (c) => this.#insertAudit(entry, await this.#version(c), c));
  }

  async listAudit(q: { limit?: number; resource?: string }): Promise<AuditEntry[]> {
    const limit = Math.min(Math.max(1, q.limit ?? 100), 10_000);
    const r =
      q.resource === undefined
        ? await this.#q(`SELECT * FROM audit ORDER BY id DESC LIMIT ${limit}`)
        : await this.#q(`SELECT * FROM audit WHERE resource = $1 ORDER BY id DESC LIMIT ${limit}`, [q.resource]);
    return r.rows.map((row) => ({
      id: Number(row.id),
      at: String(row.at),
      actor: String(row.actor),
      action: String(row.action),
      resource: String(row.resource),
      before: row.before === null ? null : JSON.parse(String(row.before)),
      after: row.after === null ? null : JSON.parse(String(row.after)),
      configVersion: Number(row.config_version),
    }));
  }

  async createToken(t: TokenRecord): Promise<void> {
    try {
      await this.#tx(async (c) => {
        await this.#q(
          'INSERT INTO tokens (id, name, role, secret_sha256, created_at) VALUES ($1, $2, $3, $4, $5)',
          [t.id, t.name, t.role, t.secretSha256, t.createdAt],
          c,
        );
        await this.#q('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, 'tokens'], c);
      });
    } catch (err) {
      if ((err as { code?: string }).code === '23505') {
        throw new FulcrumError('conflict', `name: a token named "${t.name}" already exists`, 'name');
      }
      throw err;
    }
  }

  async listTokens(): Promise<TokenRecord[]> {
    const r = await this.#q<Record<string, string>>('SELECT * FROM tokens ORDER BY seq');
    return r.rows.map((row) => ({
      id: row.id!,
      name: row.name!,
      role: row.role as Role,
      secretSha256: row.secret_sha256!,
      createdAt: row.created_at!,
    }));
  }

  async deleteToken(id: string): Promise<boolean> {
    return this.#tx(async (c) => {
      const r = await this.#q('DELETE FROM tokens WHERE id = $1', [id], c);
      await this.#q('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, 'tokens'], c);
      return (r.rowCount ?? 0) > 0;
    });
  }

  async getSecret(key: string): Promise<string | undefined> {
    const r = await this.#q<{ value: string }>('SELECT value FROM secrets WHERE key = $1', [key]);
    return r.rows[0]?.value;
  }

  async setSecret(key: string, value: string): Promise<void> {
    await this.#q(
      'INSERT INTO secrets (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }

  async heartbeat(node: NodeRecord): Promise<void> {
    await this.#q(
      'INSERT INTO nodes (name, applied_version, last_seen) VALUES ($1, $2, $3) ' +
        'ON CONFLICT (name) DO UPDATE SET applied_version = excluded.applied_version, last_seen = excluded.last_seen',
      [node.name, node.appliedVersion, node.lastSeen],
    );
  }

  async listNodes(): Promise<NodeRecord[]> {
    const r = await this.#q<{ name: string; applied_version: number; last_seen: string }>(
      'SELECT name, applied_version, last_seen FROM nodes ORDER BY name',
    );
    return r.rows.map((row) => ({
      name: row.name,
      appliedVersion: Number(row.applied_version),
      lastSeen: row.last_seen,
    }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#relisten) clearTimeout(this.#relisten);
    this.#watchers.clear();
    const l = this.#listener;
    this.#listener = undefined;
    await l?.end().catch(() => {});
    await this.#pool.end().catch(() => {});
  }
}
