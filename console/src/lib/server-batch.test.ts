import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toApiError } from './api.ts';
import { actionBatch, batchProblems, instancesBatch } from './server-batch.ts';

/** Issue 15 point 1 in the console: the selection's batches and a refused batch in words. */
describe('servers changed together (issue 15 point 1)', () => {
  const sel = [
    { id: 'srv-1', name: 'web-1' },
    { id: 'srv-2', name: 'web-2' },
  ];

  it('turns each table action on the selection into one batch body', () => {
    assert.deepEqual(actionBatch('drain', sel), { drain: ['srv-1', 'srv-2'] });
    assert.deepEqual(actionBatch('remove', sel), { remove: ['srv-1', 'srv-2'] });
    assert.deepEqual(actionBatch('disable', sel), {
      update: [
        { id: 'srv-1', enabled: false },
        { id: 'srv-2', enabled: false },
      ],
    });
    assert.deepEqual(actionBatch('enable', sel).update?.[1], { id: 'srv-2', enabled: true });
    assert.deepEqual(actionBatch('weight', sel, 5).update?.[0], { id: 'srv-1', weight: 5 });
  });

  it('adds several instances with the shared fields, each named, typed and zoned after its instance', () => {
    const body = instancesBatch({ name: 'x', instanceId: 'inst-1', weight: 2, port: 8080 }, [
      { id: 'inst-1', name: 'vm-1', privateIp: '10.0.0.1', zone: 'az1', os: null, serverType: 'web' },
      { id: 'inst-2', name: 'vm-2', privateIp: '10.0.0.2', zone: null, os: null, serverType: 'cache' },
    ]);
    assert.deepEqual(body.add, [
      { weight: 2, port: 8080, name: 'vm-1', serverType: 'web', instanceId: 'inst-1', zone: 'az1' },
      { weight: 2, port: 8080, name: 'vm-2', serverType: 'cache', instanceId: 'inst-2' },
    ]);
    const zoned = instancesBatch({ zone: 'az9' }, [
      { id: 'inst-1', name: 'vm-1', privateIp: '10.0.0.1', zone: 'az1', os: null, serverType: 'web' },
    ]);
    assert.equal(zoned.add[0]?.zone, 'az9', "the operator's zone wins");
  });

  it('names the server each problem of a refused batch is about', () => {
    const err = toApiError(400, {
      error: {
        code: 'invalid',
        message: 'update[1].weight: must be an integer from 0 to 100',
        field: 'update[1].weight',
        details: [
          { index: 1, field: 'update[1].weight', rule: 'must be an integer from 0 to 100', message: '…' },
          { index: 0, field: 'remove[0].id', rule: 'backend "web" has no server "srv-9"', message: '…' },
          { field: 'maxServers', rule: 'the quota is reached', message: 'maxServers: the quota is reached' },
        ],
      },
    });
    assert.deepEqual(batchProblems(err, { update: ['web-1', 'web-2'] }), [
      'web-2: weight: must be an integer from 0 to 100',
      'remove[0]: id: backend "web" has no server "srv-9"',
      'maxServers: the quota is reached',
    ]);
    assert.deepEqual(batchProblems(toApiError(403, { error: { code: 'forbidden', message: 'no' } }), {}), ['no']);
  });
});
