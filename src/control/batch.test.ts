import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressGuard } from '../config/address-guard.ts';
import { type ConfigState, emptyConfig } from '../config/model.ts';
import { buildBackend, buildInstance, buildLoadBalancer, buildServer } from '../config/resources.ts';
import { FulcrumError } from '../core/errors.ts';
import { applyServerBatch } from './batch.ts';

/** The batch's own judgement (issue 15 point 1): which item each problem is about. */
describe('applyServerBatch names every failing item', () => {
  const state = (): ConfigState => {
    const c = emptyConfig();
    c.loadBalancers.push(buildLoadBalancer({ name: 'shop', allowedNetworks: ['10.0.0.0/8'] }, 'lb-1'));
    c.backends.push(buildBackend({ loadBalancerId: 'lb-1', name: 'web', mode: 'http', port: 80 }, 'be-1'));
    c.instances.push(buildInstance({ name: 'vm-1', privateIp: '10.0.0.50' }, 'inst-1'));
    for (const [i, ip] of ['10.0.0.1', '10.0.0.2'].entries()) {
      c.servers.push(buildServer({ name: `web-${i + 1}`, address: ip }, 'be-1', c, `srv-${i + 1}`));
    }
    return c;
  };
  const refusal = (c: ConfigState, batch: Parameters<typeof applyServerBatch>[2]) => {
    try {
      applyServerBatch(c, 'be-1', batch, addressGuard());
    } catch (err) {
      assert.ok(err instanceof FulcrumError);
      return (err.details ?? []).map((d) => `${d.index} ${d.field}`);
    }
    assert.fail('accepted');
  };

  it('blames the updated server when it clashes with an untouched one listed after it', () => {
    assert.deepEqual(refusal(state(), { update: [{ id: 'srv-1', address: '10.0.0.2' }] }), ['0 update[0].address']);
  });

  it('names an unknown id, an id twice, an instance address mismatch and a bad field, in body order', () => {
    assert.deepEqual(
      refusal(state(), {
        add: [{ name: 'x', instanceId: 'inst-1', address: '10.0.0.9' }, { name: 'y' }],
        update: [{ id: 'srv-9' }, { id: 'srv-1', weight: -1 }],
        remove: ['srv-2'],
        drain: ['srv-2'],
      }),
      ['0 add[0].address', '1 add[1].address', '0 update[0].id', '1 update[1].weight', '0 remove[0].id'],
    );
  });

  it('keeps a clash that was there before (restored data) and applies the rest', () => {
    const c = state();
    // Restored: two servers sharing an endpoint, stored before the rule.
    c.servers.push(buildServer({ name: 'old', address: '10.0.0.1' }, 'be-1', c, 'srv-3'));
    const facts = applyServerBatch(
      c,
      'be-1',
      { update: [{ id: 'srv-3', weight: 5 }], drain: ['srv-2'] },
      addressGuard(),
    );
    assert.deepEqual(
      facts.result.updated.map((s) => [s.id, s.weight]),
      [['srv-3', 5]],
    );
    assert.equal(facts.result.drained[0]?.enabled, false);
    assert.equal(c.servers.find((s) => s.id === 'srv-2')?.enabled, false);
  });

  it('refuses more than 1000 items in all', () => {
    assert.throws(
      () => applyServerBatch(state(), 'be-1', { remove: Array.from({ length: 1001 }, (_, i) => `s-${i}`) }, undefined),
      /at most 1000 items/,
    );
  });
});
