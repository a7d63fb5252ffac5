import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { config, flush, srv, world } from '../../test/helpers/runtime-world.ts';
import type { Backend, ConfigState } from '../config/model.ts';
import { silentLogger } from '../core/log.ts';
import { HealthService } from '../health/service.ts';
import type { HealthCheck, ProbeResult, ProbeTarget } from '../health/types.ts';

// Slow start (SS1–SS6) on the real Runtime, weighted-round-robin balancer and health
// scheduler, with a FakeClock: minutes of ramp in milliseconds of test.

const DURATION_S = 100;

function slowStartConfig(checks: boolean, over: Partial<Backend> = {}): ConfigState {
  const c = config(
    { algorithm: 'weighted-round-robin', slowStart: { enabled: true, durationSeconds: DURATION_S } },
    'http',
  );
  const b = c.backends[0]!;
  b.healthCheck = {
    ...b.healthCheck,
    enabled: checks,
    type: 'tcp',
    intervalSeconds: 1,
    timeoutSeconds: 1,
    rise: 2,
    fall: 1,
  };
  Object.assign(b, over);
  return c;
}

/** Share of `id` in `n` picks of backend b1's balancer, at the clock's current time. */
function share(w: ReturnType<typeof world>, id: string, n = 2000): number {
  const b = w.runtime.backends.get('b1')!.balancer;
  let hits = 0;
  for (let i = 0; i < n; i++) if (b.pick({})?.id === id) hits++;
  return hits / n;
}

/** Expected share of a server with factor f among `others` full-weight peers (all weight 1). */
const expected = (f: number, others: number) => f / (f + others);

describe('slow start with checks disabled (SS1, SS3, SS5, SS6)', () => {
  test('first servers of an empty backend take full weight at once (SS3)', () => {
    const w = world();
    const c = slowStartConfig(false);
    c.servers.push(srv('s1', 7001), srv('s2', 7002));
    w.apply(c);
    for (const id of ['s1', 's2']) {
      const rt = w.runtime.servers.get(id)!;
      assert.equal(rt.slowStartFactor(w.clock.now()), 1);
      assert.equal(rt.state(w.clock.now()), 'active');
    }
    assert.ok(Math.abs(share(w, 's1') - 0.5) < 0.01);
    // emptied, then refilled: the first server of the (again) empty backend is full at once
    c.servers = [];
    w.apply(c);
    w.clock.advance(5000);
    c.servers.push(srv('s9', 7009));
    w.apply(c);
    assert.equal(w.runtime.servers.get('s9')!.slowStartFactor(w.clock.now()), 1);
  });

  test('a server added to a backend with servers ramps linearly 10 % → 100 % from the moment it is added (SS1, SS5)', () => {
    const w = world();
    const c = slowStartConfig(false);
    c.servers.push(srv('s1', 7001), srv('s2', 7002));
    w.apply(c);
    w.clock.advance(10_000);
    c.servers.push(srv('s3', 7003));
    w.apply(c);
    const rt = w.runtime.servers.get('s3')!;
    const t0 = w.clock.now();
    assert.equal(rt.slowStartFrom, t0, 'SS5: the ramp starts when the server is added');
    for (const [atS, factor] of [
      [0, 0.1],
      [25, 0.325],
      [50, 0.55],
      [75, 0.775],
    ] as const) {
      w.clock.advance(t0 + atS * 1000 - w.clock.now());
      assert.ok(Math.abs(rt.slowStartFactor(w.clock.now()) - factor) < 1e-9, `factor at ${atS} s`);
      assert.equal(rt.state(w.clock.now()), 'slow-start');
      assert.equal(rt.effectiveWeight(w.clock.now()), factor);
      const got = share(w, 's3');
      assert.ok(Math.abs(got - expected(factor, 2)) < 0.01, `share at ${atS} s: ${got}, want ${expected(factor, 2)}`);
    }
    w.clock.advance(t0 + DURATION_S * 1000 - w.clock.now());
    assert.equal(rt.slowStartFactor(w.clock.now()), 1);
    assert.equal(rt.state(w.clock.now()), 'active');
    assert.equal(rt.slowStartDone, true);
    assert.ok(Math.abs(share(w, 's3') - 1 / 3) < 0.01);
  });

  test('after its duration a server never ramps again: disable/enable, new address, weight, config changes (SS6)', () => {
    const w = world();
    const c = slowStartConfig(false);
    c.servers.push(srv('s1', 7001));
    w.apply(c);
    c.servers.push(srv('s2', 7002));
    w.apply(c);
    w.clock.advance(DURATION_S * 1000 + 1);
    const rt = w.runtime.servers.get('s2')!;
    assert.equal(rt.slowStartFactor(w.clock.now()), 1);
    const s2 = c.servers[1]!;
    for (const change of [
      () => (s2.enabled = false),
      () => (s2.enabled = true),
      () => (s2.port = 7012),
      () => (s2.weight = 3),
      () => (c.backends[0]!.slowStart = { enabled: true, durationSeconds: 600 }),
      () => (c.backends[0]!.healthCheck = { ...c.backends[0]!.healthCheck, enabled: true }),
      () => (c.backends[0]!.healthCheck = { ...c.backends[0]!.healthCheck, enabled: false }),
    ]) {
      change();
      w.apply(c);
      w.clock.advance(1000);
      assert.equal(rt.slowStartFactor(w.clock.now()), 1);
      assert.notEqual(rt.state(w.clock.now()), 'slow-start');
    }
    // drained for good once the disable above finished; still not ramping
    assert.equal(w.runtime.servers.get('s2'), rt, 'same runtime across every change');
  });

  test('turning slow start off ends a ramp; turning it on again does not restart or resume it (SS6)', () => {
    const w = world();
    const c = slowStartConfig(false);
    c.servers.push(srv('s1', 7001));
    w.apply(c);
    c.servers.push(srv('s2', 7002));
    w.apply(c);
    w.clock.advance(20_000);
    const rt = w.runtime.servers.get('s2')!;
    assert.ok(rt.slowStartFactor(w.clock.now()) < 0.5);
    c.backends[0]!.slowStart = { enabled: false, durationSeconds: DURATION_S };
    w.apply(c);
    assert.equal(rt.slowStartFactor(w.clock.now()), 1);
    c.backends[0]!.slowStart = { enabled: true, durationSeconds: DURATION_S };
    w.apply(c);
    assert.equal(rt.slowStartFactor(w.clock.now()), 1, 'no weight drop back into the old ramp');
    assert.equal(rt.state(w.clock.now()), 'active');
  });
});

