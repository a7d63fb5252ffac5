import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createBalancer } from '../balancer/registry.ts';
import {
  clientAddresses,
  equalServers,
  type TestBackendOptions,
  type TestServer,
  testConfig,
} from '../balancer/test-helpers.ts';
import type { ConfigState } from '../config/model.ts';
import { compile } from '../config/snapshot.ts';
import { checkPersistence } from '../config/validate.ts';
import { FakeClock } from '../core/clock.ts';
import { FulcrumError } from '../core/errors.ts';
import { type BackendRuntime, Runtime } from '../runtime/runtime.ts';
import { PersistenceManager, type PersistenceRequest } from './choose.ts';
import { findCookie, serverToken } from './cookie.ts';
import { persistenceChooser } from './http-chooser.ts';

const KEY = 'test-cookie-key-0123456789abcdef';

/** A Runtime over one backend `b1` with checks off (all healthy) unless asked. */
function node(servers: TestServer[], opts: TestBackendOptions, clock = new FakeClock()) {
  const runtime = new Runtime(createBalancer, { clock });
  let config = testConfig(servers, opts);
  runtime.reconcile(compile(config));
  const manager = new PersistenceManager({ cookieKeys: [KEY] });
  return {
    runtime,
    clock,
    manager,
    get brt(): BackendRuntime {
      return runtime.backends.get('b1')!;
    },
    server(id: string) {
      return runtime.server(id)!;
    },
    choose(req: PersistenceRequest) {
      return manager.choose(runtime.backends.get('b1')!, req, clock.now());
    },
    /** Applies a config edit as a new snapshot (version + 1). */
    change(edit: (c: ConfigState) => void) {
      config = structuredClone(config);
      config.version++;
      edit(config);
      runtime.reconcile(compile(config));
    },
  };
}

/** The cookie value of a Set-Cookie header value. */
function cookieOf(setCookie: string | undefined): string {
  assert.ok(setCookie, 'a Set-Cookie was expected');
  return `FULCRUM_SRV=${setCookie.slice('FULCRUM_SRV='.length, setCookie.indexOf(';'))}`;
}

