import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';
import { TestPki } from './tls-pki.ts';

/** An HTTP/1.1 server that answers `name`, the X-Forwarded-Proto it saw, and echoes the request body. */
async function echoServer(name: string) {
  let requests = 0;
  const srv = http.createServer((req, res) => {
    requests++;
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      if (req.url === '/chunked') {
        // no content-length: chunked toward the proxy, de-chunked into DATA frames for h2
        res.writeHead(200, { 'x-server': name });
        for (let i = 0; i < 10; i++) res.write(`part${i};`);
        res.end();
        return;
      }
      res.writeHead(200, {
        'x-server': name,
        'x-proto': String(req.headers['x-forwarded-proto']),
        'x-host': String(req.headers.host),
        'x-cookie': String(req.headers.cookie ?? ''),
        'set-cookie': ['a=1', 'b=2'],
        'content-type': 'text/plain',
      });
      res.end(body.length > 0 ? body : `hello from ${name}`);
    });
  });
  srv.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    requests: () => requests,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

function peerCert(port: number, servername: string | undefined, ca: string, extra: tls.ConnectionOptions = {}) {
  return new Promise<{ cn: string; fingerprint: string; protocol: string | null; alpn: string | false | null }>(
    (resolve, reject) => {
      const s = tls.connect(
        { host: '127.0.0.1', port, ca, ...(servername ? { servername } : {}), rejectUnauthorized: false, ...extra },
        () => {
          const c = s.getPeerCertificate();
          resolve({
            cn: String(c.subject.CN),
            fingerprint: c.fingerprint256,
            protocol: s.getProtocol(),
            alpn: s.alpnProtocol,
          });
          s.end();
        },
      );
      s.on('error', reject);
    },
  );
}

