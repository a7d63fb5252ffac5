import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The shared PostgreSQL server of the tests (trust auth; never stopped or reconfigured by a test). */
export const PG_ADMIN_URL = process.env.FULCRUM_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database of one test: its URL and `drop()` (terminates its connections first). */
export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
  /** Terminates every backend connected to this database (a lost connection, as in a failover). */
  terminateConnections(): Promise<number>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Creates `fulcrum_test_<random>` on the shared server for one test. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `fulcrum_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  const terminateConnections = () =>
    admin(async (c) => {
      const r = await c.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      return r.rowCount ?? 0;
    });
  return {
    name,
    url: u.toString(),
    terminateConnections,
    async drop() {
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
