import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Algorithm } from '../config/model.ts';
import type { BaseBalancer } from './base.ts';
import { RandomTwoChoicesBalancer } from './random-two-choices.ts';
import { balancerClasses } from './registry.ts';
import { seededRandom, testBackend } from './test-helpers.ts';

// Explain (issue 16): `peek` answers what the next `pick` returns without advancing it, and
// `candidates` covers every server a pick may return.
const deterministic: Algorithm[] = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'source-ip',
  'least-response-time',
];

function setup(algorithm: Algorithm) {
  const t = testBackend([{ weight: 1 }, { weight: 2 }, { weight: 3 }, { weight: 2, passive: true }], { algorithm });
  const b = new balancerClasses[algorithm](t.servers, t.now);
  return { ...t, b };
}

describe('balancer peek and candidates', () => {
  for (const algorithm of deterministic) {
    test(`${algorithm}: peek equals the next pick, twice in a row, across loads and membership changes`, () => {
      const { b, servers, clock } = setup(algorithm);
      const rnd = seededRandom(7);
      for (let i = 0; i < 300; i++) {
        const ctx = { clientAddress: `10.0.${i % 7}.${i % 13}` };
        if (i % 50 === 25) servers[i % 3]!.spec = { ...servers[i % 3]!.spec, enabled: i % 100 !== 25 };
        if (i % 50 === 25) b.invalidate();
        servers[i % 3]!.activeConnections = Math.floor(rnd() * 4);
        servers[(i + 1) % 3]!.ewmaTtfbMs = rnd() * 20;
        const a = b.peek(ctx);
        assert.equal(b.peek(ctx), a, 'peek does not advance');
        const c = b.candidates(ctx);
        assert.ok(
          c.some((x) => x.server === a && x.probability > 0),
          'the peek is a candidate',
        );
        assert.equal(b.pick(ctx), a, `pick ${i}`);
        clock.advance(1);
      }
    });
  }

  test('random-two-choices: candidates are exact probabilities that match the draws', () => {
    const t = testBackend([{ weight: 1 }, { weight: 1 }, { weight: 1 }], { algorithm: 'random-two-choices' });
    const b: BaseBalancer = new RandomTwoChoicesBalancer(t.servers, t.now, undefined, seededRandom(3));
    t.servers[0]!.activeConnections = 5;
    t.servers[1]!.activeConnections = 1;
    const c = b.candidates({});
    const p = new Map(c.map((x) => [x.server.id, x.probability]));
    // s0 loses every comparison; s1 wins against s0 and s2 when drawn first ... by hand: 1/3 each pair
    assert.equal(p.get(t.servers[0]!.id), 0);
    assert.ok(Math.abs((p.get(t.servers[1]!.id) ?? 0) + (p.get(t.servers[2]!.id) ?? 0) - 1) < 1e-9);
    const seen = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const s = b.pick({})!;
      seen.set(s.id, (seen.get(s.id) ?? 0) + 1);
    }
    for (const x of c) assert.ok(Math.abs((seen.get(x.server.id) ?? 0) / 3000 - x.probability) < 0.05, x.server.id);
  });

  test('shares: round robin equal, weighted by weight, source-ip by Maglev slots', () => {
    for (const algorithm of Object.keys(balancerClasses) as Algorithm[]) {
      const { b, now } = setup(algorithm);
      const shares = b.shares(now());
      assert.equal(shares.length, 3, algorithm);
      assert.ok(Math.abs(shares.reduce((x, y) => x + y, 0) - 1) < 1e-9, algorithm);
      if (algorithm === 'round-robin') assert.deepEqual(shares, [1 / 3, 1 / 3, 1 / 3]);
      else assert.ok(Math.abs(shares[2]! - 0.5) < 0.02, `${algorithm}: ${shares}`);
    }
  });
});
