import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { config, srv, world } from '../../test/helpers/runtime-world.ts';
import type { PickContext } from './balancer.ts';
import type { QueueWaiter } from './queue.ts';
import type { ServerRuntime } from './server-runtime.ts';

// Issue 15 point 4 on the real Runtime and balancers with a FakeClock: per-server limits
// (eligibility), the backend's FIFO queue (served by the first freed slot, full, timeout) and
// slow start scaling maxConnections.

/** A waiter that records what happened to it and takes its slot like the data plane does. */
function waiter(w: ReturnType<typeof world>, log: string[], name: string): QueueWaiter & { rt?: ServerRuntime } {
  const me: QueueWaiter & { rt?: ServerRuntime } = {
    pick: {} as PickContext,
    queuedAt: 0,
    queueDeadline: 0,
    queued: false,
    serve(rt) {
      me.rt = rt;
      w.runtime.connectionOpened(rt, me as unknown as { destroy(): void });
      log.push(`${name}→${rt.id}`);
    },
    expire() {
      log.push(`${name} expired`);
    },
  };
  return me;
}

describe('maxConnections and the backend queue', () => {
  test('a server at its limit is not picked; none with room → no pick', () => {
    const w = world();
    const c = config({ algorithm: 'round-robin' });
    c.backends[0]!.healthCheck.enabled = false;
    c.servers.push(srv('s1', 7001, { maxConnections: 2 }), srv('s2', 7002, { maxConnections: 1 }));
    w.apply(c);
    const brt = w.runtime.backends.get('b1')!;
    for (let i = 0; i < 3; i++) w.runtime.connectionOpened(brt.balancer.pick({})!, { destroy() {} });
    const s1 = w.runtime.servers.get('s1')!;
    const s2 = w.runtime.servers.get('s2')!;
    assert.equal(s1.activeConnections, 2);
    assert.equal(s2.activeConnections, 1);
    assert.equal(brt.balancer.pick({}), undefined);
    assert.equal(brt.queueable(w.clock.now()), true, 'busy, not down: for the queue');
    w.runtime.connectionClosed(s2, [...s2.connections][0]!);
    assert.equal(brt.balancer.pick({})?.id, 's2');
  });

  test('FIFO: the first freed slot serves the oldest waiter; full and timeout refuse', () => {
    const w = world();
    const c = config({ queue: { maxLength: 2, timeoutSeconds: 5 } });
    c.backends[0]!.healthCheck.enabled = false;
    c.servers.push(srv('s1', 7001, { maxConnections: 1 }));
    w.apply(c);
    const brt = w.runtime.backends.get('b1')!;
    const s1 = w.runtime.servers.get('s1')!;
    const first = { destroy() {} };
    w.runtime.connectionOpened(brt.balancer.pick({})!, first);
    const log: string[] = [];
    const [a, b, d] = [waiter(w, log, 'a'), waiter(w, log, 'b'), waiter(w, log, 'd')];
    assert.equal(brt.queue.offer(a, 2, 5000), true);
    w.clock.advance(1000);
    assert.equal(brt.queue.offer(b, 2, 5000), true);
    assert.equal(brt.queue.offer(d, 2, 5000), false, 'queue-full past maxLength');
    assert.equal(brt.queue.full, 1);
    w.clock.advance(1000);
    w.runtime.connectionClosed(s1, first);
    assert.deepEqual(log, ['a→s1']);
    assert.equal(s1.activeConnections, 1, 'the slot went to the waiter, never above the limit');
    assert.equal(brt.queue.length, 1);
    assert.equal(brt.queue.waitMsTotal, 2000);
    w.clock.advance(3100); // b has waited 4.1 s
    assert.deepEqual(log, ['a→s1']);
    w.clock.advance(1000); // 5.1 s
    assert.deepEqual(log, ['a→s1', 'b expired']);
    assert.equal(brt.queue.timeouts, 1);
    assert.equal(brt.queue.length, 0);
    assert.equal(brt.queue.served, 1);
    assert.equal(brt.queue.peakLength, 2);
  });

  test('a waiter is served when a server gains room without a close (limit raised)', () => {
    const w = world();
    const c = config({ queue: { maxLength: 10, timeoutSeconds: 5 } });
    c.backends[0]!.healthCheck.enabled = false;
    c.servers.push(srv('s1', 7001, { maxConnections: 1 }));
    w.apply(c);
    const brt = w.runtime.backends.get('b1')!;
    w.runtime.connectionOpened(brt.balancer.pick({})!, { destroy() {} });
    const log: string[] = [];
    brt.queue.offer(waiter(w, log, 'a'), 10, 5000);
    c.servers[0]!.maxConnections = 2;
    w.apply(c);
    w.clock.advance(300);
    assert.deepEqual(log, ['a→s1']);
  });

  test('slow start scales maxConnections: ceil(limit × factor), at least 1', () => {
    const w = world();
    const c = config({ algorithm: 'weighted-round-robin', slowStart: { enabled: true, durationSeconds: 100 } }, 'http');
    c.backends[0]!.healthCheck.enabled = false;
    c.servers.push(srv('s1', 7001, { maxConnections: 10 }));
    w.apply(c);
    c.servers.push(srv('s2', 7002, { maxConnections: 10 }));
    w.apply(c); // s2 ramps from now (SS3, SS5)
    const s2 = w.runtime.servers.get('s2')!;
    const t0 = w.clock.now();
    const limits: number[] = [];
    // (reading the factor at the ramp's end would end the ramp: SS6, never again)
    for (const s of [0, 1, 25, 50, 75, 99]) limits.push(s2.connectionLimit(t0 + s * 1000));
    // factor 0.1 + 0.9 × t/100: 0.1, 0.109, 0.325, 0.55, 0.775, 0.991
    assert.deepEqual(limits, [1, 2, 4, 6, 8, 10]);
    const conn = { destroy() {} };
    w.runtime.connectionOpened(s2, conn);
    assert.equal(s2.atLimit(t0), true, 'one request fills a server at 10 % of its ramp');
    const b = w.runtime.backends.get('b1')!.balancer;
    for (let i = 0; i < 50; i++) assert.equal(b.pick({})?.id, 's1');
    assert.equal(w.runtime.servers.get('s1')!.connectionLimit(t0), 10, 'no ramp: the configured limit');
    w.clock.advance(50_000);
    assert.equal(s2.atLimit(w.clock.now()), false, 'half way: 6 allowed');
    assert.equal(s2.connectionLimit(t0 + 100_000), 10);
  });
});
