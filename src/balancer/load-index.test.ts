import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConfigState } from '../config/model.ts';
import { compile } from '../config/snapshot.ts';
import { FakeClock } from '../core/clock.ts';
import { Runtime } from '../runtime/runtime.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { LOAD_INDEX_FROM } from './base.ts';
import { hashClientKey } from './hash.ts';
import { LeastConnectionsBalancer } from './least-connections.ts';
import { LeastResponseTimeBalancer, recordTtfb, UNMEASURED_FACTOR } from './least-response-time.ts';
import { LOAD_INDEX_RESYNC_MS } from './load-index.ts';
import { createBalancer } from './registry.ts';
import { SourceIpBalancer } from './source-ip.ts';
import { equalServers, seededRandom, type TestServer, testBackend, testConfig } from './test-helpers.ts';

// Issue 13 point 5: least-connections over many servers keeps them in a heap (load-index.ts)
// instead of scanning them on each pick. These tests hold it to the scan's answer.

/** The least `(active + 1) / weight` over `servers` (what the scan picks, ties aside). */
function leastLoad(servers: readonly ServerRuntime[]): number {
  let best = Number.POSITIVE_INFINITY;
  for (const s of servers) best = Math.min(best, (s.activeConnections + 1) / s.spec.weight);
  return best;
}

const load = (s: ServerRuntime) => (s.activeConnections + 1) / s.spec.weight;

/** A connection opened or closed on this thread, told as the runtime tells it. */
function open(s: ServerRuntime, delta = 1): void {
  s.active.add(delta);
  s.loadWatcher?.loadChanged(s);
}

function indexed(servers: readonly TestServer[]) {
  const t = testBackend(servers, { algorithm: 'least-connections' });
  const b = new LeastConnectionsBalancer(t.servers, t.now);
  return { ...t, b };
}

