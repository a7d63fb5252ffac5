import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Api, ApiError } from '../console/src/lib/api.ts';
import { type RunningFulcrum, startFulcrum } from '../src/main.ts';
import { createTestDatabase, type TestDatabase } from '../src/store/test-support.ts';
import { type Json, startTestFulcrum, type TestFulcrum, TOKEN } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { shopBackend } from './helpers/shop.ts';
import { TestPki } from './tls-pki.ts';

/** Issue 15 points 5, 6 and 7 end to end: real backends on loopback, the real API. */

/** An HTTP (or HTTPS) backend answering its name; `/hold` waits for `release()`. */
async function backendServer(name: string, tls?: { cert: string; key: string }) {
  const held: http.ServerResponse[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    if (req.url === '/hold') held.push(res);
    else res.end(name);
  };
  const srv = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    held,
    release: () => {
      for (const res of held.splice(0)) if (!res.destroyed) res.end(name);
    },
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

/** One API call with extra header fields (If-Match). */
async function call(
  f: TestFulcrum,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const r = await fetch(`${f.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, etag: r.headers.get('etag'), body: text ? (JSON.parse(text) as Json) : undefined };
}

describe('servers described and found: description, tags, expected share, drain deadline (issue 15 point 5)', () => {
  let f: TestFulcrum;
  const apps: Awaited<ReturnType<typeof backendServer>>[] = [];
  let beId = '';
  const ids = new Map<string, string>();

  before(async () => {
    f = await startTestFulcrum();
    for (const n of ['a', 'b', 'c']) apps.push(await backendServer(n));
    ({ beId } = await shopBackend(f.ok, { drainTimeoutSeconds: 60 }));
    const tags = [['env=prod', 'canary'], ['env=prod'], ['env=staging', 'canary']];
    for (const [i, n] of ['a', 'b', 'c'].entries()) {
      const s = await f.ok('POST', `/backends/${beId}/servers`, {
        name: n,
        address: '127.0.0.1',
        port: apps[i]!.port,
        weight: i + 1,
        description: `server ${n}`,
        tags: tags[i],
      });
      ids.set(n, s.id);
    }
  });
  after(async () => {
    await f.close();
    for (const a of apps) await a.close();
  });

  it('keeps description and tags, and filters by tag on the backend and across load balancers', async () => {
    const one = await f.ok('GET', `/backends/${beId}/servers/${ids.get('a')}`);
    assert.equal(one.description, 'server a');
    assert.deepEqual(one.tags, ['env=prod', 'canary']);
    const names = (list: Json[]) => list.map((s: Json) => s.name).sort();
    assert.deepEqual(names(await f.ok('GET', `/backends/${beId}/servers?tag=env=prod`)), ['a', 'b']);
    assert.deepEqual(names(await f.ok('GET', `/backends/${beId}/servers?tag=canary`)), ['a', 'c']);
    assert.deepEqual(names(await f.ok('GET', `/backends/${beId}/servers?tag=env`)), ['a', 'b', 'c'], 'a key alone');
    assert.deepEqual(names(await f.ok('GET', `/backends/${beId}/servers?tag=env=prod&tag=canary`)), ['a']);
    assert.deepEqual(names(await f.ok('GET', `/backends/${beId}/servers?tag=env=prod,canary`)), ['a']);
    const lookup = await f.ok('GET', '/servers?tag=env=staging');
    assert.deepEqual(
      lookup.map((r: Json) => [r.backendName, r.server.name, r.server.tags]),
      [['web', 'c', ['env=staging', 'canary']]],
    );
  });

  it('refuses bad tags and descriptions, naming the field and the rule, and changes nothing', async () => {
    const bad: [unknown, string][] = [
      [{ tags: ['has space'] }, 'tags'],
      [{ tags: ['=x'] }, 'tags'],
      [{ tags: ['a\u0007b'] }, 'tags'],
      [{ tags: ['x'.repeat(65)] }, 'tags'],
      [{ tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, 'tags'],
      [{ tags: ['dup', 'dup'] }, 'tags'],
      [{ description: 'line\nbreak' }, 'description'],
      [{ description: 'x'.repeat(1025) }, 'description'],
    ];
    for (const [body, field] of bad) {
      const r = await f.api('PATCH', `/backends/${beId}/servers/${ids.get('b')}`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 'invalid');
      assert.ok(String(r.body.error.field).startsWith(field), `${JSON.stringify(body)} → ${r.body.error.field}`);
    }
    const b = await f.ok('GET', `/backends/${beId}/servers/${ids.get('b')}`);
    assert.deepEqual(b.tags, ['env=prod']);
    assert.equal(b.version, 1, 'nothing changed');
  });

  it('answers each server its expected share of new requests: weights 1:2:3 are 17 % / 33 % / 50 %', async () => {
    const shares = async () =>
      Object.fromEntries(
        (await f.ok('GET', `/backends/${beId}/servers`)).map((s: Json) => [s.name, s.status.expectedShare]),
      );
    assert.deepEqual(await shares(), { a: 0.1667, b: 0.3333, c: 0.5 });
    // A passive server takes nothing while an active one is available.
    await f.ok('PATCH', `/backends/${beId}/servers/${ids.get('c')}`, { passive: true });
    assert.deepEqual(await shares(), { a: 0.3333, b: 0.6667, c: 0 });
    await f.ok('PATCH', `/backends/${beId}/servers/${ids.get('c')}`, { passive: false });
  });

  it('drains with a timeout of its own: drainDeadline and activeConnections while draining, then the cut', async () => {
    const fe = await f.ok('POST', '/frontends', {
      loadBalancerId: (await f.ok('GET', `/backends/${beId}`)).loadBalancerId,
      name: 'www',
      protocol: 'http',
      bindAddress: '127.0.0.1',
      port: 0 || (await freePort()),
      defaultBackendId: beId,
    });
    // Only server a takes traffic, so the held request is on it.
    for (const n of ['b', 'c']) await f.ok('PATCH', `/backends/${beId}/servers/${ids.get(n)}`, { enabled: false });
    const pending = fetch(`http://127.0.0.1:${fe.port}/hold`).then(
      (r) => r.status,
      () => 'cut',
    );
    await waitFor(() => apps[0]!.held.length === 1, 5000, 'the held request on a');
    const bad = await f.api('POST', `/backends/${beId}/servers/${ids.get('a')}/drain`, { timeoutSeconds: 3601 });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'timeoutSeconds');
    const t0 = Date.now();
    const d = await f.ok('POST', `/backends/${beId}/servers/${ids.get('a')}/drain`, { timeoutSeconds: 2 });
    assert.equal(d.enabled, false);
    assert.equal(d.status.state, 'draining');
    assert.equal(d.status.activeConnections, 1);
    assert.equal(d.status.expectedShare, 0);
    const deadline = Date.parse(d.status.drainDeadline);
    assert.ok(deadline >= t0 + 1500 && deadline <= Date.now() + 2100, `deadline ${d.status.drainDeadline}`);
    // The backend's drainTimeoutSeconds is 60: the action's 2 s cut the request.
    assert.equal(await pending, 'cut');
    assert.ok(Date.now() - t0 < 20_000);
    const gone = await f.ok('GET', `/backends/${beId}/servers/${ids.get('a')}`);
    assert.equal(gone.status.state, 'disabled');
    assert.equal(gone.status.drainDeadline, null);
    const events = await f.ok('GET', `/events?serverId=${ids.get('a')}&kind=drain-start`);
    assert.equal(events[0].detail.drainTimeoutSeconds, 2);
    const audit = await f.ok('GET', `/audit?resource=server/${ids.get('a')}`).catch(() => []);
    if (audit.length) assert.equal(audit[0].action, 'drain');
  });
});

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

