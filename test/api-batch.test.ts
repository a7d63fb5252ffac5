import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Json, namedHttpServer, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { get, waitFor } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';
import { shopBackend } from './helpers/shop.ts';

/**
 * Issue 15 point 1, atomic batches: `POST /backends/{id}/servers/batch` end to end — the real
 * product, real backends on loopback, real traffic through a frontend.
 */
describe('servers batch: one change or none', () => {
  let t: TestFulcrum;
  let beId: string;
  let lbId: string;
  let fePort: number;
  const names = ['a', 'b', 'c'];
  const backends: Awaited<ReturnType<typeof namedHttpServer>>[] = [];
  const batch = (body: unknown) => t.api('POST', `/backends/${beId}/servers/batch`, body);
  const version = () => t.fulcrum.control.version;
  const servers = async (): Promise<Json[]> =>
    ((await t.ok('GET', `/backends/${beId}/servers`)) as Json[]).filter((s) => s.status.reason !== 'removed');

  before(async () => {
    t = await startTestFulcrum();
    for (const name of names) backends.push(await namedHttpServer(name));
    ({ lbId, beId } = await shopBackend(t.ok, { algorithm: 'round-robin' }));
    await t.ok('PATCH', `/load-balancers/${lbId}`, { maxServers: 2000 });
    fePort = await freePort();
    await t.ok('POST', '/frontends', {
      loadBalancerId: lbId,
      name: 'www',
      protocol: 'http',
      port: fePort,
      defaultBackendId: beId,
    });
  });
  after(async () => {
    await t.close();
    for (const b of backends) await b.close();
  });

  test('adds several servers in one configVersion, one audit row, and traffic reaches each', async () => {
    const v = version();
    const r = await batch({
      add: backends.map((b, i) => ({ name: names[i], address: '127.0.0.1', port: b.port, tags: ['batch'] })),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.configVersion, v + 1);
    assert.equal(version(), v + 1);
    assert.deepEqual(
      r.body.added.map((s: Json) => s.name),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(r.body.updated, []);
    const audit = await t.ok('GET', '/audit');
    assert.equal(audit[0].action, 'servers-batch');
    assert.equal(audit[0].resource, `backend/${beId}`);
    assert.notEqual(audit[1]?.action, 'servers-batch');
    const seen = new Set<string>();
    await waitFor(
      async () => {
        seen.add((await get(`http://127.0.0.1:${fePort}/`)).body);
        return seen.size === 3;
      },
      5000,
      'every added server answers',
    );
  });

  test('update, drain and remove together are one change', async () => {
    const [a, b, c] = await servers();
    const v = version();
    const r = await batch({ update: [{ id: a.id, weight: 5 }], drain: [b.id], remove: [c.id] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.configVersion, v + 1);
    assert.equal(r.body.updated[0].weight, 5);
    assert.equal(r.body.drained[0].enabled, false);
    assert.equal(r.body.removed[0].id, c.id);
    const now = await servers();
    assert.deepEqual(
      now.map((s) => [s.name, s.weight, s.enabled]),
      [
        ['a', 5, true],
        ['b', 1, false],
      ],
    );
    await waitFor(
      async () => {
        const bodies = new Set<string>();
        for (let i = 0; i < 4; i++) bodies.add((await get(`http://127.0.0.1:${fePort}/`)).body);
        return bodies.size === 1 && bodies.has('a');
      },
      5000,
      'only a serves',
    );
    // Back as it was, for the tests below: b enabled, c added again.
    const back = await batch({
      update: [{ id: b.id, enabled: true }],
      add: [{ name: 'c', address: '127.0.0.1', port: backends[2]!.port }],
    });
    assert.equal(back.status, 200, JSON.stringify(back.body));
  });

  test('refused whole, naming every failing item; nothing changes', async () => {
    const before = await servers();
    const [a, b] = before;
    const v = version();
    const audit = (await t.ok('GET', '/audit')).length;
    const r = await batch({
      add: [
        { name: 'fine', address: '127.0.0.1', port: 9001 },
        { name: 'bad-port', address: '127.0.0.1', port: 70000 },
        { name: 'twin', address: '127.0.0.1', port: backends[0]!.port },
        { name: 'outside', address: '10.9.9.9', port: 80 },
        { name: 'a', address: '127.0.0.1', port: 9002 },
      ],
      update: [
        { id: 'srv-nope', weight: 2 },
        { id: a.id, weight: 1000 },
      ],
      remove: [b.id],
      drain: [b.id],
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    const details = r.body.error.details.map((d: Json) => [d.index, d.field]);
    assert.deepEqual(details, [
      [1, 'add[1].port'],
      [2, 'add[2].address'],
      [3, 'add[3].address'],
      [4, 'add[4].name'],
      [0, 'update[0].id'],
      [1, 'update[1].weight'],
      [0, 'remove[0].id'],
    ]);
    const byField = new Map(r.body.error.details.map((d: Json) => [d.field, d]));
    assert.match((byField.get('add[1].port') as Json).rule, /integer from 1 to 65535/);
    assert.match((byField.get('add[2].address') as Json).message, /^add\[2\]\.address: .*same address and port/);
    assert.match((byField.get('add[3].address') as Json).rule, /neither an inventory instance's IP nor inside/);
    assert.match((byField.get('add[4].name') as Json).rule, /named "a" already exists/);
    assert.match((byField.get('remove[0].id') as Json).rule, /already in drain\[0\]/);
    assert.equal(r.body.error.field, 'add[1].port');
    assert.equal(version(), v, 'no configVersion');
    assert.deepEqual(await servers(), before);
    assert.equal((await t.ok('GET', '/audit')).length, audit, 'no audit row');
  });

  test('two added servers clashing with each other are both named', async () => {
    const r = await batch({
      add: [
        { name: 'x', address: '127.0.0.1', port: 9100 },
        { name: 'y', address: '127.0.0.1', port: 9100 },
      ],
    });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.deepEqual(
      r.body.error.details.map((d: Json) => d.field),
      ['add[0].address', 'add[1].address'],
    );
  });

  test('at most 1000 items: 1001 refused, 1000 added as one change', async () => {
    const many = (n: number, from = 20000) =>
      Array.from({ length: n }, (_, i) => ({ name: `bulk-${i}`, address: '127.0.0.2', port: from + i }));
    const v = version();
    const tooMany = await batch({ add: many(1001) });
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.body.error.message, /at most 1000 items/);
    const spread = await batch({ add: many(600), drain: Array.from({ length: 401 }, (_, i) => `srv-${i}`) });
    assert.equal(spread.status, 400);
    assert.match(spread.body.error.message, /at most 1000 items .* this one has 1001/);
    assert.equal(version(), v);
    const started = Date.now();
    const ok = await batch({ add: many(1000) });
    assert.equal(ok.status, 200, JSON.stringify(ok.body).slice(0, 500));
    assert.equal(ok.body.configVersion, v + 1);
    assert.equal(ok.body.added.length, 1000);
    assert.equal((await servers()).length, 1003);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  });

  test('unknown backend is 404; an empty batch changes nothing; operators may batch', async () => {
    const missing = await t.api('POST', '/backends/be-nope/servers/batch', { add: [] });
    assert.equal(missing.status, 404);
    const v = version();
    const empty = await batch({});
    assert.equal(empty.status, 200);
    assert.equal(empty.body.configVersion, v);
    const ops = await t.ok('POST', '/tokens', { name: 'ops', role: 'operator' });
    const viewer = await t.ok('POST', '/tokens', { name: 'look', role: 'viewer' });
    const [first] = await servers();
    const asViewer = await t.api('POST', `/backends/${beId}/servers/batch`, { drain: [first.id] }, viewer.token);
    assert.equal(asViewer.status, 403);
    const asOps = await t.api('POST', `/backends/${beId}/servers/batch`, { drain: [first.id] }, ops.token);
    assert.equal(asOps.status, 200, JSON.stringify(asOps.body));
    assert.equal(asOps.body.configVersion, v + 1);
    const doc = await t.ok('GET', '/openapi.json').catch(async () => (await fetch(`${t.url}/openapi.json`)).json());
    const op = (doc as Json).paths['/api/v1/backends/{id}/servers/batch'].post;
    assert.ok(op.requestBody.content['application/json'].schema.properties.add);
  });
});
