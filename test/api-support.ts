import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../src/api/app.ts';
import { createBalancer } from '../src/balancer/registry.ts';
import { ControlPlane } from '../src/control/control-plane.ts';
import { FakeClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/log.ts';
import { Plane } from '../src/dataplane/plane.ts';
import type { ListenerFactory } from '../src/dataplane/types.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { SqliteStore } from '../src/store/sqlite.ts';

/** The admin token every API test uses. */
export const ADMIN = 'test-admin-token-0123456789';

/** A running API over a real SQLite store in a temp dir and a real Plane. */
export interface ApiHarness {
  app: FastifyInstance;
  control: ControlPlane;
  store: SqliteStore;
  plane: Plane;
  runtime: Runtime;
  clock: FakeClock;
  dir: string;
  /** Sends a request with the admin token (or `token`); answers status and parsed JSON. */
  call(
    method: string,
    url: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: Json; headers: Record<string, unknown> }>;
  /** Closes the app, the control plane and the store (keeps the dir unless `removeDir`). */
  close(removeDir?: boolean): Promise<void>;
}

/**
 * Starts the control plane and the API in-process. `dir` reuses a data dir (restart tests);
 * `factories` gives the plane real listeners when a test needs them.
 */
export async function startApi(
  options: { dir?: string; factories?: Partial<Record<'http' | 'https' | 'tcp' | 'udp', ListenerFactory>> } = {},
): Promise<ApiHarness> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'fulcrum-api-'));
  const clock = new FakeClock();
  const store = SqliteStore.open(dir);
  const runtime = new Runtime(createBalancer, { clock });
  const plane = new Plane(runtime, options.factories ?? {}, silentLogger);
  const control = await ControlPlane.start({ store, plane });
  const app = await buildApi({
    control,
    dataDir: dir,
    env: { FULCRUM_ADMIN_TOKEN: ADMIN },
    processMetrics: false,
  });
  await app.ready();
  return {
    app,
    control,
    store,
    plane,
    runtime,
    clock,
    dir,
    async call(method, url, body, token = ADMIN) {
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers,
        ...(body === undefined ? {} : { payload: body as object }),
      });
      let parsed: unknown = res.body;
      if ((res.headers['content-type'] ?? '').toString().includes('json')) parsed = res.json();
      return { status: res.statusCode, body: parsed, headers: res.headers };
    },
    async close(removeDir = false) {
      await app.close();
      await control.close();
      await plane.close(0);
      await store.close();
      if (removeDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A parsed JSON answer, read field by field in tests. */
// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked with assertions, not types
export type Json = any;
