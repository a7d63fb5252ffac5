import { FulcrumError } from '../core/errors.ts';

/**
 * Store faults (issue 14): every failure of the store itself — disk full, read-only file or
 * directory, database locked or busy, PostgreSQL unreachable or failing over — becomes a
 * FulcrumError `store_unavailable` (HTTP 503) whose message names the cause
 * (`store-unavailable: disk full`) and whose `cause` keeps the original error for the log.
 * Refusals (FulcrumError) and programming errors pass through unchanged.
 */

/** A `store_unavailable` error naming `cause`, keeping `original` as its `cause` (logged by the API). */
export function storeUnavailable(cause: string, original?: unknown): FulcrumError {
  const e = new FulcrumError(
    'store_unavailable',
    `store-unavailable: ${cause}; the data plane keeps serving the last applied configuration, retry later`,
  );
  if (original !== undefined) e.cause = original;
  return e;
}

/** SQLite primary result codes (https://sqlite.org/rescode.html) that are faults of the store, and their cause in words. */
const SqliteCauses: Record<number, string> = {
  5: 'database busy (locked by another process)',
  6: 'database table locked',
  7: 'out of memory',
  8: 'read-only database (the file or its directory is not writable)',
  10: 'disk I/O error',
  11: 'database file is corrupt',
  13: 'disk full',
  14: 'cannot open the database file',
  26: 'not a database file',
};

/** errno codes of the file system and network that mean the store cannot be reached or written. */
const ErrnoCauses: Record<string, string> = {
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EIO: 'disk I/O error',
};

/**
 * Maps an error thrown by `node:sqlite` to `store_unavailable` naming the cause; answers
 * `err` itself when it is not a store fault (a FulcrumError refusal, a bug).
 */
export function sqliteFault(err: unknown): unknown {
  if (err instanceof FulcrumError) return err;
  const e = err as { errcode?: number; code?: string; message?: string };
  if (typeof e?.errcode === 'number') {
    const cause = SqliteCauses[e.errcode & 0xff];
    if (cause) return storeUnavailable(cause, err);
  }
  if (typeof e?.code === 'string' && ErrnoCauses[e.code]) return storeUnavailable(ErrnoCauses[e.code]!, err);
  const msg = String(e?.message ?? '');
  if (/database or disk is full/i.test(msg)) return storeUnavailable('disk full', err);
  if (/readonly database|read-only/i.test(msg)) return storeUnavailable(SqliteCauses[8]!, err);
  if (/database is locked|busy/i.test(msg)) return storeUnavailable(SqliteCauses[5]!, err);
  if (/disk I\/O error/i.test(msg)) return storeUnavailable(SqliteCauses[10]!, err);
  return err;
}

/** Network errno codes of a lost or refused PostgreSQL connection. */
const NetCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EPIPE',
]);

/**
 * Maps an error of `pg` to `store_unavailable` naming the cause: the server unreachable or
 * the connection lost (refused, reset, terminated by the administrator, failing over: SQLSTATE
 * classes 08 and 57P), disk full (53100), out of connections (53300), read-only (25006, a
 * standby), the database not accepting connections (55000), missing (3D000) or the login
 * refused (class 28). Answers `err` itself otherwise.
 */
export function postgresFault(err: unknown): unknown {
  if (err instanceof FulcrumError) return err;
  const e = err as { code?: string; message?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  const msg = String(e?.message ?? err);
  if (code === '53100') return storeUnavailable('PostgreSQL disk full', err);
  if (code === '53300') return storeUnavailable('PostgreSQL has no free connection', err);
  if (code === '25006') return storeUnavailable('PostgreSQL is read-only (a standby, or failing over)', err);
  if (code === '55000' || code === '57P03') return storeUnavailable(`PostgreSQL refuses connections (${msg})`, err);
  if (code === '3D000') return storeUnavailable(`PostgreSQL database missing (${msg})`, err);
  if (code.startsWith('28')) return storeUnavailable(`PostgreSQL refused the login (${msg})`, err);
  if (
    NetCodes.has(code) ||
    code.startsWith('08') ||
    code.startsWith('57P') ||
    /Connection terminated|connection timeout|timeout exceeded|Client has encountered a connection error|Client was closed|not queryable|Query read timeout/i.test(
      msg,
    )
  ) {
    return storeUnavailable(`PostgreSQL unreachable (${msg})`, err);
  }
  return err;
}