describe('source-ip persistence (P1, P5)', () => {
  const opts: TestBackendOptions = { algorithm: 'round-robin', persistence: { type: 'source-ip', timeoutSeconds: 60 } };

  test('a client stays on its server; the first choice is the consistent hash, the same on every node', () => {
    const a = node(equalServers(5), opts);
    const b = node(equalServers(5), opts);
    const clients = clientAddresses(200);
    const first = clients.map((c) => a.choose({ clientAddress: c }).server!.id);
    assert.equal(new Set(first).size, 5, 'clients spread over every server');
    for (let round = 0; round < 3; round++) {
      clients.forEach((c, i) => {
        const r = a.choose({ clientAddress: c });
        assert.equal(r.server!.id, first[i]);
        assert.equal(r.persisted, true);
      });
    }
    // Another node (its own runtime and empty table) agrees without sharing anything.
    assert.deepEqual(
      clients.map((c) => b.choose({ clientAddress: c }).server!.id),
      first,
    );
    assert.equal(a.choose({ clientAddress: `::ffff:${clients[7]}` }).server!.id, first[7]);
  });

  test('adding a server (config change not touching the pinned servers) moves no persisted client', () => {
    const a = node(equalServers(4), opts);
    const clients = clientAddresses(400);
    const before = clients.map((c) => a.choose({ clientAddress: c }).server!.id);
    a.change((c) => c.servers.push({ ...c.servers[0]!, id: 's5', name: 'server-5', address: '10.0.0.5' }));
    const fresh = node(equalServers(5), opts); // what the hash alone says with five servers
    const hashMoved = clients.filter((c, i) => fresh.choose({ clientAddress: c }).server!.id !== before[i]).length;
    assert.ok(hashMoved > 20, `the hash alone moves ${hashMoved} clients, so the table is what keeps them`);
    clients.forEach((c, i) => {
      assert.equal(a.choose({ clientAddress: c }).server!.id, before[i]);
    });
  });

  test('the session ends after timeoutSeconds idle (P1), not while used', () => {
    const a = node(equalServers(2), { ...opts, persistence: { type: 'source-ip', timeoutSeconds: 60 } });
    const c = '192.0.2.10';
    const s = a.choose({ clientAddress: c }).server!;
    a.clock.advance(50_000);
    assert.equal(a.choose({ clientAddress: c }).persisted, true);
    a.clock.advance(59_000);
    assert.equal(a.choose({ clientAddress: c }).persisted, true, 'idle time counts from the last use');
    a.clock.advance(60_001);
    const r = a.choose({ clientAddress: c });
    assert.equal(r.persisted, false);
    assert.equal(r.server, s, 'a new session starts from the same hash');
  });

  test('re-pin (P3): unhealthy, disabled, removed → moved and persisted there; weight 0 keeps (S4)', () => {
    const a = node(equalServers(3), { ...opts, healthCheck: true });
    for (const s of a.brt.servers) s.health = 'healthy';
    a.brt.balancer.invalidate();
    const clients = clientAddresses(60);
    const home = clients.map((c) => a.choose({ clientAddress: c }).server!);
    // unhealthy
    const s1 = a.server('s1');
    s1.health = 'unhealthy';
    a.runtime.invalidate(s1);
    const moved = clients.map((c) => a.choose({ clientAddress: c }));
    clients.forEach((_, i) => {
      if (home[i] === s1) {
        assert.notEqual(moved[i]!.server, s1);
        assert.equal(moved[i]!.persisted, false);
      } else assert.equal(moved[i]!.server, home[i]);
    });
    s1.health = 'healthy';
    a.runtime.invalidate(s1);
    clients.forEach((c, i) => {
      assert.equal(a.choose({ clientAddress: c }).server, moved[i]!.server, 'stays re-pinned');
    });
    // weight 0 keeps its sessions (S4), disabled does not (S3)
    const holder = clients.findIndex((_, i) => moved[i]!.server!.id === 's2');
    assert.ok(holder >= 0);
    a.change((c) => {
      c.servers[1]!.weight = 0;
    });
    assert.equal(a.choose({ clientAddress: clients[holder]! }).server!.id, 's2');
    assert.equal(a.choose({ clientAddress: '198.51.100.99' }).server!.id === 's2', false, 'no new clients');
    a.change((c) => {
      c.servers[1]!.enabled = false;
    });
    assert.notEqual(a.choose({ clientAddress: clients[holder]! }).server!.id, 's2');
    // removed
    const holder3 = clients.findIndex((c) => a.choose({ clientAddress: c }).server!.id === 's3');
    a.change((c) => {
      c.servers.splice(2, 1);
    });
    assert.equal(a.choose({ clientAddress: clients[holder3]! }).server!.id, 's1');
  });

  test('exclude (retry) moves the session; a passive pin returns to an active server (S5)', () => {
    const a = node([{}, {}, { passive: true }], { ...opts, healthCheck: true });
    for (const s of a.brt.servers) s.health = 'healthy';
    a.brt.balancer.invalidate();
    const c = '203.0.113.5';
    const s = a.choose({ clientAddress: c }).server!;
    const r = a.choose({ clientAddress: c, exclude: s });
    assert.notEqual(r.server, s);
    assert.equal(a.choose({ clientAddress: c }).server, r.server, 'persisted on the new server');
    for (const id of ['s1', 's2']) a.server(id).health = 'unhealthy';
    a.brt.balancer.invalidate();
    assert.equal(a.choose({ clientAddress: c }).server!.id, 's3');
    assert.equal(a.choose({ clientAddress: c }).persisted, true);
    a.server('s2').health = 'healthy';
    a.brt.balancer.invalidate();
    assert.equal(a.choose({ clientAddress: c }).server!.id, 's2');
  });

  test('nothing available → undefined, nothing remembered', () => {
    const a = node([{ enabled: false }], opts);
    const r = a.choose({ clientAddress: '192.0.2.1' });
    assert.equal(r.server, undefined);
    assert.equal(a.manager.stateOf(a.brt).sourceIp!.table.size, 0);
  });
});