describe('safe concurrent edits: ETag and If-Match (issue 15 point 6)', () => {
  let f: TestFulcrum;
  let beId = '';
  let lbId = '';
  let srvId = '';

  before(async () => {
    f = await startTestFulcrum();
    ({ beId, lbId } = await shopBackend(f.ok));
    srvId = (await f.ok('POST', `/backends/${beId}/servers`, { name: 's1', address: '127.0.0.1', port: 9 })).id;
  });
  after(() => f.close());

  it('answers every resource with its version as ETag, bumped on each change', async () => {
    const g = await call(f, 'GET', `/backends/${beId}/servers/${srvId}`);
    assert.equal(g.etag, '"1"');
    assert.equal(g.body.version, 1);
    const p = await call(f, 'PATCH', `/backends/${beId}/servers/${srvId}`, { weight: 5 }, { 'if-match': '"1"' });
    assert.equal(p.status, 200);
    assert.equal(p.etag, '"2"');
    assert.equal(p.body.version, 2);
    // A change to something else leaves this resource's version alone.
    await f.ok('PATCH', `/backends/${beId}`, { drainTimeoutSeconds: 5 });
    assert.equal((await call(f, 'GET', `/backends/${beId}/servers/${srvId}`)).etag, '"2"');
    assert.equal((await call(f, 'GET', `/backends/${beId}`)).etag, '"2"');
    assert.equal((await call(f, 'GET', `/load-balancers/${lbId}`)).etag, '"1"');
    // An empty PATCH changes nothing, not even the version.
    assert.equal((await call(f, 'PATCH', `/backends/${beId}/servers/${srvId}`, {})).etag, '"2"');
  });

  it('refuses a stale If-Match with 412 naming the current version, and changes nothing', async () => {
    for (const [method, path, body] of [
      ['PATCH', `/backends/${beId}/servers/${srvId}`, { weight: 7 }],
      ['DELETE', `/backends/${beId}/servers/${srvId}`, undefined],
      ['PATCH', `/backends/${beId}`, { drainTimeoutSeconds: 9 }],
      ['DELETE', `/load-balancers/${lbId}`, undefined],
    ] as const) {
      const r = await call(f, method, path, body, { 'if-match': '"1", W/"0"' });
      if (path === `/load-balancers/${lbId}`) {
        // The load balancer is at version 1: the If-Match holds, and its own rule refuses (409).
        assert.equal(r.status, 409);
        continue;
      }
      assert.equal(r.status, 412, `${method} ${path}`);
      assert.equal(r.body.error.code, 'precondition_failed');
      assert.equal(r.body.error.currentVersion, 2);
      assert.equal(r.etag, '"2"');
      assert.match(r.body.error.message, /version 2/);
    }
    const s = await f.ok('GET', `/backends/${beId}/servers/${srvId}`);
    assert.equal(s.weight, 5);
    assert.equal(s.version, 2);
    const bad = await call(
      f,
      'PATCH',
      `/backends/${beId}/servers/${srvId}`,
      { weight: 7 },
      { 'if-match': 'yesterday' },
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'If-Match');
    // `*` and the current version go through; DELETE with the current version too.
    assert.equal(
      (await call(f, 'PATCH', `/backends/${beId}/servers/${srvId}`, { weight: 6 }, { 'if-match': '*' })).status,
      200,
    );
    const del = await call(f, 'DELETE', `/backends/${beId}/servers/${srvId}`, undefined, { 'if-match': '"3"' });
    assert.equal(del.status, 200);
    const again = await call(f, 'DELETE', `/backends/${beId}/servers/${srvId}`, undefined, { 'if-match': '"3"' });
    assert.equal(again.status, 404);
  });

  it("the console's client sends If-Match and reads the 412's current version", async () => {
    const api = new Api(`${f.url}/api/v1`, (input, init) =>
      fetch(input, {
        ...init,
        headers: { ...(init?.headers as Record<string, string>), authorization: `Bearer ${TOKEN}` },
      }),
    );
    const s = (
      await api.change<Json>('POST', `/backends/${beId}/servers`, { name: 's2', address: '127.0.0.1', port: 10 })
    ).resource;
    const path = `/backends/${beId}/servers/${s.id}`;
    const first = await api.change<Json>('PATCH', path, { weight: 2 }, s.version);
    assert.equal(first.resource.version, 2);
    await assert.rejects(api.change('PATCH', path, { weight: 3 }, s.version), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 412);
      assert.equal(e.currentVersion, 2);
      return true;
    });
    assert.equal((await api.get<Json>(path)).weight, 2);
  });

  it('the CLI `server update --if-match` sends If-Match: a stale version is refused naming the current one', async () => {
    const ROOT = fileURLToPath(new URL('..', import.meta.url));
    const cli = (...args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        execFile(
          `${ROOT}node_modules/.bin/node`,
          [`${ROOT}src/cli/main.ts`, ...args, '--url', f.url, '--token', TOKEN, '-o', 'json'],
          { timeout: 15_000, env: { ...process.env, FULCRUM_TOKEN: '', FULCRUM_ADMIN_TOKEN: '' } },
          (err, out, errOut) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: errOut }),
        );
      });
    const s = await f.ok('POST', `/backends/${beId}/servers`, { name: 's3', address: '127.0.0.1', port: 11 });
    const ok = await cli('server', 'update', `shop/web/s3`, 'weight=4', '--if-match', '1');
    assert.equal(ok.code, 0, ok.err);
    assert.equal(JSON.parse(ok.out).version, 2);
    const stale = await cli('server', 'update', `shop/web/s3`, 'weight=5', '--if-match', '1');
    assert.notEqual(stale.code, 0);
    assert.match(stale.err, /version 2/);
    const bad = await cli('server', 'update', `shop/web/s3`, 'weight=5', '--if-match', 'x');
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /--if-match/);
    assert.equal((await f.ok('GET', `/backends/${beId}/servers/${s.id}`)).weight, 4);
  });

  it('/openapi.json documents the new fields, the drain action, the tag filter and 412', async () => {
    const doc = (await (await fetch(`${f.url}/openapi.json`)).json()) as Json;
    const drain = doc.paths['/api/v1/backends/{id}/servers/{serverId}/drain'].post;
    assert.ok(drain.requestBody, 'drain takes { timeoutSeconds }');
    const patch = doc.paths['/api/v1/backends/{id}/servers/{serverId}'].patch;
    assert.ok(patch.responses['412'], 'PATCH answers 412');
    const json = JSON.stringify(doc);
    for (const word of ['expectedShare', 'drainDeadline', 'currentVersion', 'key=value', 'timeoutSeconds']) {
      assert.ok(json.includes(word), word);
    }
    const list = doc.paths['/api/v1/backends/{id}/servers'].get;
    assert.ok(
      list.parameters.some((x: Json) => x.name === 'tag' && x.in === 'query'),
      'servers list takes ?tag=',
    );
  });

  it('keeps versions across a restart (the store keeps them)', async () => {
    const v = (await call(f, 'GET', `/backends/${beId}`)).etag;
    await f.restart();
    assert.equal((await call(f, 'GET', `/backends/${beId}`)).etag, v);
  });
});

