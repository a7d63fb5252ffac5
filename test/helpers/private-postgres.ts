import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './plane.ts';

const run = promisify(execFile);

/**
 * A PostgreSQL server of one test (issue 14 point 4): `initdb` in a temp dir, started on a free
 * loopback port with `pg_ctl`, stopped and started again by the test (a failover, a crash),
 * removed at `close()`. Never the shared server on 5432. As root (here and in CI) the commands
 * run as the `postgres` user (`runuser`), which owns the temp dir, since initdb refuses root.
 */
export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:PORT/fulcrum`: the database the test's nodes share. */
  url: string;
  port: number;
  /** Starts the server (again, on the same port and data); resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops the server: `immediate` (default) drops every connection at once, as a crash or a failover. */
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  /** Stops it when running and removes its directory. Idempotent. */
  close(): Promise<void>;
}

/** The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((x, y) => Number(y) - Number(x));
  return versions[0] === undefined ? undefined : path.join(root, versions[0], 'bin');
}

/** Why a private server cannot be made here (a skip reason), or undefined when it can. */
export function privatePostgresMissing(): string | undefined {
  if (postgresBinDir() === undefined) return 'initdb not found under /usr/lib/postgresql/*/bin (install postgresql)';
  return undefined;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error(privatePostgresMissing());
  const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-pg-'));
  const data = path.join(dir, 'data');
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const pg = (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args]) : run(path.join(bin, cmd), args);
  const port = await freePort();
  await pg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  let running = false;
  let closed = false;
  const server: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/fulcrum`,
    port,
    async start() {
      const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
      await pg('pg_ctl', ['-D', data, '-o', opts, '-l', path.join(dir, 'log'), '-w', '-t', '30', 'start']);
      running = true;
    },
    async stop(mode = 'immediate') {
      await pg('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
      running = false;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (running) await server.stop('immediate').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await server.start();
    await pg('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'fulcrum']);
  } catch (err) {
    await server.close();
    throw err;
  }
  return server;
}
