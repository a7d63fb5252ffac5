import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type RunningFulcrum, type StartOptions, startFulcrum } from '../../src/main.ts';
import { get, type RawAnswer, rawHttp } from './http-client.ts';

export { get };

/** The admin token of every harness-started Fulcrum (and of test/api-support.ts). */
export const TOKEN = 'test-admin-token-0123456789';

/** A parsed JSON answer, read field by field in tests. */
// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked with assertions, not types
export type Json = any;

/** An API answer: status, the body (parsed when JSON, else the text) and the header fields. */
export interface ApiAnswer {
  status: number;
  body: Json;
  headers: Record<string, unknown>;
}

/**
 * One API call: `token` replaces the harness's admin token, `null` sends none. Never throws
 * for 4xx/5xx.
 */
export type ApiCall = (method: string, path: string, body?: unknown, token?: string | null) => Promise<ApiAnswer>;

/** The request an API call sends: method, the bearer token and a JSON body when there is one. */
export function apiRequest(
  method: string,
  body: unknown,
  token: string | null,
): { method: string; headers: Record<string, string>; body: string | undefined } {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
}

/** Reads an API answer: JSON when the content type says so, else the text. */
export function apiAnswer(status: number, headers: Record<string, unknown>, text: string): ApiAnswer {
  const json = String(headers['content-type'] ?? '').includes('json') && text !== '';
  return { status, body: json ? JSON.parse(text) : text || undefined, headers };
}

/**
 * API calls over HTTP to `apiUrl` (`http://host:port`) with `token`; `path` is below `/api/v1`.
 * For a Fulcrum started another way (a child process); the harness's `api` is this.
 */
export function apiCaller(apiUrl: string | (() => string), token: string): ApiCall {
  return async (method, p, body, as = token) => {
    const req = apiRequest(method, body, as);
    const base = typeof apiUrl === 'string' ? apiUrl : apiUrl();
    const r = await fetch(`${base}/api/v1${p}`, req);
    return apiAnswer(r.status, Object.fromEntries(r.headers), await r.text());
  };
}

/** `ok(method, path, body)`: an API call that throws unless 2xx and answers the body. */
export function okCaller(api: ApiCall): (method: string, path: string, body?: unknown) => Promise<Json> {
  return async (method, p, body) => {
    const r = await api(method, p, body);
    if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${p} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
}

/**
 * A minimal API client for a Fulcrum started some other way (a child process): `ok(method,
 * path, body)` throws unless 2xx and answers the JSON body.
 */
export function apiClient(apiUrl: string, token: string): (method: string, p: string, body?: unknown) => Promise<Json> {
  return okCaller(apiCaller(apiUrl, token));
}

/** What `startTestFulcrum` takes: src/main.ts's StartOptions, and where to register the cleanup. */
export interface TestFulcrumOptions extends Omit<StartOptions, 'adminToken'> {
  /** Default `TOKEN`; `null`: none given, Fulcrum takes FULCRUM_ADMIN_TOKEN or generates one into the data dir. */
  adminToken?: string | null;
  /** A test context (`t`): `t.after` closes the Fulcrum and removes the temp data dir. */
  t?: { after(fn: () => Promise<void>): unknown };
}

/**
 * A whole Fulcrum (store, API, data plane, health checks) in this process, through
 * src/main.ts's `startFulcrum`: by default on an ephemeral API port, a fresh temp data dir,
 * the admin token `TOKEN`, no console and silent logs; any StartOptions overrides them.
 */
export interface TestFulcrum {
  readonly fulcrum: RunningFulcrum;
  readonly dataDir: string;
  readonly token: string;
  /** `http(s)://127.0.0.1:port` of the API. */
  readonly url: string;
  /** The API's port. */
  readonly port: number;
  /** Calls the API (`path` below `/api/v1`) with the admin token, or `token` (`null`: none). Never throws for 4xx/5xx. */
  api: ApiCall;
  /** Calls the API and throws unless 2xx; answers the body. */
  ok(method: string, path: string, body?: unknown): Promise<Json>;
  /** Sends raw bytes to the API port (`rawHttp`; `mustClose` by default). */
  raw(
    bytes: string | Buffer | readonly (string | Buffer)[],
    options?: Parameters<typeof rawHttp>[2],
  ): Promise<RawAnswer>;
  /** Graceful stop (`maxDrainMs` as `RunningFulcrum.close`); keeps the data dir. */
  stop(maxDrainMs?: number): Promise<void>;
  /** Stops and starts again on the same data dir with the same options (restart restores, C2). */
  restart(): Promise<void>;
  /** Stops (when running) and removes the data dir when the harness made it. Idempotent. */
  close(): Promise<void>;
}

export async function startTestFulcrum(options: TestFulcrumOptions = {}): Promise<TestFulcrum> {
  const { t, adminToken = TOKEN, ...start } = options;
  const ownDir = start.dataDir === undefined;
  const dataDir = start.dataDir ?? mkdtempSync(path.join(tmpdir(), 'fulcrum-test-'));
  // FULCRUM_TEST_WORKERS=N runs a suite with N data-plane worker threads (test/workers-suites.test.ts).
  const workers = Number(process.env.FULCRUM_TEST_WORKERS) || undefined;
  const opts: StartOptions = { api: '127.0.0.1:0', logLevel: 'silent', console: false, workers, ...start, dataDir };
  if (adminToken !== null) opts.adminToken = adminToken;
  let fulcrum: RunningFulcrum | undefined;
  try {
    fulcrum = await startFulcrum(opts);
  } catch (err) {
    if (ownDir) removeDir(dataDir);
    throw err;
  }
  let running = true;
  const token =
    adminToken ?? process.env.FULCRUM_ADMIN_TOKEN ?? readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  const api = apiCaller(() => fulcrum!.apiUrl, token);
  const h: TestFulcrum = {
    get fulcrum() {
      return fulcrum!;
    },
    dataDir,
    token,
    get url() {
      return fulcrum!.apiUrl;
    },
    get port() {
      return Number(new URL(fulcrum!.apiUrl).port);
    },
    api,
    ok: okCaller(api),
    raw: (bytes, o) => rawHttp(h.port, bytes, { mustClose: true, ...o }),
    async stop(maxDrainMs) {
      running = false;
      await fulcrum!.close(maxDrainMs);
    },
    async restart() {
      if (running) await h.stop();
      fulcrum = await startFulcrum(opts);
      running = true;
    },
    async close() {
      if (running) await h.stop(0);
      if (ownDir) removeDir(dataDir);
    },
  };
  t?.after(() => h.close());
  return h;
}

/** Removes a temp data dir. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Listens `srv` (node:http or node:https) on 127.0.0.1, an ephemeral port; answers the port and
 * `close()` (drops its open connections, then closes).
 */
export async function listenLocal(
  srv: http.Server | https.Server,
): Promise<{ port: number; close: () => Promise<void> }> {
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

/**
 * An HTTP backend that answers its name; counts requests. `delayMs` delays each answer;
 * `prepare(req, res)` runs first on each request (e.g. to set a header).
 */
export async function namedHttpServer(
  name: string,
  delayMs = 0,
  prepare?: http.RequestListener,
): Promise<{ port: number; count: () => number; close: () => Promise<void> }> {
  let count = 0;
  const srv = http.createServer((req, res) => {
    count++;
    prepare?.(req, res);
    req.resume();
    req.on('end', () => {
      const send = () => res.end(name);
      if (delayMs > 0) setTimeout(send, delayMs);
      else send();
    });
  });
  srv.keepAliveTimeout = 30_000;
  return { ...(await listenLocal(srv)), count: () => count };
}
