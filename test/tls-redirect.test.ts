import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { namedHttpServer, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { freePort } from './helpers/plane.ts';
import { shopBackend } from './helpers/shop.ts';
import { TestPki } from './tls-pki.ts';

/** Sends raw bytes, reads until the server closes or `ms` pass; answers what arrived. */
function raw(port: number, text: string, ms = 500): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(text));
    let data = '';
    let closed = false;
    const t = setTimeout(() => {
      c.destroy();
      resolve({ data, closed });
    }, ms);
    c.setEncoding('utf8');
    c.on('data', (d: string) => (data += d));
    c.on('end', () => {
      closed = true;
      clearTimeout(t);
      c.destroy();
      resolve({ data, closed });
    });
    c.on('error', reject);
  });
}

// Issue "TLS" point 2: optional redirect of an http frontend to its https twin.
describe('http frontend redirect to its https twin (T1, redirectToHttps)', () => {
  let f: TestFulcrum;
  const pki = new TestPki();
  let lb = '';
  let be = '';
  let web: Awaited<ReturnType<typeof namedHttpServer>>;
  before(async () => {
    f = await startTestFulcrum();
    web = await namedHttpServer('web');
    ({ lbId: lb, beId: be } = await shopBackend(f.ok, {}, [{ name: 's', port: web.port }]));
  });
  after(async () => {
    await f.close();
    await web.close();
    pki.cleanup();
  });
  /** The body of http frontend `plain` on `port` that redirects to its https twin. */
  const plain = (port: number) => ({
    loadBalancerId: lb,
    name: 'plain',
    protocol: 'http',
    port,
    defaultBackendId: be,
    redirectToHttps: true,
  });

  it('is refused while the load balancer has no https frontend, and on non-http frontends', async () => {
    const port = await freePort();
    const r = await f.api('POST', '/frontends', plain(port));
    assert.equal(r.status, 409);
    assert.equal(r.body.error.field, 'redirectToHttps');
    assert.match(r.body.error.message, /no enabled https frontend/);
    assert.deepEqual(await f.ok('GET', '/frontends'), []);
    const tcp = await f.api('POST', '/frontends', {
      loadBalancerId: lb,
      name: 'raw',
      protocol: 'tcp',
      port,
      defaultBackendId: be,
      redirectToHttps: true,
    });
    assert.equal(tcp.status, 409);
  });

  it('answers 308 to the same host and target on the twin port, keeps the connection, forwards nothing', async () => {
    const ca = pki.ca('Redirect CA');
    const leaf = pki.leaf(ca, { cn: 'shop.test', sans: ['DNS:shop.test'] });
    const cert = await f.ok('POST', '/certificates', { name: 'shop', kind: 'server', pem: leaf.bundle });
    const httpsPort = await freePort();
    await f.ok('POST', '/frontends', {
      loadBalancerId: lb,
      name: 'tls',
      protocol: 'https',
      port: httpsPort,
      defaultBackendId: be,
      certificateIds: [cert.id],
    });
    const port = await freePort();
    const fe = await f.ok('POST', '/frontends', plain(port));
    assert.equal(fe.redirectToHttps, true);
    const before = web.count();
    const two = await raw(
      port,
      'GET /cart?id=7 HTTP/1.1\r\nHost: Shop.test:8080\r\n\r\nGET /two HTTP/1.1\r\nHost: shop.test\r\n\r\n',
    );
    const answers = two.data.split('HTTP/1.1 ').filter(Boolean);
    assert.equal(answers.length, 2, two.data);
    assert.match(
      answers[0] ?? '',
      new RegExp(`^308 Permanent Redirect\\r\\nLocation: https://Shop.test:${httpsPort}/cart\\?id=7\\r\\n`),
    );
    assert.match(answers[1] ?? '', new RegExp(`Location: https://shop.test:${httpsPort}/two\\r\\n`));
    assert.equal(two.closed, false, 'keep-alive is kept');
    const post = await raw(port, 'POST /form HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 3\r\n\r\nabc');
    assert.match(post.data, /^HTTP\/1\.1 308 /);
    assert.match(post.data, /Connection: close/);
    assert.equal(post.closed, true, 'a request with a body closes the connection');
    assert.equal(web.count(), before, 'nothing was forwarded');

    // Turning it off forwards again.
    await f.ok('PATCH', `/frontends/${fe.id}`, { redirectToHttps: false });
    const fwd = await raw(port, 'GET / HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n');
    assert.match(fwd.data, /^HTTP\/1\.1 200 /);
    assert.match(fwd.data, /web$/);
  });
});
