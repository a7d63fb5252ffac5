import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FRONT_PROTOCOLS, type FrontProxy, startFrontProxy } from './helpers/front-protocols.ts';
import { waitFor } from './helpers/http-client.ts';
import { startBackend, startRawBackend, type TestBackend } from './helpers/http-fixtures.ts';
import { server } from './helpers/plane.ts';

/** A port on which nothing listens (connections are refused). */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Echo backend: answers its name, the request's method, url, body and the headers it saw as JSON. */
function echo(name: string): http.RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 3000);
        return;
      }
      if (req.url === '/chunked') {
        res.write('part1-');
        res.end('part2');
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          name,
          method: req.method,
          url: req.url,
          body: Buffer.concat(chunks).toString(),
          headers: req.headers,
        }),
      );
    });
  };
}

for (const protocol of FRONT_PROTOCOLS) {
  const proto = protocol === 'h2' ? 'https' : 'http';

  describe(`HTTP behaviour over ${protocol} (issue 12: one exchange, two framings)`, () => {
    let a: TestBackend;
    let b: TestBackend;
    let internal: TestBackend;
    let p: FrontProxy;
    before(async () => {
      a = await startBackend(echo('a'));
      b = await startBackend(echo('b'));
      internal = await startBackend(echo('internal'));
      p = await startFrontProxy(protocol, [a.port], {
        backend: { timeouts: { connectSeconds: 1, responseSeconds: 1 } },
        frontend: {
          rules: [{ match: { pathPrefix: '/internal' }, backendId: 'in' }],
          timeouts: { requestHeaderSeconds: 10, clientIdleSeconds: 60, requestBodySeconds: 1 },
        },
        extra: (c) => {
          c.backends.push({ ...c.backends[0]!, id: 'in', name: 'in' });
          c.servers.push(server('i0', 'in', internal.port));
        },
      });
    });
    after(async () => {
      await p.close();
      await a.close();
      await b.close();
      await internal.close();
    });

    test('forwarding: GET, POST with a length, a streamed body, a chunked answer', async () => {
      const g = await p.request({ path: '/x?q=1' });
      assert.equal(g.status, 200);
      assert.equal(JSON.parse(g.body).url, '/x?q=1');
      const post = await p.request({ method: 'POST', path: '/p', body: 'hello', headers: { 'content-length': '5' } });
      assert.equal(JSON.parse(post.body).body, 'hello');
      const streamed = await p.request({ method: 'POST', path: '/s', pieces: ['ab', 'cd', 'ef'] });
      assert.equal(JSON.parse(streamed.body).body, 'abcdef');
      const c = await p.request({ path: '/chunked' });
      assert.equal(c.body, 'part1-part2');
    });

    test('forward headers: one X-Forwarded-* set, client identity and look-alikes dropped', async () => {
      const r = await p.request({
        path: '/h',
        headers: {
          'x-forwarded-for': '6.6.6.6',
          'x-real-ip': '6.6.6.6',
          forwarded: 'for=6.6.6.6',
          'true-client-ip': '6.6.6.6',
          'x-client-ip': '6.6.6.6',
          x_forwarded_for: '6.6.6.6',
          'x.forwarded-for': '6.6.6.6',
          transfer_encoding: 'chunked',
          'content.length': '99',
          x_real_ip: '6.6.6.6',
          'true_client.ip': '6.6.6.6',
          'x-kept': 'yes',
        },
      });
      const h = JSON.parse(r.body).headers as Record<string, string>;
      assert.equal(h['x-forwarded-for'], '127.0.0.1');
      assert.equal(h['x-forwarded-proto'], proto);
      assert.equal(h['x-forwarded-port'], String(p.port));
      for (const gone of [
        'x-real-ip',
        'forwarded',
        'true-client-ip',
        'x-client-ip',
        'x_forwarded_for',
        'x.forwarded-for',
        'transfer_encoding',
        'content.length',
        'x_real_ip',
        'true_client.ip',
      ])
        assert.equal(h[gone], undefined, gone);
      assert.equal(h['x-kept'], 'yes');
    });

    test('trustedProxies: a client inside the CIDRs keeps its chain, appended to; outside, it is replaced', async () => {
      const identity = {
        'x-forwarded-for': '1.2.3.4',
        forwarded: 'for=1.2.3.4',
        'x-real-ip': '1.2.3.4',
        'x-forwarded-proto': 'https',
      };
      const c = structuredClone(p.config);
      c.frontends[0]!.trustedProxies = ['127.0.0.0/8'];
      await p.apply(c);
      const t = JSON.parse((await p.request({ path: '/trusted', headers: identity })).body).headers;
      assert.equal(t['x-forwarded-for'], '1.2.3.4, 127.0.0.1', 'the chain is appended to');
      assert.equal(t.forwarded, 'for=1.2.3.4');
      assert.equal(t['x-real-ip'], '1.2.3.4');
      assert.equal(t['x-forwarded-proto'], 'https');
      c.frontends[0]!.trustedProxies = ['10.0.0.0/8', '::1/128'];
      await p.apply(c);
      const u = JSON.parse((await p.request({ path: '/untrusted', headers: identity })).body).headers;
      assert.equal(u['x-forwarded-for'], '127.0.0.1', 'replaced');
      assert.equal(u.forwarded, undefined);
      assert.equal(u['x-real-ip'], undefined);
      assert.equal(u['x-forwarded-proto'], proto);
      await p.apply(p.config);
    });

    test('routing on the normalised path: encodings, dot segments and double slashes do not bypass a rule', async () => {
      for (const path of ['/internal/x', '/%69nternal/x', '//internal/x', '/x/../internal/x', '/./internal/x']) {
        const r = await p.request({ path });
        assert.equal(JSON.parse(r.body).name, 'internal', path);
        assert.equal(JSON.parse(r.body).url, '/internal/x', `${path} is forwarded normalised`);
      }
      const other = await p.request({ path: '/internalx/../y' });
      assert.equal(JSON.parse(other.body).name, 'a');
    });

    test('errors: 503 with Retry-After when no server is available, 504 when the server is slow', async () => {
      const c = structuredClone(p.config);
      c.servers = c.servers.filter((s) => s.backendId !== 'be');
      await p.apply(c);
      const r = await p.request({ path: '/none' });
      assert.equal(r.status, 503);
      assert.equal(r.headers['retry-after'], '5');
      await p.apply(p.config);
      const slow = await p.request({ path: '/slow' });
      assert.equal(slow.status, 504);
      const line = p.records.find((x) => x.target === '/slow');
      assert.equal(line?.termination, 'response-timeout');
      assert.equal(line?.protocol, protocol);
    });

    test('timeouts: a request body that stalls gets 408 (timeouts.requestBodySeconds)', async () => {
      const r = await p
        .request({ method: 'POST', path: '/stall', pieces: ['a', 'b'], delayMs: 2500 })
        .catch((err: Error) => ({ status: -1, headers: {}, body: err.message }));
      assert.equal(r.status, 408, r.body);
      await waitFor(() => p.records.some((x) => x.target === '/stall'));
      assert.equal(p.records.find((x) => x.target === '/stall')?.termination, 'body-timeout');
    });

    test('minRequestBodyBytesPerSecond: a slower body gets 408 (body-timeout), a fast one passes', async () => {
      const c = structuredClone(p.config);
      c.frontends[0]!.minRequestBodyBytesPerSecond = 100;
      c.frontends[0]!.timeouts = { ...c.frontends[0]!.timeouts, requestBodySeconds: 30 };
      await p.apply(c);
      const fast = await p.request({ method: 'POST', path: '/fast', pieces: ['x'.repeat(500), 'y'.repeat(500)] });
      assert.equal(fast.status, 200);
      assert.equal(JSON.parse(fast.body).body.length, 1000);
      // 1 byte every 700 ms: never idle for requestBodySeconds, but far below 100 bytes/s
      const slow = await p
        .request({ method: 'POST', path: '/crawl', pieces: ['a', 'b', 'c', 'd', 'e', 'f'], delayMs: 700 })
        .catch((err: Error) => ({ status: -1, headers: {}, body: err.message }));
      assert.equal(slow.status, 408, slow.body);
      await waitFor(() => p.records.some((x) => x.target === '/crawl'));
      assert.equal(p.records.find((x) => x.target === '/crawl')?.termination, 'body-timeout');
      assert.equal(p.records.find((x) => x.target === '/fast')?.termination, undefined);
      await p.apply(p.config);
    });

    test('live changes: a server added is used at once, one removed is not', async () => {
      const c = structuredClone(p.config);
      c.servers.push(server('s1', 'be', b.port));
      await p.apply(c);
      const names = new Set<string>();
      for (let i = 0; i < 6; i++) names.add(JSON.parse((await p.request({ path: `/l${i}` })).body).name);
      assert.deepEqual([...names].sort(), ['a', 'b']);
      c.servers = c.servers.filter((s) => s.id !== 's0');
      await p.apply(c);
      for (let i = 0; i < 4; i++) assert.equal(JSON.parse((await p.request({ path: `/m${i}` })).body).name, 'b');
      await p.apply(p.config);
    });

    test('persistence: a cookie keeps the client on its server', async () => {
      const c = structuredClone(p.config);
      c.servers.push(server('s1', 'be', b.port));
      c.backends[0]!.persistence = { type: 'cookie', cookieName: 'SRV', timeoutSeconds: 600 };
      await p.apply(c);
      const first = await p.request({ path: '/c' });
      const set = String([first.headers['set-cookie']].flat()[0]);
      assert.match(set, /^SRV=/);
      const cookie = set.split(';')[0] as string;
      const name = JSON.parse(first.body).name;
      for (let i = 0; i < 5; i++) {
        const r = await p.request({ path: `/c${i}`, headers: { cookie } });
        assert.equal(JSON.parse(r.body).name, name);
      }
      await p.apply(p.config);
    });

    test('retries: with 2 of 4 servers refusing, every request is answered by a live one, on other servers', async () => {
      const dead1 = await deadPort();
      const dead2 = await deadPort();
      const c = structuredClone(p.config);
      c.servers = c.servers.filter((s) => s.backendId !== 'be');
      c.servers.push(server('d1', 'be', dead1), server('d2', 'be', dead2), server('s0', 'be', a.port));
      c.servers.push(server('s1', 'be', b.port));
      c.backends[0]!.outlierDetection = { ...c.backends[0]!.outlierDetection, enabled: false };
      await p.apply(c);
      const n0 = p.records.length;
      for (let i = 0; i < 12; i++) {
        const r = await p.request({ method: i % 2 ? 'POST' : 'GET', path: `/r${i}`, body: 'x' });
        assert.equal(r.status, 200, `request ${i}`);
      }
      const retried = p.records.slice(n0).filter((x) => (x.retries ?? 0) > 0);
      assert.ok(retried.length > 0, 'some requests were retried');
      for (const x of retried) assert.equal(x.termination, 'retried');
      const d1 = p.runtime.servers.get('d1');
      assert.ok((d1?.terminations['connect-refused'] ?? 0) > 0);
      await p.apply(p.config);
    });

    test('a 502 when the server answers garbage, with the reason in the log', async () => {
      const raw = await startRawBackend((s) => s.once('data', () => s.end('NOT HTTP\r\n\r\n')));
      const c = structuredClone(p.config);
      c.servers = c.servers.map((s) => (s.id === 's0' ? { ...s, port: raw.port } : s));
      await p.apply(c);
      const r = await p.request({ path: '/garbage' });
      assert.equal(r.status, 502);
      assert.equal(p.records.find((x) => x.target === '/garbage')?.termination, 'bad-response');
      await p.apply(p.config);
      await raw.close();
    });

    test('access log: one line per request with protocol and status', async () => {
      const n0 = p.records.length;
      await p.request({ path: '/logged' });
      await waitFor(() => p.records.length > n0);
      const line = p.records.find((x) => x.target === '/logged');
      assert.equal(line?.status, 200);
      assert.equal(line?.protocol, protocol);
      assert.equal(line?.backend, 'be');
      assert.equal(line?.server, 's0');
    });
  });
}
