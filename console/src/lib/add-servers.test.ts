import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorKey, newAddressRow, planServers } from './add-servers.ts';
import type { Instance } from './types.ts';

const inst = (id: string, name: string): Instance => ({
  id,
  name,
  privateIp: '10.0.0.5',
  zone: null,
  os: null,
  serverType: 'application',
});

describe('add servers while creating a backend', () => {
  it('names a new row after the backend', () => {
    assert.deepEqual(newAddressRow('web', 2), { key: 2, name: 'web-2', address: '', port: '' });
  });

  it('plans the picked instances and the rows with an address, skipping empty rows', () => {
    const rows = [
      { key: 1, name: ' web-1 ', address: ' 10.0.0.1 ', port: '8080' },
      { key: 2, name: 'web-2', address: '', port: '' },
      { key: 3, name: 'web-3', address: '10.0.0.3', port: '' },
    ];
    const plan = planServers({ mode: 'http' }, [inst('i1', 'a'), inst('i2', 'b')], new Set(['i2']), '9000', rows);
    assert.deepEqual(plan.errors, {});
    assert.deepEqual(plan.servers, [
      {
        key: 'instance:i2',
        name: 'b',
        payload: { name: 'b', serverType: 'application', instanceId: 'i2', port: 9000 },
      },
      { key: 'row:1', name: 'web-1', payload: { name: 'web-1', serverType: 'web', address: '10.0.0.1', port: 8080 } },
      { key: 'row:3', name: 'web-3', payload: { name: 'web-3', serverType: 'web', address: '10.0.0.3' } },
    ]);
    // a tcp backend's custom servers are of type other; no instance picked: its port is not read
    const tcp = planServers({ mode: 'tcp' }, [inst('i1', 'a')], new Set(), 'x', [rows[2]!]);
    assert.deepEqual(tcp.errors, {});
    assert.equal(tcp.servers[0]?.payload.serverType, 'other');
  });

  it('refuses a port that is not a whole number beside it', () => {
    const plan = planServers({ mode: 'http' }, [inst('i1', 'a')], new Set(['i1']), '80a', [
      { key: 4, name: 'w', address: '10.0.0.1', port: '1.5' },
    ]);
    assert.deepEqual(Object.keys(plan.errors).sort(), ['instancePort', 'row:4.port']);
  });

  it('places an API refusal beside the input it is about', () => {
    const row = { key: 'row:2', name: 'w', payload: {} };
    const instance = { key: 'instance:i1', name: 'a', payload: {} };
    assert.equal(errorKey(row, 'port'), 'row:2.port');
    assert.equal(errorKey(row, 'name'), 'row:2.name');
    assert.equal(errorKey(row, 'address'), 'row:2.address');
    assert.equal(errorKey(row, null), 'row:2.address');
    assert.equal(errorKey(instance, 'port'), 'instancePort');
    assert.equal(errorKey(instance, 'name'), 'instance:i1');
  });
});
