import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Algorithm } from '../config/model.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import type { BaseBalancer } from './base.ts';
import { balancerClasses, createBalancer } from './registry.ts';
import { clientAddresses, equalServers, type TestServer, tally, testBackend } from './test-helpers.ts';
import type { Balancer, PickContext } from './types.ts';

// One suite, every algorithm (DESIGN.md: "Every algorithm passes one shared conformance test").
// Each pick uses a different client address so hashing algorithms spread too.
const clients = clientAddresses(2000).map((clientAddress): PickContext => ({ clientAddress }));

function picks(b: Balancer, n: number, extra: Partial<PickContext> = {}): (ServerRuntime | undefined)[] {
  const out: (ServerRuntime | undefined)[] = [];
  for (let i = 0; i < n; i++) out.push(b.pick({ ...clients[i % clients.length]!, ...extra }));
  return out;
}

function ids(list: readonly (ServerRuntime | undefined)[]): Set<string> {
  return new Set(list.map((s) => s?.id ?? 'none'));
}

/** Every algorithm, and those with a load index once more with it used from one server on. */
const variants: { name: string; algorithm: Algorithm; indexed: boolean }[] = [
  ...(Object.keys(balancerClasses) as Algorithm[]).map((algorithm) => ({ name: algorithm, algorithm, indexed: false })),
  { name: 'least-connections with its load index', algorithm: 'least-connections', indexed: true },
  { name: 'source-ip with its load index', algorithm: 'source-ip', indexed: true },
  { name: 'least-response-time with its load index', algorithm: 'least-response-time', indexed: true },
];

for (const { name, algorithm, indexed } of variants) {
  const setup = (alg: Algorithm, servers: TestServer[], healthCheck = false) => {
    const t = testBackend(servers, { algorithm: alg, healthCheck });
    const balancer = createBalancer(t.backend, t.servers, t.now);
    if (indexed) (balancer as BaseBalancer).indexFrom = 0;
    return { ...t, balancer };
  };
  describe(`balancer conformance: ${name}`, () => {
    test('never picks a disabled, draining, ejected, unhealthy or weight-0 server; all available ones get traffic', () => {
      // s1 ok, s2 disabled, s3 draining, s4 ejected, s5 unhealthy, s6 weight 0, s7 ok, s8 passive ok, s9 unknown
      const { servers, balancer, clock } = setup(
        algorithm,
        [{}, { enabled: false }, {}, {}, {}, { weight: 0 }, {}, { passive: true }, {}],
        true,
      );
      for (const s of servers) s.health = 'healthy';
      servers[2]!.draining = true;
      servers[3]!.ejectedUntil = clock.now() + 60_000;
      servers[4]!.health = 'unhealthy';
      servers[8]!.health = 'unknown';
      const got = tally(picks(balancer, 400));
      assert.deepEqual([...got.keys()].sort(), ['s1', 's7']);
      assert.ok(got.get('s1')! >= 100 && got.get('s7')! >= 100, `both available servers get traffic: ${[...got]}`);
    });

    test('every available server gets traffic', () => {
      const { balancer } = setup(algorithm, equalServers(5));
      const got = tally(picks(balancer, 1000));
      assert.equal(got.size, 5);
      for (const [id, n] of got) assert.ok(n >= 100, `${id} got ${n} of 1000 picks`);
    });

    test('passive servers only when no active server is available, and back to actives after (S5)', () => {
      const { servers, balancer } = setup(algorithm, [{}, {}, { passive: true }, { passive: true }], true);
      for (const s of servers) s.health = 'healthy';
      assert.deepEqual([...ids(picks(balancer, 200))].sort(), ['s1', 's2']);
      servers[0]!.health = 'unhealthy';
      servers[1]!.health = 'unhealthy';
      balancer.invalidate();
      assert.deepEqual([...ids(picks(balancer, 200))].sort(), ['s3', 's4']);
      servers[1]!.health = 'healthy';
      balancer.invalidate();
      assert.deepEqual([...ids(picks(balancer, 200))], ['s2']);
    });

    test('exclude is respected when an alternative exists, ignored when none does', () => {
      const { servers, balancer } = setup(algorithm, equalServers(3));
      const got = tally(picks(balancer, 300, { exclude: servers[1] }));
      assert.deepEqual([...got.keys()].sort(), ['s1', 's3']);
      const single = setup(algorithm, [{}, { enabled: false }]);
      assert.deepEqual(ids(picks(single.balancer, 20, { exclude: single.servers[0] })), new Set(['s1']));
    });

    test('undefined when nothing is available; empty backend', () => {
      const { servers, balancer } = setup(algorithm, [{ enabled: false }, { weight: 0 }, { passive: true }], true);
      servers[2]!.health = 'unhealthy';
      assert.deepEqual(ids(picks(balancer, 10)), new Set(['none']));
      const empty = setup(algorithm, []);
      assert.equal(empty.balancer.pick({ clientAddress: '192.0.2.1' }), undefined);
      assert.equal(empty.balancer.pickHashed?.('192.0.2.1'), undefined);
    });

    test('invalidate picks up changes; an unannounced loss of availability is caught at pick time', () => {
      const { servers, balancer } = setup(algorithm, equalServers(3));
      assert.equal(ids(picks(balancer, 300)).size, 3);
      servers[1]!.draining = true; // no invalidate: the pick-time check must still avoid it
      assert.ok(!ids(picks(balancer, 300)).has('s2'));
      servers[1]!.draining = false;
      balancer.invalidate();
      assert.ok(ids(picks(balancer, 300)).has('s2'));
    });

    test('an ejection ends by time without invalidate (H7)', () => {
      const { servers, balancer, clock } = setup(algorithm, equalServers(3));
      servers[0]!.ejectedUntil = clock.now() + 5_000;
      balancer.invalidate();
      assert.ok(!ids(picks(balancer, 300)).has('s1'));
      clock.advance(5_001);
      assert.ok(ids(picks(balancer, 300)).has('s1'));
    });

    test('pickHashed is consistent, stays in the tier and honours exclude', () => {
      const { servers, balancer } = setup(algorithm, [...equalServers(4), { passive: true }]);
      const hashed = balancer.pickHashed!;
      const first = clients.slice(0, 200).map((c) => hashed.call(balancer, c.clientAddress!));
      const again = clients.slice(0, 200).map((c) => hashed.call(balancer, c.clientAddress!));
      assert.deepEqual(
        first.map((s) => s?.id),
        again.map((s) => s?.id),
      );
      assert.equal(ids(first).size, 4);
      assert.ok(!ids(first).has('s5'));
      for (const c of clients.slice(0, 100)) {
        const s = hashed.call(balancer, c.clientAddress!)!;
        assert.notEqual(hashed.call(balancer, c.clientAddress!, s), s);
      }
      for (const s of servers.slice(0, 4)) s.draining = true;
      balancer.invalidate();
      assert.equal(hashed.call(balancer, '192.0.2.7')?.id, 's5');
    });
  });
}
