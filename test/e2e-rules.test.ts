import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addFrontFrontend, FRONT_PROTOCOLS, type FrontClient, frontClient } from './helpers/front-protocols.ts';
import { namedHttpServer, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { addBackend } from './helpers/shop.ts';

// Issue "UDP load balancing and HTTP routing rules", points 2 and 3, through the API; once per
// front protocol (issue 12 point 1): an http frontend for HTTP/1.1, an https one for h2.
for (const protocol of FRONT_PROTOCOLS)
  describe(`HTTP routing rules end to end over ${protocol} (F4) and their counters in /stats`, () => {
    let f: TestFulcrum;
    const backends: Awaited<ReturnType<typeof namedHttpServer>>[] = [];
    let client: FrontClient;
    /** A request with a Host (h2: :authority) and optional extra headers; answers status and body. */
    const request = (_port: number, path: string, host: string, headers: Record<string, string> = {}, method = 'GET') =>
      client.request({ path, method, headers: { host, ...headers } });
    let port = 0;
    before(async () => {
      f = await startTestFulcrum();
      for (const n of ['www', 'api', 'admin', 'any']) backends.push(await namedHttpServer(n));
    });
    after(async () => {
      client?.close();
      await f.close();
      for (const b of backends) await b.close();
    });

    it('routes by host, wildcard host, path prefix, header and method, in order, with the default last', async () => {
      const lb = (await f.ok('POST', '/load-balancers', { name: 'site', allowedNetworks: ['127.0.0.0/8'] })).id;
      const ids: string[] = [];
      for (const [i, b] of backends.entries())
        ids.push(
          (await addBackend(f.ok, lb, ['www', 'api', 'admin', 'any'][i] as string, {}, [{ name: 's', port: b.port }]))
            .id,
        );
      const fe = await addFrontFrontend(f.ok, protocol, {
        loadBalancerId: lb,
        name: 'site',
        defaultBackendId: ids[0] as string,
        rules: [
          { match: { header: { name: 'X-Admin', value: 'yes' } }, backendId: ids[2] },
          { match: { host: 'API.example.com', pathPrefix: '/v1/' }, backendId: ids[1] },
          { match: { host: '*.example.org', method: 'POST' }, backendId: ids[3] },
        ],
      });
      port = fe.port;
      client = frontClient(protocol, port);
      assert.equal(
        (await request(port, '/v1/users', 'api.example.com:8080')).body,
        'api',
        'host ignores case and port',
      );
      assert.equal((await request(port, '/v2/users', 'api.example.com')).body, 'www', 'prefix must match too');
      assert.equal((await request(port, '/v1/x', 'api.example.com', { 'x-admin': 'yes' })).body, 'admin', 'order');
      assert.equal((await request(port, '/', 'shop.example.org', {}, 'POST')).body, 'any', 'wildcard + method');
      assert.equal((await request(port, '/', 'shop.example.org')).body, 'www', 'method must match');
      assert.equal((await request(port, '/', 'example.org', {}, 'POST')).body, 'www', '*.x does not match x itself');

      const stats = await f.ok('GET', '/stats');
      const s = stats.frontends.find((x: { id: string }) => x.id === fe.id);
      assert.deepEqual(
        s.rules.map((r: { hits: number }) => r.hits),
        [1, 1, 1],
      );
      assert.equal(s.defaultBackendHits, 3);
      const beStats = (id: string) => stats.backends.find((x: { id: string }) => x.id === id).requests;
      assert.deepEqual(ids.map(beStats), [3, 1, 1, 1]);
    });

    it('refuses a rule pointing at a backend of another mode with 409, and changes nothing', async () => {
      const lb = (await f.ok('GET', '/load-balancers'))[0].id;
      const tcp = await f.ok('POST', '/backends', { loadBalancerId: lb, name: 'raw', mode: 'tcp' });
      const fe = (await f.ok('GET', '/frontends'))[0];
      const r = await f.api('PATCH', `/frontends/${fe.id}`, {
        rules: [{ match: { pathPrefix: '/' }, backendId: tcp.id }],
      });
      assert.equal(r.status, 409);
      assert.match(r.body.error.message, /mode/);
      assert.deepEqual((await f.ok('GET', `/frontends/${fe.id}`)).rules, fe.rules);
    });
  });