describe('cookie persistence (P2, P3, P5)', () => {
  const opts: TestBackendOptions = {
    algorithm: 'round-robin',
    persistence: { type: 'cookie', timeoutSeconds: 1800 },
    healthCheck: true,
  };
  function up(servers: TestServer[], o = opts) {
    const a = node(servers, o);
    for (const s of a.brt.servers) s.health = 'healthy';
    a.brt.balancer.invalidate();
    return a;
  }

  test('inserts a signed cookie naming the server (not its address) and follows it', () => {
    const a = up(equalServers(3));
    const first = a.choose({ clientAddress: '192.0.2.1', secure: true });
    assert.equal(first.persisted, false);
    assert.match(first.setCookie!, /^FULCRUM_SRV=[^;]+; Path=\/; Max-Age=1800; HttpOnly; SameSite=Lax; Secure$/);
    assert.ok(!first.setCookie!.includes(first.server!.spec.address));
    assert.ok(!first.setCookie!.includes(first.server!.id));
    assert.ok(first.setCookie!.includes(serverToken('b1', first.server!.id)));
    const cookie = `a=1; ${cookieOf(first.setCookie)}; z=2`;
    for (let i = 0; i < 10; i++) {
      const r = a.choose({ clientAddress: `192.0.2.${i + 50}`, cookie });
      assert.equal(r.server, first.server);
      assert.equal(r.persisted, true);
      assert.equal(r.setCookie, undefined);
    }
    assert.ok(!a.choose({ clientAddress: '192.0.2.1' }).setCookie!.includes('Secure'));
  });

  test('forged, tampered, expired and other-backend cookies are ignored and replaced', () => {
    const a = up(equalServers(3));
    const first = a.choose({});
    const good = cookieOf(first.setCookie);
    const value = good.slice('FULCRUM_SRV='.length);
    const [tok, exp, mac] = value.split('.') as [string, string, string];
    const other = serverToken('b1', first.server!.id === 's1' ? 's2' : 's1');
    const bad = [
      `FULCRUM_SRV=${other}.${exp}.${mac}`, // another server, same MAC
      `FULCRUM_SRV=${tok}.${(Number.parseInt(exp, 36) + 86_400).toString(36)}.${mac}`, // extended expiry
      `FULCRUM_SRV=${tok}.${exp}.${'A'.repeat(22)}`, // forged MAC
      `FULCRUM_SRV=${tok}.0.${mac}`, // made a session cookie
      'FULCRUM_SRV=10.0.0.1',
      'FULCRUM_SRV=',
    ];
    // signed for backend b2 by the same key: a node whose only backend is b2 made it
    const b2 = node(equalServers(3), { ...opts, id: 'b2', healthCheck: false });
    const foreign = b2.manager.choose(b2.runtime.backends.get('b2')!, {}, b2.clock.now());
    bad.push(cookieOf(foreign.setCookie));
    for (const cookie of bad) {
      const r = a.choose({ cookie });
      assert.equal(r.persisted, false, cookie);
      assert.ok(r.setCookie, `a fresh cookie replaces ${cookie}`);
    }
    // expired: 1800 s later the cookie's own expiry has passed (even if the browser still sends it)
    a.clock.advance(1_800_001);
    const r = a.choose({ cookie: good });
    assert.equal(r.persisted, false);
    assert.ok(r.setCookie);
  });

  test('the cookie slides: re-issued once a minute of use, so only idle sessions expire', () => {
    const a = up(equalServers(2), { ...opts, persistence: { type: 'cookie', timeoutSeconds: 300 } });
    let cookie = cookieOf(a.choose({}).setCookie);
    const s = a.choose({ cookie }).server;
    a.clock.advance(29_000);
    assert.equal(a.choose({ cookie }).setCookie, undefined, 'not yet: refresh every min(60 s, 300/10 s) = 30 s');
    a.clock.advance(2_000);
    const refreshed = a.choose({ cookie });
    assert.equal(refreshed.server, s);
    assert.equal(refreshed.persisted, true);
    cookie = cookieOf(refreshed.setCookie);
    for (let i = 0; i < 20; i++) {
      a.clock.advance(200_000); // used every 200 s for 4000 s: longer than the timeout
      const r = a.choose({ cookie });
      assert.equal(r.server, s);
      if (r.setCookie) cookie = cookieOf(r.setCookie);
    }
    a.clock.advance(300_001);
    assert.equal(a.choose({ cookie }).persisted, false, 'idle longer than the timeout: session over');
  });

  test('timeoutSeconds 0: a browser-session cookie without Max-Age, never re-issued', () => {
    const a = up(equalServers(2), { ...opts, persistence: { type: 'cookie', timeoutSeconds: 0, cookieName: 'LB' } });
    const first = a.choose({});
    assert.match(first.setCookie!, /^LB=[^;]+\.0\.[^;]+; Path=\/; HttpOnly; SameSite=Lax$/);
    const cookie = `LB=${first.setCookie!.slice(3, first.setCookie!.indexOf(';'))}`;
    a.clock.advance(365 * 86_400_000);
    const r = a.choose({ cookie });
    assert.equal(r.server, first.server);
    assert.equal(r.setCookie, undefined);
  });

  test('re-pin (P3) on unhealthy / disabled / removed, with a new cookie; weight 0 and config changes keep it', () => {
    const a = up(equalServers(3));
    const first = a.choose({});
    let cookie = cookieOf(first.setCookie);
    const pinned = first.server!;
    // config change not touching the pinned server: add a server, change another's weight
    a.change((c) => {
      c.servers.push({ ...c.servers[0]!, id: 's4', name: 'server-4', address: '10.0.0.4' });
      const other = c.servers.find((s) => s.id !== pinned.id)!;
      other.weight = 7;
    });
    a.server('s4').health = 'healthy';
    a.brt.balancer.invalidate();
    assert.equal(a.choose({ cookie }).server, pinned);
    assert.equal(a.choose({ cookie }).persisted, true);
    // weight 0 keeps (S4)
    a.change((c) => {
      c.servers.find((s) => s.id === pinned.id)!.weight = 0;
    });
    assert.equal(a.choose({ cookie }).server, pinned);
    // unhealthy → moved, new cookie, stays there after recovery
    pinned.health = 'unhealthy';
    a.runtime.invalidate(pinned);
    const moved = a.choose({ cookie });
    assert.notEqual(moved.server, pinned);
    assert.equal(moved.persisted, false);
    cookie = cookieOf(moved.setCookie);
    pinned.health = 'healthy';
    a.runtime.invalidate(pinned);
    assert.equal(a.choose({ cookie }).server, moved.server);
    // disabled → moved
    const second = moved.server!;
    a.change((c) => {
      c.servers.find((s) => s.id === second.id)!.enabled = false;
    });
    const third = a.choose({ cookie });
    assert.notEqual(third.server, second);
    cookie = cookieOf(third.setCookie);
    // removed → moved
    const thirdId = third.server!.id;
    a.change((c) => {
      c.servers = c.servers.filter((s) => s.id !== thirdId);
    });
    const fourth = a.choose({ cookie });
    assert.ok(fourth.server && fourth.server.id !== thirdId);
    assert.ok(fourth.setCookie);
  });

  test('P5: a cookie issued by one node is honoured by another sharing the key', () => {
    const a = up(equalServers(4));
    const b = up(equalServers(4));
    for (let i = 0; i < 8; i++) {
      const first = a.choose({});
      const r = b.choose({ cookie: cookieOf(first.setCookie) });
      assert.equal(r.server!.id, first.server!.id);
      assert.equal(r.persisted, true);
    }
    b.manager.setCookieKeys(['another-key-0123456789abcdefghij']);
    const first = a.choose({});
    assert.equal(b.choose({ cookie: cookieOf(first.setCookie) }).persisted, false, 'other key: cache cleared too');
  });
});

