import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';

describe('health check defaults follow a short interval (H4)', () => {
  let f: TestFulcrum;
  let lb: string;
  before(async () => {
    f = await startTestFulcrum();
    lb = (await f.ok('POST', '/load-balancers', { name: 'lb' })).id;
  });
  after(() => f.close());

  it('an interval below the default timeout brings the timeout down when no timeout is given', async () => {
    const be = await f.ok('POST', '/backends', {
      loadBalancerId: lb,
      name: 'fast',
      mode: 'http',
      healthCheck: { intervalSeconds: 2 },
    });
    assert.equal(be.healthCheck.intervalSeconds, 2);
    assert.equal(be.healthCheck.timeoutSeconds, 2);
    const slow = await f.ok('POST', '/backends', { loadBalancerId: lb, name: 'slow', mode: 'http' });
    assert.equal(slow.healthCheck.timeoutSeconds, 3, 'the default stays 3 s');
  });

  it('an explicit timeout above the interval is still refused with the rule', async () => {
    const before = await f.ok('GET', '/backends');
    const r = await f.api('POST', '/backends', {
      loadBalancerId: lb,
      name: 'bad',
      mode: 'http',
      healthCheck: { intervalSeconds: 2, timeoutSeconds: 3 },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'healthCheck.timeoutSeconds');
    assert.deepEqual(await f.ok('GET', '/backends'), before);
  });

  it('an update follows the same rule: a shorter interval alone brings the stored timeout down', async () => {
    const be = await f.ok('POST', '/backends', { loadBalancerId: lb, name: 'later', mode: 'http' });
    assert.equal(be.healthCheck.timeoutSeconds, 3);
    const fast = await f.ok('PATCH', `/backends/${be.id}`, { healthCheck: { intervalSeconds: 1 } });
    assert.equal(fast.healthCheck.intervalSeconds, 1);
    assert.equal(fast.healthCheck.timeoutSeconds, 1);
    const longer = await f.ok('PATCH', `/backends/${be.id}`, { healthCheck: { intervalSeconds: 10 } });
    assert.equal(longer.healthCheck.timeoutSeconds, 1, 'a longer interval leaves the timeout as it is');
    const before = await f.ok('GET', `/backends/${be.id}`);
    const r = await f.api('PATCH', `/backends/${be.id}`, { healthCheck: { intervalSeconds: 2, timeoutSeconds: 3 } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'healthCheck.timeoutSeconds');
    assert.match(r.body.error.message, /from 1 to intervalSeconds/);
    assert.deepEqual(await f.ok('GET', `/backends/${be.id}`), before);
  });
});
