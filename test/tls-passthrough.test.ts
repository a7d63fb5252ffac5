import assert from 'node:assert/strict';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type tls from 'node:tls';
import { listenLocal, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { freePort } from './helpers/plane.ts';
import { type Issued, TestPki } from './tls-pki.ts';

async function tlsServer(name: string, cert: Issued) {
  const srv = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    req.resume();
    req.on('end', () => res.end(`${name}:${req.headers.host}`));
  });
  return listenLocal(srv);
}

/** A relay that forwards client bytes to `port` in small pieces with pauses: the ClientHello arrives split. */
async function splitter(port: number) {
  const srv = net.createServer((c) => {
    const up = net.connect({ host: '127.0.0.1', port, noDelay: true });
    up.pipe(c);
    let sent = 0;
    let chain = Promise.resolve();
    c.on('data', (d: Buffer) => {
      chain = chain.then(async () => {
        for (let i = 0; i < d.length; i += 40) {
          up.write(d.subarray(i, i + 40));
          sent += 40;
          if (sent < 800) await new Promise((r) => setTimeout(r, 3));
        }
      });
    });
    c.on('end', () => chain.then(() => up.end()));
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

/** An HTTPS GET through `port` with SNI `servername`, verified against `ca`: the end-to-end TLS is the server's own. */
function fetchVia(port: number, servername: string, ca: string): Promise<{ body: string; cn: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, servername, ca, path: '/', headers: { host: servername }, agent: false },
      (res) => {
        const cn = String((res.socket as tls.TLSSocket).getPeerCertificate().subject.CN);
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ body, cn }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('TLS passthrough (T4): route by ClientHello SNI without decrypting', () => {
  let f: TestFulcrum;
  const pki = new TestPki();
  const ca = pki.ca('Passthrough CA');
  const closers: (() => Promise<void>)[] = [];
  let port = 0;

  before(async () => {
    const a = await tlsServer('A', pki.leaf(ca, { cn: 'a.test' }));
    const b = await tlsServer('B', pki.leaf(ca, { cn: 'b.test', sans: ['DNS:*.b.test'] }));
    const d = await tlsServer('D', pki.leaf(ca, { cn: 'default.test', sans: ['DNS:default.test', 'DNS:zzz.test'] }));
    closers.push(a.close, b.close, d.close);
    f = await startTestFulcrum();
    const lb = (await f.ok('POST', '/load-balancers', { name: 'lb', allowedNetworks: ['127.0.0.0/8'] })).id;
    const backend = async (name: string, serverPort: number) => {
      const be = await f.ok('POST', '/backends', {
        loadBalancerId: lb,
        name,
        mode: 'tcp',
        healthCheck: { enabled: false, type: 'tcp' },
      });
      await f.ok('POST', `/backends/${be.id}/servers`, {
        name: `${name}-1`,
        serverType: 'web',
        address: '127.0.0.1',
        port: serverPort,
      });
      return be.id as string;
    };
    const beA = await backend('a', a.port);
    const beB = await backend('b', b.port);
    const beD = await backend('d', d.port);
    port = await freePort();
    const fe = await f.ok('POST', '/frontends', {
      loadBalancerId: lb,
      name: 'pass',
      protocol: 'tcp',
      port,
      defaultBackendId: beD,
      tlsPassthrough: true,
      sniRules: [
        { serverName: 'a.test', backendId: beA },
        { serverName: '*.b.test', backendId: beB },
      ],
    });
    assert.equal(fe.status.listening, true);
  });
  after(async () => {
    await f.close();
    for (const c of closers) await c();
    pki.cleanup();
  });

  it('routes by exact and wildcard SNI, falls back to the default backend', async () => {
    assert.deepEqual(await fetchVia(port, 'a.test', ca.certPem), { body: 'A:a.test', cn: 'a.test' });
    assert.deepEqual(await fetchVia(port, 'www.b.test', ca.certPem), { body: 'B:www.b.test', cn: 'b.test' });
    assert.deepEqual(await fetchVia(port, 'zzz.test', ca.certPem), { body: 'D:zzz.test', cn: 'default.test' });
  });

  it('handles a ClientHello split across TCP segments', async () => {
    const s = await splitter(port);
    closers.push(s.close);
    assert.deepEqual(await fetchVia(s.port, 'a.test', ca.certPem), { body: 'A:a.test', cn: 'a.test' });
    assert.deepEqual(await fetchVia(s.port, 'x.b.test', ca.certPem), { body: 'B:x.b.test', cn: 'b.test' });
  });

  it('re-encrypts a tcp backend with TLS enabled (T2): plain client bytes, verified TLS to the server', async () => {
    const lb = (await f.ok('GET', '/load-balancers'))[0].id;
    const caId = (await f.ok('POST', '/certificates', { name: 'pt-ca', kind: 'ca', pem: ca.certPem })).id;
    const target = await tlsServer('T', pki.leaf(ca, { cn: 't.test' }));
    closers.push(target.close);
    const be = await f.ok('POST', '/backends', {
      loadBalancerId: lb,
      name: 'tcp-tls',
      mode: 'tcp',
      healthCheck: { enabled: false, type: 'tcp' },
      tls: { enabled: true, caCertificateId: caId, sni: 't.test', verify: true },
    });
    await f.ok('POST', `/backends/${be.id}/servers`, {
      name: 't-1',
      serverType: 'web',
      address: '127.0.0.1',
      port: target.port,
    });
    const p2 = await freePort();
    await f.ok('POST', '/frontends', {
      loadBalancerId: lb,
      name: 'plain-in',
      protocol: 'tcp',
      port: p2,
      defaultBackendId: be.id,
    });
    const answer = await new Promise<string>((resolve, reject) => {
      const c = net.connect({ host: '127.0.0.1', port: p2 }, () =>
        c.write('GET / HTTP/1.1\r\nHost: t.test\r\nConnection: close\r\n\r\n'),
      );
      let text = '';
      c.on('data', (d) => (text += d));
      c.on('end', () => resolve(text));
      c.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.match(answer, /T:t\.test$/);
  });

  it('closes a connection that does not start with a ClientHello', async () => {
    const refused = () => [...f.fulcrum.plane.counters.values()].reduce((n, c) => n + c.refused, 0);
    const before = refused();
    const got = await new Promise<string>((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port }, () => c.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n'));
      let text = '';
      c.on('data', (d) => (text += d));
      c.on('close', () => resolve(text));
      c.on('error', () => {});
    });
    assert.equal(got, '', 'nothing was forwarded or answered');
    assert.equal(refused(), before + 1, 'counted as refused');
  });
});
