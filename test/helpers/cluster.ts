import http from 'node:http';
import { startTestFulcrum, type TestFulcrum, type TestFulcrumOptions } from './fulcrum.ts';

/**
 * Several nodes for the cluster tests (issue 14, C5): nodes started through the harness on one
 * store, their frontends bound with --reuse-port, and clients that open a new connection per
 * request so the kernel may pick either node, as behind a virtual IP.
 */

/** FULCRUM_SECRET_KEY of every test node (the same on every node, as the README says). */
export const NODE_SECRET = 'b'.repeat(64);

/** A node named `name` on `store` (a postgres:// URL), heartbeat every `syncIntervalMs`; `more` adds harness options. */
export function startNode(
  name: string,
  store: string,
  syncIntervalMs: number,
  more: TestFulcrumOptions = {},
): Promise<TestFulcrum> {
  return startTestFulcrum({
    store,
    nodeName: name,
    reusePort: true,
    syncIntervalMs,
    env: { FULCRUM_SECRET_KEY: NODE_SECRET },
    ...more,
  });
}

/** Total connections a node's data plane accepted, over every frontend (with worker threads: summed first). */
export async function served(n: TestFulcrum): Promise<number> {
  await n.fulcrum.workers?.refresh();
  return [...n.fulcrum.plane.counters.values()].reduce((sum, c) => sum + c.totalConnections, 0);
}

/** An HTTP answer of `hit`, or the error of the request. */
export type Hit = { status: number; body: string; setCookie: string | undefined } | { error: string };

/** One HTTP request on a new connection (the kernel picks the node): status, body, the first Set-Cookie pair. */
export function hit(port: number, cookie?: string): Promise<Hit> {
  return new Promise((resolve) => {
    const headers = cookie ? { cookie } : {};
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 3000, headers }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers['set-cookie']?.[0]?.split(';')[0] }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.message }));
  });
}

/** `n` clients sending requests without pause until `stop()`, which answers every result with its time. */
export function clients(port: number, n = 2): { stop(): Promise<{ at: number; r: Hit }[]> } {
  let running = true;
  const results: { at: number; r: Hit }[] = [];
  const loops = Array.from({ length: n }, async () => {
    for (let i = 0; running && i < 100_000; i++) results.push({ at: Date.now(), r: await hit(port) });
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return results;
    },
  };
}

/** The results that are not a 200 answer. */
export function failures(results: { r: Hit }[]): { r: Hit }[] {
  return results.filter((x) => !('status' in x.r) || x.r.status !== 200);
}
