import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { permissions } from './roles.ts';

describe('role permissions (API.md roles)', () => {
  it('gives admin everything, operator servers only, viewer nothing', () => {
    assert.deepEqual(permissions('admin'), { changeServers: true, changeConfig: true });
    assert.deepEqual(permissions('operator'), { changeServers: true, changeConfig: false });
    assert.deepEqual(permissions('viewer'), { changeServers: false, changeConfig: false });
  });
  it('treats an unknown or missing role as read only', () => {
    for (const r of [undefined, null, '', 'Admin', 'root']) {
      assert.deepEqual(permissions(r), { changeServers: false, changeConfig: false }, String(r));
    }
  });
});