/** A tcp check whose answer per port the test sets (true = ok). */
function scriptedCheck(): { check: HealthCheck; ok: Map<number, boolean> } {
  const ok = new Map<number, boolean>();
  const check: HealthCheck = {
    type: 'tcp',
    probe(target: ProbeTarget): Promise<ProbeResult> {
      const good = ok.get(target.port) ?? true;
      return Promise.resolve({ ok: good, reason: good ? 'ok' : 'failed-checks', message: 'scripted', latencyMs: 1 });
    },
  };
  return { check, ok };
}

describe('slow start with checks enabled (SS4)', () => {
  function setup() {
    const w = world();
    const s = scriptedCheck();
    const health = new HealthService({
      runtime: w.runtime,
      clock: w.clock,
      log: silentLogger,
      checks: { tcp: s.check },
    });
    const step = async (ms: number): Promise<void> => {
      for (let t = 0; t < ms; t += 100) {
        w.clock.advance(Math.min(100, ms - t));
        await flush();
      }
    };
    return { w, ok: s.ok, health, step };
  }

  test('the ramp starts at the first healthy declaration and runs to its end even when checks fail later', async () => {
    const { w, ok, health, step } = setup();
    const c = slowStartConfig(true);
    c.servers.push(srv('s1', 7001));
    health.sync(w.apply(c));
    await step(3000);
    assert.equal(w.runtime.servers.get('s1')!.health, 'healthy');
    assert.equal(w.runtime.servers.get('s1')!.slowStartFactor(w.clock.now()), 1, 'SS3');
    c.servers.push(srv('s2', 7002));
    health.sync(w.apply(c));
    const rt = w.runtime.servers.get('s2')!;
    assert.equal(rt.slowStartFrom, 0, 'no ramp before the first healthy declaration');
    assert.equal(share(w, 's2', 100), 0, 'H4: no traffic before healthy');
    await step(3000);
    assert.equal(rt.health, 'healthy');
    const from = rt.slowStartFrom;
    assert.ok(from > 0 && w.clock.now() - from <= 2000, 'ramp started at the healthy declaration');
    await step(20_000);
    ok.set(7002, false);
    await step(2000);
    assert.equal(rt.health, 'unhealthy');
    assert.equal(share(w, 's2', 100), 0, 'H6: unhealthy gets no traffic');
    await step(20_000);
    ok.set(7002, true);
    await step(3000);
    assert.equal(rt.health, 'healthy');
    assert.equal(rt.slowStartFrom, from, 'a later healthy declaration does not restart the ramp');
    const f = rt.slowStartFactor(w.clock.now());
    const want = 0.1 + (0.9 * (w.clock.now() - from)) / (DURATION_S * 1000);
    assert.ok(Math.abs(f - want) < 1e-9, `factor ${f} follows the original start (${want})`);
    assert.ok(Math.abs(share(w, 's2') - expected(f, 1)) < 0.02);
    await step(DURATION_S * 1000 - (w.clock.now() - from));
    assert.equal(rt.slowStartFactor(w.clock.now()), 1);
    // SS6: fail and recover after the end: no new ramp
    ok.set(7002, false);
    await step(2000);
    ok.set(7002, true);
    await step(3000);
    assert.equal(rt.health, 'healthy');
    assert.equal(rt.slowStartFactor(w.clock.now()), 1);
    assert.equal(rt.state(w.clock.now()), 'active');
    health.stop();
  });

  test('checks turned off while a new server waits for its first healthy declaration: the ramp starts then (SS5)', async () => {
    const { w, ok, health, step } = setup();
    const c = slowStartConfig(true);
    c.servers.push(srv('s1', 7001));
    health.sync(w.apply(c));
    await step(3000);
    ok.set(7002, false);
    c.servers.push(srv('s2', 7002));
    health.sync(w.apply(c));
    await step(5000);
    const rt = w.runtime.servers.get('s2')!;
    assert.equal(rt.health, 'unhealthy');
    c.backends[0]!.healthCheck = { ...c.backends[0]!.healthCheck, enabled: false };
    health.sync(w.apply(c));
    assert.equal(rt.slowStartFrom, w.clock.now());
    assert.ok(Math.abs(rt.slowStartFactor(w.clock.now()) - 0.1) < 1e-9);
    assert.ok(Math.abs(share(w, 's2') - expected(0.1, 1)) < 0.01);
    health.stop();
  });
});
