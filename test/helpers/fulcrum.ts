import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type RunningFulcrum, startFulcrum } from '../../src/main.ts';

/** A whole Fulcrum (store, API, data plane) in this process on an ephemeral API port, with a temp data dir. */
export interface TestFulcrum {
  fulcrum: RunningFulcrum;
  dataDir: string;
  token: string;
  /** Calls the API; answers `{ status, body }`. Never throws for 4xx/5xx. */
  // biome-ignore lint/suspicious/noExplicitAny: API answers are JSON; tests read the fields they assert on.
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Calls the API and throws unless 2xx; answers the body. */
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  ok(method: string, path: string, body?: unknown): Promise<any>;
  stop(): Promise<void>;
  /** Stops and starts again on the same data dir (restart restores, C2). */
  restart(): Promise<void>;
}

const TOKEN = 'test-admin-token-0123456789';

export async function startTestFulcrum(
  dataDir = mkdtempSync(path.join(tmpdir(), 'fulcrum-test-')),
): Promise<TestFulcrum> {
  let fulcrum = await startFulcrum({
    api: '127.0.0.1:0',
    dataDir,
    adminToken: TOKEN,
    logLevel: 'silent',
    console: false,
  });
  const t: TestFulcrum = {
    get fulcrum() {
      return fulcrum;
    },
    dataDir,
    token: TOKEN,
    async api(method, p, body) {
      const r = await fetch(`${fulcrum.apiUrl}/api/v1${p}`, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : undefined };
    },
    async ok(method, p, body) {
      const r = await t.api(method, p, body);
      if (r.status >= 300) throw new Error(`${method} ${p} → ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async stop() {
      await fulcrum.close();
    },
    async restart() {
      await fulcrum.close();
      fulcrum = await startFulcrum({
        api: '127.0.0.1:0',
        dataDir,
        adminToken: TOKEN,
        logLevel: 'silent',
        console: false,
      });
    },
  } as TestFulcrum;
  return t;
}

/** Removes a temp data dir. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** An HTTP backend that answers its name; counts requests. `delayMs` delays each answer. */
export async function namedHttpServer(
  name: string,
  delayMs = 0,
): Promise<{ port: number; count: () => number; close: () => Promise<void> }> {
  let count = 0;
  const srv = http.createServer((req, res) => {
    count++;
    req.resume();
    req.on('end', () => {
      const send = () => res.end(name);
      if (delayMs > 0) setTimeout(send, delayMs);
      else send();
    });
  });
  srv.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    count: () => count,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

/** GET through a keep-alive agent; answers status and body text. */
export async function get(url: string, agent?: http.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/**
 * A minimal API client for a Fulcrum started some other way (a child process, or
 * `startFulcrum` with extra options): `ok(method, path, body)` throws unless 2xx and answers
 * the JSON body.
 */
export function apiClient(
  apiUrl: string,
  token: string,
): (method: string, p: string, body?: unknown) => Promise<{ id: string }> {
  return async (method, p, body) => {
    const r = await fetch(`${apiUrl}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method} ${p} → ${r.status} ${await r.text()}`);
    return (await r.json()) as { id: string };
  };
}