describe('https frontends (T1): SNI, HTTP/1.1 and HTTP/2, rotation', () => {
  let f: TestFulcrum;
  const pki = new TestPki();
  const ca = pki.ca('Front CA');
  const certA = pki.leaf(ca, { cn: 'a.test', sans: ['DNS:a.test'] });
  const certB = pki.leaf(ca, { cn: 'b.test', sans: ['DNS:b.test', 'DNS:*.w.test'], ec: true });
  let server: Awaited<ReturnType<typeof echoServer>>;
  let port = 0;
  let idA = '';
  let feId = '';

  before(async () => {
    server = await echoServer('s1');
    f = await startTestFulcrum();
    const lb = await f.ok('POST', '/load-balancers', { name: 'lb', allowedNetworks: ['127.0.0.0/8'] });
    const be = await f.ok('POST', '/backends', {
      loadBalancerId: lb.id,
      name: 'web',
      mode: 'http',
      healthCheck: { enabled: false, type: 'http' },
    });
    await f.ok('POST', `/backends/${be.id}/servers`, {
      name: 's1',
      serverType: 'web',
      address: '127.0.0.1',
      port: server.port,
    });
    idA = (await f.ok('POST', '/certificates', { name: 'a', kind: 'server', pem: certA.bundle })).id;
    const idB = (await f.ok('POST', '/certificates', { name: 'b', kind: 'server', pem: certB.bundle })).id;
    port = await freePort();
    const fe = await f.ok('POST', '/frontends', {
      loadBalancerId: lb.id,
      name: 'tls',
      protocol: 'https',
      port,
      defaultBackendId: be.id,
      certificateIds: [idA, idB],
    });
    feId = fe.id;
    assert.equal(fe.status.listening, true, JSON.stringify(fe.status));
  });
  after(async () => {
    await f.close();
    await server.close();
    pki.cleanup();
  });

  it('chooses the certificate by SNI: exact, wildcard, default for unknown or none; TLS 1.2+ only', async () => {
    assert.equal((await peerCert(port, 'a.test', ca.certPem)).cn, 'a.test');
    assert.equal((await peerCert(port, 'B.TEST', ca.certPem)).cn, 'b.test');
    assert.equal((await peerCert(port, 'x.w.test', ca.certPem)).cn, 'b.test', 'wildcard');
    assert.equal((await peerCert(port, 'unknown.test', ca.certPem)).cn, 'a.test', 'first certificate is the default');
    assert.equal((await peerCert(port, 'y.x.w.test', ca.certPem)).cn, 'a.test', 'a wildcard covers one label');
    const none = await peerCert(port, undefined, ca.certPem);
    assert.equal(none.cn, 'a.test');
    assert.equal(none.protocol, 'TLSv1.3');
    const v12 = await peerCert(port, 'b.test', ca.certPem, { maxVersion: 'TLSv1.2', ALPNProtocols: ['h2'] });
    assert.equal(v12.protocol, 'TLSv1.2');
    assert.equal(v12.alpn, 'h2');
    await assert.rejects(peerCert(port, 'a.test', ca.certPem, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }));
  });

  it('serves HTTP/1.1 over TLS with X-Forwarded-Proto: https', async () => {
    const agent = new https.Agent({ ca: ca.certPem, keepAlive: true, servername: 'a.test' });
    for (let i = 0; i < 3; i++) {
      const r = await new Promise<{ status: number; proto: string; body: string }>((resolve, reject) => {
        const req = https.request(
          { host: '127.0.0.1', port, path: '/x', method: 'POST', agent, headers: { host: 'a.test' } },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, proto: String(res.headers['x-proto']), body }));
          },
        );
        req.on('error', reject);
        req.end(`body-${i}`);
      });
      assert.deepEqual(r, { status: 200, proto: 'https', body: `body-${i}` });
    }
    agent.destroy();
  });

  it('serves HTTP/2 clients: 50 concurrent streams with bodies both ways, to an HTTP/1.1 server', async () => {
    const before = server.requests();
    // A2: HTTP/2 traffic feeds the server's time-to-first-byte average too.
    const [s1] = (await f.ok('GET', '/backends')).flatMap((b: { id: string }) => [b.id]);
    const srv = (await f.ok('GET', `/backends/${s1}/servers`))[0];
    const srt = f.fulcrum.plane.runtime.server(srv.id);
    assert.ok(srt);
    srt.ewmaTtfbMs = 0;
    const ok2xx = srt.responses[2] ?? 0;
    const client = http2.connect(`https://a.test:${port}`, {
      ca: ca.certPem,
      host: '127.0.0.1',
      servername: 'a.test',
      lookup: (_h, _o, cb) => cb(null, '127.0.0.1', 4),
    } as http2.SecureClientSessionOptions);
    const one = (i: number) =>
      new Promise<{ status: number; body: string; proto: string; host: string; cookies: unknown; cookie: string }>(
        (resolve, reject) => {
          const req = client.request({
            ':method': 'POST',
            ':path': `/echo/${i}`,
            cookie: 'c1=x',
            'content-type': 'text/plain',
          });
          req.on('error', reject);
          let status = 0;
          let proto = '';
          let host = '';
          let cookies: unknown;
          let cookie = '';
          req.on('response', (h) => {
            status = Number(h[':status']);
            proto = String(h['x-proto']);
            host = String(h['x-host']);
            cookies = h['set-cookie'];
            cookie = String(h['x-cookie']);
          });
          let body = '';
          req.setEncoding('utf8');
          req.on('data', (d) => (body += d));
          req.on('end', () => resolve({ status, body, proto, host, cookies, cookie }));
          // body in two DATA frames, no content-length: forwarded chunked
          req.write(`stream-${i}-`);
          req.end('x'.repeat(1000 + i));
        },
      );
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => one(i)));
    results.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.equal(r.body, `stream-${i}-${'x'.repeat(1000 + i)}`);
      assert.equal(r.proto, 'https');
      assert.equal(r.host, `a.test:${port}`);
      assert.deepEqual(r.cookies, ['a=1', 'b=2']);
      assert.equal(r.cookie, 'c1=x');
    });
    assert.equal(server.requests() - before, 50);
    assert.ok(srt.ewmaTtfbMs > 0, 'time to first byte recorded for HTTP/2 streams');
    assert.equal((srt.responses[2] ?? 0) - ok2xx, 50);
    // a chunked response is de-chunked into DATA frames
    const chunked = await new Promise<string>((resolve, reject) => {
      const req = client.request({ ':path': '/chunked' });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d) => (body += d));
      req.on('end', () => resolve(body));
      req.on('error', reject);
      req.end();
    });
    assert.equal(chunked, Array.from({ length: 10 }, (_, i) => `part${i};`).join(''));
    client.close();
  });

  it('rotates a certificate live (PUT /certificates/{id}): no failed request, new handshakes see the new one', async () => {
    const oldFp = (await peerCert(port, 'a.test', ca.certPem)).fingerprint;
    const next = pki.leaf(ca, { cn: 'a.test', sans: ['DNS:a.test'] });
    const newFp = new X509Certificate(next.certPem).fingerprint256;
    assert.notEqual(oldFp, newFp);
    const agent = new https.Agent({ ca: ca.certPem, keepAlive: true, servername: 'a.test', maxSockets: 2 });
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const seen = new Set<string>();
    const loop = async (fresh: boolean) => {
      const deadline = Date.now() + 10_000;
      while (!stop && Date.now() < deadline) {
        try {
          const fp = await new Promise<string>((resolve, reject) => {
            const req = https.request(
              {
                host: '127.0.0.1',
                port,
                path: '/',
                servername: 'a.test',
                ca: ca.certPem,
                agent: fresh ? false : agent,
              },
              (res) => {
                const fp = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
                res.resume();
                res.on('end', () =>
                  res.statusCode === 200 ? resolve(fp) : reject(new Error(`status ${res.statusCode}`)),
                );
              },
            );
            req.on('error', reject);
            req.end();
          });
          if (fp) seen.add(fp);
          ok++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const loops = [loop(true), loop(false), loop(true)];
    // requests run before the rotation, and go on after new handshakes see the new certificate
    await waitFor(() => seen.has(oldFp) && ok > 10, 5000, 'requests with the old certificate');
    const put = await f.ok('PUT', `/certificates/${idA}`, { pem: next.bundle });
    assert.equal(put.fingerprintSha256, newFp);
    const atRotation = ok;
    await waitFor(() => seen.has(newFp) && ok > atRotation + 10, 5000, 'requests with the new certificate');
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    assert.deepEqual(failures, []);
    assert.ok(ok > 20, `requests: ${ok}`);
    assert.ok(seen.has(oldFp) && seen.has(newFp), 'requests saw both certificates');
    assert.equal((await peerCert(port, 'a.test', ca.certPem)).fingerprint, newFp);
    const fe = await f.ok('GET', `/frontends/${feId}`);
    assert.equal(fe.status.listening, true);
  });

  it('serves the stored certificates after a restart (keys decrypted with the data dir secret key, C2)', async () => {
    const fp = (await peerCert(port, 'b.test', ca.certPem)).fingerprint;
    await f.restart();
    const fe = await f.ok('GET', `/frontends/${feId}`);
    assert.equal(fe.status.listening, true, JSON.stringify(fe.status));
    assert.equal((await peerCert(port, 'b.test', ca.certPem)).fingerprint, fp);
  });
});
