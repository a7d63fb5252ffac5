import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ConfigState } from '../src/config/model.ts';
import { createHttpListener, type HttpFrontend, type ServerChooser } from '../src/dataplane/http/listener.ts';
import { PersistenceManager } from '../src/persistence/choose.ts';
import { persistenceChooser } from '../src/persistence/http-chooser.ts';
import { request, startBackend, type TestBackend } from './helpers/http-fixtures.ts';
import { backend, baseConfig, freePort, frontend, makePlane, server } from './helpers/plane.ts';

// Persistence through the real HTTP data plane (P1–P3): real backends, real listener, real
// clients; the chooser is plugged into the HttpFrontend as the data plane's seam allows.
describe('persistence over the HTTP data plane', () => {
  const backends: TestBackend[] = [];
  let port = 0;
  let config: ConfigState;
  let p: ReturnType<typeof makePlane>;
  const manager = new PersistenceManager({ cookieKeys: ['e2e-cookie-key-0123456789abcdef'] });

  before(async () => {
    for (let i = 0; i < 3; i++) backends.push(await startBackend());
    port = await freePort();
    config = baseConfig();
    config.backends.push(
      backend('be', 'http', { algorithm: 'round-robin', persistence: { type: 'cookie', timeoutSeconds: 600 } }),
    );
    for (const [i, b] of backends.entries()) config.servers.push(server(`s${i}`, 'be', b.port));
    config.frontends.push(frontend('fe', 'http', port, 'be'));
    p = makePlane({
      http: (spec, ctx) => {
        const listener = createHttpListener(spec, ctx);
        const chooser: ServerChooser = persistenceChooser(manager, () => ctx.clock.now());
        (listener as unknown as { frontend: HttpFrontend }).frontend.chooser = chooser;
        return listener;
      },
    });
    await p.apply(config);
    assert.equal(p.plane.status('fe')?.listening, true);
  });

  after(async () => {
    await p.plane.close(200);
    for (const b of backends) await b.close();
  });

  const get = (cookie?: string) => request(port, { headers: cookie ? { cookie } : {}, agent: false });

  test('inserts FULCRUM_SRV once and follows it across connections; no cookie → the algorithm rotates', async () => {
    const first = await get();
    assert.equal(first.status, 200);
    const setCookie = first.headers['set-cookie'];
    assert.equal(setCookie?.length, 1);
    assert.match(setCookie![0]!, /^FULCRUM_SRV=[^;]+; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax$/);
    assert.ok(!setCookie![0]!.includes('127.0.0.1'));
    const cookie = setCookie![0]!.split(';')[0]!;
    for (let i = 0; i < 10; i++) {
      const r = await get(`other=1; ${cookie}`);
      assert.equal(r.body, first.body);
      assert.equal(r.headers['set-cookie'], undefined);
    }
    const bodies = new Set<string>();
    for (let i = 0; i < 6; i++) bodies.add((await get()).body);
    assert.equal(bodies.size, 3);
  });

  test('a forged cookie is ignored and replaced; a disabled pinned server moves the client (P3)', async () => {
    const forged = await get('FULCRUM_SRV=AAAAAAAAAAAA.0.AAAAAAAAAAAAAAAAAAAAAA');
    assert.ok(forged.headers['set-cookie']?.[0]?.startsWith('FULCRUM_SRV='));
    const cookie = forged.headers['set-cookie']![0]!.split(';')[0]!;
    const pinnedPort = Number(forged.body.slice(3));
    const pinned = config.servers.find((s) => s.port === pinnedPort)!;
    pinned.enabled = false;
    await p.apply(config);
    const moved = await get(cookie);
    assert.notEqual(moved.body, forged.body);
    const newCookie = moved.headers['set-cookie']![0]!.split(';')[0]!;
    pinned.enabled = true;
    await p.apply(config);
    for (let i = 0; i < 3; i++) assert.equal((await get(newCookie)).body, moved.body, 'stays on the new server');
  });
});
