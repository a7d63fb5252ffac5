import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createPrivateFile } from './data-dir.ts';
import { PostgresStore } from './postgres.ts';
import { SqliteStore } from './sqlite.ts';
import type { ConfigStore } from './types.ts';

/** A parsed `--store` value (API.md "More of the contract"). */
export type StoreUrl = { engine: 'sqlite'; path: string } | { engine: 'postgres'; url: string };

/**
 * Parses `--store URL`: `sqlite:PATH` (a database file; relative to the working directory) or
 * `postgres://user[:password]@host[:port]/db` (also `postgresql://`). Throws an Error naming
 * `--store` and both accepted forms otherwise.
 */
export function parseStoreUrl(value: string): StoreUrl {
  if (value.startsWith('sqlite:')) {
    const p = value.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (p.length === 0) throw new Error('--store: sqlite: needs a file path, e.g. sqlite:./data/fulcrum.db');
    return { engine: 'sqlite', path: path.resolve(p) };
  }
  if (/^postgres(ql)?:\/\//.test(value)) {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new Error('--store: not a valid postgres:// URL (postgres://user@host:port/db)');
    }
    if (!u.hostname || u.pathname.length <= 1) {
      throw new Error('--store: a postgres URL needs a host and a database: postgres://user@host:port/db');
    }
    return { engine: 'postgres', url: value };
  }
  throw new Error('--store: must be sqlite:PATH or postgres://user@host:port/db');
}

/**
 * Opens the store a `--store` value names: a SQLite file (its directory secured as the data
 * dir's when the file is `fulcrum.db`; otherwise the file alone is made 0600) or a PostgreSQL database (connected, migrated, listening).
 * Without a value, `<dataDir>/fulcrum.db`. Throws an Error with a clear message when the store
 * cannot be opened (unreachable, corrupt, written by a newer Fulcrum); nothing is overwritten.
 */
export async function openStore(store: string | undefined, dataDir: string): Promise<ConfigStore> {
  if (store === undefined) return SqliteStore.open(dataDir);
  const u = parseStoreUrl(store);
  if (u.engine === 'postgres') return PostgresStore.open(u.url);
  if (path.basename(u.path) === 'fulcrum.db') return SqliteStore.open(path.dirname(u.path));
  mkdirSync(path.dirname(u.path), { recursive: true, mode: 0o700 });
  createPrivateFile(u.path);
  return new SqliteStore(u.path);
}
