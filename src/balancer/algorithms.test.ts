import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BackendSpec } from '../config/snapshot.ts';
import { FulcrumError } from '../core/errors.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { hashClientKey, hashString } from './hash.ts';
import { LeastConnectionsBalancer } from './least-connections.ts';
import { LeastResponseTimeBalancer, recordTtfb } from './least-response-time.ts';
import { MaglevTable, maglevTableSize, nextPrime } from './maglev.ts';
import { RandomTwoChoicesBalancer } from './random-two-choices.ts';
import { createBalancer } from './registry.ts';
import { RoundRobinBalancer } from './round-robin.ts';
import { SourceIpBalancer } from './source-ip.ts';
import { clientAddresses, equalServers, seededRandom, tally, testBackend } from './test-helpers.ts';
import { smoothSequence, WeightedRoundRobinBalancer } from './weighted-round-robin.ts';

function within(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= expected * tolerance,
    `${what}: ${actual} not within ±${tolerance * 100} % of ${expected}`,
  );
}

describe('round-robin', () => {
  test('rotates in order and ignores weights', () => {
    const t = testBackend([{ weight: 1 }, { weight: 5 }, { weight: 3 }]);
    const b = new RoundRobinBalancer(t.servers, t.now);
    const seq = Array.from({ length: 9 }, () => b.pick({})!.id);
    assert.deepEqual(seq, ['s1', 's2', 's3', 's1', 's2', 's3', 's1', 's2', 's3']);
  });
});

