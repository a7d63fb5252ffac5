import assert from 'node:assert/strict';
import { test } from 'node:test';
import { config, srv, world } from '../../test/helpers/runtime-world.ts';
import { silentLogger } from '../core/log.ts';
import { HealthService } from './service.ts';

function setup(servers: number, over: Parameters<typeof config>[0] = {}) {
  const w = world();
  const c = config({ ...over });
  c.backends[0]!.healthCheck.enabled = false; // passive health works without active checks
  for (let i = 1; i <= servers; i++) c.servers.push(srv(`s${i}`, 7000 + i));
  const health = new HealthService({ runtime: w.runtime, clock: w.clock, log: silentLogger });
  health.sync(w.apply(c));
  const rt = (id: string) => w.runtime.servers.get(id)!;
  const fail = (id: string, n: number) => {
    for (let i = 0; i < n; i++) w.runtime.recordOutcome(rt(id), false);
  };
  return { ...w, c, health, rt, fail };
}

test('H7: N consecutive failures eject for the base time; the end is timed and both edges are events', () => {
  const t = setup(4);
  const s1 = t.rt('s1');
  t.fail('s1', 4);
  assert.equal(s1.isEjected(t.clock.now()), false, '4 failures < 5');
  t.runtime.recordOutcome(s1, true);
  t.fail('s1', 3);
  assert.equal(s1.isEjected(t.clock.now()), false, 'a success resets the run');
  t.fail('s1', 1);
  assert.equal(s1.isEjected(t.clock.now()), false, '4 in a row');
  t.fail('s1', 1);
  assert.equal(s1.isEjected(t.clock.now()), true, '5 in a row eject');
  assert.equal(s1.ejectedUntil, t.clock.now() + 30_000);
  assert.equal(s1.isAvailable(t.clock.now()), false);
  const picks = new Set([1, 2, 3, 4, 5, 6].map(() => t.runtime.backends.get('b1')!.balancer.pick({})?.id));
  assert.ok(!picks.has('s1'), 'an ejected server gets no new traffic');
  const ej = t.events.filter((e) => e.kind === 'ejection');
  assert.equal(ej.length, 1);
  assert.equal(ej[0]!.serverId, 's1');
  assert.equal(ej[0]!.reason, 'ejected');
  assert.equal(ej[0]!.detail?.ejectionSeconds, 30);
  t.clock.advance(29_999);
  assert.equal(s1.isEjected(t.clock.now()), true);
  t.clock.advance(1);
  assert.equal(s1.ejectedUntil, 0);
  assert.equal(t.events.filter((e) => e.kind === 'ejection-end').length, 1);
  assert.equal(s1.isAvailable(t.clock.now()), true);
  t.health.stop();
});

test('H7: repeated ejections double the time up to the cap; a long quiet resets it', () => {
  const t = setup(4);
  const s1 = t.rt('s1');
  const seen: number[] = [];
  for (let i = 0; i < 6; i++) {
    t.fail('s1', 5);
    const ms = s1.ejectedUntil - t.clock.now();
    seen.push(ms / 1000);
    t.clock.advance(ms);
    assert.equal(s1.ejectedUntil, 0);
  }
  assert.deepEqual(seen, [30, 60, 120, 240, 300, 300]);
  t.clock.advance(300_000); // quiet for maxEjectionSeconds
  t.fail('s1', 5);
  assert.equal(s1.ejectedUntil - t.clock.now(), 30_000, 'backoff starts again');
  t.health.stop();
});

test('H7: never more than maxEjectionPercent of a backend ejected at once', () => {
  const t = setup(4);
  t.fail('s1', 5);
  t.fail('s2', 5);
  t.fail('s3', 5);
  const now = t.clock.now();
  assert.deepEqual(
    ['s1', 's2', 's3', 's4'].map((id) => t.rt(id).isEjected(now)),
    [true, true, false, false],
  );
  t.clock.advance(30_000); // s1, s2 come back
  t.fail('s3', 1); // s3 kept counting, the next failure ejects it
  assert.equal(t.rt('s3').isEjected(t.clock.now()), true);
  t.health.stop();
});

test('H7: a single-server backend is never ejected; disabled detection ejects nothing', () => {
  const one = setup(1);
  one.fail('s1', 50);
  assert.equal(one.rt('s1').ejectedUntil, 0);
  one.health.stop();
  const off = setup(4, {
    outlierDetection: {
      enabled: false,
      consecutiveFailures: 5,
      baseEjectionSeconds: 30,
      maxEjectionSeconds: 300,
      maxEjectionPercent: 50,
    },
  });
  off.fail('s1', 50);
  assert.equal(off.rt('s1').ejectedUntil, 0);
  assert.equal(off.events.filter((e) => e.kind === 'ejection').length, 0);
  off.health.stop();
});

test('H7: custom settings (3 failures, 10 s base, 25 s cap, 100 %)', () => {
  const t = setup(2, {
    outlierDetection: {
      enabled: true,
      consecutiveFailures: 3,
      baseEjectionSeconds: 10,
      maxEjectionSeconds: 25,
      maxEjectionPercent: 100,
    },
  });
  t.fail('s1', 3);
  t.fail('s2', 3);
  assert.equal(t.runtime.backends.get('b1')!.balancer.pick({}), undefined, '100 % allows all');
  assert.equal(t.rt('s1').ejectedUntil - t.clock.now(), 10_000);
  t.clock.advance(10_000);
  t.fail('s1', 3);
  assert.equal(t.rt('s1').ejectedUntil - t.clock.now(), 20_000);
  t.clock.advance(20_000);
  t.fail('s1', 3);
  assert.equal(t.rt('s1').ejectedUntil - t.clock.now(), 25_000, 'capped');
  t.health.stop();
  assert.doesNotThrow(() => t.runtime.recordOutcome(t.rt('s1'), false), 'stop uninstalls the listener');
});
