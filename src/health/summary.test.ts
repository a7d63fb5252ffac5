import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allDown, backendHealthSummary, outOfRotationReason } from './summary.ts';
import { config, srv, world } from './test-support.ts';

test('S9: per-zone counts and a warning for a zone with servers but none healthy', () => {
  const w = world();
  const c = config();
  c.servers.push(
    srv('a1', 1, { zone: 'az1' }),
    srv('a2', 2, { zone: 'az1' }),
    srv('b1', 3, { zone: 'az2' }),
    srv('n1', 4),
  );
  w.apply(c);
  const rt = (id: string) => w.runtime.servers.get(id)!;
  rt('a1').health = 'healthy';
  rt('n1').health = 'healthy';
  const brt = w.runtime.backends.get('b1')!;
  const s = backendHealthSummary(brt, w.clock.now());
  assert.deepEqual(s.zones, [
    { zone: 'az1', servers: 2, healthy: 1 },
    { zone: 'az2', servers: 1, healthy: 0 },
    { zone: null, servers: 1, healthy: 1 },
  ]);
  assert.equal(s.warnings.length, 1);
  assert.match(s.warnings[0]!, /zone az2 has 1 server\(s\) and none is healthy/);
  rt('b1').health = 'healthy';
  rt('a1').ejectedUntil = w.clock.now() + 1000;
  const s2 = backendHealthSummary(brt, w.clock.now());
  assert.deepEqual(
    s2.zones.map((z) => z.healthy),
    [0, 1, 1],
    'an ejected server is not counted healthy',
  );
  assert.match(s2.warnings.join('\n'), /zone az1/);
});

test('S10: instances of one backend with different OS values give a warning, same OS none', () => {
  const w = world();
  const c = config();
  c.backends[0]!.healthCheck.enabled = false;
  c.instances.push(
    { id: 'i1', name: 'vm1', privateIp: '10.0.0.1', zone: 'az1', os: 'ubuntu-24.04', serverType: 'web' },
    { id: 'i2', name: 'vm2', privateIp: '10.0.0.2', zone: 'az1', os: 'ubuntu-24.04', serverType: 'web' },
    { id: 'i3', name: 'vm3', privateIp: '10.0.0.3', zone: 'az1', os: 'windows-2022', serverType: 'web' },
  );
  c.servers.push(srv('s1', 80, { instanceId: 'i1' }), srv('s2', 80, { instanceId: 'i2' }));
  w.apply(c);
  assert.deepEqual(backendHealthSummary(w.runtime.backends.get('b1')!, w.clock.now()).warnings, []);
  c.servers.push(srv('s3', 80, { instanceId: 'i3' }));
  w.apply(c);
  const s = backendHealthSummary(w.runtime.backends.get('b1')!, w.clock.now());
  assert.deepEqual(s.zones, [{ zone: 'az1', servers: 3, healthy: 3 }]);
  assert.equal(s.warnings.length, 1);
  assert.match(s.warnings[0]!, /different operating systems: ubuntu-24.04 \(2\), windows-2022 \(1\)/);
});

test('allDown and outOfRotationReason', () => {
  const w = world();
  const c = config();
  c.servers.push(srv('s1', 1), srv('s2', 2, { passive: true }));
  w.apply(c);
  const brt = w.runtime.backends.get('b1')!;
  const rt = (id: string) => w.runtime.servers.get(id)!;
  const now = w.clock.now();
  assert.equal(allDown(brt, now), true, 'checks on, nothing healthy yet');
  assert.equal(outOfRotationReason(rt('s1'), now), 'initial-check');
  rt('s2').health = 'healthy';
  assert.equal(allDown(brt, now), false, 'a passive server still serves');
  assert.equal(outOfRotationReason(rt('s2'), now), null);
  rt('s1').health = 'unhealthy';
  rt('s1').healthReason = 'timeout';
  assert.equal(outOfRotationReason(rt('s1'), now), 'timeout');
  rt('s1').health = 'healthy';
  rt('s1').ejectedUntil = now + 5;
  assert.equal(outOfRotationReason(rt('s1'), now), 'ejected');
  c.servers[0]!.enabled = false;
  w.apply(c);
  assert.equal(outOfRotationReason(rt('s1'), now), 'disabled', 'no open connection: the drain ended at once');
});
