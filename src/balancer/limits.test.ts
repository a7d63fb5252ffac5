import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { config, srv, world } from '../../test/helpers/runtime-world.ts';
import type { Algorithm } from '../config/model.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { Ticket } from '../runtime/shared-cells.ts';
import type { BaseBalancer } from './base.ts';
import { LeastConnectionsBalancer } from './least-connections.ts';
import { LeastResponseTimeBalancer, recordTtfb } from './least-response-time.ts';
import { RandomTwoChoicesBalancer } from './random-two-choices.ts';
import { clientAddresses, seededRandom, testBackend } from './test-helpers.ts';
import { WeightedRoundRobinBalancer } from './weighted-round-robin.ts';

// Issue 15 point 4 on the balancers: a server at its maxConnections stays in the eligible
// list, in its place, and every algorithm skips it at pick time (HAProxy skips a full server
// in its trees). Reaching or leaving a limit happens on every request of a busy server, so it
// must rebuild nothing: not the eligible list's membership, not the smooth-WRR cycle, not the
// Maglev table, not the load index (issue 13 point 5).

const ALGORITHMS: Algorithm[] = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'least-response-time',
  'source-ip',
  'random-two-choices',
];

const hold = { destroy() {} };

/** Backend b1 with s1 (weight 1), s2 (weight 2, maxConnections 1), s3 (weight 3) on a runtime. */
function limited(algorithm: Algorithm) {
  const w = world();
  const c = config({ algorithm }, 'http');
  c.backends[0]!.healthCheck.enabled = false;
  c.servers.push(
    srv('s1', 7001, { weight: 1 }),
    srv('s2', 7002, { weight: 2, maxConnections: 1 }),
    srv('s3', 7003, { weight: 3 }),
  );
  w.apply(c);
  const brt = w.runtime.backends.get('b1')!;
  const server = (id: string) => w.runtime.servers.get(id)!;
  return { w, brt, balancer: brt.balancer as BaseBalancer, s1: server('s1'), s2: server('s2'), s3: server('s3') };
}

describe('a server at its maxConnections is skipped in place (issue 15 point 4)', () => {
  for (const algorithm of ALGORITHMS) {
    test(`${algorithm}: never picked while full, back after a close; nothing is rebuilt`, () => {
      const { w, balancer, s2 } = limited(algorithm);
      const addresses = clientAddresses(300);
      balancer.pick({ clientAddress: addresses[0] });
      const members = balancer.el.membershipVersion;
      const table = algorithm === 'source-ip' ? balancer.maglev() : undefined;
      w.runtime.connectionOpened(s2, hold);
      assert.equal(s2.atLimit(w.clock.now()), true);
      for (const clientAddress of addresses) {
        const s = balancer.pick({ clientAddress });
        assert.ok(s && s !== s2, `${algorithm} picked ${s?.id} for ${clientAddress}`);
      }
      assert.equal(balancer.el.membershipVersion, members, 'reaching the limit changed no membership');
      if (table) assert.equal(balancer.maglev(), table, 'the Maglev table is the same object');
      w.runtime.connectionClosed(s2, hold);
      // Each pick holds its connection, so the load-aware algorithms come round to s2 too.
      const picked = new Set<string>();
      for (const clientAddress of addresses) {
        const s = balancer.pick({ clientAddress });
        assert.ok(s, `${algorithm}: a pick for ${clientAddress}`);
        picked.add(s.id);
        w.runtime.connectionOpened(s, { destroy() {} });
      }
      assert.ok(picked.has('s2'), `${algorithm}: s2 takes picks again (${[...picked]})`);
      assert.equal(balancer.el.membershipVersion, members, 'leaving the limit changed no membership');
    });
  }

  test('round robin: the others share equally, the full server gives its turns away evenly', () => {
    const { w, balancer, s2 } = limited('round-robin');
    w.runtime.connectionOpened(s2, hold);
    const n = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const id = balancer.pick({})!.id;
      n.set(id, (n.get(id) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(n), { s1: 150, s3: 150 });
  });

  test('weighted round robin: the others keep their 1:3 ratio exactly, over the same cycle', () => {
    const { w, balancer, s2 } = limited('weighted-round-robin');
    w.runtime.connectionOpened(s2, hold);
    const n = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const id = balancer.pick({})!.id;
      n.set(id, (n.get(id) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(n), { s1: 100, s3: 300 });
  });

  test('consistent hashing: only the full server’s keys move, and they all come back', () => {
    const { w, balancer, s2 } = limited('source-ip');
    const keys = clientAddresses(500);
    const before = keys.map((k) => balancer.pickHashed(k)!.id);
    assert.ok(before.includes('s2'));
    w.runtime.connectionOpened(s2, hold);
    const during = keys.map((k) => balancer.pickHashed(k)!.id);
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === 's2') assert.notEqual(during[i], 's2');
      else assert.equal(during[i], before[i], `key ${keys[i]} moved from ${before[i]} to ${during[i]}`);
    }
    w.runtime.connectionClosed(s2, hold);
    assert.deepEqual(
      keys.map((k) => balancer.pickHashed(k)!.id),
      before,
    );
  });

  test('every server full: no pick, whatever the algorithm; a retry still falls back to its excluded server', () => {
    for (const algorithm of ALGORITHMS) {
      const { w, balancer, s1, s2, s3 } = limited(algorithm);
      for (const s of [s1, s3]) s.spec = { ...s.spec, maxConnections: 1 };
      balancer.invalidate();
      w.runtime.connectionOpened(s1, hold);
      w.runtime.connectionOpened(s2, hold);
      assert.equal(
        balancer.pick({ exclude: s3, clientAddress: '10.0.0.9' }),
        s3,
        `${algorithm}: the excluded one has room`,
      );
      w.runtime.connectionOpened(s3, hold);
      assert.equal(balancer.pick({ clientAddress: '10.0.0.9' }), undefined, `${algorithm}: every server full`);
      assert.equal(balancer.pickHashed('k'), undefined, `${algorithm}: hashing finds none either`);
    }
  });
});

