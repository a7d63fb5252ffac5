import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  oneSocketAgent,
  rawExchange,
  request,
  startBackend,
  startProxy,
  startRawBackend,
  type TestBackend,
  type TestProxy,
  waitFor,
} from './helpers/http-fixtures.ts';

describe('http forwarding (F1)', () => {
  let b: TestBackend;
  let p: TestProxy;
  before(async () => {
    b = await startBackend((req, res) => {
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
    });
    p = await startProxy([b.port]);
  });
  after(async () => {
    await p.close();
    await b.close();
  });

  test('GET and POST with a Content-Length body', async () => {
    const g = await request(p.port, { path: '/x' });
    assert.equal(g.status, 200);
    assert.equal(g.body, 'echo:');
    const r = await request(p.port, { method: 'POST', path: '/x', body: 'hello world' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'echo:hello world');
  });

  test('POST with a chunked body is forwarded chunked', async () => {
    const r = await new Promise<{ body: string; te: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: p.port, method: 'POST', path: '/up' }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ body, te: String(res.headers['x-got-te']) }));
      });
      req.on('error', reject);
      req.write('abc');
      setTimeout(() => {
        req.write('def');
        req.end('ghi');
      }, 20);
    });
    assert.equal(r.body, 'echo:abcdefghi');
    assert.equal(r.te, 'chunked');
  });

  test('response framings: chunked, HEAD, 204, 304, and the connection stays in sync', async () => {
    const c = await request(p.port, { path: '/chunked' });
    assert.equal(c.body, 'part1-part2');
    assert.equal(c.headers['transfer-encoding'], 'chunked');
    const h = await request(p.port, { method: 'HEAD', path: '/x' });
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-length'], '5');
    assert.equal(h.body, '');
    assert.equal((await request(p.port, { path: '/204' })).status, 204);
    assert.equal((await request(p.port, { path: '/304' })).status, 304);
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

  test('keep-alive reuse on both sides: one client connection, one server connection', async () => {
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

  test('X-Forwarded-* are set and client-sent ones replaced; hop-by-hop headers removed', async () => {
    const raw =
      'GET /xf HTTP/1.1\r\nHost: Example.com\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 1\r\n' +
      'X-Forwarded-Host: evil\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s3cr3t\r\nKeep-Alive: timeout=5\r\n' +
      'Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n';
    await rawExchange(p.port, raw, 500);
    const seen = b.seen.at(-1) as http.IncomingMessage;
    assert.equal(seen.url, '/xf');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-port'], String(p.port));
    assert.equal(seen.headers['x-forwarded-host'], undefined);
    assert.equal(seen.headers['x-secret'], undefined, 'a header named in Connection does not reach the server');
    assert.equal(seen.headers['keep-alive'], undefined);
    assert.equal(seen.headers['proxy-connection'], undefined);
    assert.equal(seen.headers.te, undefined);
    assert.equal(seen.headers['x-kept'], 'yes');
    assert.equal(seen.headers.host, 'Example.com');
    assert.equal(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-forwarded-for').length, 1);
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

  test('counters: frontend requests, bytes and response classes; server requests', async () => {
    const c = p.plane.counters.get('fe');
    assert.ok(c);
    const before = { req: c.requests, ok: c.responses[2] as number, out: c.bytesOut };
    const rt = p.runtime.servers.get('s0');
    const srvBefore = rt?.requests ?? 0;
    await request(p.port, { path: '/count' });
    assert.equal(c.requests, before.req + 1);
    assert.equal(c.responses[2], before.ok + 1);
    assert.ok(c.bytesOut > before.out);
    assert.equal(rt?.requests, srvBefore + 1);
    assert.equal(rt?.activeConnections, 0, 'exchange closed on the server runtime');
  });
});

describe('response framings from a raw server', () => {
  test('read-until-close response is forwarded and the client connection closed', async () => {
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
