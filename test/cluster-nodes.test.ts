import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../src/store/test-support.ts';
import { hit, served, startNode } from './helpers/cluster.ts';
import { type Json, namedHttpServer, type TestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';
import { TestPki } from './tls-pki.ts';

// Issue 14 (C5), the rest of "several nodes": two nodes started at once against one new
// PostgreSQL database (the shared server at 127.0.0.1:5432, a database of this test) agree on
// the cookie key; https and tcp frontends share their port with --reuse-port as http ones do;
// console sessions work on every node and end everywhere; `?wait=all` answers when every live
// node applied the change, or 504 naming the one that lags.

/** The nodes' heartbeat interval (ms): a node is stale after 3 of them. */
const SYNC_MS = 1000;

function hitHttps(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        agent: false,
        timeout: 3000,
        servername: 'a.test',
        rejectUnauthorized: false,
      },
      (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve(body));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Connects to a tcp frontend and answers what the server sent before closing. */
function hitTcp(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let got = '';
    s.setTimeout(3000, () => s.destroy(new Error('timeout')));
    s.on('data', (d) => {
      got += d;
    });
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

describe('several nodes: cookie key, shared ports, sessions, ?wait=all (C5, issue 14)', { timeout: 120_000 }, () => {
  let db: TestDatabase;
  let a: TestFulcrum;
  let b: TestFulcrum;
  let lbId = '';
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    db = await createTestDatabase();
    // Started at once against a new database: both migrate and make the cookie key together.
    [a, b] = await Promise.all([startNode('node-a', db.url, SYNC_MS), startNode('node-b', db.url, SYNC_MS)]);
    lbId = (await a.ok('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] })).id;
  });
  after(async () => {
    await a?.close();
    await b?.close();
    for (const c of closers) await c();
    await db?.drop();
  });

  async function backend(name: string, mode: string, body: Json = {}): Promise<string> {
    const be = await a.ok('POST', '/backends', {
      loadBalancerId: lbId,
      name,
      mode,
      healthCheck: { enabled: false },
      ...body,
    });
    return be.id;
  }

  /** A frontend made on node a; answers its port once node b listens on it too. */
  async function frontend(name: string, protocol: string, backendId: string, body: Json = {}): Promise<number> {
    const port = await freePort();
    const fe = await a.ok('POST', '/frontends?wait=all', {
      loadBalancerId: lbId,
      name,
      protocol,
      port,
      defaultBackendId: backendId,
      ...body,
    });
    assert.equal(fe.status?.listening, true, `node a: ${JSON.stringify(fe.status)}`);
    const onB = await b.ok('GET', `/frontends/${fe.id}`);
    assert.equal(onB.status?.listening, true, `node b shares the port: ${JSON.stringify(onB.status)}`);
    return port;
  }

  it('two nodes started at once agree on the cookie key: a sticky cookie holds whichever node answers', async () => {
    const one = await namedHttpServer('one');
    const two = await namedHttpServer('two');
    closers.push(one.close, two.close);
    const be = await backend('sticky', 'http', { persistence: { type: 'cookie', timeoutSeconds: 600 } });
    for (const [name, s] of [
      ['one', one],
      ['two', two],
    ] as const) {
      await a.ok('POST', `/backends/${be}/servers`, { name, serverType: 'web', address: '127.0.0.1', port: s.port });
    }
    const port = await frontend('www', 'http', be);
    const first = await hit(port);
    assert.ok('setCookie' in first && first.setCookie, `a persistence cookie: ${JSON.stringify(first)}`);
    const before = [await served(a), await served(b)];
    const answers = [];
    for (let i = 0; i < 30; i++) answers.push(await hit(port, first.setCookie));
    assert.ok((await served(a)) > before[0]! && (await served(b)) > before[1]!, 'both nodes answered cookie requests');
    assert.deepEqual(
      [...new Set(answers.map((r) => ('body' in r ? r.body : r.error)))],
      [first.body],
      'every node accepts the cookie the other signed: one key',
    );
  });

  it('https and tcp frontends share their address and port on both nodes (--reuse-port)', async () => {
    const pki = new TestPki();
    closers.push(async () => pki.cleanup());
    const ca = pki.ca('Cluster CA');
    const leaf = pki.leaf(ca, { cn: 'a.test', sans: ['DNS:a.test'] });
    const cert = await a.ok('POST', '/certificates', { name: 'a', kind: 'server', pem: leaf.bundle });
    const web = await namedHttpServer('tls-backend');
    closers.push(web.close);
    const beWeb = await backend('web', 'http');
    await a.ok('POST', `/backends/${beWeb}/servers`, {
      name: 'w',
      serverType: 'web',
      address: '127.0.0.1',
      port: web.port,
    });
    const tlsPort = await frontend('tls', 'https', beWeb, { certificateIds: [cert.id] });

    const raw = net.createServer((s) => s.end('tcp-backend'));
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => raw.close(() => r())));
    const beTcp = await backend('raw', 'tcp');
    await a.ok('POST', `/backends/${beTcp}/servers`, {
      name: 'r',
      serverType: 'database',
      address: '127.0.0.1',
      port: (raw.address() as net.AddressInfo).port,
    });
    const tcpPort = await frontend('raw', 'tcp', beTcp);

    const before = [await served(a), await served(b)];
    for (let i = 0; i < 30; i++) assert.equal(await hitHttps(tlsPort), 'tls-backend');
    assert.ok((await served(a)) > before[0]! && (await served(b)) > before[1]!, 'both nodes answered https clients');
    const mid = [await served(a), await served(b)];
    for (let i = 0; i < 30; i++) assert.equal(await hitTcp(tcpPort), 'tcp-backend');
    assert.ok((await served(a)) > mid[0]! && (await served(b)) > mid[1]!, 'both nodes answered tcp clients');
  });

  it('a console session opened on one node works on the other; signing out ends it everywhere', async () => {
    const signIn = async (n: TestFulcrum, token: string) => {
      const r = await fetch(`${n.url}/api/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      assert.equal(r.status, 200);
      return (r.headers.get('set-cookie') ?? '').split(';')[0]!;
    };
    const whoAmI = async (n: TestFulcrum, cookie: string) =>
      (await fetch(`${n.url}/api/v1/session`, { headers: { cookie } })).status;

    const cookie = await signIn(a, a.token);
    await waitFor(async () => (await whoAmI(b, cookie)) === 200, 1000, 'node b knows the session');
    const out = await fetch(`${b.url}/api/v1/session`, { method: 'DELETE', headers: { cookie } });
    assert.equal(out.status, 200);
    await waitFor(async () => (await whoAmI(a, cookie)) === 401, 1000, 'node a ends the session signed out on b');

    // A revoked token ends its sessions on every node.
    // A token created on a reaches b when b hears the store's notification ("within a second").
    const t = await a.ok('POST', '/tokens', { name: 'console-user', role: 'viewer' });
    // Polled every 100 ms: each miss counts against the failed-authentication limit (20 a minute).
    const bearer = { authorization: `Bearer ${t.token}` };
    for (let i = 0; ; i++) {
      const r = await fetch(`${b.url}/api/v1/load-balancers`, { headers: bearer });
      if (r.status === 200) break;
      assert.equal(r.status, 401);
      assert.ok(i < 10, 'node b knows the new token within a second');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const viewer = await signIn(b, t.token);
    await waitFor(async () => (await whoAmI(a, viewer)) === 200, 1000, 'node a knows the viewer session');
    await b.ok('DELETE', `/tokens/${t.id}`);
    await waitFor(async () => (await whoAmI(a, viewer)) === 401, 1000, 'node a ends the revoked session');
  });

  it('?wait=all answers when every live node applied the change, or 504 naming the node that lags', async () => {
    const be = await backend('waited', 'http');
    const r = await a.api('PATCH', `/backends/${be}?wait=all`, { name: 'waited-both' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(b.fulcrum.control.version >= r.body.configVersion, 'node b applied it before the answer');

    const bad = await a.api('PATCH', `/backends/${be}?wait=some`, { name: 'waited-x' });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.equal(bad.body.error.field, 'wait');
    const long = await a.api('PATCH', `/backends/${be}?wait=all&waitTimeoutSeconds=600`, { name: 'waited-x' });
    assert.equal(long.status, 400, JSON.stringify(long.body));

    const spec = (await (await fetch(`${a.url}/openapi.json`)).json()) as Json;
    const patch = spec.paths['/api/v1/backends/{id}'].patch;
    assert.ok(
      patch.parameters.some((p: Json) => p.in === 'query' && p.name === 'wait'),
      'every write documents ?wait=all',
    );

    // Node b stops hearing changes (its sync paused) but its last heartbeat keeps it live a while.
    await b.fulcrum.control.cluster!.close();
    const t0 = Date.now();
    const lag = await a.api('PATCH', `/backends/${be}?wait=all&waitTimeoutSeconds=0.5`, { name: 'waited-only-a' });
    assert.ok(Date.now() - t0 < 2 * SYNC_MS, 'answered while node b still counts as live');
    assert.equal(lag.status, 504, JSON.stringify(lag.body));
    assert.equal(lag.body.error.code, 'lagging');
    assert.deepEqual(lag.body.error.nodes, ['node-b']);
    assert.match(lag.body.error.message, /configVersion \d+ is stored and live on node-a.*node-b \(applied \d+\)/);
    assert.equal((await a.ok('GET', `/backends/${be}`)).name, 'waited-only-a', 'the change is stored all the same');

    // Once node b is stale it is no longer waited for.
    await waitFor(
      async () => (await a.ok('GET', '/nodes')).find((n: Json) => n.name === 'node-b')?.status === 'stale',
      4 * SYNC_MS + 2000,
      'node b stale',
    );
    const alone = await a.api('PATCH', `/backends/${be}?wait=all`, { name: 'waited-stale-b' });
    assert.equal(alone.status, 200, JSON.stringify(alone.body));
  });
});