describe('app-cookie persistence (P2)', () => {
  const opts: TestBackendOptions = {
    algorithm: 'least-connections',
    persistence: { type: 'app-cookie', cookieName: 'JSESSIONID', timeoutSeconds: 600 },
  };

  test('learns value → server from Set-Cookie and follows it; unlearned values hash consistently', () => {
    const a = node(equalServers(4), opts);
    const b = node(equalServers(4), opts);
    const s3 = a.server('s3');
    a.manager.learn(a.brt, s3, ['theme=dark', 'JSESSIONID=abc123; Path=/; HttpOnly'], a.clock.now());
    for (let i = 0; i < 5; i++) {
      const r = a.choose({ cookie: 'theme=dark; JSESSIONID=abc123' });
      assert.equal(r.server, s3);
      assert.equal(r.persisted, true);
      assert.equal(r.setCookie, undefined);
    }
    const values = Array.from({ length: 100 }, (_, i) => `session-${i}`);
    const onA = values.map((v) => a.choose({ cookie: `JSESSIONID=${v}` }).server!.id);
    const onB = values.map((v) => b.choose({ cookie: `JSESSIONID=${v}` }).server!.id);
    assert.deepEqual(onA, onB, 'two nodes agree on values neither has learned');
    assert.equal(new Set(onA).size, 4);
    // without the cookie: the algorithm decides
    const r = a.choose({ cookie: 'theme=dark' });
    assert.ok(r.server);
    assert.equal(r.persisted, false);
  });

  test('a learned server that goes down: moved and persisted; idle expiry forgets', () => {
    const a = node(equalServers(3), opts);
    const s1 = a.server('s1');
    a.manager.learn(a.brt, s1, 'JSESSIONID=v1', a.clock.now());
    a.change((c) => {
      c.servers[0]!.enabled = false;
    });
    const moved = a.choose({ cookie: 'JSESSIONID=v1' }).server!;
    assert.notEqual(moved, s1);
    a.change((c) => {
      c.servers[0]!.enabled = true;
    });
    assert.equal(a.choose({ cookie: 'JSESSIONID=v1' }).server, moved);
    assert.equal(a.choose({ cookie: 'JSESSIONID=v1' }).persisted, true);
    a.clock.advance(600_001);
    assert.equal(a.choose({ cookie: 'JSESSIONID=v1' }).persisted, false);
  });
});

