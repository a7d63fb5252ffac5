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
import { type ApiAnswer, apiAnswer, apiRequest, type Json, TOKEN } from './helpers/fulcrum.ts';

export type { Json };

/** The admin token every API test uses (the harness's). */
export const ADMIN = TOKEN;

/** A running API over a real SQLite store in a temp dir and a real Plane. */
export interface ApiHarness {
  app: FastifyInstance;
  control: ControlPlane;
  store: SqliteStore;
  plane: Plane;
  runtime: Runtime;
  clock: FakeClock;
  dir: string;
  /** Sends a request (`url` from `/`) with the admin token (or `token`; `null`: none); answers as the harness's `api`. */
  call(method: string, url: string, body?: unknown, token?: string | null): Promise<ApiAnswer>;
  /** Closes the app, the control plane and the store (keeps the dir unless `removeDir`). */
  close(removeDir?: boolean): Promise<void>;
}

/**
 * The one harness that is not `startTestFulcrum` (test/helpers/fulcrum.ts): the control plane
 * and the API in-process on a FakeClock, answered through Fastify's `inject` (no socket), for
 * rules that need time under control. `dir` reuses a data dir (restart tests);
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
      const req = apiRequest(method, body, token);
      const res = await app.inject({ method: method as 'GET', url, headers: req.headers, payload: req.body });
      return apiAnswer(res.statusCode, res.headers, res.body);
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
