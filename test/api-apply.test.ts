import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Json, namedHttpServer, startTestFulcrum, type TestFulcrum, TOKEN } from './helpers/fulcrum.ts';
import { get, waitFor } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';
import { shopYaml } from './helpers/shop.ts';

/**
 * Issue 15 point 1, `POST /api/v1/apply`: a whole declarative document (YAML or JSON) as ONE
 * change, end to end — the real product, real backends, real traffic through the frontends
 * the document makes.
 */
describe('POST /apply: a whole document as one change', () => {
  let t: TestFulcrum;
  let one: Awaited<ReturnType<typeof namedHttpServer>>;
  let two: Awaited<ReturnType<typeof namedHttpServer>>;
  let p1: number;
  let p2: number;
  const version = () => t.fulcrum.control.version;

  /** POSTs `body` (text) to /apply with a content type; answers status and JSON. */
  const post = async (body: string, type = 'application/yaml', query = '', token = TOKEN) => {
    const r = await fetch(`${t.url}/api/v1/apply${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': type },
      body,
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as Json };
  };
  const shop = (o: { onePort?: number; twoPort?: number; frontends?: string[] } = {}) =>
    shopYaml({
      servers: [
        `{ name: one, address: 127.0.0.1, port: ${o.onePort ?? one.port} }`,
        `{ name: two, address: 127.0.0.1, port: ${o.twoPort ?? two.port} }`,
      ],
      frontends: o.frontends ?? [`{ name: www, protocol: http, port: ${p1}, backend: web }`],
    });
  /** The bodies of `n` requests to `port`. */
  const traffic = async (port: number, n = 6) => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add((await get(`http://127.0.0.1:${port}/`)).body);
    return seen;
  };

  before(async () => {
    t = await startTestFulcrum();
    one = await namedHttpServer('one');
    two = await namedHttpServer('two');
    p1 = await freePort();
    p2 = await freePort();
  });
  after(async () => {
    await t.close();
    await one.close();
    await two.close();
  });

  test('dryRun answers the plan and changes nothing', async () => {
    const r = await post(shop(), 'application/yaml', '?dryRun=true');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.dryRun, true);
    assert.equal(r.body.configVersion, 0);
    assert.deepEqual(r.body.summary, { create: 5, update: 0, delete: 0 });
    assert.deepEqual(
      r.body.steps.map((s: Json) => `${s.op} ${s.kind} ${s.name}`),
      [
        'create loadBalancer shop',
        'create backend shop/web',
        'create server shop/web/one',
        'create server shop/web/two',
        'create frontend shop/www',
      ],
    );
    assert.match(r.body.steps[0].id, /^new:/);
    assert.equal(version(), 0);
    assert.deepEqual(await t.ok('GET', '/load-balancers'), []);
  });

  test('YAML: five creations are one configVersion and one audit row; traffic flows', async () => {
    const r = await post(shop(), 'text/yaml');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.dryRun, false);
    assert.equal(r.body.configVersion, 1);
    assert.equal(version(), 1);
    const [lb] = await t.ok('GET', '/load-balancers');
    assert.equal(r.body.steps[0].id, lb.id, 'the answer names the ids made');
    const audit = await t.ok('GET', '/audit');
    assert.equal(audit.length, 1);
    assert.equal(audit[0].action, 'apply');
    assert.equal(audit[0].resource, 'config/apply');
    await waitFor(async () => (await traffic(p1)).size === 2, 5000, 'both servers answer');
    const again = await post(shop(), 'application/yaml');
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.steps, []);
    assert.equal(again.body.configVersion, 1, 'nothing to do: no new version');
  });

  test('two servers swap ports: refused step by step, accepted as one change', async () => {
    const [be] = await t.ok('GET', '/backends');
    const servers = (await t.ok('GET', `/backends/${be.id}/servers`)) as Json[];
    const first = servers.find((s) => s.name === 'one');
    // Step by step, the first PATCH makes two servers share one endpoint: refused.
    const step = await t.api('PATCH', `/backends/${be.id}/servers/${first.id}`, { port: two.port });
    assert.equal(step.status, 409, JSON.stringify(step.body));
    const dry = await post(shop({ onePort: two.port, twoPort: one.port }), 'application/yaml', '?dryRun=true');
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.equal(dry.body.summary.update, 2);
    const r = await post(shop({ onePort: two.port, twoPort: one.port }));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.configVersion, 2);
    const now = (await t.ok('GET', `/backends/${be.id}/servers`)) as Json[];
    assert.deepEqual(
      now.map((s) => [s.name, s.port]),
      [
        ['one', two.port],
        ['two', one.port],
      ],
    );
    await waitFor(async () => (await traffic(p1)).size === 2, 5000, 'both still answer');
  });

  test("a frontend moves to another frontend's port: refused step by step, accepted as one change", async () => {
    const both = [
      `{ name: www, protocol: http, port: ${p1}, backend: web }`,
      `{ name: api, protocol: http, port: ${p2}, backend: web }`,
    ];
    assert.equal((await post(shop({ frontends: both }))).status, 200);
    const v = version();
    // www takes api's port and api goes (prune): as calls, the update comes before the delete and is refused.
    const www = ((await t.ok('GET', '/frontends')) as Json[]).find((f) => f.name === 'www');
    const step = await t.api('PATCH', `/frontends/${www.id}`, { port: p2 });
    assert.equal(step.status, 409, JSON.stringify(step.body));
    const moved = [`{ name: www, protocol: http, port: ${p2}, backend: web }`];
    const r = await post(shop({ frontends: moved }), 'application/yaml', '?prune=true');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      r.body.steps.map((s: Json) => `${s.op} ${s.name}`),
      ['update shop/www', 'delete shop/api'],
    );
    assert.equal(r.body.configVersion, v + 1);
    const fes = (await t.ok('GET', '/frontends')) as Json[];
    assert.deepEqual(
      fes.map((f) => [f.name, f.port, f.status.listening]),
      [['www', p2, true]],
    );
    await waitFor(async () => (await traffic(p2)).size === 2, 5000, 'www answers on its new port');
  });

  test('JSON documents, prune, and refusals naming the path in the document', async () => {
    const doc = {
      loadBalancers: [
        {
          name: 'shop',
          allowedNetworks: ['127.0.0.0/8'],
          backends: [
            {
              name: 'web',
              mode: 'http',
              healthCheck: { enabled: false },
              servers: [{ name: 'one', address: '127.0.0.1', port: one.port }],
            },
          ],
          frontends: [{ name: 'www', protocol: 'http', port: p2, backend: 'web' }],
        },
      ],
    };
    const v = version();
    const keep = await post(JSON.stringify(doc), 'application/json');
    assert.equal(keep.status, 200, JSON.stringify(keep.body));
    assert.deepEqual(keep.body.steps, [], 'without prune, server two stays');
    const pruned = await post(JSON.stringify(doc), 'application/json', '?prune=true&dryRun=true');
    assert.deepEqual(
      pruned.body.steps.map((s: Json) => `${s.op} ${s.name}`),
      ['delete shop/web/two'],
    );
    assert.equal(version(), v);
    const applied = await post(JSON.stringify(doc), 'application/json', '?prune=true');
    assert.equal(applied.body.configVersion, v + 1);
    await waitFor(async () => [...(await traffic(p2))].join() === 'one', 5000, 'only one serves');

    const bad = structuredClone(doc);
    bad.loadBalancers[0]!.backends[0]!.servers[0]!.port = 70000;
    const r = await post(JSON.stringify(bad), 'application/json');
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'loadBalancers[0].backends[0].servers[0].port');
    assert.match(r.body.error.message, /must be an integer from 1 to 65535/);
    const ref = await post(shop().replace('backend: web }', 'backend: wbe }'), 'application/yaml');
    assert.equal(ref.status, 400);
    assert.match(ref.body.error.message, /frontends\[0\]\.backend: no backend named "wbe"/);
    const rule = await post(
      shop({ frontends: [`{ name: www, protocol: tcp, port: ${p2}, backend: web }`] }),
      'application/yaml',
    );
    assert.equal(rule.status, 409, JSON.stringify(rule.body));
    assert.match(rule.body.error.message, /a tcp frontend needs a tcp backend/);
    assert.equal((await post('loadBalancers: [', 'application/yaml')).status, 400);
    assert.equal((await post('{', 'application/json')).status, 400);
    assert.equal((await post('x', 'text/plain')).status, 415);
    assert.equal(version(), v + 1, 'no refusal changed anything');
  });

  test('admin only; too large → 413 (YAML above 1 MiB, JSON above 4 MiB)', async () => {
    const ops = await t.ok('POST', '/tokens', { name: 'ops', role: 'operator' });
    assert.equal((await post(shop(), 'application/yaml', '', ops.token)).status, 403);
    const v = version();
    const pad = (n: number) => `# ${'x'.repeat(n)}\n`;
    const yaml = await post(pad(1024 * 1024) + shop(), 'application/yaml');
    assert.equal(yaml.status, 413);
    assert.match(yaml.body.error.message, /a YAML document may hold at most 1 MiB .*send it as JSON/);
    const json = await post(`{"loadBalancers": []${' '.repeat(4 * 1024 * 1024)}}`, 'application/json');
    assert.equal(json.status, 413);
    assert.match(json.body.error.message, /a JSON document may hold at most 4 MiB/);
    const bigJsonOk = await post(
      `{"loadBalancers": []${' '.repeat(2 * 1024 * 1024)}}`,
      'application/json',
      '?dryRun=true',
    );
    assert.equal(bigJsonOk.status, 200, 'a JSON document above 1 MiB is read');
    assert.equal(version(), v);
    const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as Json;
    const op = doc.paths['/api/v1/apply'].post;
    assert.ok(op.requestBody.content['application/yaml'], JSON.stringify(Object.keys(op.requestBody.content)));
    assert.ok(op.requestBody.content['application/json'].schema.properties.loadBalancers);
  });
});
