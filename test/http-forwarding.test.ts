import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FRONT_PROTOCOLS, type FrontProxy, startFrontProxy } from './helpers/front-protocols.ts';
import { waitFor } from './helpers/http-client.ts';
import {
  oneSocketAgent,
  rawExchange,
  request,
  startBackend,
  startProxy,
  startRawBackend,
  type TestBackend,
  type TestProxy,
} from './helpers/http-fixtures.ts';

/**
 * What the server saw of the X-Forwarded-* request to `/xf` (from 127.0.0.1, over `proto`, to
 * proxy port `port`, with X-Kept: yes): X-Forwarded-* replaced once, hop-by-hop fields removed.
 */
function assertForwarded(seen: http.IncomingMessage, proto: string, port: number): void {
  assert.equal(seen.url, '/xf');
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen.headers['x-forwarded-proto'], proto);
  assert.equal(seen.headers['x-forwarded-port'], String(port));
  assert.equal(seen.headers['x-forwarded-host'], undefined);
  assert.equal(seen.headers['x-secret'], undefined, 'a header named in Connection does not reach the server');
  assert.equal(seen.headers['keep-alive'], undefined);
  assert.equal(seen.headers['proxy-connection'], undefined);
  assert.equal(seen.headers.te, undefined);
  assert.equal(seen.headers['x-kept'], 'yes');
  assert.equal(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-forwarded-for').length, 1);
}

/** Echoes `echo:<body>`; `/chunked` answers chunked, `/204` and `/304` without a body; says which TE it got. */
const echoHandler: http.RequestListener = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    if (req.url === '/chunked') {
      res.write('part1-');
      res.write('part2');
      res.end();
      return;
    }
    if (req.url === '/204' || req.url === '/304') {
      res.statusCode = Number(req.url.slice(1));
      res.end();
      return;
    }
    res.setHeader('x-got-te', String(req.headers['transfer-encoding'] ?? ''));
    res.setHeader('Content-Length', Buffer.byteLength(`echo:${body}`));
    res.end(req.method === 'HEAD' ? undefined : `echo:${body}`);
  });
};

