import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { get, namedHttpServer, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { freePort } from './helpers/plane.ts';

// F3: a server without a port uses its backend's port — also after the backend's port changes (S2).
describe("a server without a port follows its backend's port (F3)", () => {
  let f: TestFulcrum;
  before(async () => {
    f = await startTestFulcrum();
  });
  after(() => f.close());

  it('sends traffic to the backend port, and to the new one after a change', async () => {
    const a = await namedHttpServer('on-a');
    const b = await namedHttpServer('on-b');
    const lb = (await f.ok('POST', '/load-balancers', { name: 'lb', allowedNetworks: ['127.0.0.0/8'] })).id;
    const be = await f.ok('POST', '/backends', {
      loadBalancerId: lb,
      name: 'web',
      mode: 'http',
      port: a.port,
      healthCheck: { enabled: false },
    });
    const s = await f.ok('POST', `/backends/${be.id}/servers`, { name: 's', serverType: 'web', address: '127.0.0.1' });
    assert.equal(s.port, null);
    const port = await freePort();
    await f.ok('POST', '/frontends', {
      loadBalancerId: lb,
      name: 'www',
      protocol: 'http',
      port,
      defaultBackendId: be.id,
    });
    assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'on-a');
    const changed = await f.ok('PATCH', `/backends/${be.id}`, { port: b.port });
    assert.equal(changed.port, b.port);
    assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'on-b');
    await a.close();
    await b.close();
  });
});