describe('the load indexes skip full servers (issues 13 point 5 and 15 point 4)', () => {
  /** `n` servers of weight 1–4, every third with a limit of 1–3, on an index (LOAD_INDEX_FROM ≤ n). */
  function big(Kind: typeof LeastConnectionsBalancer | typeof LeastResponseTimeBalancer, n: number) {
    const t = testBackend(
      Array.from({ length: n }, (_, i) => ({ weight: 1 + (i % 4), maxConnections: i % 3 === 0 ? 1 + (i % 3) : 0 })),
      { algorithm: Kind === LeastConnectionsBalancer ? 'least-connections' : 'least-response-time' },
    );
    return { ...t, b: new Kind(t.servers, t.now) };
  }

  /** Opens (+1) or closes (−1) a connection as the runtime tells the index. */
  function open(s: ServerRuntime, delta = 1): void {
    s.active.add(delta);
    s.loadWatcher?.loadChanged(s);
  }

  /** The least `score` over the servers below their limit, or undefined when all are full. */
  function least(servers: readonly ServerRuntime[], now: number, score: (s: ServerRuntime) => number) {
    let best: number | undefined;
    for (const s of servers) if (!s.atLimit(now)) best = Math.min(best ?? Number.POSITIVE_INFINITY, score(s));
    return best;
  }

  test('least-connections: every pick has the least load among servers with room, over 10,000 steps', () => {
    const rnd = seededRandom(15);
    const { b, servers, now } = big(LeastConnectionsBalancer, 120);
    b.peek({});
    assert.ok(
      servers.every((s) => s.loadWatcher !== undefined),
      'indexed',
    );
    const held: ServerRuntime[] = [];
    let none = 0;
    for (let k = 0; k < 10_000; k++) {
      if (held.length > 0 && rnd() < 0.45) {
        const j = Math.floor(rnd() * held.length);
        open(held[j]!, -1);
        held[j] = held[held.length - 1]!;
        held.pop();
        continue;
      }
      const load = (s: ServerRuntime) => (s.activeConnections + 1) / s.spec.weight;
      const want = least(b.el.list, now(), load);
      const s = b.pick({});
      if (want === undefined) {
        assert.equal(s, undefined);
        none++;
        continue;
      }
      assert.ok(s && !s.atLimit(now()), `pick ${k}: ${s?.id} is full`);
      assert.equal(load(s), want, `pick ${k}: ${s.id}`);
      open(s);
      held.push(s);
    }
    assert.ok(
      servers.some((s) => s.atLimit(now())),
      'some servers were full along the way',
    );
    assert.ok(held.length > 200, `a real load was held: ${held.length} (${none} picks found none)`);
  });

  test('least-response-time: every pick has the least score among servers with room', () => {
    const rnd = seededRandom(16);
    const { b, servers, now } = big(LeastResponseTimeBalancer, 100);
    for (const s of servers) if (rnd() < 0.7) recordTtfb(s, 1 + rnd() * 20);
    b.peek({});
    const held: ServerRuntime[] = [];
    for (let k = 0; k < 5_000; k++) {
      if (held.length > 0 && rnd() < 0.45) {
        const j = Math.floor(rnd() * held.length);
        open(held[j]!, -1);
        held[j] = held[held.length - 1]!;
        held.pop();
        continue;
      }
      const candidates = b.candidates({});
      const s = b.pick({});
      if (candidates.length === 0) {
        assert.equal(s, undefined);
        continue;
      }
      assert.ok(s && !s.atLimit(now()), `pick ${k}: ${s?.id} is full`);
      assert.ok(
        candidates.some((c) => c.server === s),
        `pick ${k}: ${s.id} is not among the scan's best (${candidates.map((c) => c.server.id)})`,
      );
      open(s);
      held.push(s);
      if (rnd() < 0.2) recordTtfb(s, 1 + rnd() * 20);
    }
  });
});

