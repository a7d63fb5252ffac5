import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { affectsBackend, emptyFilter, eventKey, matchesFilter, mergeEvents, parseStreamEvent } from './events.ts';
import type { FulcrumEvent } from './types.ts';

let nextId = 1;
const ev = (at: string, extra: Partial<FulcrumEvent> = {}): FulcrumEvent => ({
  id: nextId++,
  at,
  kind: 'health',
  loadBalancerId: 'l1',
  backendId: 'b1',
  serverId: 's1',
  from: 'unknown',
  to: 'healthy',
  reason: 'rise',
  ...extra,
});

describe('events timeline (H6)', () => {
  it('merges newest first without duplicates, bounded', () => {
    const a = ev('2025-01-01T00:00:01Z');
    const b = ev('2025-01-01T00:00:02Z', { to: 'unhealthy' });
    const c = ev('2025-01-01T00:00:03Z', { id: 7 });
    const merged = mergeEvents([a, b], [c, { ...a }]);
    assert.deepEqual(
      merged.map((e) => e.at),
      [c.at, b.at, a.at],
    );
    assert.equal(mergeEvents(merged, [], 2).length, 2);
    assert.equal(eventKey(c), '7');
  });
  it('filters by kind, backend, server and text (names included)', () => {
    const e = ev('2025-01-01T00:00:01Z', { reason: 'connect-refused' });
    assert.ok(matchesFilter(e, emptyFilter));
    assert.ok(!matchesFilter(e, { ...emptyFilter, kind: 'config' }));
    assert.ok(!matchesFilter(e, { ...emptyFilter, backendId: 'b2' }));
    assert.ok(!matchesFilter(e, { ...emptyFilter, serverId: 's2' }));
    assert.ok(matchesFilter(e, { ...emptyFilter, text: 'REFUSED' }));
    assert.ok(matchesFilter(e, { ...emptyFilter, text: 'web-1' }, new Map([['s1', 'web-1']])));
    assert.ok(!matchesFilter(e, { ...emptyFilter, text: 'web-2' }, new Map([['s1', 'web-1']])));
  });
  it('parses stream payloads and ignores garbage', () => {
    const e = parseStreamEvent('{"id":9,"at":"2025-01-01T00:00:00Z","kind":"drain-start","serverId":"s1"}');
    assert.equal(e?.kind, 'drain-start');
    assert.equal(e?.backendId, null);
    assert.equal(e && eventKey(e), '9');
    assert.equal(parseStreamEvent('{"at":"2025-01-01T00:00:00Z","kind":"drain-start"}'), null, 'no id');
    assert.equal(parseStreamEvent('not json'), null);
    assert.equal(parseStreamEvent('{"kind":1}'), null);
    assert.equal(parseStreamEvent('null'), null);
  });
  it('knows which events concern a backend table', () => {
    assert.ok(affectsBackend(ev('x'), 'b1'));
    assert.ok(!affectsBackend(ev('x', { backendId: 'b2' }), 'b1'));
    assert.ok(affectsBackend(ev('x', { kind: 'config', backendId: null }), 'b1'));
  });
});
