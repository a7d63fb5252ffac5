import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyConfig } from '../../../src/config/model.ts';
import { buildServer } from '../../../src/config/resources.ts';
import { toApiError } from './api.ts';
import {
  formatShare,
  movesServer,
  newServerValues,
  serverChanges,
  serverPayload,
  serverValues,
} from './server-form.ts';

/** Issue 15 in the console: tags, check overrides, expected share, and a 412 explained. */
describe('servers: tags, description, check overrides, expected share, conflicts (issue 15)', () => {
  const srv = (over: Record<string, unknown> = {}) =>
    buildServer({ name: 'web-1', address: '10.0.0.1', port: 80, ...over }, 'be-1', emptyConfig(), 'srv-1');

  it('shows the expected share as a whole percentage: weights 1:2:3 are 17 % / 33 % / 50 %', () => {
    assert.deepEqual([0.1667, 0.3333, 0.5].map(formatShare), ['17 %', '33 %', '50 %']);
    assert.equal(formatShare(undefined), '0 %');
    assert.equal(formatShare(1), '100 %');
  });

  it('edits tags as a comma list, the description, and the per-server check', () => {
    const v = newServerValues(null);
    const created = serverPayload({
      ...v,
      name: 'a',
      address: '10.0.0.9',
      tags: 'env=prod, canary',
      description: 'rack 4',
      'healthCheck.port': '8081',
    }).payload;
    assert.deepEqual(created.tags, ['env=prod', 'canary']);
    assert.equal(created.description, 'rack 4');
    assert.deepEqual(created.healthCheck, { port: 8081, enabled: true });
    const s = srv({ tags: ['env=prod'] });
    const values = serverValues(s);
    assert.equal(values.tags, 'env=prod');
    assert.equal(values['healthCheck.enabled'], true);
    // An update sends only what changed.
    assert.deepEqual(serverPayload({ ...values, tags: 'env=prod canary' }, s).payload, {
      tags: ['env=prod', 'canary'],
    });
    assert.deepEqual(serverPayload({ ...values, 'healthCheck.enabled': false }, s).payload, {
      healthCheck: { port: null, enabled: false },
    });
  });

  it('says when an update moves the server (it is checked again before traffic resumes)', () => {
    const s = srv();
    assert.equal(movesServer(serverPayload({ ...serverValues(s), port: '81' }, s).payload), true);
    assert.equal(movesServer(serverPayload({ ...serverValues(s), weight: '3' }, s).payload), false);
  });

  it('explains a 412: the current version and what changed since the dialog opened', () => {
    const e = toApiError(412, {
      error: { code: 'precondition_failed', message: 'version: …', field: 'version', currentVersion: 4 },
    });
    assert.equal(e.code, 'precondition_failed');
    assert.equal(e.currentVersion, 4);
    const before = srv({ tags: ['a'] });
    const now = { ...before, weight: 5, tags: ['a', 'b'], healthCheck: { port: 9000, enabled: true }, version: 4 };
    assert.deepEqual(serverChanges(before, now), ['weight: 1 → 5', 'tags: a → a, b', 'check port: — → 9000']);
    assert.deepEqual(serverChanges(before, { ...before, version: 9 }), []);
  });
});
