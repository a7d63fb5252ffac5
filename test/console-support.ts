/**
 * Support for the console's end-to-end tests (C3): builds the console into a temp dir, starts
 * the real product (store, API, data plane, health checks) serving it, and drives Debian's
 * Chromium with playwright-core. Loopback only, ephemeral ports.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { namedHttpServer, startTestFulcrum } from './helpers/fulcrum.ts';
import { get as getOnce } from './helpers/http-client.ts';

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

/** Starts the product (`startTestFulcrum`) serving the console built into `consoleDir`. */
export async function startProduct(consoleDir: string): Promise<Product> {
  const f = await startTestFulcrum({ adminToken: ADMIN_TOKEN, console: consoleDir });
  return { url: f.url, api: f.ok, close: () => f.close() };
}

/**
 * What every console suite starts: the console built into a temp dir, the product serving it,
 * Chromium with one 1280×800 page (10 s default timeout) whose errors `watch` collects.
 */
export interface ConsoleWorld {
  consoleDir: string;
  product: Product;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  watch: ReturnType<typeof watchConsole>;
  /** Closes the page's context, the browser and the product, and removes the built console. */
  close(): Promise<void>;
}

/** Starts a `ConsoleWorld` (not signed in: `signIn(world.page, world.product.url)`). */
export async function startConsoleWorld(): Promise<ConsoleWorld> {
  const w: Partial<ConsoleWorld> = {};
  const close = async (): Promise<void> => {
    await w.context?.close();
    await w.browser?.close();
    await w.product?.close();
    if (w.consoleDir) rmSync(w.consoleDir, { recursive: true, force: true });
  };
  try {
    w.consoleDir = await buildConsole();
    w.product = await startProduct(w.consoleDir);
    w.browser = await launchBrowser();
    w.context = await w.browser.newContext({ viewport: { width: 1280, height: 800 } });
    w.page = await w.context.newPage();
    w.page.setDefaultTimeout(10_000);
    w.watch = watchConsole(w.page);
  } catch (err) {
    await close();
    throw err;
  }
  return { ...(w as Omit<ConsoleWorld, 'close'>), close };
}

/**
 * `it` for steps that build on each other: after the first failure the rest are skipped, not
 * timed out, and the failing step leaves a screenshot `<prefix>-failed-<name>.png`.
 */
export function consoleSteps(prefix: string, page: () => Page): (name: string, fn: () => Promise<void>) => void {
  let broken = false;
  return (name, fn) =>
    it(name, async (t) => {
      if (broken) return t.skip('an earlier step failed');
      try {
        await fn();
      } catch (err) {
        broken = true;
        await shot(page(), `${prefix}-failed-${name.slice(0, 40).replace(/\W+/g, '-')}`).catch(() => {});
        throw err;
      }
    });
}

/** A real HTTP backend that answers its name and counts requests. */
export const namedBackend = namedHttpServer;

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
  return getOnce(url, false, 5000);
}