describe('configuration', () => {
  test('checkPersistence (config/validate.ts) names the field and the rule', () => {
    const cases: [Parameters<typeof checkPersistence>, string, RegExp][] = [
      [[{ type: 'sticky' as 'none', timeoutSeconds: 1 }, 'http'], 'persistence.type', /one of none, source-ip/],
      [[{ type: 'source-ip', timeoutSeconds: -1 }, 'tcp'], 'persistence.timeoutSeconds', /integer from 0/],
      [[{ type: 'source-ip', timeoutSeconds: 1.5 }, 'tcp'], 'persistence.timeoutSeconds', /integer/],
      // cookie persistence on a non-http backend is a rule across fields: 409 `rule`, as the API answers
      [[{ type: 'cookie', timeoutSeconds: 1 }, 'tcp'], 'persistence.type', /needs an http backend/],
      [[{ type: 'app-cookie', timeoutSeconds: 1 }, 'http'], 'persistence.cookieName', /required with app-cookie/],
      [[{ type: 'cookie', cookieName: 'bad name', timeoutSeconds: 1 }, 'http'], 'persistence.cookieName', /RFC 6265/],
    ];
    for (const [args, field, rule] of cases) {
      assert.throws(
        () => checkPersistence(...args),
        (e) => e instanceof FulcrumError && e.field === field && rule.test(e.message),
        field,
      );
    }
    checkPersistence({ type: 'source-ip', timeoutSeconds: 0 }, 'udp');
    checkPersistence({ type: 'cookie', timeoutSeconds: 0 }, 'http');
  });

  test('refused settings act as none and say why; a type change starts from empty tables', () => {
    const a = node(equalServers(2), { mode: 'tcp', persistence: { type: 'cookie', timeoutSeconds: 10 } });
    const r = a.choose({});
    assert.ok(r.server);
    assert.equal(r.setCookie, undefined);
    assert.equal(a.manager.stateOf(a.brt).configError?.field, 'persistence.type');
    const b = node(equalServers(3), { persistence: { type: 'source-ip', timeoutSeconds: 60 } });
    b.choose({ clientAddress: '192.0.2.1' });
    assert.equal(b.manager.stateOf(b.brt).sourceIp!.table.size, 1);
    b.change((c) => {
      c.backends[0]!.persistence = { type: 'cookie', timeoutSeconds: 60 };
    });
    assert.equal(b.manager.stateOf(b.brt).sourceIp, undefined);
    assert.ok(b.choose({}).setCookie);
    b.change((c) => {
      c.backends[0]!.persistence = { type: 'source-ip', timeoutSeconds: 60 };
    });
    assert.equal(b.manager.stateOf(b.brt).sourceIp!.table.size, 0);
    assert.throws(() => new PersistenceManager({ maxEntries: 0 }), /maxEntries/);
    assert.throws(() => new PersistenceManager({ cookieKeys: ['short'] }), FulcrumError);
  });
});

