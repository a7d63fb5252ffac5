import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { runApply, runExport } from '../src/cli/apply.ts';
import { type RunningFulcrum, startFulcrum } from '../src/main.ts';
import { createTestDatabase, PG_ADMIN_URL, type TestDatabase } from '../src/store/test-support.ts';
import { freePort } from './helpers/plane.ts';

// Issue 14 (C5): several nodes share one configuration in PostgreSQL (the shared server at
// 127.0.0.1:5432; each test run uses its own database, created and dropped here). The nodes
// run in this process with their own API ports and data dirs; their http frontends bind the
// SAME address and port with SO_REUSEPORT (`reusePort`), so a client cannot tell which node
// answered, as behind a virtual IP.

const TOKEN = 'test-admin-token-0123456789';
const SECRET = 'a'.repeat(64);
const SYNC_MS = 300;

// biome-ignore lint/suspicious/noExplicitAny: API answers are JSON; tests read the fields they assert on.
type Json = any;

interface Node {
  name: string;
  f: RunningFulcrum;
  dir: string;
  api(method: string, p: string, body?: unknown, token?: string): Promise<{ status: number; body: Json }>;
}

async function startNode(name: string, store: string, dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-node-'))) {
  const f = await startFulcrum({
    api: '127.0.0.1:0',
    dataDir: dir,
    store,
    nodeName: name,
    adminToken: TOKEN,
    logLevel: 'silent',
    console: false,
    reusePort: true,
    syncIntervalMs: SYNC_MS,
    env: { FULCRUM_SECRET_KEY: SECRET },
  });
  const node: Node = {
    name,
    f,
    dir,
    async api(method, p, body, token = TOKEN) {
      const r = await fetch(`${f.apiUrl}/api/v1${p}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : undefined };
    },
  };
  return node;
}

async function ok(n: Node, method: string, p: string, body?: unknown): Promise<Json> {
  const r = await n.api(method, p, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${p} on ${n.name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** An http server answering its name. */
async function named(name: string): Promise<{ port: number; close(): Promise<void> }> {
  const s = http.createServer((_q, r) => r.end(name));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as { port: number }).port,
    close: () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

/** One request on a new connection (so the kernel may pick either node): status and body, or the error. */
function hit(port: number): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.message }));
  });
}

/** Clients sending requests without pause until `stop()`; answers every result with its time. */
function clients(port: number, n = 2) {
  let running = true;
  const results: { at: number; r: Awaited<ReturnType<typeof hit>> }[] = [];
  const loops = Array.from({ length: n }, async () => {
    for (let i = 0; running && i < 100_000; i++) results.push({ at: Date.now(), r: await hit(port) });
  });
  return {
    results,
    async stop() {
      running = false;
      await Promise.all(loops);
      return results;
    },
  };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<number> {
  const t0 = Date.now();
  for (let i = 0; i < ms / 20; i++) {
    if (await cond()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}

describe('several nodes share one configuration in PostgreSQL (C5, issue 14)', { timeout: 120_000 }, () => {
  let db: TestDatabase;
  let a: Node;
  let b: Node;
  let one: Awaited<ReturnType<typeof named>>;
  let two: Awaited<ReturnType<typeof named>>;
  let port = 0;
  let backendId = '';
  let serverId = '';

  before(async () => {
    db = await createTestDatabase();
    a = await startNode('node-a', db.url);
    b = await startNode('node-b', db.url);
    one = await named('one');
    two = await named('two');
  });
  after(async () => {
    await a?.f.close(0);
    await b?.f.close(0);
    await one?.close();
    await two?.close();
    await db?.drop();
    for (const n of [a, b]) if (n) rmSync(n.dir, { recursive: true, force: true });
  });

  it('a change made on one node is live on the other within 1 s, with no failed request', async () => {
    const lb = await ok(a, 'POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] });
    const be = await ok(a, 'POST', '/backends', {
      loadBalancerId: lb.id,
      name: 'web',
      mode: 'http',
      healthCheck: { enabled: false },
    });
    backendId = be.id;
    const s = await ok(a, 'POST', `/backends/${be.id}/servers`, {
      name: 's1',
      serverType: 'web',
      address: '127.0.0.1',
      port: one.port,
    });
    serverId = s.id;
    port = await freePort();
    const fe = await ok(a, 'POST', '/frontends', {
      loadBalancerId: lb.id,
      name: 'www',
      protocol: 'http',
      port,
      defaultBackendId: be.id,
    });
    assert.equal(fe.status?.listening, true, JSON.stringify(fe.status));
    await until('node b applies the frontend', () => b.f.control.version === a.f.control.version, 1000);
    const fb = await ok(b, 'GET', `/frontends/${fe.id}`);
    assert.equal(fb.status?.listening, true, `node b listens on the same port too: ${JSON.stringify(fb.status)}`);

    const c = clients(port);
    await new Promise((r) => setTimeout(r, 300));
    // The change is made on node B; node A must have it within 1 s.
    const changed = await ok(b, 'PATCH', `/backends/${backendId}/servers/${serverId}`, { port: two.port });
    const t0 = Date.now();
    const lag = await until('node a applies the change', () => a.f.control.version >= changed.configVersion, 1000);
    assert.ok(lag <= 1000, `node a lagged ${lag} ms`);
    await new Promise((r) => setTimeout(r, 1500));
    const results = await c.stop();
    const failed = results.filter((x) => !('status' in x.r) || x.r.status !== 200);
    assert.deepEqual(failed.slice(0, 3), [], `${failed.length} of ${results.length} requests failed`);
    const late = results.filter((x) => x.at > t0 + 1000);
    assert.ok(late.length > 20, `enough requests after the change (${late.length})`);
    assert.ok(
      late.every((x) => 'body' in x.r && x.r.body === 'two'),
      'every request 1 s after the change, whichever node answered, goes to the new port',
    );
    const served = (n: Node) => [...n.f.plane.counters.values()].reduce((sum, c) => sum + c.totalConnections, 0);
    const [sa, sb] = [await served(a), await served(b)];
    assert.ok(sa > 0 && sb > 0, `both nodes answered clients (${sa}, ${sb})`);
    const nodes = await ok(a, 'GET', '/nodes');
    assert.deepEqual(
      nodes.map((n: Json) => [n.name, n.status]),
      [
        ['node-a', 'live'],
        ['node-b', 'live'],
      ],
    );
  });

  it('concurrent writes on two nodes never lose an update', async () => {
    const writes = [];
    for (let i = 0; i < 6; i++) {
      for (const [n, node] of [
        ['a', a],
        ['b', b],
      ] as const) {
        writes.push(
          node.api('POST', `/backends/${backendId}/servers`, {
            name: `c-${n}-${i}`,
            serverType: 'web',
            address: '127.0.0.1',
            port: 20_000 + i * 2 + (n === 'a' ? 0 : 1),
            enabled: false,
          }),
        );
      }
    }
    const answers = await Promise.all(writes);
    assert.deepEqual(
      answers.filter((r) => r.status !== 201 && r.status !== 200),
      [],
    );
    await until('both nodes at the same version', () => a.f.control.version === b.f.control.version, 1000);
    for (const n of [a, b]) {
      const names = n.f.control.state.servers.filter((s) => s.name.startsWith('c-')).map((s) => s.name);
      assert.equal(names.length, 12, `${n.name} has every server`);
    }
  });

  it('a token revoked on one node stops working on the other within 1 s', async () => {
    const t = await ok(a, 'POST', '/tokens', { name: 'ci', role: 'viewer' });
    await until(
      'node b knows the new token',
      async () => (await b.api('GET', '/nodes', undefined, t.token)).status === 200,
      1000,
    );
    await ok(a, 'DELETE', `/tokens/${t.id}`);
    await until(
      'node b refuses the revoked token',
      async () => (await b.api('GET', '/nodes', undefined, t.token)).status === 401,
      1000,
    );
  });

  it('a stopped node shows stale, and catches up when it starts again', async () => {
    const dir = b.dir;
    await b.f.close(0);
    await ok(a, 'PATCH', `/backends/${backendId}/servers/${serverId}`, { weight: 7 });
    await until(
      'node-b stale',
      async () => (await ok(a, 'GET', '/nodes')).find((n: Json) => n.name === 'node-b')?.status === 'stale',
      5 * SYNC_MS + 2000,
    );
    b = await startNode('node-b', db.url, dir);
    assert.equal(b.f.control.version, a.f.control.version, 'restored at the newest version');
    assert.equal((await ok(b, 'GET', `/backends/${backendId}/servers/${serverId}`)).weight, 7);
    await until(
      'node-b live again',
      async () => (await ok(a, 'GET', '/nodes')).find((n: Json) => n.name === 'node-b')?.status === 'live',
      2000,
    );
  });

  it('PostgreSQL lost and back: traffic never stops, writes answer 503 then work again', async () => {
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    const c = clients(port);
    try {
      // Cut: no new connection is accepted and every open one is terminated.
      await admin.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
      assert.ok((await db.terminateConnections()) > 0);
      const w = await a.api('PATCH', `/backends/${backendId}/servers/${serverId}`, { weight: 3 });
      assert.equal(w.status, 503, JSON.stringify(w.body));
      assert.equal(w.body.error.code, 'store_unavailable');
      assert.match(w.body.error.message, /^store-unavailable: PostgreSQL/);
      const r = await b.api('GET', `/backends/${backendId}/servers/${serverId}`);
      assert.equal(r.status, 200, 'reads answer from the last snapshot');
      assert.equal(r.body.weight, 7);
      await new Promise((res) => setTimeout(res, 2 * SYNC_MS));
      // Back: the nodes reconnect by themselves.
      await admin.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
      let changed: Json;
      await until(
        'a write works again',
        async () => {
          const x = await a.api('PATCH', `/backends/${backendId}/servers/${serverId}`, { weight: 3 });
          changed = x.body;
          return x.status === 200;
        },
        5000,
      );
      await until('node b catches up', () => b.f.control.version >= changed.configVersion, 3000);
    } finally {
      await admin.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`).catch(() => {});
      await admin.end();
      const results = await c.stop();
      const failed = results.filter((x) => !('status' in x.r) || x.r.status !== 200);
      assert.deepEqual(failed.slice(0, 3), [], `${failed.length} of ${results.length} requests failed`);
      assert.ok(results.length > 20);
    }
  });

  it('migration: fulcrum export from a SQLite node, fulcrum apply to the PostgreSQL nodes', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-sqlite-'));
    const target = await createTestDatabase();
    let lite: RunningFulcrum | undefined;
    let pgNode: Node | undefined;
    try {
      lite = await startFulcrum({
        api: '127.0.0.1:0',
        dataDir: dir,
        store: `sqlite:${path.join(dir, 'fulcrum.db')}`,
        adminToken: TOKEN,
        logLevel: 'silent',
        console: false,
      });
      const call = async (base: string, method: string, p: string, body?: unknown) => {
        const r = await fetch(`${base}/api/v1${p}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return r.json() as Promise<Json>;
      };
      const lb = await call(lite.apiUrl, 'POST', '/load-balancers', { name: 'old', allowedNetworks: ['10.0.0.0/8'] });
      const be = await call(lite.apiUrl, 'POST', '/backends', { loadBalancerId: lb.id, name: 'api', mode: 'tcp' });
      const srv = await call(lite.apiUrl, 'POST', `/backends/${be.id}/servers`, {
        name: 'db-1',
        serverType: 'database',
        address: '10.0.0.5',
        port: 5432,
      });
      assert.equal(srv.name, 'db-1', JSON.stringify(srv));
      const out: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
      assert.equal(await runExport({ url: lite.apiUrl, token: TOKEN }, io), 0);
      const file = path.join(dir, 'export.yaml');
      writeFileSync(file, `${out.join('\n')}\n`);
      pgNode = await startNode('pg-1', target.url);
      const log: string[] = [];
      const code = await runApply(
        { file, url: pgNode.f.apiUrl, token: TOKEN, dryRun: false, prune: false },
        { out: (l) => log.push(l), err: (l) => log.push(l) },
      );
      assert.equal(code, 0, log.join('\n'));
      const servers = pgNode.f.control.state.servers;
      assert.deepEqual(
        servers.map((s) => [s.name, s.address, s.port]),
        [['db-1', '10.0.0.5', 5432]],
      );
      const again: string[] = [];
      await runExport({ url: pgNode.f.apiUrl, token: TOKEN }, { out: (l) => again.push(l), err: () => {} });
      const body = (lines: string[]) => lines.join('\n').replace(/^#.*$/gm, '');
      assert.equal(body(again), body(out), 'the PostgreSQL node exports the same configuration');
    } finally {
      await lite?.close(0);
      await pgNode?.f.close(0);
      await target.drop();
      rmSync(dir, { recursive: true, force: true });
      if (pgNode) rmSync(pgNode.dir, { recursive: true, force: true });
    }
  });
});
