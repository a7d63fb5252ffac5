import assert from 'node:assert/strict';
import { test } from 'node:test';
import { config, flush, srv, world } from '../../test/helpers/runtime-world.ts';
import { silentLogger } from '../core/log.ts';
import { HealthService } from './service.ts';
import type { HealthCheck, ProbeResult, ProbeTarget, ReasonCode } from './types.ts';

/** A scripted check: the answer per port is set by the test; every probe start is recorded. */
function scripted(): {
  check: HealthCheck;
  answer: Map<number, ReasonCode | 'hang'>;
  calls: { port: number; at: number }[];
  clockNow: { fn: () => number };
} {
  const answer = new Map<number, ReasonCode | 'hang'>();
  const calls: { port: number; at: number }[] = [];
  const clockNow = { fn: () => 0 };
  const check: HealthCheck = {
    type: 'tcp',
    probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
      calls.push({ port: target.port, at: clockNow.fn() });
      const a = answer.get(target.port) ?? 'ok';
      if (a === 'hang') {
        return new Promise((resolve) =>
          signal.addEventListener('abort', () =>
            resolve({ ok: false, reason: 'timeout', message: 'hung', latencyMs: target.timeoutMs }),
          ),
        );
      }
      return Promise.resolve({ ok: a === 'ok', reason: a, message: `scripted ${a}`, latencyMs: 1 });
    },
  };
  return { check, answer, calls, clockNow };
}

function setup(random: () => number = () => 0.5) {
  const w = world();
  const s = scripted();
  s.clockNow.fn = () => w.clock.now();
  const health = new HealthService({
    runtime: w.runtime,
    clock: w.clock,
    log: silentLogger,
    checks: { tcp: s.check },
    random,
  });
  /** Advances fake time in 100 ms steps, letting probe results land after each step. */
  const step = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 100) {
      w.clock.advance(Math.min(100, ms - t));
      await flush();
    }
  };
  return { ...w, ...s, health, step };
}

test('rise: a new server is unknown, gets no traffic, and turns healthy after `rise` successes (H4, H6)', async () => {
  const t = setup();
  const c = config({ healthCheck: { ...config().backends[0]!.healthCheck, intervalSeconds: 1, rise: 3, fall: 2 } });
  c.servers.push(srv('s1', 7001));
  t.health.sync(t.apply(c));
  const rt = t.runtime.servers.get('s1')!;
  const balancer = () => t.runtime.backends.get('b1')!.balancer;
  assert.equal(rt.health, 'unknown');
  assert.equal(rt.healthReason, 'initial-check');
  assert.equal(balancer().pick({}), undefined, 'no traffic before the first healthy declaration');
  await t.step(500); // first probe at 0.5 × interval
  assert.equal(t.calls.length, 1);
  assert.equal(rt.lastCheck?.ok, true);
  assert.equal(rt.health, 'unknown');
  await t.step(1000);
  assert.equal(rt.health, 'unknown', 'two successes are not enough with rise 3');
  await t.step(1000);
  assert.equal(t.calls.length, 3);
  assert.equal(rt.health, 'healthy');
  assert.equal(rt.healthReason, null);
  assert.equal(balancer().pick({}), rt);
  const ev = t.events.filter((e) => e.kind === 'health');
  assert.equal(ev.length, 1);
  assert.deepEqual(
    {
      from: ev[0]!.from,
      to: ev[0]!.to,
      serverId: ev[0]!.serverId,
      backendId: ev[0]!.backendId,
      lb: ev[0]!.loadBalancerId,
    },
    { from: 'unknown', to: 'healthy', serverId: 's1', backendId: 'b1', lb: 'lb1' },
  );
  t.health.stop();
});

test('fall: a healthy server turns unhealthy only after `fall` consecutive failures, with the probe reason', async () => {
  const t = setup();
  const c = config({ healthCheck: { ...config().backends[0]!.healthCheck, intervalSeconds: 1, rise: 1, fall: 3 } });
  c.servers.push(srv('s1', 7001));
  t.health.sync(t.apply(c));
  const rt = t.runtime.servers.get('s1')!;
  await t.step(600);
  assert.equal(rt.health, 'healthy');
  t.answer.set(7001, 'connection-refused');
  await t.step(1000);
  await t.step(1000);
  assert.equal(rt.health, 'healthy', 'two failures with fall 3');
  assert.equal(rt.lastCheck?.reason, 'connection-refused');
  assert.equal(rt.lastCheck?.ok, false);
  t.answer.set(7001, 'ok'); // a success in between resets the failure count
  await t.step(1000);
  t.answer.set(7001, 'timeout');
  await t.step(2000);
  assert.equal(rt.health, 'healthy');
  await t.step(1000);
  assert.equal(rt.health, 'unhealthy');
  assert.equal(rt.healthReason, 'timeout');
  assert.equal(t.runtime.backends.get('b1')!.balancer.pick({}), undefined, 'H6: unhealthy gets no traffic');
  t.answer.set(7001, 'connection-refused');
  await t.step(1000);
  assert.equal(rt.healthReason, 'connection-refused', 'reason follows the latest failure');
  const ev = t.events.filter((e) => e.kind === 'health').map((e) => `${e.from}>${e.to}:${e.reason}`);
  assert.deepEqual(ev, ['unknown>healthy:ok', 'healthy>unhealthy:timeout']);
  t.answer.set(7001, 'ok');
  await t.step(1000);
  assert.equal(rt.health, 'healthy', 'rise 1 brings it back');
  t.health.stop();
});

