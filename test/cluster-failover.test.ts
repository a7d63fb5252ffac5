import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clients, failures, startNode } from './helpers/cluster.ts';
import { type Json, namedHttpServer, type TestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';
import { type PrivatePostgres, privatePostgresMissing, startPrivatePostgres } from './helpers/private-postgres.ts';

// Issue 14 point 4 (C5): PostgreSQL itself goes away and comes back, as in a crash or a
// failover. The test runs its own PostgreSQL (initdb, pg_ctl; never the shared server on
// 5432), two nodes on it sharing an http frontend port; it stops the server (immediate: every
// connection dropped) while clients send requests, then starts it again on the same port.

const SYNC_MS = 300;
const missing = privatePostgresMissing();

describe('PostgreSQL stopped and started again under two nodes (C5, issue 14)', {
  timeout: 120_000,
  skip: missing,
}, () => {
  let pg: PrivatePostgres;
  let a: TestFulcrum;
  let b: TestFulcrum;
  let port = 0;
  let backendId = '';
  let serverId = '';
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    pg = await startPrivatePostgres();
    a = await startNode('node-a', pg.url, SYNC_MS);
    b = await startNode('node-b', pg.url, SYNC_MS);
    const web = await namedHttpServer('web');
    closers.push(web.close);
    const lb = await a.ok('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] });
    const be = await a.ok('POST', '/backends', {
      loadBalancerId: lb.id,
      name: 'web',
      mode: 'http',
      healthCheck: { enabled: false },
    });
    backendId = be.id;
    serverId = (
      await a.ok('POST', `/backends/${be.id}/servers`, {
        name: 's1',
        serverType: 'web',
        address: '127.0.0.1',
        port: web.port,
      })
    ).id;
    port = await freePort();
    await a.ok('POST', '/frontends?wait=all', {
      loadBalancerId: lb.id,
      name: 'www',
      protocol: 'http',
      port,
      defaultBackendId: be.id,
    });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    for (const c of closers) await c();
    await pg?.close();
  });

  it('traffic never stops, writes answer 503 naming PostgreSQL, reads work; back again, writes work and nodes catch up', async () => {
    const c = clients(port);
    try {
      await waitFor(() => b.fulcrum.control.version === a.fulcrum.control.version, 2000, 'node b caught up');
      const before = a.fulcrum.control.version;
      await pg.stop('immediate');

      const w = await a.api('PATCH', `/backends/${backendId}/servers/${serverId}`, { weight: 3 });
      assert.equal(w.status, 503, JSON.stringify(w.body));
      assert.equal(w.body.error.code, 'store_unavailable');
      assert.match(w.body.error.message, /^store-unavailable: PostgreSQL (unreachable|refuses)/);
      assert.match(w.body.error.message, /keeps serving the last applied configuration/);
      const onB = await b.api('POST', `/backends/${backendId}/servers`, {
        name: 's2',
        serverType: 'web',
        address: '127.0.0.1',
        port: 9,
      });
      assert.equal(onB.status, 503, `node b refuses writes too: ${JSON.stringify(onB.body)}`);
      const r = await b.api('GET', `/backends/${backendId}/servers/${serverId}`);
      assert.equal(r.status, 200, 'reads answer from the last snapshot');
      assert.equal(r.body.weight, 1);
      const nodes = await a.api('GET', '/nodes');
      assert.equal(nodes.status, 200, 'GET /nodes answers this node when the store cannot');
      // Stay down over several catch-up ticks: the nodes log the fault and keep serving.
      await new Promise((res) => setTimeout(res, 4 * SYNC_MS));
      assert.equal(a.fulcrum.control.version, before);

      await pg.start();
      let changed: Json;
      await waitFor(
        async () => {
          const x = await a.api('PATCH', `/backends/${backendId}/servers/${serverId}`, { weight: 3 });
          changed = x.body;
          return x.status === 200;
        },
        10_000,
        'a write works again without a restart',
      );
      assert.equal(changed.configVersion, before + 1);
      await waitFor(() => b.fulcrum.control.version >= changed.configVersion, 3000, 'node b catches up');
      assert.equal(b.fulcrum.control.state.servers.find((s) => s.id === serverId)?.weight, 3);
      // Node b writes again too, and node a hears it (notifications are back).
      const fromB = await b.ok('PATCH', `/backends/${backendId}/servers/${serverId}?wait=all`, { weight: 4 });
      assert.ok(a.fulcrum.control.version >= fromB.configVersion);
      await waitFor(
        async () => (await a.ok('GET', '/nodes')).every((n: Json) => n.status === 'live'),
        3000,
        'both nodes live',
      );
    } finally {
      const results = await c.stop();
      assert.deepEqual(failures(results).slice(0, 3), [], `${failures(results).length} of ${results.length} failed`);
      assert.ok(results.length > 20, `requests sent: ${results.length}`);
    }
  });
});