describe('random-two-choices with full servers', () => {
  test('its candidates are the exact probabilities of its draws', () => {
    const t = testBackend(
      [{ weight: 1 }, { weight: 1, maxConnections: 1 }, { weight: 2 }, { weight: 1, maxConnections: 2 }],
      {
        algorithm: 'random-two-choices',
      },
    );
    let draws = 0;
    const rnd = seededRandom(7);
    const b = new RandomTwoChoicesBalancer(t.servers, t.now, new Ticket(), () => {
      draws++;
      return rnd();
    });
    t.servers[1]!.active.add(1);
    t.servers[3]!.active.add(1);
    t.servers[0]!.active.add(3);
    const p = new Map(b.candidates({}).map((c) => [c.server.id, c.probability]));
    assert.equal(p.get('s2') ?? 0, 0, 'a full server is never the answer');
    assert.ok((p.get('s4') ?? 0) > 0, 's4 has room');
    const n = new Map<string, number>();
    const picks = 40_000;
    for (let i = 0; i < picks; i++) {
      const id = b.pick({})!.id;
      n.set(id, (n.get(id) ?? 0) + 1);
    }
    assert.ok(draws >= 2 * picks);
    for (const [id, q] of p) {
      const got = (n.get(id) ?? 0) / picks;
      assert.ok(Math.abs(got - q) < 0.01, `${id}: drew ${got}, candidates say ${q}`);
    }
  });
});

describe('two rotating balancers on one shared Ticket (two worker threads, issue 13 point 1)', () => {
  test('weighted round robin: picks alternating between them split 1:2:3 exactly', () => {
    const ticket = new Ticket();
    const shared = new Uint32Array(new SharedArrayBuffer(4));
    ticket.bind(shared, 0);
    const other = new Ticket();
    other.bind(shared, 0);
    const t = testBackend([{ weight: 1 }, { weight: 2 }, { weight: 3 }], { algorithm: 'weighted-round-robin' });
    const a = new WeightedRoundRobinBalancer(t.servers, t.now, ticket);
    const b = new WeightedRoundRobinBalancer(t.servers, t.now, other);
    const n = new Map<string, number>();
    const rnd = seededRandom(3);
    for (let i = 0; i < 600; i++) {
      const id = (rnd() < 0.5 ? a : b).pick({})!.id;
      n.set(id, (n.get(id) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(n), { s1: 100, s2: 200, s3: 300 });
  });

  test('a retry that sits the heavy server out takes one turn, not its whole run', () => {
    const t = testBackend([{ weight: 1 }, { weight: 1 }, { weight: 20 }], { algorithm: 'weighted-round-robin' });
    const ticket = new Ticket();
    const b = new WeightedRoundRobinBalancer(t.servers, t.now, ticket);
    const heavy = t.servers[2]!;
    while (b.peek({}) !== heavy) b.pick({});
    const at = ticket.peek();
    const s = b.pick({ exclude: heavy });
    assert.ok(s && s !== heavy);
    assert.equal(ticket.peek(), at + 1, 'one ticket taken');
  });
});
