import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { config, srv, world } from '../../test/helpers/runtime-world.ts';
import { expectedShare, expectedShares } from './views.ts';

// status.expectedShare (issue 15 point 5) on the real Runtime and FakeClock: the share of new
// requests each server gets now, from effective weights among available servers.

/** The backend's shares; each server's own `expectedShare` (a one-server answer) must be the same. */
function shares(w: ReturnType<typeof world>): Record<string, number> {
  const b = w.runtime.backends.get('b1')!;
  const all = expectedShares(b.servers, w.clock.now());
  for (const s of b.servers) assert.equal(expectedShare(b.servers, s, w.clock.now()), all.get(s.id), s.id);
  return Object.fromEntries(all);
}

describe('expected share of new requests (issue 15 point 5)', () => {
  test('weights 1:2:3 are 1/6, 1/3, 1/2; a server out of rotation gets 0 and the rest share', () => {
    const w = world();
    const c = config(
      { algorithm: 'weighted-round-robin', healthCheck: { ...config().backends[0]!.healthCheck, enabled: false } },
      'http',
    );
    c.servers.push(srv('a', 7001, { weight: 1 }), srv('b', 7002, { weight: 2 }), srv('c', 7003, { weight: 3 }));
    w.apply(c);
    assert.deepEqual(shares(w), { a: 0.1667, b: 0.3333, c: 0.5 });
    c.servers[2]!.enabled = false;
    w.apply(c);
    assert.deepEqual(shares(w), { a: 0.3333, b: 0.6667, c: 0 });
    c.servers[2]!.enabled = true;
    c.servers[0]!.weight = 0;
    w.apply(c);
    assert.deepEqual(shares(w), { a: 0, b: 0.4, c: 0.6 });
    const b1 = w.runtime.backends.get('b1')!;
    assert.equal(expectedShare(b1.servers.slice(1, 2), b1.servers[1]!, w.clock.now()), 1, 'b alone in its list');
    assert.equal(expectedShare(b1.servers.slice(1), b1.servers[0]!, w.clock.now()), 0, 'a server not in the list');
  });

  test('passive servers get 0 while an active one is available, and share it all when none is', () => {
    const w = world();
    const c = config({ healthCheck: { ...config().backends[0]!.healthCheck, enabled: false } }, 'http');
    c.servers.push(srv('a', 7001), srv('p1', 7002, { passive: true }), srv('p2', 7003, { passive: true, weight: 3 }));
    w.apply(c);
    assert.deepEqual(shares(w), { a: 1, p1: 0, p2: 0 });
    c.servers[0]!.enabled = false;
    w.apply(c);
    assert.deepEqual(shares(w), { a: 0, p1: 0.25, p2: 0.75 });
  });

  test('slow start counts: a new server ramps its share up over the ramp', () => {
    const w = world();
    const c = config(
      {
        algorithm: 'weighted-round-robin',
        slowStart: { enabled: true, durationSeconds: 100 },
        healthCheck: { ...config().backends[0]!.healthCheck, enabled: false },
      },
      'http',
    );
    c.servers.push(srv('a', 7001));
    w.apply(c);
    c.servers.push(srv('new', 7002));
    w.apply(c);
    const early = shares(w).new!;
    assert.ok(early < 0.1, `just added: ${early}`);
    w.clock.advance(50_000);
    const half = shares(w).new!;
    assert.ok(half > early && half < 0.5, `half way: ${half}`);
    w.clock.advance(60_000);
    assert.deepEqual(shares(w), { a: 0.5, new: 0.5 });
  });
});
