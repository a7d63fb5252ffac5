import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  certificateExpiry,
  endpoint,
  eventText,
  formatAgo,
  formatBytes,
  formatRate,
  healthLabel,
  healthSummary,
  healthTooltip,
  stateLabel,
  summaryText,
} from './format.ts';

const now = Date.parse('2025-01-10T12:00:00Z');

describe('format', () => {
  it('formats rates, bytes and ages', () => {
    assert.equal(formatRate(0), '0');
    assert.equal(formatRate(Number.NaN), '0');
    assert.equal(formatRate(0.44), '0.4');
    assert.equal(formatRate(12.6), '13');
    assert.equal(formatRate(1500), '1.5k');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3 * 1024 * 1024), '3.0 MiB');
    assert.equal(formatAgo('2025-01-10T11:59:59.5Z', now), 'just now');
    assert.equal(formatAgo('2025-01-10T11:59:48Z', now), '12 s ago');
    assert.equal(formatAgo('2025-01-10T11:57:00Z', now), '3 min ago');
    assert.equal(formatAgo('2025-01-10T10:00:00Z', now), '2 h ago');
    assert.equal(formatAgo(null, now), 'never');
    assert.equal(formatAgo('garbage', now), 'unknown');
  });
  it('labels server state, with slow-start progress', () => {
    const st = {
      health: 'healthy',
      state: 'active',
      slowStartFactor: 1,
      activeConnections: 0,
      reason: null,
      lastCheck: null,
      expectedShare: 1,
      drainDeadline: null,
    } as const;
    assert.equal(stateLabel({ status: st }), 'active');
    assert.equal(stateLabel({ status: { ...st, state: 'disabled', reason: 'disabled' } }), 'disabled');
    assert.equal(stateLabel({ status: { ...st, state: 'passive' } }), 'passive');
    assert.equal(stateLabel({ status: { ...st, state: 'slow-start', slowStartFactor: 0.42 } }), 'slow start 42%');
    assert.equal(stateLabel({ status: { ...st, state: 'draining' } }), 'draining');
  });
  it('gives health with its reason and last check', () => {
    const bad = {
      status: {
        health: 'unhealthy',
        state: 'active',
        slowStartFactor: 1,
        activeConnections: 0,
        reason: 'failed-checks',
        lastCheck: { at: '2025-01-10T11:59:55Z', ok: false, reason: 'connect-refused', latencyMs: 1.2 },
        expectedShare: 0,
        drainDeadline: null,
      },
    } as const;
    assert.deepEqual(healthLabel(bad), { health: 'unhealthy', reason: 'connect-refused' });
    const tip = healthTooltip(bad, now);
    assert.match(tip, /Reason: connect-refused/);
    assert.match(tip, /Last check: 5 s ago \(failed, 1 ms\)/);
    const first = { status: { ...bad.status, health: 'unknown', lastCheck: null, reason: 'initial-check' } } as const;
    assert.deepEqual(healthLabel(first), { health: 'unknown', reason: 'initial-check' });
    assert.match(healthTooltip(first, now), /Health: unknown\nReason: initial-check\nLast check: none yet/);
  });
  it('summarises health (S9)', () => {
    const st = {
      state: 'active',
      slowStartFactor: 1,
      activeConnections: 0,
      reason: null,
      lastCheck: null,
      expectedShare: 0,
      drainDeadline: null,
    } as const;
    const s = healthSummary([
      { status: { ...st, health: 'healthy' } },
      { status: { ...st, health: 'unhealthy' } },
      { status: { ...st, health: 'unknown' } },
    ]);
    assert.deepEqual(s, { total: 3, healthy: 1, unhealthy: 1, unknown: 1 });
    assert.equal(summaryText(s), '1/3 healthy (1 unhealthy, 1 unknown)');
    assert.equal(summaryText(healthSummary([])), 'no servers');
  });
  it('warns about certificate expiry (T1)', () => {
    assert.equal(certificateExpiry({ notAfter: '2025-01-01T00:00:00Z' }, now).level, 'expired');
    const soon = certificateExpiry({ notAfter: '2025-01-20T12:00:00Z' }, now);
    assert.deepEqual([soon.level, soon.daysLeft, soon.text], ['warning', 10, 'expires in 10 days']);
    assert.equal(certificateExpiry({ notAfter: '2026-01-01T00:00:00Z' }, now).level, 'ok');
    assert.equal(certificateExpiry({ notAfter: 'x' }, now).level, 'warning');
  });
  it('formats endpoints and events', () => {
    assert.equal(endpoint('10.0.0.1', 80), '10.0.0.1:80');
    assert.equal(endpoint('::1', 80), '[::1]:80');
    assert.equal(endpoint('10.0.0.1', null, 8080), '10.0.0.1:8080');
    assert.equal(endpoint('10.0.0.1', null, null), '10.0.0.1:(backend port)');
    assert.equal(
      eventText({ kind: 'health', from: 'unknown', to: 'healthy', reason: 'rise', detail: { configVersion: 4 } }),
      'unknown → healthy · rise · configuration version 4',
    );
    assert.equal(eventText({ kind: 'config', from: null, to: null, reason: null }), 'config');
    assert.equal(
      eventText({
        kind: 'config',
        from: null,
        to: null,
        reason: 'server.update',
        detail: { action: 'server.update', resource: 'server/web-1', actor: 'admin', configVersion: 9 },
      }),
      'server.update · server/web-1 · by admin · configuration version 9',
    );
  });
});
