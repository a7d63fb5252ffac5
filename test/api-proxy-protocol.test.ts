import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestFulcrum, type TestFulcrum, TOKEN } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';

describe('PROXY protocol fields through the API (issue 15 point 3)', () => {
  let f: TestFulcrum;
  let lb: string;
  before(async () => {
    f = await startTestFulcrum();
    lb = (await f.ok('POST', '/load-balancers', { name: 'lb', allowedNetworks: ['127.0.0.0/8'] })).id;
  });
  after(() => f.close());

  it('backend proxyProtocol v1/v2 and healthCheck.proxyProtocol are stored; others refused', async () => {
    const plain = await f.ok('POST', '/backends', { loadBalancerId: lb, name: 'plain', mode: 'http' });
    assert.equal(plain.proxyProtocol ?? null, null);
    const b = await f.ok('POST', '/backends', {
      loadBalancerId: lb,
      name: 'pp',
      mode: 'tcp',
      proxyProtocol: 'v2',
      healthCheck: { proxyProtocol: true },
    });
    assert.equal(b.proxyProtocol, 'v2');
    assert.equal(b.healthCheck.proxyProtocol, true);
    const patched = await f.ok('PATCH', `/backends/${b.id}`, { proxyProtocol: 'v1' });
    assert.equal(patched.proxyProtocol, 'v1');
    const bad = await f.api('POST', '/backends', {
      loadBalancerId: lb,
      name: 'bad',
      mode: 'http',
      proxyProtocol: 'v3',
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'proxyProtocol');
    const udp = await f.api('POST', '/backends', { loadBalancerId: lb, name: 'u', mode: 'udp', proxyProtocol: 'v1' });
    assert.equal(udp.status, 409);
    assert.equal(udp.body.error.field, 'proxyProtocol');
  });

  it('frontend acceptProxyProtocol needs trustedProxies and a non-udp protocol', async () => {
    const be = await f.ok('POST', '/backends', { loadBalancerId: lb, name: 'fe-be', mode: 'http' });
    const base = { loadBalancerId: lb, protocol: 'http', defaultBackendId: be.id };
    const alone = await f.api('POST', '/frontends', {
      ...base,
      name: 'a',
      port: await freePort(),
      acceptProxyProtocol: true,
    });
    assert.equal(alone.status, 409);
    assert.equal(alone.body.error.field, 'acceptProxyProtocol');
    const fe = await f.ok('POST', '/frontends', {
      ...base,
      name: 'b',
      port: await freePort(),
      acceptProxyProtocol: true,
      trustedProxies: ['127.0.0.1/32'],
    });
    assert.equal(fe.acceptProxyProtocol, true);
    // an untrusted source is refused, counted in /stats and /metrics
    await waitFor(async () => {
      const fronts = (await f.ok('GET', '/frontends')) as { id: string; status: { listening: boolean } }[];
      return fronts.find((x) => x.id === fe.id)?.status.listening === true;
    }, 5000);
    await new Promise<void>((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port: fe.port, localAddress: '127.0.0.50' });
      c.on('connect', () => c.write('PROXY UNKNOWN\r\n'));
      c.on('error', () => {});
      c.on('close', () => resolve());
    });
    await waitFor(async () => {
      const stats = await f.ok('GET', '/stats');
      const row = (stats.frontends as { id: string; proxyProtocolRefused: number }[]).find((x) => x.id === fe.id);
      return row?.proxyProtocolRefused === 1;
    }, 5000);
    const metrics = await (await fetch(`${f.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    assert.match(
      metrics,
      new RegExp(`fulcrum_frontend_proxy_protocol_refused_total\\{frontend_id="${fe.id}"[^}]*\\} 1`),
    );
    const text = await (await fetch(`${f.url}/openapi.json`)).text();
    assert.match(text, /acceptProxyProtocol/);
    assert.match(text, /"v1","v2"/);
  });

  it('the declarative file carries the fields (POST /apply)', async () => {
    const port = await freePort();
    const yaml = `loadBalancers:
  - name: pp-file
    allowedNetworks: [127.0.0.0/8]
    backends:
      - name: web
        mode: http
        proxyProtocol: v2
        healthCheck: { enabled: false, proxyProtocol: true }
        servers:
          - { name: one, address: 127.0.0.1, port: 9 }
    frontends:
      - { name: www, protocol: http, port: ${port}, backend: web, acceptProxyProtocol: true, trustedProxies: [127.0.0.1/32] }
`;
    const r = await fetch(`${f.url}/api/v1/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/yaml' },
      body: yaml,
    });
    assert.equal(r.status, 200, await r.text());
    const backends = (await f.ok('GET', '/backends')) as { name: string; proxyProtocol?: string }[];
    assert.equal(backends.find((b) => b.name === 'web')?.proxyProtocol, 'v2');
    const frontends = (await f.ok('GET', '/frontends')) as { name: string; acceptProxyProtocol?: boolean }[];
    assert.equal(frontends.find((x) => x.name === 'www')?.acceptProxyProtocol, true);
  });
});