describe('health checks follow each server (issue 15 point 7)', () => {
  let f: TestFulcrum;
  let pki: TestPki;
  const apps: Awaited<ReturnType<typeof backendServer>>[] = [];

  before(async () => {
    pki = new TestPki();
    const ca = pki.ca('fleet test CA');
    const leaf = pki.leaf(ca, { cn: 'web.test', sans: ['DNS:web.test', 'IP:127.0.0.1'] });
    f = await startTestFulcrum();
    apps.push(await backendServer('tls', { cert: leaf.certPem, key: leaf.keyPem }));
    apps.push(await backendServer('plain'));
    apps.push(await backendServer('other'));
    const caId = (await f.ok('POST', '/certificates', { name: 'fleet-ca', kind: 'ca', pem: ca.certPem })).id;
    const lbId = (await f.ok('POST', '/load-balancers', { name: 'fleet', allowedNetworks: ['127.0.0.0/8'] })).id;
    Object.assign(f, { caId, lbId });
  });
  after(async () => {
    await f.close();
    for (const a of apps) await a.close();
    pki.cleanup();
  });

  const health = async (beId: string) =>
    Object.fromEntries((await f.ok('GET', `/backends/${beId}/servers`)).map((s: Json) => [s.name, s.status.health]));

  for (const type of ['https', 'http'] as const) {
    it(`a ${type} check of a mixed TLS backend: TLS servers over TLS, sslOffload servers in plain HTTP`, async () => {
      const caId = (f as unknown as { caId: string }).caId;
      const lbId = (f as unknown as { lbId: string }).lbId;
      const beId: string = (
        await f.ok('POST', '/backends', {
          loadBalancerId: lbId,
          name: `mixed-${type}`,
          mode: 'http',
          tls: { enabled: true, caCertificateId: caId, verify: true },
          healthCheck: { enabled: true, type, intervalSeconds: 1, timeoutSeconds: 1, rise: 1, fall: 1 },
        })
      ).id;
      await f.ok('POST', `/backends/${beId}/servers`, { name: 'tls', address: '127.0.0.1', port: apps[0]!.port });
      await f.ok('POST', `/backends/${beId}/servers`, {
        name: 'plain',
        address: '127.0.0.1',
        port: apps[1]!.port,
        sslOffload: true,
      });
      await waitFor(
        async () => JSON.stringify(await health(beId)) === JSON.stringify({ tls: 'healthy', plain: 'healthy' }),
        10_000,
        `both servers healthy under a ${type} check`,
      );
    });
  }

  it('per-server overrides: a check port of its own, checks off for one server; a moved server is checked at once', async () => {
    const be = await f.ok('POST', '/backends', {
      loadBalancerId: (f as unknown as { lbId: string }).lbId,
      name: 'overrides',
      mode: 'http',
      healthCheck: { enabled: true, type: 'http', intervalSeconds: 1, timeoutSeconds: 1, rise: 1, fall: 1 },
    });
    const closed = await freePort();
    // Traffic port closed, check port open: healthy (the check follows its override).
    const byPort = await f.ok('POST', `/backends/${be.id}/servers`, {
      name: 'by-port',
      address: '127.0.0.1',
      port: closed,
      healthCheck: { port: apps[1]!.port },
    });
    // Checks off for this server: healthy at once, never probed.
    const off = await f.ok('POST', `/backends/${be.id}/servers`, {
      name: 'off',
      address: '127.0.0.1',
      port: await freePort(),
      healthCheck: { enabled: false },
    });
    assert.equal(off.status.health, 'healthy');
    assert.deepEqual(off.healthCheck, { port: null, enabled: false });
    const moving = await f.ok('POST', `/backends/${be.id}/servers`, {
      name: 'moving',
      address: '127.0.0.1',
      port: await freePort(),
    });
    await waitFor(
      async () => {
        const h = await health(be.id);
        return h['by-port'] === 'healthy' && h.moving === 'unhealthy';
      },
      10_000,
      'by-port healthy, moving unhealthy',
    );
    assert.equal((await health(be.id)).off, 'healthy');
    const off2 = await f.ok('GET', `/backends/${be.id}/servers/${off.id}`);
    assert.equal(off2.status.lastCheck, null, 'never probed');
    // A long interval now; moved to a live port, the server is checked at once, not after it.
    await f.ok('PATCH', `/backends/${be.id}`, { healthCheck: { intervalSeconds: 120, timeoutSeconds: 2 } });
    const t0 = Date.now();
    await f.ok('PATCH', `/backends/${be.id}/servers/${moving.id}`, { port: apps[2]!.port });
    await waitFor(async () => (await health(be.id)).moving === 'healthy', 10_000, 'moving healthy at its new port');
    assert.ok(Date.now() - t0 < 10_000);
    void byPort;
  });
});

