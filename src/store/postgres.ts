import pg from 'pg';
import { type ConfigState, emptyConfig } from '../config/model.ts';
import { FulcrumError } from '../core/errors.ts';
import type { FulcrumEvent } from '../runtime/events.ts';
import { postgresFault } from './faults.ts';
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
  postgresPlaceholder as ph,
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

type Value = SqlValue;

/** The NOTIFY channel every node LISTENs on; payloads `config:<version>` and `tokens` (tokens or sessions changed). */
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
    await client.query(SCHEMA_MIGRATIONS_TABLE);
    const r = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
    let current = r.rows[0]?.v ?? 0;
    for (const m of pendingMigrations(current, migrations)) {
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
      const onError = (err: Error): void => {
        s.lastConnectionError = err;
      };
      c.on('error', onError); // checked out: see #tx
      try {
        await migratePostgres(c);
      } finally {
        c.removeListener('error', onError);
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
    // A checked-out client has no pool listener: a backend terminated between two queries
    // (failover, pg_terminate_backend) would emit 'error' with no one listening and end the
    // process. Note it; the next query fails and the client is dropped on release.
    const onError = (err: Error): void => {
      broken = true;
      this.lastConnectionError = err;
    };
    c.on('error', onError);
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
      c.removeListener('error', onError);
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
        throw new FulcrumError('conflict', staleBaseMessage(version, change.baseVersion), 'configVersion');
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
      for (const u of change.upserts) await this.#st(resourceUpsert(u, ph), c);
      const next = version + 1;
      await this.#q("UPDATE meta SET value = $1 WHERE key = 'configVersion'", [String(next)], c);
      await this.#insertAudit(change.audit, next, c);
      await this.#q('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, `config:${next}`], c);
      return next;
    });
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
    return (await this.#st(eventsQuery(q, ph))).rows.map(eventOf);
  }

  /** Runs one statement of rows.ts. */
  #st(st: Statement, on: Queryable = this.#pool): Promise<pg.QueryResult<Row>> {
    return this.#q<Row>(st.sql, st.args, on);
  }

  /** Tells every node that the tokens or the sessions changed (in the transaction of `c`). */
  async #notifyTokens(c: Queryable): Promise<void> {
    await this.#q('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, 'tokens'], c);
  }

  async #insertAudit(a: Omit<AuditEntry, 'id' | 'configVersion'>, configVersion: number, c: Queryable): Promise<void> {
    await this.#st(auditInsert(a, configVersion, ph), c);
  }

  async appendAudit(entry: Omit<AuditEntry, 'id' | 'configVersion'>): Promise<void> {
    await this.#tx(async (c) => this.#insertAudit(entry, await this.#version(c), c));
  }

  async listAudit(q: { limit?: number; resource?: string }): Promise<AuditEntry[]> {
    return (await this.#st(auditQuery(q, ph))).rows.map(auditOf);
  }

  async createToken(t: TokenRecord): Promise<void> {
    try {
      await this.#tx(async (c) => {
        await this.#st(tokenInsert(t, ph), c);
        await this.#notifyTokens(c);
      });
    } catch (err) {
      if ((err as { code?: string }).code === '23505') {
        throw new FulcrumError('conflict', tokenNameTaken(t.name), 'name');
      }
      throw err;
    }
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.#q<Row>('SELECT * FROM tokens ORDER BY seq')).rows.map(tokenOf);
  }

  async deleteToken(id: string): Promise<boolean> {
    return this.#tx(async (c) => {
      await this.#q('DELETE FROM sessions WHERE token_id = $1', [id], c);
      const r = await this.#q('DELETE FROM tokens WHERE id = $1', [id], c);
      await this.#notifyTokens(c);
      return (r.rowCount ?? 0) > 0;
    });
  }

  async getSecret(key: string): Promise<string | undefined> {
    const r = await this.#q<{ value: string }>('SELECT value FROM secrets WHERE key = $1', [key]);
    return r.rows[0]?.value;
  }

  async setSecret(key: string, value: string): Promise<void> {
    await this.#st(secretUpsert(key, value, ph));
  }

  async createSecretIfAbsent(key: string, value: string): Promise<string> {
    await this.#st(secretInsertIfAbsent(key, value, ph));
    return String(await this.getSecret(key));
  }

  async createSession(s: SessionRecord, now: number): Promise<void> {
    await this.#tx(async (c) => {
      await this.#q('DELETE FROM sessions WHERE expires_at <= $1', [now], c);
      await this.#st(sessionInsert(s, ph), c);
      await this.#notifyTokens(c);
    });
  }

  async listSessions(now: number): Promise<SessionRecord[]> {
    return (await this.#q<Row>('SELECT * FROM sessions WHERE expires_at > $1', [now])).rows.map(sessionOf);
  }

  async deleteSession(idSha256: string): Promise<boolean> {
    return this.#tx(async (c) => {
      const r = await this.#q('DELETE FROM sessions WHERE id_sha256 = $1', [idSha256], c);
      await this.#notifyTokens(c);
      return (r.rowCount ?? 0) > 0;
    });
  }

  async heartbeat(node: NodeRecord): Promise<void> {
    await this.#st(heartbeatUpsert(node, ph));
  }

  async listNodes(): Promise<NodeRecord[]> {
    return (await this.#q<Row>(NODES_SELECT)).rows.map(nodeOf);
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
