import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import type tls from 'node:tls';
import { listenLocal, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { get, waitFor } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';
import { type Issued, TestPki } from './tls-pki.ts';

/** An HTTPS server with `cert`; counts TLS connections and resumed sessions; `/close` answers Connection: close. */
async function tlsServer(name: string, cert: Issued) {
  const stats = { connections: 0, resumed: 0, requests: 0 };
  const srv = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    stats.requests++;
    req.resume();
    req.on('end', () => {
      const secure = (req.socket as tls.TLSSocket).encrypted === true;
      if (req.url === '/close') res.setHeader('connection', 'close');
      res.end(`${name} secure=${secure}`);
    });
  });
  srv.on('secureConnection', (s: tls.TLSSocket) => {
    stats.connections++;
    if (s.isSessionReused()) stats.resumed++;
  });
  srv.keepAliveTimeout = 30_000;
  return { ...(await listenLocal(srv)), stats };
}

async function plainServer(name: string) {
  const srv = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(`${name} secure=false`));
  });
  return listenLocal(srv);
}

describe('backend TLS (T2, T3): verified re-encryption, SSL offload, untrusted servers', () => {
  let f: TestFulcrum;
  const pki = new TestPki();
  const ca = pki.ca('Backend CA');
  const otherCa = pki.ca('Rogue CA');
  const sans = ['DNS:srv.test', 'IP:127.0.0.1'];
  const servers: { close(): Promise<void> }[] = [];
  let good: Awaited<ReturnType<typeof tlsServer>>;
  let lbId = '';
  let caId = '';
  const ports: Record<string, number> = {};

  async function backendWith(
    name: string,
    tlsCfg: Record<string, unknown>,
    list: { name: string; port: number; sslOffload?: boolean }[],
    healthCheck: Record<string, unknown> = { enabled: false, type: 'http' },
  ): Promise<string> {
    const be = await f.ok('POST', '/backends', { loadBalancerId: lbId, name, mode: 'http', tls: tlsCfg, healthCheck });
    for (const s of list) {
      await f.ok('POST', `/backends/${be.id}/servers`, {
        name: s.name,
        serverType: 'web',
        address: '127.0.0.1',
        port: s.port,
        sslOffload: s.sslOffload ?? false,
      });
    }
    const port = await freePort();
    await f.ok('POST', '/frontends', { loadBalancerId: lbId, name, protocol: 'http', port, defaultBackendId: be.id });
    ports[name] = port;
    return be.id;
  }

  before(async () => {
    good = await tlsServer('good', pki.leaf(ca, { cn: 'srv.test', sans }));
    servers.push(good);
    f = await startTestFulcrum();
    lbId = (await f.ok('POST', '/load-balancers', { name: 'lb', allowedNetworks: ['127.0.0.0/8'] })).id;
    caId = (await f.ok('POST', '/certificates', { name: 'backend-ca', kind: 'ca', pem: ca.certPem })).id;
  });
  after(async () => {
    await f.close();
    for (const s of servers) await s.close();
    pki.cleanup();
  });

  it('re-encrypts to a server verified by the CA bundle, with SNI; reuses pooled TLS connections', async () => {
    await backendWith('sec', { enabled: true, caCertificateId: caId, sni: 'srv.test', verify: true }, [
      { name: 'good', port: good.port },
    ]);
    const agent = new http.Agent({ keepAlive: true });
    for (let i = 0; i < 20; i++) {
      const r = await get(`http://127.0.0.1:${ports.sec}/`, agent);
      assert.deepEqual(r, { status: 200, body: 'good secure=true' });
    }
    agent.destroy();
    assert.ok(good.stats.connections <= 2, `TLS connections to the server: ${good.stats.connections}`);
  });

  it('resumes TLS sessions on new connections to a server', async () => {
    const before = { ...good.stats };
    for (let i = 0; i < 4; i++) {
      const r = await get(`http://127.0.0.1:${ports.sec}/close`);
      assert.equal(r.status, 200);
    }
    assert.ok(good.stats.connections - before.connections >= 3, 'Connection: close made new connections');
    assert.ok(good.stats.resumed - before.resumed >= 2, `resumed: ${good.stats.resumed - before.resumed}`);
  });

  it('checks https health with the same trust: untrusted CA, wrong name and expired are unhealthy (tls-untrusted)', async () => {
    const rogue = await tlsServer('rogue', pki.leaf(otherCa, { cn: 'srv.test', sans }));
    const wrong = await tlsServer('wrong', pki.leaf(ca, { cn: 'other.test', sans: ['DNS:other.test'] }));
    const expired = await tlsServer(
      'expired',
      pki.leaf(ca, { cn: 'srv.test', sans, startDate: '20200101000000Z', endDate: '20210101000000Z' }),
    );
    const good2 = await tlsServer('good2', pki.leaf(ca, { cn: 'srv.test', sans }));
    servers.push(rogue, wrong, expired, good2);
    const beId = await backendWith(
      'checked',
      { enabled: true, caCertificateId: caId, sni: 'srv.test', verify: true },
      [
        { name: 'good2', port: good2.port },
        { name: 'rogue', port: rogue.port },
        { name: 'wrong', port: wrong.port },
        { name: 'expired', port: expired.port },
      ],
      { enabled: true, type: 'https', intervalSeconds: 1, timeoutSeconds: 1, rise: 1, fall: 1, http: { path: '/' } },
    );
    let list: { name: string; status: { health: string; lastCheck: { reason: string; message?: string } | null } }[] =
      [];
    await waitFor(
      async () => {
        list = await f.ok('GET', `/backends/${beId}/servers`);
        return list.every((s) => s.status.health !== 'unknown');
      },
      8000,
      'every server checked once',
    );
    const by = new Map(list.map((s) => [s.name, s.status]));
    assert.equal(by.get('good2')?.health, 'healthy', JSON.stringify(by.get('good2')));
    for (const n of ['rogue', 'wrong', 'expired']) {
      assert.equal(by.get(n)?.health, 'unhealthy', n);
      assert.equal(by.get(n)?.lastCheck?.reason, 'tls-untrusted', `${n}: ${JSON.stringify(by.get(n))}`);
    }
    // T3: the message says why in an operator's words.
    assert.match(by.get('rogue')?.lastCheck?.message ?? '', /^certificate signed by unknown authority/);
    assert.match(by.get('wrong')?.lastCheck?.message ?? '', /^certificate is not valid for the server name/);
    assert.match(by.get('expired')?.lastCheck?.message ?? '', /^certificate has expired/);
    for (let i = 0; i < 6; i++) {
      const r = await get(`http://127.0.0.1:${ports.checked}/`);
      assert.deepEqual(r, { status: 200, body: 'good2 secure=true' }, 'only the trusted server gets traffic');
    }
  });

  it('answers 502 when the only server is untrusted (no health check), and serves it with verify off', async () => {
    const rogue = await tlsServer('rogue3', pki.leaf(otherCa, { cn: 'srv.test', sans }));
    servers.push(rogue);
    await backendWith('untrusted', { enabled: true, caCertificateId: caId, sni: 'srv.test', verify: true }, [
      { name: 'rogue3', port: rogue.port },
    ]);
    const r = await get(`http://127.0.0.1:${ports.untrusted}/`);
    assert.equal(r.status, 502);
    assert.equal(rogue.stats.requests, 0, 'no request reached the untrusted server');
    const beId = await backendWith('lax', { enabled: true, caCertificateId: null, sni: null, verify: false }, [
      { name: 'rogue3', port: rogue.port },
    ]);
    assert.deepEqual(await get(`http://127.0.0.1:${ports.lax}/`), { status: 200, body: 'rogue3 secure=true' });
    const be = await f.ok('GET', `/backends/${beId}`);
    assert.ok(
      be.status.warnings.some((w: { code: string }) => w.code === 'tls-verify-off'),
      JSON.stringify(be.status.warnings),
    );
  });

  it('sends plain traffic to a server with SSL offload; the server CA overrides the backend CA', async () => {
    const plain = await plainServer('plain');
    servers.push(plain);
    const rogue = await tlsServer('rogue4', pki.leaf(otherCa, { cn: 'srv.test', sans }));
    servers.push(rogue);
    const rogueCaId = (await f.ok('POST', '/certificates', { name: 'rogue-ca', kind: 'ca', pem: otherCa.certPem })).id;
    const beId = await backendWith('offload', { enabled: true, caCertificateId: caId, sni: 'srv.test', verify: true }, [
      { name: 'plain', port: plain.port, sslOffload: true },
    ]);
    assert.deepEqual(await get(`http://127.0.0.1:${ports.offload}/`), { status: 200, body: 'plain secure=false' });
    const list = await f.ok('GET', `/backends/${beId}/servers`);
    await f.ok('PATCH', `/backends/${beId}/servers/${list[0].id}`, {
      port: rogue.port,
      sslOffload: false,
      caCertificateId: rogueCaId,
    });
    assert.deepEqual(await get(`http://127.0.0.1:${ports.offload}/`), { status: 200, body: 'rogue4 secure=true' });
  });
});