describe('HTTP chooser adapter', () => {
  test('reads the Cookie header, returns Set-Cookie once per insert, learns from the response head', () => {
    const a = node(equalServers(3), { persistence: { type: 'cookie', timeoutSeconds: 60 } });
    const chooser = persistenceChooser(a.manager, () => a.clock.now());
    const req = {
      head: { lower: ['host'], values: ['x'] },
      clientAddress: '192.0.2.1',
      pick: { clientAddress: '192.0.2.1', exclude: undefined },
      https: true,
    };
    const s = chooser.choose(a.brt, req)!;
    const line = chooser.responseHeaders(a.brt, s, req, 200);
    assert.match(line, /^Set-Cookie: FULCRUM_SRV=.+; Secure\r\n$/);
    assert.equal(chooser.responseHeaders(a.brt, s, req, 200), '', 'consumed');
    const value = findCookie(line.slice('Set-Cookie: '.length), 'FULCRUM_SRV')!;
    const again = { ...req, head: { lower: ['host', 'cookie'], values: ['x', `FULCRUM_SRV=${value}`] } };
    assert.equal(chooser.choose(a.brt, again), s);
    assert.equal(chooser.responseHeaders(a.brt, s, again, 200), '');

    const app = node(equalServers(3), {
      persistence: { type: 'app-cookie', cookieName: 'SID', timeoutSeconds: 60 },
    });
    const appChooser = persistenceChooser(app.manager, () => app.clock.now());
    const s2 = app.server('s2');
    appChooser.responseHeaders(app.brt, s2, req, 200, { lower: ['set-cookie'], values: ['SID=zz; Path=/'] });
    const withSid = { ...req, head: { lower: ['cookie'], values: ['SID=zz'] } };
    for (let i = 0; i < 3; i++) assert.equal(appChooser.choose(app.brt, withSid), s2);
  });
});