describe('weighted-round-robin (smooth)', () => {
  test('1:2:3 split within ±5 % over 600 picks', () => {
    const t = testBackend([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
    const b = new WeightedRoundRobinBalancer(t.servers, t.now);
    const got = tally(Array.from({ length: 600 }, () => b.pick({})));
    within(got.get('s1')!, 100, 0.05, 's1');
    within(got.get('s2')!, 200, 0.05, 's2');
    within(got.get('s3')!, 300, 0.05, 's3');
  });

  test('no bursts: never more than 2 picks in a row to one server with 1:2:3', () => {
    const t = testBackend([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
    const b = new WeightedRoundRobinBalancer(t.servers, t.now);
    let run = 0;
    let longest = 0;
    let prev: ServerRuntime | undefined;
    for (let i = 0; i < 600; i++) {
      const s = b.pick({});
      run = s === prev ? run + 1 : 1;
      prev = s;
      longest = Math.max(longest, run);
    }
    assert.ok(longest <= 2, `longest run ${longest}`);
    assert.equal(longest, 2, 'weight 3 of 6 must repeat sometimes, else the test checks nothing');
  });

  test('weights 100:1 still give the small server its exact share', () => {
    const t = testBackend([{ weight: 100 }, { weight: 1 }]);
    const b = new WeightedRoundRobinBalancer(t.servers, t.now);
    const got = tally(Array.from({ length: 1010 }, () => b.pick({})));
    assert.equal(got.get('s2'), 10);
  });

  test('slow start (SS1): ~10 % of its share at the start, ~55 % halfway, 100 % at the end', () => {
    const t = testBackend([{}, {}], { algorithm: 'weighted-round-robin', slowStartSeconds: 100 });
    const [old, fresh] = t.servers as [ServerRuntime, ServerRuntime];
    old.slowStartDone = true;
    fresh.slowStartFrom = t.clock.now();
    const b = new WeightedRoundRobinBalancer(t.servers, t.now);
    const ratioAt = (): number => {
      const got = tally(Array.from({ length: 2000 }, () => b.pick({})));
      return (got.get('s2') ?? 0) / got.get('s1')!;
    };
    within(ratioAt(), 0.1, 0.1, 'share at start');
    t.clock.advance(50_000);
    within(ratioAt(), 0.55, 0.05, 'share halfway'); // no invalidate: the 250 ms refresh picks the ramp up
    t.clock.advance(25_000);
    within(ratioAt(), 0.775, 0.05, 'share at 3/4');
    t.clock.advance(25_000);
    assert.equal(ratioAt(), 1);
    assert.equal(fresh.slowStartDone, true);
  });

  test('effective weight is re-read within 250 ms during slow start, not on every pick', () => {
    const t = testBackend([{}, {}], { algorithm: 'weighted-round-robin', slowStartSeconds: 30 });
    t.servers[0]!.slowStartDone = true;
    t.servers[1]!.slowStartFrom = t.clock.now();
    const b = new WeightedRoundRobinBalancer(t.servers, t.now);
    b.pick({});
    const w0 = b.el.weights[1]!;
    t.clock.advance(200);
    b.pick({});
    assert.equal(b.el.weights[1], w0);
    t.clock.advance(100);
    b.pick({});
    assert.ok(b.el.weights[1]! > w0);
  });
});

describe('least-connections (weighted)', () => {
  test('with connections held, 600 picks split 1:2:3 (±5 %)', () => {
    const t = testBackend([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
    const b = new LeastConnectionsBalancer(t.servers, t.now);
    for (let i = 0; i < 600; i++) b.pick({})!.activeConnections++;
    within(t.servers[0]!.activeConnections, 100, 0.05, 's1');
    within(t.servers[1]!.activeConnections, 200, 0.05, 's2');
    within(t.servers[2]!.activeConnections, 300, 0.05, 's3');
  });

  test('goes to the least loaded server; ties rotate instead of always taking the first', () => {
    const t = testBackend(equalServers(3));
    const b = new LeastConnectionsBalancer(t.servers, t.now);
    t.servers[0]!.activeConnections = 5;
    t.servers[2]!.activeConnections = 5;
    for (let i = 0; i < 10; i++) assert.equal(b.pick({})!.id, 's2');
    t.servers[1]!.activeConnections = 5;
    assert.equal(new Set(Array.from({ length: 3 }, () => b.pick({})!.id)).size, 3);
  });
});

describe('source-ip (Maglev + bounded load)', () => {
  test('table shares follow weights 1:2:3 within 2 %', () => {
    const table = new MaglevTable(['a', 'b', 'c'], [1, 2, 3]);
    const counts = [0, 0, 0];
    for (const i of table.slots) counts[i]!++;
    within(counts[0]!, table.size / 6, 0.02, 'a');
    within(counts[1]!, table.size / 3, 0.02, 'b');
    within(counts[2]!, table.size / 2, 0.02, 'c');
    assert.ok(!table.slots.includes(-1));
  });

  test('removing one server of ten moves at most 15 % of clients (ideal 10 %)', (t) => {
    const tb = testBackend(equalServers(10), { algorithm: 'source-ip' });
    const b = new SourceIpBalancer(tb.servers, tb.now);
    const clients = clientAddresses(20_000);
    const before = clients.map((c) => b.pick({ clientAddress: c })!);
    tb.servers[3]!.draining = true;
    b.invalidate();
    const after = clients.map((c) => b.pick({ clientAddress: c })!);
    let moved = 0;
    let movedNeedlessly = 0;
    for (let i = 0; i < clients.length; i++) {
      if (before[i] !== after[i]) {
        moved++;
        if (before[i]!.id !== 's4') movedNeedlessly++;
      }
    }
    const share = moved / clients.length;
    t.diagnostic(`removing 1 of 10 servers moved ${(share * 100).toFixed(2)} % of clients (ideal 10 %); `);
    t.diagnostic(
      `clients not on the removed server that moved: ${((movedNeedlessly / clients.length) * 100).toFixed(2)} %`,
    );
    assert.ok(share <= 0.15, `moved ${share}`);
    assert.ok(share >= 0.08, `the removed server held about a tenth (${share})`);
    // and adding it back
    tb.servers[3]!.draining = false;
    b.invalidate();
    const back = clients.map((c) => b.pick({ clientAddress: c })!);
    let returned = 0;
    for (let i = 0; i < clients.length; i++) if (back[i] === before[i]) returned++;
    assert.equal(returned, clients.length, 'the same set gives the same table');
  });

  test('same client, same server; IPv4-mapped IPv6 hashes like IPv4; hashKey overrides the address', () => {
    const tb = testBackend(equalServers(5), { algorithm: 'source-ip' });
    const b = new SourceIpBalancer(tb.servers, tb.now);
    assert.equal(hashClientKey('::ffff:192.0.2.9'), hashString('192.0.2.9'));
    for (const c of clientAddresses(50)) {
      const s = b.pick({ clientAddress: c });
      assert.equal(b.pick({ clientAddress: c }), s);
      assert.equal(b.pick({ clientAddress: `::ffff:${c}` }), s);
      assert.equal(b.pick({ clientAddress: '198.51.100.1', hashKey: c }), s);
    }
  });

  test('bounded load: one hot client cannot push a server above 1.25 × its fair share', () => {
    const tb = testBackend([{ weight: 1 }, { weight: 1 }, { weight: 2 }, { weight: 4 }], { algorithm: 'source-ip' });
    const b = new SourceIpBalancer(tb.servers, tb.now);
    let total = 0;
    for (let i = 0; i < 400; i++) {
      const s = b.pick({ clientAddress: '203.0.113.50' })!;
      s.activeConnections++;
      total++;
      for (const x of tb.servers) {
        const bound = Math.ceil((1.25 * total * x.spec.weight) / 8);
        assert.ok(x.activeConnections <= bound, `${x.id} holds ${x.activeConnections} > ${bound} at ${total}`);
      }
    }
    const counts = tb.servers.map((s) => s.activeConnections);
    // The hot client's own server is full to its bound; the overflow walked on to others.
    const home = b.maglev().lookup(hashClientKey('203.0.113.50'));
    const homeBound = Math.ceil((1.25 * total * b.el.list[home]!.spec.weight) / 8);
    assert.equal(b.el.list[home]!.activeConnections, homeBound, `home server full: ${counts}`);
    assert.ok(counts.filter((c) => c > 0).length >= 2, `overflow spread: ${counts}`);
  });

  test('without load, the hash decides alone (no walk)', () => {
    const tb = testBackend(equalServers(4), { algorithm: 'source-ip' });
    const b = new SourceIpBalancer(tb.servers, tb.now);
    b.pick({});
    const table = b.maglev();
    assert.equal(table.count, 4);
    for (const c of clientAddresses(100)) {
      assert.equal(b.pick({ clientAddress: c }), b.el.list[table.lookup(hashClientKey(c))]);
    }
  });

  test('table size: a prime ≥ 100 per server', () => {
    assert.equal(nextPrime(4096), 4099);
    assert.equal(maglevTableSize(3), 4099);
    assert.equal(maglevTableSize(492), 49201);
    assert.throws(() => new MaglevTable(['a'], [0]), /weight must be > 0/);
    assert.throws(() => new MaglevTable(['a'], []), /same length/);
  });
});

describe('random-two-choices', () => {
  test('never picks the busier of its two draws; with connections held the split follows weights', () => {
    const tb = testBackend([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
    const b = new RandomTwoChoicesBalancer(tb.servers, tb.now, undefined, seededRandom(42));
    for (let i = 0; i < 600; i++) b.pick({})!.activeConnections++;
    within(tb.servers[0]!.activeConnections, 100, 0.1, 's1');
    within(tb.servers[1]!.activeConnections, 200, 0.1, 's2');
    within(tb.servers[2]!.activeConnections, 300, 0.1, 's3');
  });

  test('the two draws are distinct: a loaded server loses every comparison', () => {
    const tb = testBackend(equalServers(2));
    tb.servers[0]!.activeConnections = 10;
    // random() = 0 always: a naive implementation would draw server 0 twice.
    const b = new RandomTwoChoicesBalancer(tb.servers, tb.now, undefined, () => 0);
    for (let i = 0; i < 5; i++) assert.equal(b.pick({})!.id, 's2');
    const edge = new RandomTwoChoicesBalancer(tb.servers, tb.now, undefined, () => 0.9999999999);
    assert.equal(edge.pick({})!.id, 's2');
  });

  test('exclude with a deterministic source never yields the excluded server', () => {
    const tb = testBackend(equalServers(4));
    const rnd = seededRandom(7);
    const b = new RandomTwoChoicesBalancer(tb.servers, tb.now, undefined, rnd);
    for (let i = 0; i < 500; i++) assert.notEqual(b.pick({ exclude: tb.servers[2] }), tb.servers[2]);
  });
});

describe('least-response-time', () => {
  test('recordTtfb: first sample seeds, then EWMA with alpha 0.2; bad samples change nothing', () => {
    const tb = testBackend(equalServers(1));
    const s = tb.servers[0]!;
    assert.equal(recordTtfb(s, 100), true);
    assert.equal(s.ewmaTtfbMs, 100);
    recordTtfb(s, 200);
    assert.equal(s.ewmaTtfbMs, 120);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.equal(recordTtfb(s, bad), false);
      assert.equal(s.ewmaTtfbMs, 120);
    }
    const z = testBackend(equalServers(1)).servers[0]!;
    recordTtfb(z, 0);
    assert.ok(z.ewmaTtfbMs > 0, 'a measured 0 ms is not "no data"');
  });

  test('faster servers get more; load on a fast server shifts traffic; unmeasured servers get sampled', () => {
    const tb = testBackend(equalServers(3));
    const [fast, slow, fresh] = tb.servers as [ServerRuntime, ServerRuntime, ServerRuntime];
    recordTtfb(fast, 10);
    recordTtfb(slow, 40);
    const b = new LeastResponseTimeBalancer(tb.servers, tb.now);
    // fresh (unmeasured) scores 0.9 × 10 = 9: preferred while idle.
    assert.equal(b.pick({}), fresh);
    fresh.activeConnections = 1; // 18 now
    assert.equal(b.pick({}), fast);
    fast.activeConnections = 4; // 50; slow 40
    fresh.activeConnections = 5; // 54
    assert.equal(b.pick({}), slow);
    // with connections held, the fast server ends with about 4 × the slow one's share
    for (const s of tb.servers) s.activeConnections = 0;
    recordTtfb(fresh, 40);
    for (let i = 0; i < 500; i++) b.pick({})!.activeConnections++;
    const ratio = fast.activeConnections / slow.activeConnections;
    assert.ok(ratio > 3.5 && ratio < 4.5, `fast/slow ${ratio}`);
  });
});

describe('registry', () => {
  test('builds every algorithm; an unknown name is refused naming the field', () => {
    const tb = testBackend(equalServers(2), { algorithm: 'least-connections' });
    assert.ok(createBalancer(tb.backend, tb.servers, tb.now) instanceof LeastConnectionsBalancer);
    const bad = { ...tb.backend, algorithm: 'fastest' } as unknown as BackendSpec;
    assert.throws(
      () => createBalancer(bad, tb.servers, tb.now),
      (e) => e instanceof FulcrumError && e.field === 'algorithm' && /not one of/.test(e.message),
    );
    const proto = { ...tb.backend, algorithm: 'toString' } as unknown as BackendSpec;
    assert.throws(() => createBalancer(proto, tb.servers, tb.now), FulcrumError);
  });
});

describe('weighted round robin: the precomputed smooth cycle (issue 13 point 1)', () => {
  test('equals the credits algorithm pick for pick, and equal weights are the servers in order', () => {
    const credits = (w: number[], n: number) => {
      const cur = w.map(() => 0);
      const total = w.reduce((a, b) => a + b, 0);
      const out: number[] = [];
      for (let k = 0; k < n; k++) {
        let best = 0;
        for (let i = 0; i < w.length; i++) {
          cur[i]! += w[i]!;
          if (cur[i]! > cur[best]!) best = i;
        }
        cur[best]! -= total;
        out.push(best);
      }
      return out;
    };
    for (const w of [
      [1, 2, 3],
      [5, 1, 1],
      [4, 6],
      [3, 3, 3, 3],
      [7, 11, 13, 2],
    ]) {
      const seq = smoothSequence(w, w.length)!;
      assert.deepEqual([...seq], credits(w, seq.length), `weights ${w}`);
    }
    assert.deepEqual([...smoothSequence([2, 2, 2], 3)!], [0, 1, 2]);
    assert.equal(smoothSequence([1, 2.5], 2), null, 'a slow-start ramp (fractional weights) keeps per-worker credits');
    assert.equal(smoothSequence(Array(10_000).fill(1), 10_000)!.length, 10_000, 'equal weights at any size');
  });
});