// Issue 12 point 1: every protocol-independent forwarding case runs once per front protocol
// (HTTP/1.1 and HTTP/2), one case body for both.
for (const protocol of FRONT_PROTOCOLS) {
  describe(`http forwarding over ${protocol} (F1)`, () => {
    let b: TestBackend;
    let p: FrontProxy;
    before(async () => {
      b = await startBackend(echoHandler);
      p = await startFrontProxy(protocol, [b.port]);
    });
    after(async () => {
      await p.close();
      await b.close();
    });

    test('GET and POST with a Content-Length body', async () => {
      const g = await p.request({ path: '/x' });
      assert.equal(g.status, 200);
      assert.equal(g.body, 'echo:');
      const r = await p.request({
        method: 'POST',
        path: '/x',
        body: 'hello world',
        headers: { 'content-length': '11' },
      });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'echo:hello world');
    });

    test('a request body without a length (chunked / DATA frames) is forwarded chunked', async () => {
      const r = await p.request({ method: 'POST', path: '/up', pieces: ['abc', 'def', 'ghi'], delayMs: 20 });
      assert.equal(r.body, 'echo:abcdefghi');
      assert.equal(r.headers['x-got-te'], 'chunked');
    });

    test('response framings: chunked, HEAD, 204, 304', async () => {
      const c = await p.request({ path: '/chunked' });
      assert.equal(c.body, 'part1-part2');
      // HTTP/2 carries the body in DATA frames: no transfer-encoding towards an h2 client
      assert.equal(c.headers['transfer-encoding'], protocol === 'h2' ? undefined : 'chunked');
      const h = await p.request({ method: 'HEAD', path: '/x' });
      assert.equal(h.status, 200);
      assert.equal(h.headers['content-length'], '5');
      assert.equal(h.body, '');
      assert.equal((await p.request({ path: '/204' })).status, 204);
      assert.equal((await p.request({ path: '/304' })).status, 304);
      assert.equal((await p.request({ method: 'POST', path: '/x', body: 'z' })).body, 'echo:z');
    });

    test('server connections are reused: 20 requests open at most one', async () => {
      const conns0 = b.connections;
      for (let i = 0; i < 20; i++) assert.equal((await p.request({ path: `/k${i}` })).status, 200);
      assert.ok(b.connections - conns0 <= 1, `server connections opened: ${b.connections - conns0}`);
    });

    test('X-Forwarded-* are set and client-sent ones replaced; hop-by-hop headers removed', async () => {
      // HTTP/2 forbids connection-specific fields (RFC 9113 §8.2.2) but for `te: trailers`
      const hop: Record<string, string> =
        protocol === 'h2'
          ? { te: 'trailers' }
          : {
              connection: 'keep-alive, X-Secret',
              'x-secret': 's3cr3t',
              'keep-alive': 'timeout=5',
              'proxy-connection': 'keep-alive',
              te: 'trailers',
            };
      await p.request({
        path: '/xf',
        headers: {
          host: 'Example.com',
          'x-forwarded-for': '6.6.6.6',
          'x-forwarded-proto': 'https',
          'x-forwarded-port': '1',
          'x-forwarded-host': 'evil',
          'x-kept': 'yes',
          ...hop,
        },
      });
      const seen = b.seen.at(-1) as http.IncomingMessage;
      assertForwarded(seen, protocol === 'h2' ? 'https' : 'http', p.port);
      assert.equal(seen.headers.host?.toLowerCase(), 'example.com');
    });

    test('counters: frontend requests, bytes and response classes; server requests', async () => {
      const c = p.plane.counters.get('fe');
      assert.ok(c);
      const before = { req: c.requests, ok: c.responses[2] as number, out: c.bytesOut };
      const rt = p.runtime.servers.get('s0');
      const srvBefore = rt?.requests ?? 0;
      await p.request({ path: '/count' });
      await waitFor(() => (rt?.activeConnections ?? 1) === 0);
      assert.equal(c.requests, before.req + 1);
      assert.equal(c.responses[2], before.ok + 1);
      assert.ok(c.bytesOut > before.out);
      assert.equal(rt?.requests, srvBefore + 1);
      assert.equal(rt?.activeConnections, 0, 'exchange closed on the server runtime');
    });

    test('a read-until-close answer is forwarded whole', async () => {
      const srv = await startRawBackend((s) =>
        s.once('data', () => {
          s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-');
          setTimeout(() => s.end('close-body'), 30);
        }),
      );
      const q = await startFrontProxy(protocol, [srv.port]);
      try {
        const r = await q.request({ path: '/' });
        assert.equal(r.status, 200);
        assert.equal(r.body, 'until-close-body');
      } finally {
        await q.close();
        await srv.close();
      }
    });
  });
}

