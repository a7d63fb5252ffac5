import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { FRONT_PROTOCOLS, frontClient, startFrontProxy } from './helpers/front-protocols.ts';
import { waitFor } from './helpers/http-client.ts';
import { deadPort, rawExchange, startBackend, startProxy, startRawBackend } from './helpers/http-fixtures.ts';
import { server } from './helpers/plane.ts';

// Issue 12 point 1: our own answers, retries and pool behaviour, once per front protocol.
for (const protocol of FRONT_PROTOCOLS) {
  describe(`our own answers over ${protocol}`, () => {
    test('503 with Retry-After when no server is available', async () => {
      const p = await startFrontProxy(protocol, []);
      try {
        for (let i = 0; i < 2; i++) {
          const r = await p.request({ path: '/' });
          assert.equal(r.status, 503);
          assert.equal(r.headers['retry-after'], '5');
          assert.match(String(r.headers['content-type']), /text\/plain/);
          assert.match(r.body, /available/);
        }
        assert.equal(p.runtime.backends.get('be')?.noServer, 2);
        await waitFor(() => p.records.length === 2);
        assert.ok(p.records.every((x) => x.termination === 'no-server' && x.status === 503));
      } finally {
        await p.close();
      }
    });

    test('502 when the only server refuses the connection', async () => {
      const p = await startFrontProxy(protocol, [await deadPort()]);
      try {
        const r = await p.request();
        assert.equal(r.status, 502);
        assert.match(r.body, /Bad gateway/);
        assert.equal(p.runtime.servers.get('s0')?.failures, 1);
        await waitFor(() => p.records.length === 1);
        assert.equal(p.records[0]?.termination, 'connect-refused');
      } finally {
        await p.close();
      }
    });

    test('redispatch: a refused connect is retried on another server', async () => {
      const b = await startBackend();
      const dead = await deadPort();
      const p = await startFrontProxy(protocol, [dead, b.port]);
      try {
        for (let i = 0; i < 4; i++) {
          const r = await p.request({ path: `/r${i}` });
          assert.equal(r.status, 200, `request ${i}`);
          assert.equal(r.body, `ok:${b.port}`);
        }
        assert.ok((p.runtime.servers.get('s0')?.failures ?? 0) >= 1);
      } finally {
        await p.close();
        await b.close();
      }
    });

    test('504 when the server does not answer within the response timeout', async () => {
      const srv = await startRawBackend(() => {}); // reads, never answers
      const p = await startFrontProxy(protocol, [srv.port], {
        backend: { timeouts: { connectSeconds: 5, responseSeconds: 0.3 } },
      });
      try {
        const t0 = Date.now();
        const r = await p.request();
        const took = Date.now() - t0;
        assert.equal(r.status, 504);
        assert.ok(took >= 150 && took < 5000, `took ${took} ms`);
        await waitFor(() => p.runtime.servers.get('s0')?.activeConnections === 0);
        assert.equal(p.records.at(-1)?.termination, 'response-timeout');
      } finally {
        await p.close();
        await srv.close();
      }
    });

    test('an idle client connection is closed after clientIdleSeconds', async () => {
      const b = await startBackend();
      const p = await startFrontProxy(protocol, [b.port], {
        frontend: { timeouts: { requestHeaderSeconds: 10, clientIdleSeconds: 0.3 } },
      });
      try {
        // HTTP/1.1: a keep-alive connection (raw, so no client closes it); h2: the session
        if (protocol === 'h2') assert.equal((await p.request()).status, 200);
        else
          assert.match((await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 3000)).text, /^HTTP\/1\.1 200 /);
        await waitFor(() => p.plane.counters.get('fe')?.activeConnections === 0, 3000);
        assert.ok(!p.records.some((x) => x.status === 408), 'no 408 on an idle connection');
      } finally {
        await p.close();
        await b.close();
      }
    });

    test('stale pooled connection: closed by the server before answering → retried on a fresh one', async () => {
      // the server answers the first request on each connection, then closes the connection
      // when the next request arrives without answering (a keep-alive race)
      const srv = await startRawBackend((s) => {
        let n = 0;
        s.on('data', () => {
          n++;
          if (n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
          else s.destroy();
        });
      });
      const p = await startFrontProxy(protocol, [srv.port]);
      try {
        assert.equal((await p.request()).status, 200);
        assert.equal((await p.request()).status, 200, 'GET retried on a fresh connection');
        const post = await p.request({ method: 'POST', body: 'payload', headers: { 'content-length': '7' } });
        assert.equal(post.status, 200, 'POST with its whole body retained is retried too');
        assert.equal(srv.connections, 3);
      } finally {
        await p.close();
        await srv.close();
      }
    });

    test('a reset after part of the response: the client gets it cut, not answered twice (server-reset)', async () => {
      const srv = await startRawBackend((s) =>
        s.once('data', () => {
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
          setTimeout(() => s.destroy(), 20);
        }),
      );
      const p = await startFrontProxy(protocol, [srv.port]);
      try {
        const r = await p.request().catch((err: Error) => ({ status: -1, headers: {}, body: err.message }));
        assert.ok(r.status === -1 || (r.status === 200 && r.body === 'partial'), JSON.stringify(r));
        await waitFor(() => p.records.length === 1);
        assert.equal(p.records[0]?.termination, 'server-reset');
        assert.equal(p.runtime.servers.get('s0')?.terminations['server-reset'], 1);
      } finally {
        await p.close();
        await srv.close();
      }
    });

    test('maxConnections: connections beyond the limit are closed at once', async () => {
      const b = await startBackend();
      const p = await startFrontProxy(protocol, [b.port], { frontend: { maxConnections: 1 } });
      const other = frontClient(protocol, p.port);
      try {
        // one client connection held open: HTTP/1.1 a bare socket, h2 a session
        const first = protocol === 'h2' ? undefined : net.connect(p.port, '127.0.0.1');
        if (protocol === 'h2') assert.equal((await p.request()).status, 200);
        await waitFor(() => (p.plane.counters.get('fe')?.activeConnections ?? 0) === 1);
        await assert.rejects(other.request({ path: '/refused' }));
        assert.ok((p.plane.counters.get('fe')?.refused ?? 0) >= 1);
        first?.destroy();
        p.session().destroy();
        await waitFor(() => (p.plane.counters.get('fe')?.activeConnections ?? 1) === 0);
        other.close();
        assert.equal((await p.request()).status, 200);
      } finally {
        other.close();
        await p.close();
        await b.close();
      }
    });

    test('idle pooled connections to a removed (draining) server are closed, not kept (S3)', async () => {
      const b1 = await startBackend();
      const b2 = await startBackend();
      const p = await startFrontProxy(protocol, [b1.port, b2.port]);
      try {
        for (let i = 0; i < 4; i++) await p.request();
        const open = (): Promise<number> => new Promise((r) => b1.server.getConnections((_e, n) => r(n)));
        assert.ok((await open()) >= 1, 'a pooled connection to s0 is open');
        const c = structuredClone(p.config);
        c.servers = c.servers.filter((s) => s.id !== 's0');
        await p.apply(c);
        const deadline = Date.now() + 3000;
        while ((await open()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        assert.equal(await open(), 0, 'the idle pooled connection to the removed server was closed');
        for (let i = 0; i < 3; i++) assert.equal((await p.request()).body, `ok:${b2.port}`);
      } finally {
        await p.close();
        await b1.close();
        await b2.close();
      }
    });

    test('a pooled connection to a server whose port changed is not reused (S2)', async () => {
      const b1 = await startBackend();
      const b2 = await startBackend();
      const p = await startFrontProxy(protocol, [b1.port]);
      try {
        assert.equal((await p.request()).body, `ok:${b1.port}`);
        const c = structuredClone(p.config);
        c.servers = [server('s0', 'be', b2.port)];
        await p.apply(c);
        assert.equal((await p.request()).body, `ok:${b2.port}`);
        assert.equal(b1.requests, 1);
      } finally {
        await p.close();
        await b1.close();
        await b2.close();
      }
    });
  });
}

// HTTP/1.1 only: a request head that arrives byte by byte and a connection kept after our own
// answer are HTTP/1.1 framing (an HTTP/2 request head is one HEADERS frame; streams end alone).
describe('our own answers: HTTP/1.1 framing', () => {
  test('503 keeps the connection for a bodiless request', async () => {
    const p = await startProxy([]);
    try {
      const s = net.connect(p.port, '127.0.0.1');
      let text = '';
      s.on('data', (d) => (text += d.toString('latin1')));
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => text.includes('available.\n'));
      assert.match(text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
      s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await new Promise((r) => s.on('close', r));
      assert.equal([...text.matchAll(/ 503 /g)].length, 2);
    } finally {
      await p.close();
    }
  });

  test('504 closes the client connection', async () => {
    const srv = await startRawBackend(() => {});
    const p = await startProxy([srv.port], { backend: { timeouts: { connectSeconds: 5, responseSeconds: 0.3 } } });
    try {
      const r = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 3000);
      assert.match(r.text, /^HTTP\/1\.1 504 Gateway Timeout\r\n/);
      assert.equal(r.closed, true);
    } finally {
      await p.close();
      await srv.close();
    }
  });

  test('408 when the request head does not arrive in time', async () => {
    const b = await startBackend();
    const p = await startProxy([b.port], {
      frontend: { timeouts: { requestHeaderSeconds: 0.3, clientIdleSeconds: 60 } },
    });
    try {
      const r = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n', 3000);
      assert.match(r.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.equal(r.closed, true);
      assert.equal(b.requests, 0);
    } finally {
      await p.close();
      await b.close();
    }
  });

  test('a reset after part of the response closes the client connection', async () => {
    const srv = await startRawBackend((s) =>
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
        setTimeout(() => s.destroy(), 20);
      }),
    );
    const p = await startProxy([srv.port]);
    try {
      const r = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 2000);
      assert.match(r.text, /^HTTP\/1\.1 200 OK/);
      assert.ok(r.text.endsWith('partial'));
      assert.equal(r.closed, true);
    } finally {
      await p.close();
      await srv.close();
    }
  });
});