describe('least-connections load index (issue 13 point 5)', () => {
  test('is used from LOAD_INDEX_FROM eligible servers on; fewer are scanned', () => {
    const big = indexed(equalServers(LOAD_INDEX_FROM));
    big.b.pick({});
    assert.ok(
      big.servers.every((s) => s.loadWatcher !== undefined),
      'every server is indexed',
    );
    const small = indexed(equalServers(LOAD_INDEX_FROM - 1));
    small.b.pick({});
    assert.ok(
      small.servers.every((s) => s.loadWatcher === undefined),
      'a small backend is scanned',
    );
  });

  test('every pick has the least load per weight, over 20,000 random opens and closes', () => {
    const rnd = seededRandom(13);
    const { b } = indexed(Array.from({ length: 200 }, (_, i) => ({ weight: 1 + (i % 4) })));
    b.peek({});
    assert.equal(b.el.count, 200);
    const held: ServerRuntime[] = [];
    for (let k = 0; k < 20_000; k++) {
      if (held.length > 0 && rnd() < 0.45) {
        const j = Math.floor(rnd() * held.length);
        const s = held[j]!;
        held[j] = held[held.length - 1]!;
        held.pop();
        open(s, -1);
        continue;
      }
      const want = leastLoad(b.el.list);
      const s = b.pick({})!;
      assert.equal(load(s), want, `pick ${k}: ${s.id} has ${s.activeConnections} at weight ${s.spec.weight}`);
      open(s);
      held.push(s);
    }
    assert.ok(held.length > 1000, `a real load was held: ${held.length}`);
  });

  test('with connections held, picks split by weight 1:2:3 as the scan does', () => {
    const { servers, b } = indexed(Array.from({ length: 90 }, (_, i) => ({ weight: 1 + (i % 3) })));
    for (let i = 0; i < 5400; i++) open(b.pick({})!);
    for (const s of servers) assert.equal(s.activeConnections, 30 * s.spec.weight, s.id);
  });

  test('equal servers take turns in configuration order; a peek changes nothing', () => {
    const { servers, b } = indexed(equalServers(100));
    assert.equal(b.peek({})!.id, 's1');
    assert.equal(b.peek({})!.id, 's1');
    const order = Array.from({ length: 200 }, () => b.pick({})!.id);
    const expected = servers.map((s) => s.id);
    assert.deepEqual(order, [...expected, ...expected]);
  });

  test("another worker's changes: a raised count at once, a lowered one within LOAD_INDEX_RESYNC_MS", () => {
    const { servers, b, clock } = indexed(equalServers(100));
    b.peek({});
    for (const s of servers) open(s, 3);
    // Another thread writes the shared cell itself: no loadChanged here.
    servers[10]!.active.add(-3);
    servers[20]!.active.add(-2);
    b.pick({});
    clock.advance(LOAD_INDEX_RESYNC_MS);
    assert.equal(b.pick({})!.id, 's11', 'the server another worker emptied is seen after a resync');
    servers[10]!.active.add(5);
    assert.equal(b.pick({})!.id, 's21', 'a count raised elsewhere is never picked as the least');
  });

  test('membership and weight changes rebuild it; a disabled server is let go', () => {
    const { servers, b } = indexed(equalServers(80));
    b.pick({});
    servers[5]!.draining = true;
    b.invalidate();
    for (let i = 0; i < 200; i++) assert.notEqual(b.pick({})!.id, 's6');
    assert.equal(servers[5]!.loadWatcher, undefined, 'a server no longer eligible is not watched');
    b.dispose();
    assert.ok(
      servers.every((s) => s.loadWatcher === undefined),
      'dispose lets every server go',
    );
  });

  test("a retry that avoids a server scans and honours it; explain's candidates agree", () => {
    const { servers, b } = indexed(equalServers(70));
    for (const s of servers) open(s, 2);
    open(servers[3]!, -2);
    assert.equal(b.pick({})!.id, 's4');
    assert.notEqual(b.pick({ exclude: servers[3] })!.id, 's4');
    assert.deepEqual(
      b.candidates({}).map((c) => c.server.id),
      ['s4'],
    );
  });

  test("the runtime tells the index of every connection it opens and closes, and disposes a replaced balancer's", () => {
    const clock = new FakeClock();
    const runtime = new Runtime(createBalancer, { clock });
    let config: ConfigState = testConfig(equalServers(100), { algorithm: 'least-connections' });
    runtime.reconcile(compile(config));
    const brt = runtime.backends.get('b1')!;
    const conns: [ServerRuntime, { destroy(): void }][] = [];
    for (let i = 0; i < 250; i++) {
      const s = brt.balancer.pick({})!;
      const c = { destroy() {} };
      runtime.connectionOpened(s, c);
      conns.push([s, c]);
    }
    const rts = [...brt.servers];
    assert.deepEqual(new Set(rts.map((s) => s.activeConnections)), new Set([2, 3]));
    // Close every connection of s1 … s10: they are the least loaded at once, with no resync.
    const first = new Set(rts.slice(0, 10));
    for (const [s, c] of conns) if (first.has(s)) runtime.connectionClosed(s, c);
    const next = new Set(Array.from({ length: 10 }, () => brt.balancer.pick({})!.id));
    assert.deepEqual(next, new Set(rts.slice(0, 10).map((s) => s.id)));

    config = structuredClone(config);
    config.version++;
    config.backends[0]!.algorithm = 'round-robin';
    runtime.reconcile(compile(config));
    assert.ok(
      rts.every((s) => s.loadWatcher === undefined),
      'the replaced least-connections balancer let its servers go',
    );
  });

  test('source-ip with the index answers exactly as its scan, connections moving, a server held back by its bound', () => {
    const servers = Array.from({ length: 150 }, (_, i) => ({ weight: 1 + (i % 3) }));
    const scan = testBackend(servers, { algorithm: 'source-ip' });
    const fast = testBackend(servers, { algorithm: 'source-ip' });
    const a = new SourceIpBalancer(scan.servers, scan.now);
    const b = new SourceIpBalancer(fast.servers, fast.now);
    a.indexFrom = Number.POSITIVE_INFINITY;
    const rnd = seededRandom(7);
    const held: number[] = [];
    let bounded = 0;
    // A few heavy clients (a NAT) push their servers to the bound, so the walk and the
    // least-loaded fallback are exercised too.
    const client = (k: number) => (rnd() < 0.5 ? `10.9.0.${k % 4}` : `10.8.${(k >> 8) & 255}.${k & 255}`);
    for (let k = 0; k < 6000; k++) {
      if (held.length > 0 && rnd() < 0.4) {
        const j = Math.floor(rnd() * held.length);
        const i = held[j]!;
        held[j] = held[held.length - 1]!;
        held.pop();
        open(scan.servers[i]!, -1);
        open(fast.servers[i]!, -1);
        continue;
      }
      const ctx = { clientAddress: client(k) };
      const x = a.pick(ctx)!;
      const y = b.pick(ctx)!;
      assert.equal(y.id, x.id, `pick ${k} for ${ctx.clientAddress}`);
      const i = scan.servers.indexOf(x);
      if (b.el.list[b.maglev().lookup(hashClientKey(ctx.clientAddress))] !== y) bounded++;
      open(x);
      open(fast.servers[i]!);
      held.push(i);
    }
    assert.ok(
      fast.servers.some((s) => s.loadWatcher !== undefined),
      'the index was used',
    );
    assert.ok(bounded > 100, `the bound sent ${bounded} picks past their first choice`);
  });

  test('least-response-time: every pick has the least score, over 20,000 opens, closes and latencies', () => {
    const rnd = seededRandom(21);
    const t = testBackend(
      Array.from({ length: 200 }, (_, i) => ({ weight: 1 + (i % 3) })),
      { algorithm: 'least-response-time' },
    );
    const b = new LeastResponseTimeBalancer(t.servers, t.now);
    b.peek({});
    const list = b.el.list.slice(0, b.el.count);
    assert.equal(list.length, 200);
    const score = (s: ServerRuntime, standIn: number) =>
      ((s.ewmaTtfbMs > 0 ? s.ewmaTtfbMs : standIn) * (1 + s.activeConnections)) / s.spec.weight;
    const held: ServerRuntime[] = [];
    let unmeasuredPicks = 0;
    for (let k = 0; k < 20_000; k++) {
      const r = rnd();
      if (held.length > 0 && r < 0.5) {
        const j = Math.floor(rnd() * held.length);
        const s = held[j]!;
        // A first byte came: a latency sample (a slow server now and then); the request
        // closes at once, or later while others are picked.
        recordTtfb(s, rnd() < 0.1 ? 50 + rnd() * 200 : 1 + rnd() * 20);
        if (r < 0.35) {
          held[j] = held[held.length - 1]!;
          held.pop();
          open(s, -1);
        }
        continue;
      }
      let fastest = 0;
      for (const s of list) if (s.ewmaTtfbMs > 0 && (fastest === 0 || s.ewmaTtfbMs < fastest)) fastest = s.ewmaTtfbMs;
      const standIn = fastest > 0 ? fastest * UNMEASURED_FACTOR : 1;
      let want = Number.POSITIVE_INFINITY;
      for (const s of list) want = Math.min(want, score(s, standIn));
      const s = b.pick({})!;
      assert.equal(score(s, standIn), want, `pick ${k}: ${s.id}`);
      if (s.ewmaTtfbMs === 0) unmeasuredPicks++;
      open(s);
      held.push(s);
    }
    assert.ok(
      list.every((s) => s.ewmaTtfbMs > 0),
      'every server got measured',
    );
    assert.ok(unmeasuredPicks >= 100, `unmeasured servers were picked: ${unmeasuredPicks}`);
    assert.ok(held.length > 1000, `a real load was held: ${held.length}`);
  });
});