test('an unknown server that fails is unhealthy at once, with the reason', async () => {
  const t = setup();
  const c = config({ healthCheck: { ...config().backends[0]!.healthCheck, intervalSeconds: 2 } });
  c.servers.push(srv('s1', 7002));
  t.answer.set(7002, 'connection-refused');
  t.health.sync(t.apply(c));
  await t.step(1000);
  const rt = t.runtime.servers.get('s1')!;
  assert.equal(rt.health, 'unhealthy');
  assert.equal(rt.healthReason, 'connection-refused');
  t.health.stop();
});

test('a probe that hangs is aborted after timeoutSeconds and counts as a timeout', async () => {
  const t = setup();
  const c = config({
    healthCheck: { ...config().backends[0]!.healthCheck, intervalSeconds: 5, timeoutSeconds: 2, fall: 1, rise: 1 },
  });
  c.servers.push(srv('s1', 7003));
  t.answer.set(7003, 'hang');
  t.health.sync(t.apply(c));
  const rt = t.runtime.servers.get('s1')!;
  await t.step(2500 + 1900);
  assert.equal(rt.lastCheck, null, 'still waiting before the timeout');
  await t.step(200);
  const last = t.runtime.servers.get('s1')!.lastCheck;
  assert.equal(last?.reason, 'timeout');
  assert.equal(rt.health, 'unhealthy');
  t.health.stop();
});

test('config changes: weight keeps health and schedule; endpoint change resets to unknown and restarts rise', async () => {
  const t = setup();
  const c = config({ healthCheck: { ...config().backends[0]!.healthCheck, intervalSeconds: 1, rise: 2 } });
  c.servers.push(srv('s1', 7001), srv('s2', 7002));
  t.health.sync(t.apply(c));
  await t.step(1600);
  const s1 = t.runtime.servers.get('s1')!;
  const s2 = t.runtime.servers.get('s2')!;
  assert.equal(s1.health, 'healthy');
  assert.equal(s2.health, 'healthy');
  const callsBefore = t.calls.length;
  // weight change of s1, port change of s2, a new server s3
  c.servers[0]!.weight = 5;
  c.servers[1]!.port = 7012;
  c.servers.push(srv('s3', 7003));
  t.health.sync(t.apply(c));
  assert.equal(s1.health, 'healthy', 'weight change keeps health');
  assert.equal(s2.health, 'unknown', 'endpoint change resets (Runtime)');
  assert.equal(t.runtime.servers.get('s3')!.health, 'unknown');
  await t.step(500);
  assert.equal(s2.health, 'unknown', 'one success is not enough: rise restarted');
  assert.ok(
    t.calls.slice(callsBefore).some((c) => c.port === 7012),
    'the new port is probed',
  );
  assert.ok(!t.calls.slice(callsBefore).some((c) => c.port === 7002), 'the old port is not');
  await t.step(1000);
  assert.equal(s2.health, 'healthy');
  // s1's schedule was untouched: its probes stay on the original phase (0.5 s + n s)
  const s1Times = t.calls.filter((c) => c.port === 7001).map((c) => (c.at - t.calls[0]!.at) % 1000);
  assert.ok(
    s1Times.every((ms) => ms === 0),
    `s1 probed on its own phase: ${s1Times}`,
  );
  // an unchanged re-apply keeps everything
  const ev = t.events.length;
  t.health.sync(t.apply(c));
  assert.equal(t.events.length, ev);
  assert.equal(s2.health, 'healthy');
  t.health.stop();
});

test('checks disabled, server removed: probing stops; disabled means healthy at once (H5)', async () => {
  const t = setup();
  const c = config({ healthCheck: { ...config().backends[0]!.healthCheck, intervalSeconds: 1 } });
  c.servers.push(srv('s1', 7001), srv('s2', 7002));
  t.health.sync(t.apply(c));
  assert.equal(t.health.size, 2);
  c.servers.pop();
  t.health.sync(t.apply(c));
  assert.equal(t.health.size, 1);
  await t.step(3000);
  assert.ok(!t.calls.some((x) => x.port === 7002), 'removed server is never probed');
  c.backends[0]!.healthCheck.enabled = false;
  t.health.sync(t.apply(c));
  assert.equal(t.health.size, 0);
  const n = t.calls.length;
  await t.step(3000);
  assert.equal(t.calls.length, n);
  assert.equal(t.runtime.servers.get('s1')!.health, 'healthy');
  t.health.stop();
});

