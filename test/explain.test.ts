import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type Json, namedHttpServer, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';

// Issue 16 point 1: explain's prediction against real requests, for every algorithm and every
// persistence type; the reasons of servers out of rotation; parameters and roles.
type Named = Awaited<ReturnType<typeof namedHttpServer>>;

/** One request to the frontend; answers status, body (the server's name) and Set-Cookie. */
function send(
  port: number,
  path: string,
  cookie?: string,
): Promise<{ status: number; body: string; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: cookie ? { cookie } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers['set-cookie'] ?? [] }));
    });
    req.on('error', reject);
  });
}

/** A backend server answering its name and setting `SID=<name>-<n>` (app-cookie persistence). */
async function sessionServer(name: string): Promise<{ port: number; close: () => Promise<void> }> {
  let n = 0;
  const srv = http.createServer((req, res) => {
    req.resume();
    res.setHeader('set-cookie', `SID=${name}-${++n}; Path=/`);
    res.end(name);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

describe('explain (issue 16): prediction against real requests', () => {
  let f: TestFulcrum;
  let lb = '';
  let port = 0;
  const servers: Named[] = [];
  const sessions: Awaited<ReturnType<typeof sessionServer>>[] = [];
  /** backend name → { id, server id → name } */
  const backends = new Map<string, { id: string; names: Map<string, string> }>();
  const rules: { match: Json; backendId: string }[] = [];

  async function addBackend(name: string, body: Json, ports: number[], extra: Json[] = []): Promise<string> {
    const be = await f.ok('POST', '/backends', {
      loadBalancerId: lb,
      name,
      mode: 'http',
      healthCheck: { enabled: false },
      ...body,
    });
    const names = new Map<string, string>();
    for (const [i, p] of ports.entries()) {
      const s = await f.ok('POST', `/backends/${be.id}/servers`, {
        name: `${name}-${i}`,
        serverType: 'web',
        address: '127.0.0.1',
        port: p,
        ...(extra[i] ?? {}),
      });
      names.set(s.id, String(i));
    }
    backends.set(name, { id: be.id, names });
    rules.push({ match: { pathPrefix: `/${name}/` }, backendId: be.id });
    return be.id;
  }

  const idle = () =>
    waitFor(() => [...f.fulcrum.plane.runtime.servers.values()].every((s) => s.activeConnections === 0), 3000, 'idle');
  const explain = async (path: string, cookie?: string): Promise<Json> => {
    await idle();
    const q = new URLSearchParams({ client: '127.0.0.1', path, host: 'shop.example' });
    if (cookie) q.set('cookie', cookie);
    const fe = (await f.ok('GET', '/frontends')).find((x: Json) => x.name === 'explain').id;
    return f.ok('GET', `/frontends/${fe}/explain?${q}`);
  };
  /** The server name (servers[i] answers `i`) explain names for `serverId`. */
  const nameOf = (backend: string, serverId: string | null) =>
    serverId === null ? null : (backends.get(backend)!.names.get(serverId) ?? null);

  before(async () => {
    f = await startTestFulcrum();
    for (let i = 0; i < 3; i++) servers.push(await namedHttpServer(String(i), i * 3));
    for (let i = 0; i < 3; i++) sessions.push(await sessionServer(String(i)));
    lb = (await f.ok('POST', '/load-balancers', { name: 'explain', allowedNetworks: ['127.0.0.0/8'] })).id;
    const ports = servers.map((s) => s.port);
    for (const algorithm of [
      'round-robin',
      'weighted-round-robin',
      'least-connections',
      'source-ip',
      'random-two-choices',
      'least-response-time',
    ]) {
      await addBackend(algorithm, { algorithm }, ports, [{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
    }
    await addBackend('p-source-ip', { persistence: { type: 'source-ip', timeoutSeconds: 600 } }, ports);
    await addBackend('p-cookie', { persistence: { type: 'cookie', timeoutSeconds: 600 } }, ports);
    await addBackend(
      'p-app-cookie',
      { persistence: { type: 'app-cookie', cookieName: 'SID', timeoutSeconds: 600 } },
      sessions.map((s) => s.port),
    );
    port = await freePort();
    await f.ok('POST', '/frontends', {
      loadBalancerId: lb,
      name: 'explain',
      protocol: 'http',
      bindAddress: '127.0.0.1',
      port,
      defaultBackendId: backends.get('round-robin')!.id,
      rules,
    });
  });
  after(async () => {
    await f.close();
    for (const s of [...servers, ...sessions]) await s.close();
  });

  for (const algorithm of ['round-robin', 'weighted-round-robin', 'source-ip']) {
    it(`${algorithm}: explain names exactly the server of the next request`, async () => {
      for (let i = 0; i < 8; i++) {
        const e = await explain(`/${algorithm}/x`);
        assert.equal(e.backend.algorithm, algorithm);
        assert.equal(e.next.exact, true);
        assert.equal(e.next.via, 'balancer');
        const r = await send(port, `/${algorithm}/x`);
        assert.equal(r.body, nameOf(algorithm, e.next.serverId), `request ${i}`);
      }
    });
  }

  for (const algorithm of ['least-connections', 'random-two-choices', 'least-response-time']) {
    it(`${algorithm}: the server that answers is among the candidates with a non-zero probability`, async () => {
      for (let i = 0; i < 8; i++) {
        const e = await explain(`/${algorithm}/x`);
        const total = e.next.candidates.reduce((a: number, c: Json) => a + c.probability, 0);
        assert.ok(Math.abs(total - 1) < 0.001, `probabilities sum to 1 (${total})`);
        const likely = new Set(
          e.next.candidates.filter((c: Json) => c.probability > 0).map((c: Json) => nameOf(algorithm, c.serverId)),
        );
        const r = await send(port, `/${algorithm}/x`);
        assert.ok(likely.has(r.body), `request ${i}: ${r.body} not in ${[...likely]}`);
        if (algorithm !== 'random-two-choices') assert.equal(r.body, nameOf(algorithm, e.next.serverId));
      }
    });
  }

  it('source-ip persistence: a miss hashes the address, then the table hits on the same server', async () => {
    const first = await explain('/p-source-ip/x');
    assert.equal(first.persistence.type, 'source-ip');
    assert.equal(first.persistence.outcome, 'miss');
    assert.equal(first.next.via, 'hash');
    const r1 = await send(port, '/p-source-ip/x');
    assert.equal(r1.body, nameOf('p-source-ip', first.next.serverId));
    const second = await explain('/p-source-ip/x');
    assert.equal(second.persistence.outcome, 'hit');
    assert.equal(second.next.via, 'persistence');
    assert.equal(second.next.serverId, first.next.serverId);
    assert.equal((await send(port, '/p-source-ip/x')).body, r1.body);
  });

  it('cookie persistence: no cookie → the balancer; a valid cookie pins; a forged one is ignored', async () => {
    const none = await explain('/p-cookie/x');
    assert.equal(none.persistence.outcome, 'no-cookie');
    const r = await send(port, '/p-cookie/x');
    assert.equal(r.body, nameOf('p-cookie', none.next.serverId));
    const cookie = r.setCookie[0]!.split(';')[0]!;
    const pinned = await explain('/p-cookie/x', cookie);
    assert.equal(pinned.persistence.outcome, 'valid');
    assert.match(pinned.persistence.cookieExpiresAt, /^\d{4}-/);
    assert.equal(pinned.next.via, 'persistence');
    assert.equal((await send(port, '/p-cookie/x', cookie)).body, nameOf('p-cookie', pinned.next.serverId));
    assert.equal(pinned.next.serverId, none.next.serverId);
    const forged = await explain('/p-cookie/x', 'FULCRUM_SRV=AAAAAAAAAAAA.0.AAAAAAAAAAAAAAAAAAAAAA');
    assert.equal(forged.persistence.outcome, 'forged');
    assert.equal(forged.next.via, 'balancer');
    assert.equal(
      (await send(port, '/p-cookie/x', 'FULCRUM_SRV=AAAAAAAAAAAA.0.AAAAAAAAAAAAAAAAAAAAAA')).body,
      nameOf('p-cookie', forged.next.serverId),
    );
  });

  it('app-cookie persistence: an unknown value is hashed; a learned one pins', async () => {
    const hashed = await explain('/p-app-cookie/x', 'SID=never-seen');
    assert.equal(hashed.persistence.outcome, 'hashed');
    assert.equal(hashed.next.via, 'hash');
    assert.equal(
      (await send(port, '/p-app-cookie/x', 'SID=never-seen')).body,
      nameOf('p-app-cookie', hashed.next.serverId),
    );
    // A fresh session: the server's Set-Cookie is learned by the data plane.
    const r = await send(port, '/p-app-cookie/x');
    const sid = r.setCookie[0]!.split(';')[0]!;
    const learned = await explain('/p-app-cookie/x', sid);
    assert.equal(learned.persistence.outcome, 'learned');
    assert.equal(nameOf('p-app-cookie', learned.next.serverId), r.body);
    assert.equal((await send(port, '/p-app-cookie/x', sid)).body, r.body);
    // explain learned nothing: asking again about an unseen value still says hashed.
    assert.equal((await explain('/p-app-cookie/x', 'SID=still-unseen')).persistence.outcome, 'hashed');
    assert.equal((await explain('/p-app-cookie/x', 'SID=still-unseen')).persistence.outcome, 'hashed');
  });

  it('routing: each rule tried in order with the condition that failed, the default last', async () => {
    const e = await explain('/least-connections/x');
    const idx = rules.findIndex((r) => r.match.pathPrefix === '/least-connections/');
    assert.equal(e.routing.matchedRule, idx);
    assert.equal(e.routing.rules.length, idx + 1);
    assert.equal(e.routing.rules[0].failed, 'pathPrefix');
    assert.equal(e.routing.rules[0].actual, '/least-connections/x');
    const d = await explain('/nowhere');
    assert.equal(d.routing.matchedRule, null);
    assert.equal(d.routing.rules.length, rules.length);
    assert.equal(d.backend.name, 'round-robin');
    assert.match(d.routing.reason, /default backend/);
  });
});

describe('explain (issue 16): why a server is out of rotation; parameters; roles', () => {
  let f: TestFulcrum;
  let be = '';
  let fe = '';
  let port = 0;
  const ids: string[] = [];
  const servers: Named[] = [];
  let slow: http.Server;

  before(async () => {
    f = await startTestFulcrum();
    for (let i = 0; i < 3; i++) servers.push(await namedHttpServer(String(i)));
    slow = http.createServer((req) => req.resume()); // never answers: keeps a connection open
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const closed = await freePort();
    const lb = (await f.ok('POST', '/load-balancers', { name: 'why', allowedNetworks: ['127.0.0.0/8'] })).id;
    be = (
      await f.ok('POST', '/backends', {
        loadBalancerId: lb,
        name: 'why',
        mode: 'http',
        healthCheck: { enabled: true, type: 'tcp', intervalSeconds: 1, timeoutSeconds: 1, rise: 1, fall: 1 },
      })
    ).id;
    const add = async (name: string, p: number, extra: Json = {}) =>
      ids.push(
        (
          await f.ok('POST', `/backends/${be}/servers`, {
            name,
            serverType: 'web',
            address: '127.0.0.1',
            port: p,
            ...extra,
          })
        ).id,
      );
    await add('ok', servers[0]!.port);
    await add('down', closed);
    await add('off', servers[1]!.port);
    await add('standby', servers[2]!.port, { passive: true });
    await add('slow', (slow.address() as AddressInfo).port);
    port = await freePort();
    fe = (
      await f.ok('POST', '/frontends', {
        loadBalancerId: lb,
        name: 'why',
        protocol: 'http',
        bindAddress: '127.0.0.1',
        port,
        defaultBackendId: be,
      })
    ).id;
  });
  after(async () => {
    await f.close();
    for (const s of servers) await s.close();
    slow.closeAllConnections();
    slow.close();
  });

  const byName = (e: Json, name: string) => e.servers.find((s: Json) => s.name === name);

  it('unhealthy with its last check, disabled, removed and draining until T, passive standing by and in use', async () => {
    const ask = () => f.ok('GET', `/frontends/${fe}/explain?client=127.0.0.1`);
    await waitFor(
      async () => byName(await ask(), 'ok').eligible && byName(await ask(), 'down').reason === 'unhealthy',
      8000,
      'health',
    );
    // an open request on `slow`, then delete it: it drains
    await waitFor(async () => byName(await ask(), 'slow').eligible, 8000, 'slow healthy');
    // the passive server too has passed its checks (it stands by, healthy), or it could not take over below
    await waitFor(async () => byName(await ask(), 'standby').health === 'healthy', 8000, 'standby healthy');
    await f.ok('PATCH', `/backends/${be}/servers/${ids[0]}`, { enabled: false });
    await f.ok('PATCH', `/backends/${be}/servers/${ids[2]}`, { enabled: false });
    const pending = send(port, '/').catch(() => undefined);
    await waitFor(() => f.fulcrum.plane.runtime.server(ids[4]!)?.activeConnections === 1, 3000, 'slow busy');
    await f.ok('DELETE', `/backends/${be}/servers/${ids[4]}`);
    let e = await ask();
    const down = byName(e, 'down');
    assert.equal(down.eligible, false);
    assert.equal(down.health, 'unhealthy');
    assert.ok(down.lastCheck && down.lastCheck.ok === false, 'the last check is shown');
    assert.match(down.detail, /unhealthy .*last check/);
    assert.equal(byName(e, 'off').reason, 'disabled');
    const gone = byName(e, 'slow');
    assert.equal(gone.reason, 'removed');
    assert.match(gone.drainingUntil, /^\d{4}-/);
    assert.match(gone.detail, /draining until/);
    // no active server left: the passive server takes the traffic
    assert.equal(e.passives.inUse, true);
    assert.equal(byName(e, 'standby').eligible, true);
    assert.equal(e.next.serverId, ids[3]);
    assert.equal((await send(port, '/')).body, '2');
    // an active server back: the passive stands by
    await f.ok('PATCH', `/backends/${be}/servers/${ids[0]}`, { enabled: true });
    e = await ask();
    assert.equal(e.passives.inUse, false);
    assert.equal(byName(e, 'standby').reason, 'passive-standby');
    assert.equal(byName(e, 'ok').expectedShare, 1);
    slow.closeAllConnections();
    await pending;
  });

  it('refuses bad parameters with 400 naming the parameter', async () => {
    const cases: [string, string][] = [
      ['', 'client'],
      ['client=300.1.1.1', 'client'],
      ['client=example.com', 'client'],
      ['client=1.2.3.4:99999', 'client'],
      ['client=127.0.0.1&header=nocolon', 'header'],
      ['client=127.0.0.1&header=X-A%3Ab%0D%0AX-B%3Ac', 'header'],
      ['client=127.0.0.1&method=G%20T', 'method'],
      ['client=127.0.0.1&path=nostartslash', 'path'],
      [`client=127.0.0.1&host=${'a'.repeat(300)}`, 'host'],
    ];
    for (const [q, field] of cases) {
      const r = await f.api('GET', `/frontends/${fe}/explain?${q}`);
      assert.equal(r.status, 400, q);
      assert.match(JSON.stringify(r.body), new RegExp(field), q);
    }
    assert.equal((await f.api('GET', `/backends/${be}/explain?client=::1&host=x`)).status, 400);
    assert.equal((await f.api('GET', `/frontends/nope/explain?client=127.0.0.1`)).status, 404);
  });

  it('viewers may explain; no token is 401', async () => {
    const viewer = await f.ok('POST', '/tokens', { name: 'v', role: 'viewer' });
    const r = await f.api('GET', `/backends/${be}/explain?client=[::1]:5000`, undefined, viewer.token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.client.port, 5000);
    assert.equal(r.body.frontend, null);
    assert.equal((await f.api('GET', `/frontends/${fe}/explain?client=127.0.0.1`, undefined, null)).status, 401);
  });
});
