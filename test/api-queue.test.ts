import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { emptyConfig } from '../src/config/model.ts';
import { compile } from '../src/config/snapshot.ts';
import { validateConfig } from '../src/config/validate.ts';
import { exportYaml } from '../src/declarative/export.ts';
import { parseDeclarative } from '../src/declarative/parse.ts';
import { applyPlanToState, planApply } from '../src/declarative/plan.ts';
import { addFrontFrontend } from './helpers/front-protocols.ts';
import { type Json, startTestFulcrum, type TestFulcrum, TOKEN } from './helpers/fulcrum.ts';
import { startBackend } from './helpers/http-fixtures.ts';
import { shopBackend } from './helpers/shop.ts';

/**
 * Issue 15 point 4 through the real API: server `maxConnections` and backend `queue` are
 * validated by the schema, stored, applied, shown in /stats and /metrics and documented in
 * /openapi.json.
 */
describe('maxConnections and queue through the API (issue 15 point 4)', () => {
  let f: TestFulcrum;
  let beId: string;
  let srvId: string;
  let port: number;
  const held: (() => void)[] = [];
  let app: Awaited<ReturnType<typeof startBackend>>;

  before(async () => {
    f = await startTestFulcrum();
    app = await startBackend((req, res) => {
      req.resume();
      held.push(() => res.end('ok'));
    });
    let lbId: string;
    ({ beId, lbId } = await shopBackend(f.ok, { queue: { maxLength: 5 } }));
    srvId = (
      await f.ok('POST', `/backends/${beId}/servers`, {
        name: 'a',
        address: '127.0.0.1',
        port: app.port,
        maxConnections: 1,
      })
    ).id;
    ({ port } = await addFrontFrontend(f.ok, 'http/1.1', { loadBalancerId: lbId, name: 'fe', defaultBackendId: beId }));
  });
  after(async () => {
    for (const r of held.splice(0)) r();
    await f?.close();
    await app?.close();
  });

  it('stores them, applies the defaults, and refuses values out of range naming the field', async () => {
    const b = await f.ok('GET', `/backends/${beId}`);
    assert.deepEqual(b.queue, { maxLength: 5 }, 'as given; timeoutSeconds absent = 10');
    const q = (await f.ok('GET', '/stats')).backends.find((x: Json) => x.id === beId).queue;
    assert.deepEqual([q.maxLength, q.timeoutSeconds], [5, 10], 'in force: the default timeout');
    const s = await f.ok('GET', `/backends/${beId}/servers/${srvId}`);
    assert.equal(s.maxConnections, 1);
    const bad = await f.api('PATCH', `/backends/${beId}/servers/${srvId}`, { maxConnections: -1 });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /maxConnections/);
    const badQ = await f.api('PATCH', `/backends/${beId}`, { queue: { timeoutSeconds: 0 } });
    assert.equal(badQ.status, 400);
    assert.match(JSON.stringify(badQ.body), /queue\.timeoutSeconds/);
  });

  it('queues the second request until the first is answered; /stats and /metrics show it', async () => {
    const first = fetch(`http://127.0.0.1:${port}/1`).then((r) => r.text());
    while (held.length < 1) await new Promise((r) => setTimeout(r, 10));
    const second = fetch(`http://127.0.0.1:${port}/2`).then((r) => r.text());
    let stats: Json;
    for (;;) {
      stats = await f.ok('GET', '/stats');
      if (stats.backends.find((x: Json) => x.id === beId).queue.length === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const server = stats.servers.find((x: Json) => x.id === srvId);
    assert.deepEqual([server.activeConnections, server.maxConnections, server.connectionLimit], [1, 1, 1]);
    const metrics = await (await fetch(`${f.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    assert.match(metrics, /fulcrum_backend_queue_length\{[^}]*\} 1/);
    held.shift()?.();
    assert.equal(await first, 'ok');
    while (held.length < 1) await new Promise((r) => setTimeout(r, 10));
    held.shift()?.();
    assert.equal(await second, 'ok');
    const q = (await f.ok('GET', '/stats')).backends.find((x: Json) => x.id === beId).queue;
    assert.equal(q.served, 1);
    assert.equal(q.length, 0);
    assert.ok(q.waitMsMax > 0);
  });

  it('/openapi.json documents maxConnections and queue', async () => {
    const doc = (await (await fetch(`${f.url}/openapi.json`)).json()) as Json;
    const json = JSON.stringify(doc);
    for (const word of ['maxConnections', 'queue-timeout', 'timeoutSeconds', 'at its maxConnections']) {
      assert.ok(json.includes(word), word);
    }
  });
});

describe('maxConnections and queue in the declarative file (issue 15 point 4)', () => {
  const FILE = `
loadBalancers:
  - name: shop
    allowedNetworks: [10.0.0.0/8]
    backends:
      - name: web
        mode: http
        queue: { maxLength: 100, timeoutSeconds: 5 }
        servers:
          - { name: web-1, address: 10.0.0.11, port: 8080, maxConnections: 10 }
          - { name: web-2, address: 10.0.0.12, port: 8080 }
`;

  it('applies, exports back (defaults left out) and refuses a bad value naming it', () => {
    const draft = emptyConfig();
    applyPlanToState(draft, planApply(parseDeclarative(FILE, 'f.yaml'), draft, { prune: false }));
    validateConfig(draft);
    const b = draft.backends[0]!;
    assert.deepEqual(b.queue, { maxLength: 100, timeoutSeconds: 5 });
    assert.equal(draft.servers.find((s) => s.name === 'web-1')?.maxConnections, 10);
    const snap = compile({ ...draft, version: 1 });
    assert.deepEqual(snap.backends.get(b.id)?.queue, { maxLength: 100, timeoutMs: 5000 });
    assert.equal([...snap.servers.values()].find((s) => s.name === 'web-2')?.maxConnections, 0);
    const yaml = exportYaml(draft, 'test');
    assert.match(yaml, /maxConnections: 10/);
    assert.match(yaml, /maxLength: 100/);
    assert.throws(
      () => parseDeclarative(FILE.replace('maxConnections: 10', 'maxConnections: -1'), 'f.yaml'),
      /maxConnections/,
    );
  });
});
