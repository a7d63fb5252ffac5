/**
 * Support for the console's end-to-end tests (C3): builds the console into a temp dir, starts
 * the real product (store, API, data plane, health checks) serving it, and drives Debian's
 * Chromium with playwright-core. Loopback only, ephemeral ports.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');

/** Where screenshots go (gitignored). */
export const RESULTS = join(ROOT, 'test-results');

export const ADMIN_TOKEN = 'console-e2e-admin-token-0123456789';

/** Builds the console with Vite into a fresh temp dir (so concurrent tests never share one). */
export async function buildConsole(): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'fulcrum-console-'));
  await run(
    join(ROOT, 'node_modules/.bin/vite'),
    ['build', '--config', 'console/vite.config.ts', '--outDir', out, '--emptyOutDir', '--logLevel', 'error'],
    { cwd: ROOT, timeout: 120_000 },
  );
  if (!existsSync(join(out, 'index.html'))) throw new Error(`console build wrote no index.html into ${out}`);
  return out;
}

/** The product running in this process. */
export interface Product {
  url: string;
  /** Calls the API with the admin token; throws unless 2xx. */
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
  api(method: string, path: string, body?: unknown): Promise<any>;
  close(): Promise<void>;
}

/**
 * Starts the product: `startFulcrum` from src/main.ts when it exists (the real entry point),
 * otherwise the same pieces wired here (SQLite store, Runtime, Plane with the http and tcp
 * listeners, HealthService synced after each apply, ControlPlane, buildApi serving the console).
 */
export async function startProduct(consoleDir: string): Promise<Product> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fulcrum-console-data-'));
  let url: string;
  let stop: () => Promise<void>;
  const mainPath = join(ROOT, 'src/main.ts');
  let main:
    | { startFulcrum(o: Record<string, unknown>): Promise<{ apiUrl: string; close(): Promise<void> }> }
    | undefined;
  if (existsSync(mainPath)) {
    try {
      main = await import(mainPath);
    } catch (err) {
      // src/main.ts is being written by another helper; until it loads, wire the same pieces here.
      process.stderr.write(`console e2e: src/main.ts does not load (${(err as Error).message}); using the pieces\n`);
    }
  }
  if (main) {
    const f = await main.startFulcrum({
      api: '127.0.0.1:0',
      dataDir,
      adminToken: ADMIN_TOKEN,
      console: consoleDir,
      consoleDir,
      logLevel: 'silent',
    });
    url = f.apiUrl.replace(/\/$/, '');
    stop = () => f.close();
  } else {
    const started = await startPieces(dataDir, consoleDir);
    url = started.url;
    stop = started.close;
  }
  const product: Product = {
    url,
    async api(method, path, body) {
      const r = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      const parsed = text ? JSON.parse(text) : undefined;
      if (!r.ok) throw new Error(`${method} ${path} → ${r.status} ${text}`);
      return parsed;
    },
    async close() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return product;
}

async function startPieces(dataDir: string, consoleDir: string): Promise<{ url: string; close(): Promise<void> }> {
  const { buildApi } = await import('../src/api/app.ts');
  const { createBalancer } = await import('../src/balancer/registry.ts');
  const { ControlPlane } = await import('../src/control/control-plane.ts');
  const { realClock } = await import('../src/core/clock.ts');
  const { silentLogger } = await import('../src/core/log.ts');
  const { Plane } = await import('../src/dataplane/plane.ts');
  const { createHttpListener } = await import('../src/dataplane/http/listener.ts');
  const { createTcpListener } = await import('../src/dataplane/tcp/listener.ts');
  const { HealthService } = await import('../src/health/service.ts');
  const { Runtime } = await import('../src/runtime/runtime.ts');
  const { SqliteStore } = await import('../src/store/sqlite.ts');
  const store = SqliteStore.open(dataDir);
  const runtime = new Runtime(createBalancer, { clock: realClock });
  const plane = new Plane(runtime, { http: createHttpListener, tcp: createTcpListener }, silentLogger);
  const health = new HealthService({ runtime, clock: realClock, log: silentLogger });
  const port = {
    runtime: plane.runtime,
    counters: plane.counters,
    status: (id: string) => plane.status(id),
    async apply(snapshot: Parameters<typeof plane.apply>[0]) {
      await plane.apply(snapshot);
      health.sync(snapshot);
    },
  };
  const control = await ControlPlane.start({ store, plane: port });
  const app = await buildApi({
    control,
    dataDir,
    env: { FULCRUM_ADMIN_TOKEN: ADMIN_TOKEN },
    consoleDir,
    processMetrics: false,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    async close() {
      await app.close();
      health.stop();
      await control.close();
      await plane.close(0);
      await store.close();
    },
  };
}

/** A real HTTP backend that answers its name and counts requests. */
export async function namedBackend(name: string): Promise<{ port: number; count(): number; close(): Promise<void> }> {
  let n = 0;
  const srv = http.createServer((req, res) => {
    n++;
    req.resume();
    req.on('end', () => res.end(name));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    count: () => n,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

/** Launches Debian's Chromium headless (never a downloaded browser). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Collects what would be "console errors": uncaught exceptions and console.error messages.
 * Chromium also reports every 4xx answer as "Failed to load resource"; the ones the test
 * provokes on purpose (401 before sign-in, 400/409 refusals) are listed apart in `expectedHttp`.
 */
export function watchConsole(page: Page): { errors: string[]; expectedHttp: string[] } {
  const errors: string[] = [];
  const expectedHttp: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const text = m.text();
    if (/Failed to load resource: the server responded with a status of (400|401|404|409)/.test(text)) {
      expectedHttp.push(text);
      return;
    }
    errors.push(`${m.type()}: ${text}`);
  });
  return { errors, expectedHttp };
}

/** Signs in through the sign-in page with the admin token. */
export async function signIn(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('API token').fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Load balancers' }).waitFor();
}

/** A self-signed certificate and key in PEM, valid for `days` days (openssl). */
export async function selfSigned(cn: string, days: number): Promise<{ cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-cert-'));
  try {
    await run(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem')]
        .concat(['-out', join(dir, 'c.pem'), '-days', String(days), '-subj', `/CN=${cn}`])
        .concat(['-addext', `subjectAltName=DNS:${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE']),
      { timeout: 30_000 },
    );
    return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A TCP server that accepts connections and echoes (a stand-in for a database port). */
export async function tcpServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/** Saves a full-page screenshot under test-results/. */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: true });
}

/** GET through the frontend with a fresh connection; answers status and body. */
export function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
