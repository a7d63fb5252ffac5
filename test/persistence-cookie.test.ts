import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { decryptSecret, loadSecretKey } from '../src/certificates/secret.ts';
import { CookieSigner, serverToken } from '../src/persistence/cookie.ts';
import {
  addFrontFrontend,
  FRONT_PROTOCOLS,
  type FrontClient,
  frontClient,
  persistenceSend,
} from './helpers/front-protocols.ts';
import type { TestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { type Answer, cookiePair, type ServerBody, serverBody, setCookieOf } from './helpers/persistence-support.ts';
import { freePort } from './helpers/plane.ts';
import { type PersistenceShop, startPersistenceShop } from './helpers/shop.ts';
import { TestPki } from './tls-pki.ts';

// Cookie persistence end to end (P2, P3, S4): the real API configures, the real HTTP data
// plane inserts and follows FULCRUM_SRV, real backends answer their name. Also: forged,
// expired, tampered and other-backend cookies are ignored; the session survives changes
// that do not touch its server and a restart on the same data dir (the key is in the store).
// Once per front protocol (issue 12 point 1): an http frontend for HTTP/1.1, an https one for h2.
for (const protocol of FRONT_PROTOCOLS)
  describe(`cookie persistence through the API and the HTTP data plane over ${protocol} (P2, P3)`, () => {
    /** The inserted cookie is Secure on the https frontend (h2). */
    const secure = protocol === 'h2' ? '; Secure' : '';
    let shop: PersistenceShop;
    let send: PersistenceShop['send'];
    let f: TestFulcrum;
    let lbId = '';
    let beId = '';
    let otherBeId = '';
    let port = 0;
    let otherPort = 0;
    let otherClient: FrontClient;
    const sendOther = persistenceSend(() => otherClient);
    let apps: PersistenceShop['apps'] = [];
    /** server name → server id */
    let ids = new Map<string, string>();

    before(async () => {
      shop = await startPersistenceShop(protocol, { type: 'cookie', timeoutSeconds: 600 }, ['a', 'b', 'c', 'd', 'e']);
      ({ f, lbId, beId, port, apps, ids, send } = shop);
      const other = await f.ok('POST', '/backends', {
        loadBalancerId: lbId,
        name: 'other',
        mode: 'http',
        algorithm: 'round-robin',
        persistence: { type: 'cookie', timeoutSeconds: 600 },
        healthCheck: { enabled: false },
      });
      otherBeId = other.id;
      await f.ok('POST', `/backends/${otherBeId}/servers`, serverBody('a', apps[0]!.port));
      otherPort = (
        await addFrontFrontend(f.ok, protocol, { loadBalancerId: lbId, name: 'other', defaultBackendId: otherBeId })
      ).port;
      otherClient = frontClient(protocol, otherPort);
    });

    after(async () => {
      otherClient?.close();
      await shop?.close();
    });

    /** `n` requests with `cookie`; asserts every one reached `server` without a new Set-Cookie. */
    async function sticks(cookie: string, server: string, n = 10): Promise<void> {
      for (let i = 0; i < n; i++) {
        const r = await send(port, { cookie: `theme=dark; ${cookie}; lang=en` });
        assert.equal(r.status, 200);
        assert.equal(r.body, server, `request ${i} with ${cookie} went to ${r.body}, pinned to ${server}`);
        assert.equal(
          r.setCookie?.some((c) => c.startsWith('FULCRUM_SRV=')) ?? false,
          false,
          'no new cookie while pinned',
        );
      }
    }

    /** A new session: first answer and its cookie pair. */
    async function newSession(cookie?: string): Promise<{ first: Answer; pair: string }> {
      const first = await send(port, cookie ? { cookie } : {});
      assert.equal(first.status, 200);
      return { first, pair: cookiePair(first) };
    }

    it('inserts an opaque, signed FULCRUM_SRV (HttpOnly, SameSite=Lax, Max-Age) and follows it; no cookie → balanced', async () => {
      const { first, pair } = await newSession();
      const sc = setCookieOf(first)!;
      assert.match(
        sc,
        new RegExp(
          `^FULCRUM_SRV=[A-Za-z0-9_-]+\\.[0-9a-z]+\\.[A-Za-z0-9_-]{22}; Path=/; Max-Age=600; HttpOnly; SameSite=Lax${secure}$`,
        ),
      );
      // opaque: neither the server's name, id, address nor port appears in the value
      const value = pair.slice('FULCRUM_SRV='.length);
      const pinned = apps.find((a) => a.name === first.body)!;
      for (const leak of [ids.get(first.body)!, '127.0.0.1', String(pinned.port)])
        assert.ok(!value.includes(leak), leak);
      // expiry inside the signed value: now + 600 s (base 36)
      const expiry = Number.parseInt(value.split('.')[1]!, 36);
      assert.ok(Math.abs(expiry - (Math.floor(Date.now() / 1000) + 600)) <= 2, `expiry ${expiry}`);
      await sticks(pair, first.body, 20);
      // Without a cookie, round-robin spreads new clients over all three servers.
      const seen = new Map<string, number>();
      for (let i = 0; i < 30; i++) {
        const r = await send(port);
        seen.set(r.body, (seen.get(r.body) ?? 0) + 1);
      }
      assert.deepEqual([...seen.keys()].sort(), ['a', 'b', 'c']);
      for (const [, n] of seen) assert.ok(n >= 8 && n <= 12, `even split ${JSON.stringify([...seen])}`);
    });

    it('ignores forged, tampered, expired and other-backend cookies: balanced normally, no error, a fresh cookie', async () => {
      const sealed = await f.fulcrum.control.store.getSecret('persistence.cookie-key');
      assert.ok(sealed, 'the cookie key is kept in the store');
      // Encrypted at rest like private keys (issue 10), with the data dir's key.
      const key = decryptSecret(sealed, loadSecretKey(f.dataDir), 'persistence.cookie-key');
      const signer = new CookieSigner([key]);
      const now = Math.floor(Date.now() / 1000);
      const tokenB = serverToken(beId, ids.get('b')!);
      const tokenC = serverToken(beId, ids.get('c')!);
      // A genuine cookie for b made with the store's key is followed: the key is what counts.
      const genuine = signer.sign(beId, tokenB, now + 600);
      await sticks(`FULCRUM_SRV=${genuine}`, 'b', 5);
      const [tok, exp, mac] = genuine.split('.') as [string, string, string];
      const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      const otherBackendCookie = cookiePair(await sendOther(otherPort)).slice('FULCRUM_SRV='.length);
      const bad: [string, string][] = [
        ['forged (random)', 'AAAAAAAAAAAA.0.AAAAAAAAAAAAAAAAAAAAAA'],
        ['forged (other key)', new CookieSigner(['not-the-store-key-0123456789']).sign(beId, tokenB, now + 600)],
        ['tampered token (b → c)', `${tokenC}.${exp}.${mac}`],
        ['tampered expiry (extended)', `${tok}.${(now + 99_999).toString(36)}.${mac}`],
        ['tampered mac', `${tok}.${exp}.${flip(mac)}`],
        ['expired', signer.sign(beId, tokenB, now - 1)],
        ['other backend', otherBackendCookie],
        ['garbage', '%%%;;==='],
        ['empty', ''],
      ];
      for (const [what, value] of bad) {
        const servers = new Set<string>();
        for (let i = 0; i < 6; i++) {
          const r = await send(port, { cookie: `FULCRUM_SRV=${value}` });
          assert.equal(r.status, 200, what);
          const fresh = cookiePair(r);
          assert.notEqual(fresh, `FULCRUM_SRV=${value}`, `${what}: a new cookie is issued`);
          servers.add(r.body);
          // the fresh cookie is honoured
          await sticks(fresh, r.body, 1);
        }
        assert.ok(servers.size >= 2, `${what}: balanced normally, not stuck on one server (${[...servers]})`);
      }
    });

    it('keeps the session across changes that do not touch its server (S2), weight 0 keeps it (S4)', async () => {
      const { first, pair } = await newSession();
      const pinned = first.body;
      const others = ['a', 'b', 'c'].filter((n) => n !== pinned);
      // add a server, re-weight another, change the backend's timeouts, rename another server
      const d = await f.ok('POST', `/backends/${beId}/servers`, serverBody('d', apps[3]!.port));
      ids.set('d', d.id);
      await f.ok('PATCH', `/backends/${beId}/servers/${ids.get(others[0]!)}`, { weight: 5 });
      await f.ok('PATCH', `/backends/${beId}`, { timeouts: { responseSeconds: 30 } });
      await f.ok('PATCH', `/backends/${beId}/servers/${ids.get(others[1]!)}`, { zone: 'az2' });
      await sticks(pair, pinned);
      // S4: weight 0 takes no new clients but keeps its sessions
      await f.ok('PATCH', `/backends/${beId}/servers/${ids.get(pinned)}`, { weight: 0 });
      await sticks(pair, pinned);
      for (let i = 0; i < 12; i++) assert.notEqual((await send(port)).body, pinned, 'weight 0 takes no new client');
      await f.ok('PATCH', `/backends/${beId}/servers/${ids.get(pinned)}`, { weight: 1 });
      await f.ok('PATCH', `/backends/${beId}/servers/${ids.get(others[0]!)}`, { weight: 1 });
      await sticks(pair, pinned);
    });

    it('re-pins (P3) when the server is disabled (draining), removed or unhealthy; the new pin holds', async () => {
      // disabled → draining: the client moves and is persisted on the new server
      let { first, pair } = await newSession();
      await f.ok('PATCH', `/backends/${beId}/servers/${ids.get(first.body)}`, { enabled: false });
      let moved = await send(port, { cookie: pair });
      assert.equal(moved.status, 200);
      assert.notEqual(moved.body, first.body);
      let next = cookiePair(moved);
      await f.ok('PATCH', `/backends/${beId}/servers/${ids.get(first.body)}`, { enabled: true });
      await sticks(next, moved.body);
      // removed
      ({ first, pair } = await newSession());
      await f.ok('DELETE', `/backends/${beId}/servers/${ids.get(first.body)}`);
      moved = await send(port, { cookie: pair });
      assert.notEqual(moved.body, first.body);
      next = cookiePair(moved);
      await sticks(next, moved.body);
      // put the removed server back (a new id: its old cookies stay invalid)
      const back = apps.find((a) => a.name === first.body)!;
      ids.set(back.name, (await f.ok('POST', `/backends/${beId}/servers`, serverBody(back.name, back.port))).id);
      const stale = await send(port, { cookie: pair });
      assert.ok(setCookieOf(stale), 'a cookie of the removed server id is not honoured');
      // unhealthy: turn checks on, stop the pinned server's process; once the check says unhealthy, the client moves
      await f.ok('PATCH', `/backends/${beId}`, {
        healthCheck: { enabled: true, type: 'tcp', intervalSeconds: 1, timeoutSeconds: 1, rise: 1, fall: 1 },
      });
      await waitFor(
        async () =>
          (await f.ok('GET', `/backends/${beId}/servers`)).every((s: ServerBody) => s.status.health === 'healthy'),
        5000,
        'every server healthy',
      );
      ({ first, pair } = await newSession());
      const victim = apps.find((a) => a.name === first.body)!;
      const victimId = ids.get(victim.name)!;
      await victim.close();
      await waitFor(
        async () => (await f.ok('GET', `/backends/${beId}/servers/${victimId}`)).status.health === 'unhealthy',
        5000,
        `${victim.name} unhealthy`,
      );
      moved = await send(port, { cookie: pair });
      assert.equal(moved.status, 200);
      assert.notEqual(moved.body, victim.name);
      await sticks(cookiePair(moved), moved.body);
      // leave the backend without the dead server and without checks for the next test
      await f.ok('DELETE', `/backends/${beId}/servers/${victimId}`);
      ids.delete(victim.name);
      await f.ok('PATCH', `/backends/${beId}`, { healthCheck: { enabled: false } });
    });

    it('a session cookie (timeoutSeconds 0) has no Max-Age and no expiry', async () => {
      await f.ok('PATCH', `/backends/${beId}`, { persistence: { type: 'cookie', timeoutSeconds: 0 } });
      const { first, pair } = await newSession();
      assert.match(setCookieOf(first)!, new RegExp(`^FULCRUM_SRV=[^;]+; Path=/; HttpOnly; SameSite=Lax${secure}$`));
      assert.equal(pair.split('.')[1], '0', 'expiry 0 = browser session');
      await sticks(pair, first.body);
      await f.ok('PATCH', `/backends/${beId}`, {
        persistence: { type: 'cookie', cookieName: 'LB', timeoutSeconds: 60 },
      });
      const named = await send(port, { cookie: pair });
      assert.match(
        setCookieOf(named, 'LB')!,
        new RegExp(`^LB=[^;]+; Path=/; Max-Age=60; HttpOnly; SameSite=Lax${secure}$`),
      );
      await f.ok('PATCH', `/backends/${beId}`, {
        persistence: { type: 'cookie', cookieName: 'FULCRUM_SRV', timeoutSeconds: 600 },
      });
    });

    // Crosses http and https itself (HTTP/1.1 over TLS against the http frontend): once is enough.
    it('on an https frontend the inserted cookie is Secure, and the same session holds over http and https', {
      skip: protocol === 'h2' ? 'crosses both front protocols itself; run once' : false,
    }, async () => {
      const pki = new TestPki();
      try {
        const ca = pki.ca('persistence test CA');
        const leaf = pki.leaf(ca, { cn: 'shop.test', sans: ['DNS:shop.test', 'IP:127.0.0.1'] });
        const certId = (await f.ok('POST', '/certificates', { name: 'shop', kind: 'server', pem: leaf.bundle })).id;
        const tlsPort = await freePort();
        const fe = await f.ok('POST', '/frontends', {
          loadBalancerId: lbId,
          name: 'www-tls',
          protocol: 'https',
          port: tlsPort,
          defaultBackendId: beId,
          certificateIds: [certId],
        });
        assert.equal(fe.status.listening, true, JSON.stringify(fe.status));
        const tlsGet = (cookie?: string) =>
          new Promise<Answer>((resolve, reject) => {
            const req = https.request(
              {
                host: '127.0.0.1',
                port: tlsPort,
                path: '/',
                servername: 'shop.test',
                ca: ca.certPem,
                agent: false,
                headers: cookie ? { cookie } : {},
              },
              (res) => {
                let body = '';
                res.setEncoding('utf8');
                res.on('data', (d) => (body += d));
                res.on('end', () =>
                  resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers['set-cookie'] }),
                );
              },
            );
            req.on('error', reject);
            req.end();
          });
        const first = await tlsGet();
        assert.equal(first.status, 200);
        assert.match(setCookieOf(first)!, /^FULCRUM_SRV=[^;]+; Path=\/; Max-Age=600; HttpOnly; SameSite=Lax; Secure$/);
        const pair = cookiePair(first);
        for (let i = 0; i < 5; i++) {
          const r = await tlsGet(pair);
          assert.equal(r.body, first.body);
          assert.equal(setCookieOf(r), undefined);
        }
        await sticks(pair, first.body, 3);
        // a cookie issued over plain http is not Secure
        assert.ok(!setCookieOf(await send(port))!.includes('Secure'));
        await f.ok('DELETE', `/frontends/${fe.id}`);
      } finally {
        pki.cleanup();
      }
    });

    it('keeps the session across a restart on the same data dir (the cookie key is in the store, P5)', async () => {
      const { first, pair } = await newSession();
      await sticks(pair, first.body, 3);
      await f.restart();
      await waitFor(async () => (await send(port).catch(() => undefined))?.status === 200, 5000, 'frontend back');
      await sticks(pair, first.body, 10);
    });
  });
