import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FRONT_PROTOCOLS } from './helpers/front-protocols.ts';
import type { TestFulcrum } from './helpers/fulcrum.ts';
import { cookiePair, serverBody, setCookieOf } from './helpers/persistence-support.ts';
import { type PersistenceShop, startPersistenceShop } from './helpers/shop.ts';

// App-cookie persistence end to end (P2, P3): the application servers issue JSESSIONID
// themselves; Fulcrum learns value → server from their Set-Cookie and sends the value back
// to its server. Values it never learned are hashed consistently over the servers.
// Once per front protocol (issue 12 point 1): an http frontend for HTTP/1.1, an https one for h2.
for (const protocol of FRONT_PROTOCOLS)
  describe(`app-cookie persistence through the API and the HTTP data plane over ${protocol} (P2)`, () => {
    let shop: PersistenceShop;
    let send: PersistenceShop['send'];
    let f: TestFulcrum;
    let beId = '';
    let port = 0;
    let apps: PersistenceShop['apps'] = [];
    let ids = new Map<string, string>();

    before(async () => {
      shop = await startPersistenceShop(
        protocol,
        { type: 'app-cookie', cookieName: 'JSESSIONID', timeoutSeconds: 600 },
        ['a', 'b', 'c', 'd'],
      );
      ({ f, beId, port, apps, ids, send } = shop);
    });

    after(() => shop?.close());

    async function sticks(cookie: string, server: string, n = 5): Promise<void> {
      for (let i = 0; i < n; i++) {
        const r = await send(port, { cookie: `a=1; ${cookie}` });
        assert.equal(r.status, 200);
        assert.equal(r.body, server, `${cookie} request ${i}`);
      }
    }

    /** session cookie pair → the server that issued it */
    const sessions = new Map<string, string>();
    /** unknown value pair → where the hash put it */
    const unknown = new Map<string, string>();

    it("learns each value from the server's Set-Cookie and follows it; inserts no cookie of its own", async () => {
      for (let i = 0; i < 9; i++) {
        const first = await send(port);
        assert.equal(first.status, 200);
        assert.equal(setCookieOf(first), undefined, 'no FULCRUM_SRV with app-cookie');
        const pair = cookiePair(first, 'JSESSIONID');
        assert.ok(pair.startsWith(`JSESSIONID=${first.body}-`), pair);
        sessions.set(pair, first.body);
      }
      assert.deepEqual(new Set(sessions.values()), new Set(['a', 'b', 'c']), 'round-robin placed new sessions');
      for (const [pair, server] of sessions) await sticks(pair, server);
    });

    it('hashes values it never learned consistently, spread over the servers', async () => {
      for (let i = 0; i < 30; i++) {
        const pair = `JSESSIONID=unknown-${i}`;
        const r = await send(port, { cookie: pair });
        unknown.set(pair, r.body);
        await sticks(pair, r.body, 3);
      }
      assert.ok(new Set(unknown.values()).size >= 2, JSON.stringify([...unknown]));
    });

    it('keeps learned and hashed sessions when a server is added (P1 table, A2)', async () => {
      ids.set('d', (await f.ok('POST', `/backends/${beId}/servers`, serverBody('d', apps[3]!.port))).id);
      for (const [pair, server] of sessions) await sticks(pair, server, 2);
      for (const [pair, server] of unknown) await sticks(pair, server, 1);
    });

    it('re-pins the sessions of a disabled server and keeps them on their new server (P3)', async () => {
      await f.ok('PATCH', `/backends/${beId}/servers/${ids.get('a')}`, { enabled: false });
      for (const [pair, server] of sessions) {
        const r = await send(port, { cookie: pair });
        assert.equal(r.status, 200);
        if (server === 'a') {
          assert.notEqual(r.body, 'a', `${pair} moved off the disabled server`);
          sessions.set(pair, r.body);
        } else assert.equal(r.body, server);
      }
      await f.ok('PATCH', `/backends/${beId}/servers/${ids.get('a')}`, { enabled: true });
      for (const [pair, server] of sessions) await sticks(pair, server, 2);
    });
  });