test('interval change reschedules at the new rate', async () => {
  const t = setup();
  const c = config({ healthCheck: { ...config().backends[0]!.healthCheck, intervalSeconds: 10, timeoutSeconds: 1 } });
  c.servers.push(srv('s1', 7001));
  t.health.sync(t.apply(c));
  await t.step(20_000);
  assert.equal(t.calls.length, 2);
  c.backends[0]!.healthCheck.intervalSeconds = 1;
  t.health.sync(t.apply(c));
  const n = t.calls.length;
  await t.step(10_000);
  assert.ok(t.calls.length - n >= 9 && t.calls.length - n <= 11, `${t.calls.length - n} probes in 10 s at 1 s`);
  t.health.stop();
});

test('jitter: 1,000 servers are spread over the interval on a 10 ms grid, never bunched', async () => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const t = setup(random);
  const c = config({ healthCheck: { ...config().backends[0]!.healthCheck, intervalSeconds: 5 } });
  for (let i = 0; i < 1000; i++) c.servers.push(srv(`s${i}`, 10_000 + i));
  t.health.sync(t.apply(c));
  const start = t.clock.now();
  await t.step(5000);
  const first = new Map<number, number>();
  for (const x of t.calls) if (!first.has(x.port)) first.set(x.port, x.at - start);
  assert.equal(first.size, 1000, 'each server probed within the first interval');
  // Starts land on a 10 ms grid (one event-loop wake per slot): 500 slots in 5 s, ~2 servers each.
  const perSlot = new Map<number, number>();
  for (const at of first.values()) {
    assert.equal(at % 10, 0, 'grid-aligned start');
    perSlot.set(at, (perSlot.get(at) ?? 0) + 1);
  }
  const worst = Math.max(...perSlot.values());
  assert.ok(worst <= 10, `at most 1 % of the servers start in one 10 ms slot, saw ${worst}`);
  assert.ok(perSlot.size >= 400, `slots used: ${perSlot.size} of 500`);
  const perSecond = [0, 0, 0, 0, 0];
  for (const at of first.values()) perSecond[Math.min(4, Math.floor(at / 1000))]!++;
  for (const n of perSecond) assert.ok(n > 150 && n < 250, `even spread per second: ${perSecond}`);
  // later periods stay within ±5 % of the interval
  await t.step(10_000);
  const byPort = new Map<number, number[]>();
  for (const x of t.calls) byPort.set(x.port, [...(byPort.get(x.port) ?? []), x.at]);
  for (const times of byPort.values()) {
    for (let i = 1; i < times.length; i++) {
      const d = times[i]! - times[i - 1]!;
      assert.ok(d >= 4740 && d <= 5260, `period ${d} ms`);
    }
  }
  t.health.stop();
});

test('SS4: slow start begins at the first healthy declaration, not at add time', async () => {
  const t = setup();
  const c = config(
    {
      algorithm: 'weighted-round-robin',
      slowStart: { enabled: true, durationSeconds: 60 },
      healthCheck: { ...config().backends[0]!.healthCheck, intervalSeconds: 1, rise: 2 },
    },
    'http',
  );
  c.backends[0]!.healthCheck.type = 'tcp';
  c.servers.push(srv('s1', 7001));
  t.health.sync(t.apply(c));
  await t.step(2000);
  c.servers.push(srv('s2', 7002));
  t.health.sync(t.apply(c));
  const s2 = t.runtime.servers.get('s2')!;
  assert.equal(s2.slowStartFrom, 0);
  await t.step(400);
  assert.equal(s2.health, 'unknown');
  await t.step(1200);
  assert.equal(s2.health, 'healthy');
  assert.ok(s2.slowStartFrom > 0, 'ramp started');
  assert.ok(t.clock.now() - s2.slowStartFrom < 1000);
  assert.ok(s2.slowStartFactor(t.clock.now()) < 0.2);
  const s1 = t.runtime.servers.get('s1')!;
  assert.equal(s1.slowStartFrom, 0, 'the first server of an empty backend never ramps (SS3)');
  t.health.stop();
});

test('stop cancels every timer: no probe after stop', async () => {
  const t = setup();
  const c = config({ healthCheck: { ...config().backends[0]!.healthCheck, intervalSeconds: 1 } });
  c.servers.push(srv('s1', 7001));
  t.health.sync(t.apply(c));
  t.health.stop();
  await t.step(5000);
  assert.equal(t.calls.length, 0);
  assert.equal(t.health.size, 0);
});