// HTTP/1.1 only: these cases are about HTTP/1.1 framing itself (client keep-alive and
// pipelining on one socket, HTTP/1.0, a head copied byte for byte, absolute-form targets,
// 100-continue, chunked trailers, closing after a read-until-close answer); HTTP/2 has no
// such framing, its equivalents are in test/http-abuse.test.ts and test/http-protocols.test.ts.
describe('HTTP/1.1 framing (F1)', () => {
  let b: TestBackend;
  let p: TestProxy;
  before(async () => {
    b = await startBackend(echoHandler);
    p = await startProxy([b.port]);
  });
  after(async () => {
    await p.close();
    await b.close();
  });

  test('bodiless answers (HEAD, 204, 304) and chunked keep one keep-alive connection in sync', async () => {
    const agent = oneSocketAgent();
    for (const [method, path] of [
      ['GET', '/204'],
      ['HEAD', '/x'],
      ['GET', '/304'],
      ['GET', '/chunked'],
    ]) {
      await request(p.port, { path, agent, method });
    }
    const last = await request(p.port, { path: '/x', agent, method: 'POST', body: 'z' });
    assert.equal(last.body, 'echo:z');
    agent.destroy();
  });

  test('client keep-alive: one client connection, one server connection', async () => {
    const agent = oneSocketAgent();
    const conns0 = b.connections;
    const seenSockets = new Set<net.Socket>();
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: p.port, path: `/k${i}`, agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('socket', (s) => seenSockets.add(s));
        req.on('error', reject);
        req.end();
      });
    }
    agent.destroy();
    assert.equal(seenSockets.size, 1, 'one client connection for 20 requests');
    assert.ok(b.connections - conns0 <= 1, `server connections opened: ${b.connections - conns0}`);
  });

  test('pipelined requests are answered in order', async () => {
    const raw =
      'GET /a HTTP/1.1\r\nHost: x\r\n\r\n' +
      'POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz' +
      'GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const r = await rawExchange(p.port, raw, 3000);
    const statuses = [...r.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '200', '200']);
    const bodies = [...r.text.matchAll(/echo:[a-z]*/g)].map((m) => m[0]);
    assert.deepEqual(bodies, ['echo:', 'echo:xyz', 'echo:']);
    assert.equal(r.closed, true);
  });

  test('HTTP/1.0 keep-alive client gets Connection: keep-alive and can reuse', async () => {
    const s = net.connect(p.port, '127.0.0.1');
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.write('GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await waitFor(() => text.includes('echo:'));
    assert.match(text, /Connection: keep-alive/i);
    s.write('GET /b HTTP/1.0\r\n\r\n');
    await new Promise((r) => s.on('close', r));
    assert.equal([...text.matchAll(/HTTP\/1\.1 200/g)].length, 2);
  });

  test('hop-by-hop fields written as raw bytes are removed, X-Forwarded-* replaced', async () => {
    const raw =
      'GET /xf HTTP/1.1\r\nHost: Example.com\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 1\r\n' +
      'X-Forwarded-Host: evil\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s3cr3t\r\nKeep-Alive: timeout=5\r\n' +
      'Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n';
    await rawExchange(p.port, raw, 500);
    const seen = b.seen.at(-1) as http.IncomingMessage;
    assertForwarded(seen, 'http', p.port);
    assert.equal(seen.headers.host, 'Example.com');
  });

  test('fast path (head copied as received) still adds X-Forwarded-* once, before the body', async () => {
    const r = await rawExchange(
      p.port,
      'POST /fast HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabc',
      500,
    );
    assert.match(r.text, /echo:abc$/);
    const seen = b.seen.at(-1) as http.IncomingMessage;
    assert.equal(seen.url, '/fast');
    assert.deepEqual(seen.rawHeaders, [
      'Host',
      'h',
      'Content-Length',
      '3',
      'X-A',
      '1',
      'X-Forwarded-For',
      '127.0.0.1',
      'X-Forwarded-Proto',
      'http',
      'X-Forwarded-Port',
      String(p.port),
    ]);
  });

  test('absolute-form target: the host is taken from the URI', async () => {
    await rawExchange(p.port, 'GET http://abs.example/p?q=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n');
    const seen = b.seen.at(-1) as http.IncomingMessage;
    assert.equal(seen.url, '/p?q=1');
    assert.equal(seen.headers.host, 'abs.example');
  });
});

describe('HTTP/1.1 response framings from a raw server', () => {
  test('read-until-close response: Connection: close and the client connection closed', async () => {
    const srv = await startRawBackend((s) =>
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-');
        setTimeout(() => s.end('close-body'), 30);
      }),
    );
    const p = await startProxy([srv.port]);
    try {
      const r = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 2000);
      assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(r.text, /Connection: close/);
      assert.ok(r.text.endsWith('\r\n\r\nuntil-close-body'), r.text);
      assert.equal(r.closed, true);
    } finally {
      await p.close();
      await srv.close();
    }
  });

  test('chunked response with trailers keeps its framing; 100-continue is relayed', async () => {
    const srv = await startRawBackend((s) => {
      let got = '';
      s.on('data', (d) => {
        got += d.toString('latin1');
        if (got.endsWith('\r\n\r\n') && got.includes('Expect: 100-continue')) s.write('HTTP/1.1 100 Continue\r\n\r\n');
        if (got.endsWith('body')) {
          s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab');
          setTimeout(() => s.write('cd\r\n0\r\nX-Trailer: t\r\n\r\n'), 20);
        }
      });
    });
    const p = await startProxy([srv.port]);
    try {
      const s = net.connect(p.port, '127.0.0.1');
      let text = '';
      s.on('data', (d) => (text += d.toString('latin1')));
      s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
      await waitFor(() => text.includes('100 Continue'));
      s.write('body');
      await waitFor(() => text.includes('X-Trailer: t\r\n\r\n'));
      assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /Transfer-Encoding: chunked\r\n/);
      assert.ok(text.endsWith('4\r\nabcd\r\n0\r\nX-Trailer: t\r\n\r\n'));
      s.destroy();
    } finally {
      await p.close();
      await srv.close();
    }
  });
});
