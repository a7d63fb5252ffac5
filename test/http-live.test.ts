import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from 'node:test';
import { FRONT_PROTOCOLS, startFrontProxy } from './helpers/front-protocols.ts';
import { waitFor } from './helpers/http-client.ts';
import { startBackend, type TestBackend } from './helpers/http-fixtures.ts';
import { backend, server } from './helpers/plane.ts';

/** A backend whose `/slow` answers after `release()` is called; everything else answers at once. */
async function slowBackend(): Promise<TestBackend & { release(): void; waiting: number }> {
  const held: http.ServerResponse[] = [];
  const b = (await startBackend((req, res) => {
    req.resume();
    if (req.url === '/slow') {
      held.push(res);
      o.waiting = held.length;
      return;
    }
    res.end(`ok:${b.port}`);
  })) as TestBackend & { release(): void; waiting: number };
  const o = b;
  o.waiting = 0;
  o.release = () => {
    for (const r of held.splice(0)) r.end(`slow:${b.port}`);
  };
  return o;
}

// Issue 12 point 1: live changes and routing, once per front protocol. `agent` keeps one
// HTTP/1.1 keep-alive connection; over h2 every request is a stream of one session anyway.
for (const protocol of FRONT_PROTOCOLS) {
  describe(`live changes over ${protocol} (S2, S3)`, () => {
    test('apply(new snapshot) while requests run: in-flight keep their server, new ones see the change', async () => {
      const a = await slowBackend();
      const c = await startBackend();
      const p = await startFrontProxy(protocol, [a.port]);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const slow = p.request({ path: '/slow' });
        await waitFor(() => a.waiting === 1);
        // a connection opened before the change
        assert.equal((await p.request({ agent })).body, `ok:${a.port}`);
        const next = structuredClone(p.config);
        next.servers = [server('s1', 'be', c.port)];
        await p.apply(next);
        // new requests, on a new connection and on the existing one, see the change
        assert.equal((await p.request()).body, `ok:${c.port}`);
        assert.equal((await p.request({ agent })).body, `ok:${c.port}`);
        assert.equal(p.runtime.server('s0')?.draining, true, 's0 drains while its request is in flight');
        a.release();
        assert.equal((await slow).body, `slow:${a.port}`, 'the in-flight request finished on its server');
        await waitFor(() => p.runtime.server('s0') === undefined);
      } finally {
        agent.destroy();
        await p.close();
        await a.close();
        await c.close();
      }
    });

    test('a drain deadline cuts what is left (S3)', async () => {
      const a = await slowBackend();
      const p = await startFrontProxy(protocol, [a.port], { backend: { drainTimeoutSeconds: 0.3 } });
      try {
        const slow = p.request({ path: '/slow' }).then(
          () => 'answered',
          () => 'cut',
        );
        await waitFor(() => a.waiting === 1);
        const next = structuredClone(p.config);
        next.servers = [];
        await p.apply(next);
        assert.equal(await slow, 'cut');
        assert.equal((await p.request()).status, 503);
      } finally {
        await p.close();
        await a.close();
      }
    });

    test('frontend rules change for new requests on open connections (replace)', async () => {
      const a = await startBackend();
      const c = await startBackend();
      const p = await startFrontProxy(protocol, [a.port], {
        extra: (cfg) => {
          cfg.backends.push(backend('other', 'http'));
          cfg.servers.push(server('o0', 'other', c.port));
        },
      });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        assert.equal((await p.request({ agent, path: '/api/x' })).body, `ok:${a.port}`);
        const next = structuredClone(p.config);
        (next.frontends[0] as (typeof next.frontends)[0]).rules = [
          { match: { pathPrefix: '/api/' }, backendId: 'other' },
        ];
        await p.apply(next);
        assert.equal((await p.request({ agent, path: '/api/x' })).body, `ok:${c.port}`);
      } finally {
        agent.destroy();
        await p.close();
        await a.close();
        await c.close();
      }
    });

    test('graceful close: idle connections closed, in-flight answered (HTTP/1.1 with Connection: close)', async () => {
      const a = await slowBackend();
      const p = await startFrontProxy(protocol, [a.port]);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
      await p.request({ agent });
      const slow = p.request({ path: '/slow' });
      await waitFor(() => a.waiting === 1);
      const closing = p.plane.close(5000);
      await new Promise((r) => setTimeout(r, 50));
      a.release();
      const r = await slow;
      assert.equal(r.body, `slow:${a.port}`);
      // HTTP/2 says it with GOAWAY instead of a header (connection-specific fields are forbidden)
      if (protocol === 'http/1.1') assert.equal(r.headers.connection, 'close');
      await closing;
      agent.destroy();
      await p.close();
      await a.close();
    });
  });

  describe(`routing rules over ${protocol} (F4)`, () => {
    test('host, wildcard host, exact path, path prefix, header, method, order, default', async () => {
      const names = ['def', 'host', 'wild', 'exact', 'prefix', 'hdr', 'meth', 'first'];
      const backends = new Map<string, TestBackend>();
      for (const n of names) backends.set(n, await startBackend());
      const port = (n: string): number => (backends.get(n) as TestBackend).port;
      const p = await startFrontProxy(protocol, [port('def')], {
        extra: (cfg) => {
          for (const n of names.slice(1)) {
            cfg.backends.push(backend(n, 'http'));
            cfg.servers.push(server(`${n}-s`, n, port(n)));
          }
          (cfg.frontends[0] as (typeof cfg.frontends)[0]).rules = [
            { match: { host: 'ordered.example', pathPrefix: '/o' }, backendId: 'first' },
            { match: { host: 'Shop.Example.com' }, backendId: 'host' },
            { match: { host: '*.wild.example' }, backendId: 'wild' },
            { match: { path: '/exact' }, backendId: 'exact' },
            { match: { pathPrefix: '/static/' }, backendId: 'prefix' },
            { match: { header: { name: 'X-Tenant', value: 'blue' } }, backendId: 'hdr' },
            { match: { method: 'delete' }, backendId: 'meth' },
            { match: { host: 'ordered.example' }, backendId: 'host' },
          ];
        },
      });
      try {
        const via = async (opts: { headers?: Record<string, string>; path?: string; method?: string }) => {
          const body = (await p.request(opts)).body;
          for (const [n, b] of backends) if (body === `ok:${b.port}`) return n;
          return `?${body}`;
        };
        assert.equal(await via({ headers: { host: 'shop.example.com:8080' } }), 'host');
        assert.equal(await via({ headers: { host: 'a.b.wild.example' } }), 'wild');
        assert.equal(
          await via({ headers: { host: 'wild.example' } }),
          'def',
          'the wildcard needs a label before the suffix',
        );
        assert.equal(await via({ path: '/exact' }), 'exact');
        assert.equal(await via({ path: '/exact?x=1' }), 'exact', 'query ignored');
        assert.equal(await via({ path: '/exact/more' }), 'def');
        assert.equal(await via({ path: '/static/app.js' }), 'prefix');
        assert.equal(await via({ headers: { 'x-tenant': 'blue' } }), 'hdr');
        assert.equal(await via({ headers: { 'x-tenant': 'Blue' } }), 'def', 'header value is exact');
        assert.equal(await via({ method: 'DELETE' }), 'meth');
        assert.equal(await via({ headers: { host: 'ordered.example' }, path: '/o/1' }), 'first', 'first match wins');
        assert.equal(await via({ headers: { host: 'ordered.example' }, path: '/x' }), 'host');
        assert.equal(await via({ path: '/nothing' }), 'def');
        const hits = p.plane.counters.get('fe')?.ruleHits ?? [];
        assert.equal(hits[0], 1);
        assert.equal(hits[8], 4, 'default backend counted at index rules.length');
      } finally {
        await p.close();
        for (const b of backends.values()) await b.close();
      }
    });
  });
}