describe('If-Match holds across nodes sharing PostgreSQL (issue 15 point 6)', () => {
  let db: TestDatabase;
  const nodes: RunningFulcrum[] = [];
  const dirs: string[] = [];

  before(async () => {
    db = await createTestDatabase();
    for (const name of ['node-a', 'node-b']) {
      const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-node-'));
      dirs.push(dir);
      nodes.push(
        await startFulcrum({
          api: '127.0.0.1:0',
          dataDir: dir,
          store: db.url,
          nodeName: name,
          adminToken: TOKEN,
          logLevel: 'silent',
          console: false,
          // Long: only NOTIFY or a rebase on commit brings a node up to date, never the timer.
          syncIntervalMs: 60_000,
          env: { FULCRUM_SECRET_KEY: 'b'.repeat(64) },
        }),
      );
    }
  });
  after(async () => {
    for (const n of nodes) await n.close(0);
    await db.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const callOn = async (n: RunningFulcrum, method: string, p: string, body?: unknown, ifMatch?: string) => {
    const r = await fetch(`${n.apiUrl}/api/v1${p}`, {
      method,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, etag: r.headers.get('etag'), body: text ? (JSON.parse(text) as Json) : undefined };
  };

  it('two nodes editing the same server with the same If-Match: exactly one wins, the other gets 412', async () => {
    const [a, b] = nodes as [RunningFulcrum, RunningFulcrum];
    const lb = (await callOn(a, 'POST', '/load-balancers', { name: 'shared', allowedNetworks: ['127.0.0.0/8'] })).body;
    const be = (await callOn(a, 'POST', '/backends', { loadBalancerId: lb.id, name: 'web', mode: 'http' })).body;
    const s = (await callOn(a, 'POST', `/backends/${be.id}/servers`, { name: 's', address: '127.0.0.1', port: 12 }))
      .body;
    const p = `/backends/${be.id}/servers/${s.id}`;
    // (A PATCH that changes nothing answers 200 at the current version: each node sends another weight.)
    for (let round = 0; round < 5; round++) {
      const v = (await callOn(a, 'GET', p)).body.version as number;
      const answers = await Promise.all(
        [a, b].map((n, i) => callOn(n, 'PATCH', p, { weight: 10 * round + i + 2 }, `"${v}"`)),
      );
      const statuses = answers.map((x) => x.status).sort();
      assert.deepEqual(statuses, [200, 412], `round ${round}: ${JSON.stringify(answers.map((x) => x.body))}`);
      const lost = answers.find((x) => x.status === 412)!;
      assert.equal(lost.body.error.currentVersion, v + 1);
      assert.equal(lost.etag, `"${v + 1}"`);
    }
    // A node that has not heard of the latest change still refuses a stale If-Match: the check
    // is against the stored version (a change based on an old configVersion is recomputed).
    const v = (await callOn(b, 'GET', p)).body.version as number;
    assert.equal((await callOn(a, 'PATCH', p, { weight: 99 }, `"${v}"`)).status, 200);
    const late = await callOn(b, 'PATCH', p, { weight: 98 }, `"${v}"`);
    assert.equal(late.status, 412);
    assert.equal(late.body.error.currentVersion, v + 1);
    assert.equal((await callOn(b, 'GET', p)).body.weight, 99);
  });
});
