import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { get, namedHttpServer, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { shopBackend } from './helpers/shop.ts';

// F5: a port taken by another program is a clear reason on the frontend's status, not a
// crash; other frontends keep working, and the frontend listens once the port is free.
describe('a frontend whose port another program holds (F5)', () => {
  let f: TestFulcrum;
  before(async () => {
    f = await startTestFulcrum();
  });
  after(() => f.close());

  it('shows the reason on its status, keeps the rest running, and binds once the port is free', async () => {
    const web = await namedHttpServer('web');
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const taken = (squatter.address() as net.AddressInfo).port;
    const { lbId: lb, beId } = await shopBackend(f.ok, {}, [{ name: 's', port: web.port }]);
    const free = await new Promise<number>((r) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => r(p));
      });
    });
    const ok = await f.ok('POST', '/frontends', {
      loadBalancerId: lb,
      name: 'ok',
      protocol: 'http',
      port: free,
      defaultBackendId: beId,
    });
    const fe = await f.ok('POST', '/frontends', {
      loadBalancerId: lb,
      name: 'blocked',
      protocol: 'http',
      port: taken,
      defaultBackendId: beId,
    });
    assert.equal(fe.status.listening, false);
    assert.match(fe.status.reason, /in use|EADDRINUSE/);
    assert.equal((await f.ok('GET', `/frontends/${fe.id}`)).status.listening, false);
    assert.equal((await get(`http://127.0.0.1:${free}/`)).body, 'web', 'the other frontend is unaffected');
    assert.equal((await f.ok('GET', `/frontends/${ok.id}`)).status.listening, true);

    await new Promise((r) => squatter.close(r));
    await waitFor(
      async () => (await f.ok('GET', `/frontends/${fe.id}`)).status.listening,
      10_000,
      'the frontend to listen within the retry period once the port is free',
    );
    assert.equal((await get(`http://127.0.0.1:${taken}/`)).body, 'web');
    await web.close();
  });
});
