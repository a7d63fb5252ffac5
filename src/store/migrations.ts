/**
 * Versioned migrations (C2, C5), each in two dialects: `sql` for SQLite, `postgres` for
 * PostgreSQL (the same tables and columns; PostgreSQL adds a `seq` column to resource tables
 * to keep insertion order, which SQLite keeps as `rowid`). Each runs once, in order, inside a
 * transaction, and is recorded in `schema_migrations`. Never edit a released migration: add a
 * new one (with both dialects).
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
  postgres: string;
}

/** The newest schema version this build knows; a database at a newer one is refused at start. */
export function latestSchemaVersion(migrations: readonly Migration[] = Migrations): number {
  return Math.max(0, ...migrations.map((m) => m.version));
}

/** Console sessions (issue 14): the SHA-256 of the cookie, its token, its expiry (epoch ms). */
const SESSIONS_TABLE = `
CREATE TABLE sessions (id_sha256 TEXT PRIMARY KEY, token_id TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE INDEX sessions_token ON sessions (token_id);
`;

/** Creates the table recording which migrations ran (both dialects). */
export const SCHEMA_MIGRATIONS_TABLE =
  'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)';

/**
 * The migrations still to run on a database at schema version `current`, in order. Throws an
 * Error (the caller changes nothing) when the database was written by a newer Fulcrum.
 */
export function pendingMigrations(current: number, migrations: readonly Migration[] = Migrations): Migration[] {
  const latest = latestSchemaVersion(migrations);
  if (current > latest) {
    throw new Error(
      `store: the database is at schema version ${current}, newer than this Fulcrum knows (${latest}); run a newer Fulcrum`,
    );
  }
  return migrations.filter((m) => m.version > current).sort((a, b) => a.version - b.version);
}

/** Resource tables: one per kind, rows with id, parent ids, name and the JSON document. */
export const Migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('configVersion', '0');
CREATE TABLE load_balancers (id TEXT PRIMARY KEY, name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE instances (id TEXT PRIMARY KEY, name TEXT NOT NULL, private_ip TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE certificates (id TEXT PRIMARY KEY, name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE backends (id TEXT PRIMARY KEY, load_balancer_id TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE frontends (id TEXT PRIMARY KEY, load_balancer_id TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE servers (
  id TEXT PRIMARY KEY, backend_id TEXT NOT NULL, instance_id TEXT, name TEXT NOT NULL, address TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX servers_backend ON servers (backend_id);
CREATE INDEX servers_address ON servers (address);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,
  load_balancer_id TEXT, backend_id TEXT, server_id TEXT, doc TEXT NOT NULL
);
CREATE INDEX events_lb ON events (load_balancer_id, id);
CREATE INDEX events_backend ON events (backend_id, id);
CREATE INDEX events_server ON events (server_id, id);
CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  resource TEXT NOT NULL, before TEXT, after TEXT, config_version INTEGER NOT NULL
);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, secret_sha256 TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE secrets (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`,
    postgres: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('configVersion', '0');
CREATE TABLE load_balancers (seq BIGSERIAL, id TEXT PRIMARY KEY, name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE instances (seq BIGSERIAL, id TEXT PRIMARY KEY, name TEXT NOT NULL, private_ip TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE certificates (seq BIGSERIAL, id TEXT PRIMARY KEY, name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE backends (seq BIGSERIAL, id TEXT PRIMARY KEY, load_balancer_id TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE frontends (seq BIGSERIAL, id TEXT PRIMARY KEY, load_balancer_id TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE servers (
  seq BIGSERIAL, id TEXT PRIMARY KEY, backend_id TEXT NOT NULL, instance_id TEXT, name TEXT NOT NULL, address TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX servers_backend ON servers (backend_id);
CREATE INDEX servers_address ON servers (address);
CREATE TABLE events (
  id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL,
  load_balancer_id TEXT, backend_id TEXT, server_id TEXT, doc TEXT NOT NULL
);
CREATE INDEX events_lb ON events (load_balancer_id, id);
CREATE INDEX events_backend ON events (backend_id, id);
CREATE INDEX events_server ON events (server_id, id);
CREATE TABLE audit (
  id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  resource TEXT NOT NULL, before TEXT, after TEXT, config_version INTEGER NOT NULL
);
CREATE TABLE tokens (
  seq BIGSERIAL, id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, secret_sha256 TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE secrets (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`,
  },
  {
    version: 2,
    name: 'nodes sharing the store (C5)',
    sql: `CREATE TABLE nodes (name TEXT PRIMARY KEY, applied_version INTEGER NOT NULL, last_seen TEXT NOT NULL);`,
    postgres: `CREATE TABLE nodes (name TEXT PRIMARY KEY, applied_version INTEGER NOT NULL, last_seen TEXT NOT NULL);`,
  },
  {
    version: 3,
    name: 'a version per resource (ETag, If-Match; issue 15 point 6)',
    sql: `
ALTER TABLE load_balancers ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE instances ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE certificates ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE backends ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE frontends ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE servers ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
`,
    postgres: `
ALTER TABLE load_balancers ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE instances ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE certificates ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE backends ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE frontends ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE servers ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
`,
  },
  {
    version: 4,
    name: 'console sessions shared by every node (C5)',
    sql: SESSIONS_TABLE,
    postgres: SESSIONS_TABLE,
  },
];
