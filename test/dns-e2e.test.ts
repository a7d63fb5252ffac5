import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Dnsmasq, freeUdpPort } from './helpers/dnsmasq.ts';
import { startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { addFrontend } from './helpers/persistence-support.ts';
import { TestPki } from './tls-pki.ts';

/**
 * Issue 15 point 2, servers by DNS name, against a real DNS server: Debian's dnsmasq on a
 * loopback port (installed by .ci/run), answering from a hosts file the test rewrites (SIGHUP
 * re-reads it) while requests flow.
 */

/** An HTTP server on `address:port` answering `name`. */
async function named(name: string, address: string, port = 0) {
  const srv = http.createServer((req, res) => {
    req.resume();
    res.end(name);
  });
  await new Promise<void>((r, j) => {
    srv.once('error', j);
    srv.listen(port, address, () => r());
  });
  return {
    port: (srv.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

/** GETs the frontend until `stop()`, one request at a time; counts answers by body and failures. */
function traffic(port: number) {
  const seen = new Map<string, number>();
  const failures: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/`);
        const body = await r.text();
        if (r.status !== 200) failures.push(`${r.status} ${body.slice(0, 80)}`);
        else seen.set(body, (seen.get(body) ?? 0) + 1);
      } catch (err) {
        failures.push(String(err));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    seen,
    failures,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

describe('servers by DNS name, resolved by a real DNS server (dnsmasq)', { timeout: 90_000 }, () => {
  const dns = new Dnsmasq();
  let f: TestFulcrum;
  let lbId: string;
  let beId: string;
  let front: number;
  let port: number;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    dns.write({ 'ready.test': '127.0.0.1', 'api.test': '127.0.0.2' });
    await dns.start();
    f = await startTestFulcrum({ resolver: `127.0.0.1:${dns.port}`, dnsHoldMs: 15_000 });
    lbId = (await f.ok('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] })).id;
    beId = (
      await f.ok('POST', '/backends', {
        loadBalancerId: lbId,
        name: 'web',
        mode: 'http',
        algorithm: 'round-robin',
        healthCheck: { enabled: true, type: 'tcp', intervalSeconds: 1, timeoutSeconds: 1, rise: 1, fall: 1 },
      })
    ).id;
    // The same port on two loopback addresses: the name moves from one to the other.
    const a = await named('a', '127.0.0.2');
    port = a.port;
    const b = await named('b', '127.0.0.3', port);
    const fixed = await named('fixed', '127.0.0.1');
    closers.push(a.close, b.close, fixed.close);
    await f.ok('POST', `/backends/${beId}/servers`, {
      name: 'fixed',
      serverType: 'web',
      address: '127.0.0.1',
      port: fixed.port,
    });
    front = await addFrontend(f.ok, lbId, 'www', beId);
  });

  after(async () => {
    await f?.close();
    for (const c of closers) await c();
    await dns.close();
  });

  const server = async (id: string) => f.ok('GET', `/backends/${beId}/servers/${id}`);

  it('takes a host name as a server address and refuses what is not one', async () => {
    for (const bad of ['bad_name.test', '-x.test', 'a..test', '127.1', `${'a'.repeat(64)}.test`, 'x\u0001.test']) {
      const r = await f.api('POST', `/backends/${beId}/servers`, {
        name: 'bad',
        serverType: 'web',
        address: bad,
        port,
      });
      assert.equal(r.status, 400, `${bad}: ${JSON.stringify(r.body)}`);
    }
  });

  it('sends traffic to the resolved address and follows a changed record with no failed request', async () => {
    const s = await f.ok('POST', `/backends/${beId}/servers`, {
      name: 'named',
      serverType: 'web',
      address: 'api.test',
      port,
    });
    assert.equal(s.address, 'api.test');
    await waitFor(async () => (await server(s.id)).status.reason === null, 8000, 'the named server in rotation');
    const t = traffic(front);
    try {
      await waitFor(() => (t.seen.get('a') ?? 0) > 5, 5000, 'traffic on 127.0.0.2');
      dns.write({ 'ready.test': '127.0.0.1', 'api.test': '127.0.0.3' });
      dns.reload();
      // TTL 1 s is bounded to 5 s: the new address within a re-resolution and a check.
      await waitFor(() => (t.seen.get('b') ?? 0) > 5, 15_000, 'traffic on 127.0.0.3 after the record changed');
      const before = t.seen.get('a') ?? 0;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(t.seen.get('a') ?? 0, before, 'nothing more to the old address');
    } finally {
      await t.stop();
    }
    assert.deepEqual(t.failures, []);
    assert.ok((t.seen.get('fixed') ?? 0) > 0);
    const events = (await f.ok('GET', `/events?serverId=${s.id}&kind=dns`)) as { from: string; to: string }[];
    assert.ok(
      events.some((e) => e.from === '127.0.0.2' && e.to === '127.0.0.3'),
      JSON.stringify(events),
    );
  });

  it('never uses a resolved address the guard or the allowed networks refuse (DNS rebinding)', async () => {
    dns.write({
      'ready.test': '127.0.0.1',
      'api.test': '127.0.0.3',
      'meta.test': '169.254.169.254',
      'self.test': '127.0.0.1',
      'outside.test': '10.9.9.9',
    });
    dns.reload();
    const meta = await f.ok('POST', `/backends/${beId}/servers`, {
      name: 'meta',
      serverType: 'web',
      address: 'meta.test',
      port: 80,
    });
    // The admin API's own address and port, by name.
    const self = await f.ok('POST', `/backends/${beId}/servers`, {
      name: 'self',
      serverType: 'web',
      address: 'self.test',
      port: f.port,
    });
    const outside = await f.ok('POST', `/backends/${beId}/servers`, {
      name: 'outside',
      serverType: 'web',
      address: 'outside.test',
      port: 80,
    });
    for (const s of [meta, self, outside]) {
      await waitFor(async () => (await server(s.id)).status.reason === 'dns-refused', 5000, `${s.name} refused`);
    }
    const t = traffic(front);
    await new Promise((r) => setTimeout(r, 500));
    await t.stop();
    assert.deepEqual(t.failures, []);
    assert.deepEqual([...t.seen.keys()].sort(), ['b', 'fixed']);
    for (const s of [meta, self, outside]) await f.ok('DELETE', `/backends/${beId}/servers/${s.id}`);
  });

  it('keeps the last good address while the resolver is down, then says dns-failed', async () => {
    const list = (await f.ok('GET', `/backends/${beId}/servers`)) as { items?: { id: string; name: string }[] };
    const items = Array.isArray(list) ? list : (list.items ?? []);
    const named = items.find((s: { name: string }) => s.name === 'named');
    assert.ok(named);
    await dns.stop();
    const t = traffic(front);
    try {
      // Past a TTL (5 s): the resolver fails, the held address keeps serving (the last answer is at most 11 s old, the hold 15 s).
      await new Promise((r) => setTimeout(r, 6000));
      assert.equal((await server(named.id)).status.reason, null);
      assert.ok((t.seen.get('b') ?? 0) > 5);
      await waitFor(async () => (await server(named.id)).status.reason === 'dns-failed', 25_000, 'dns-failed');
    } finally {
      await t.stop();
    }
    assert.deepEqual(t.failures, []);
    // The resolver back: the name is used again.
    await dns.start();
    await waitFor(async () => (await server(named.id)).status.reason === null, 15_000, 'back in rotation');
  });
});

describe('discovery by DNS SRV records (dnsmasq)', { timeout: 90_000 }, () => {
  const dns = new Dnsmasq();
  let f: TestFulcrum;
  let beId: string;
  let front: number;
  const apps: Record<string, { port: number; close: () => Promise<void> }> = {};

  before(async () => {
    apps.a1 = await named('a1', '127.0.0.4');
    apps.a2 = await named('a2', '127.0.0.5');
    apps.a3 = await named('a3', '127.0.0.6');
    dns.write({ 'ready.test': '127.0.0.1', 'a1.test': '127.0.0.4', 'a2.test': '127.0.0.5', 'a3.test': '127.0.0.6' });
    dns.srv = [`_http._tcp.api.test,a1.test,${apps.a1.port},0,10`, `_http._tcp.api.test,a2.test,${apps.a2.port},0,20`];
    await dns.start();
    // No --resolver: the backend names its own DNS server.
    f = await startTestFulcrum({ dnsHoldMs: 30_000 });
    const lbId = (await f.ok('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] })).id;
    beId = (
      await f.ok('POST', '/backends', {
        loadBalancerId: lbId,
        name: 'api',
        mode: 'http',
        algorithm: 'round-robin',
        healthCheck: { enabled: true, type: 'tcp', intervalSeconds: 1, timeoutSeconds: 1, rise: 1, fall: 1 },
        discovery: { type: 'dns-srv', name: '_http._tcp.api.test', resolver: `127.0.0.1:${dns.port}` },
      })
    ).id;
    front = await addFrontend(f.ok, lbId, 'www', beId);
  });

  after(async () => {
    await f?.close();
    for (const a of Object.values(apps)) await a.close();
    await dns.close();
  });

  const list = async () =>
    (await f.ok('GET', `/backends/${beId}/servers`)) as {
      name: string;
      discovered?: boolean;
      weight: number;
      port: number;
      address: string;
      status: { reason: string | null; state: string };
    }[];

  it('refuses a discovery source that is not an SRV name or IP:port', async () => {
    const lbId = (await f.ok('GET', `/backends/${beId}`)).loadBalancerId;
    for (const discovery of [
      { type: 'dns-srv', name: 'bad name' },
      { type: 'dns-srv', name: '_http._tcp.api.test', resolver: 'dns.test:53' },
      { type: 'consul', name: 'x' },
    ]) {
      const r = await f.api('POST', '/backends', { loadBalancerId: lbId, name: 'bad', mode: 'http', discovery });
      assert.equal(r.status, 400, JSON.stringify(r.body));
    }
  });

  it('lists the discovered servers with SRV port and weight, and sends traffic to them', async () => {
    await waitFor(
      async () => (await list()).filter((s) => s.discovered && s.status.reason === null).length === 2,
      10_000,
      'two discovered servers in rotation',
    );
    const servers = await list();
    const byName = new Map(servers.map((s) => [s.address, s]));
    assert.equal(byName.get('a1.test')?.port, apps.a1!.port);
    assert.equal(byName.get('a1.test')?.weight, 10);
    assert.equal(byName.get('a2.test')?.weight, 20);
    assert.ok(servers.every((s) => s.discovered === true));
    const stats = (await f.ok('GET', '/stats')) as { servers: { address: string; backendId: string }[] };
    assert.deepEqual(
      stats.servers
        .filter((s) => s.backendId === beId)
        .map((s) => s.address)
        .sort(),
      ['a1.test', 'a2.test'],
    );
    const t = traffic(front);
    await waitFor(() => (t.seen.get('a1') ?? 0) > 3 && (t.seen.get('a2') ?? 0) > 3, 5000, 'traffic on both');
    await t.stop();
    assert.deepEqual(t.failures, []);
  });

  it('follows the records as they change while traffic flows: added, removed with drain', async () => {
    const t = traffic(front);
    try {
      await waitFor(() => (t.seen.get('a2') ?? 0) > 3, 5000, 'traffic');
      // a1 leaves, a3 joins; dnsmasq restarts to read its command line again (the hold keeps the last answer).
      dns.srv = [
        `_http._tcp.api.test,a2.test,${apps.a2!.port},0,20`,
        `_http._tcp.api.test,a3.test,${apps.a3!.port},0,30`,
      ];
      await dns.stop();
      await dns.start();
      await waitFor(() => (t.seen.get('a3') ?? 0) > 3, 15_000, 'traffic on the added a3');
      await waitFor(
        async () => !(await list()).some((s) => s.address === 'a1.test' && s.status.state !== 'draining'),
        5000,
        'a1 gone or draining',
      );
      const before = t.seen.get('a1') ?? 0;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(t.seen.get('a1') ?? 0, before, 'nothing new to the removed a1');
    } finally {
      await t.stop();
    }
    assert.deepEqual(t.failures, []);
    const names = (await list())
      .filter((s) => s.discovered)
      .map((s) => s.address)
      .sort();
    assert.deepEqual(names, ['a2.test', 'a3.test']);
  });

  it('takes a weight override, drain and enable on a discovered server, and nothing else', async () => {
    const a3 = (await list()).find((s) => s.address === 'a3.test') as unknown as { id: string };
    const path = `/backends/${beId}/servers/${a3.id}`;
    const refused = await f.api('PATCH', path, { port: 1 });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    const w = await f.ok('PATCH', path, { weight: 55 });
    assert.equal(w.weight, 55);
    assert.equal(w.discovered, true);
    const t = traffic(front);
    try {
      await waitFor(() => (t.seen.get('a3') ?? 0) > 2, 5000, 'traffic on a3');
      const drained = await f.ok('POST', `${path}/drain`, {});
      assert.equal(drained.enabled, false);
      const before = t.seen.get('a3') ?? 0;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(t.seen.get('a3') ?? 0, before, 'no new request to the drained a3');
      assert.equal((await f.ok('GET', path)).enabled, false);
      await f.ok('PATCH', path, { enabled: true });
      await waitFor(() => (t.seen.get('a3') ?? 0) > before, 5000, 'a3 back in rotation');
    } finally {
      await t.stop();
    }
    assert.deepEqual(t.failures, []);
  });
});

describe('a TLS server by host name: SNI and the certificate check use the name', { timeout: 60_000 }, () => {
  it('verifies a certificate that names only the host, for traffic and for https checks', async (t) => {
    const pki = new TestPki();
    t.after(() => pki.cleanup());
    const ca = pki.ca('dns-test-ca');
    const leaf = pki.leaf(ca, { cn: 'secure.test', sans: ['DNS:secure.test'] });
    const seen: string[] = [];
    const srv = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
      seen.push(String((req.socket as import('node:tls').TLSSocket).servername));
      res.end('secure');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.7', r));
    t.after(() => new Promise<void>((r) => srv.close(() => r())));
    const dns = new Dnsmasq();
    t.after(() => dns.close());
    dns.write({ 'ready.test': '127.0.0.1', 'secure.test': '127.0.0.7' });
    await dns.start();
    const f = await startTestFulcrum({ resolver: `127.0.0.1:${dns.port}`, t });
    const lbId = (await f.ok('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] })).id;
    const caId = (await f.ok('POST', '/certificates', { name: 'ca', kind: 'ca', pem: ca.certPem })).id;
    const beId = (
      await f.ok('POST', '/backends', {
        loadBalancerId: lbId,
        name: 'sec',
        mode: 'http',
        tls: { enabled: true, caCertificateId: caId, sni: null, verify: true },
        healthCheck: { enabled: true, type: 'https', intervalSeconds: 1, timeoutSeconds: 1, rise: 1, fall: 1 },
      })
    ).id;
    const s = await f.ok('POST', `/backends/${beId}/servers`, {
      name: 'secure',
      serverType: 'web',
      address: 'secure.test',
      port: (srv.address() as AddressInfo).port,
    });
    await waitFor(
      async () => (await f.ok('GET', `/backends/${beId}/servers/${s.id}`)).status.reason === null,
      8000,
      'the https check passes against the name',
    );
    const front = await addFrontend(f.ok, lbId, 'www', beId);
    const r = await fetch(`http://127.0.0.1:${front}/`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'secure');
    assert.ok(seen.length >= 2 && seen.every((n) => n === 'secure.test'), JSON.stringify(seen));
  });
});

describe('host names and discovery in the configuration file', { timeout: 30_000 }, () => {
  it('applies a file with a server by name and a discovery source; a dead resolver says dns-failed', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-dns-file-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'fulcrum.yaml');
    writeFileSync(
      file,
      `loadBalancers:
  - name: shop
    allowedNetworks: [127.0.0.0/8]
    backends:
      - name: web
        mode: http
        healthCheck: { enabled: false }
        servers:
          - { name: named, serverType: web, address: api.internal, port: 8080 }
      - name: found
        mode: tcp
        port: 9000
        discovery: { type: dns-srv, name: _db._tcp.internal }
`,
    );
    const dead = await freeUdpPort(); // nothing answers there
    const f = await startTestFulcrum({ configFile: file, resolver: `127.0.0.1:${dead}`, t });
    const backends = (await f.ok('GET', '/backends')) as { id: string; name: string; discovery?: unknown }[];
    const web = backends.find((b) => b.name === 'web')!;
    const found = backends.find((b) => b.name === 'found')!;
    assert.deepEqual(found.discovery, { type: 'dns-srv', name: '_db._tcp.internal' });
    const [named] = (await f.ok('GET', `/backends/${web.id}/servers`)) as {
      address: string;
      status: { reason: string };
    }[];
    assert.equal(named?.address, 'api.internal');
    await waitFor(
      async () => (await f.ok('GET', `/backends/${web.id}/servers`))[0].status.reason === 'dns-failed',
      10_000,
      'dns-failed with the resolver down',
    );
    assert.deepEqual(await f.ok('GET', `/backends/${found.id}/servers`), []);
  });
});
