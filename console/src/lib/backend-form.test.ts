import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultBackend } from '../../../src/config/defaults.ts';
import {
  backendPayload,
  backendValues,
  checkSettingsPrefix,
  defaultHint,
  healthCheckTypes,
  modeForProtocol,
  newBackendValues,
  persistenceTypes,
  slowStartBlockers,
} from './backend-form.ts';

describe('backend form defaults (H2, H4, S3, P1)', () => {
  it('shows every default from the one source', () => {
    const v = newBackendValues('http');
    assert.equal(v['healthCheck.enabled'], true);
    assert.equal(v['healthCheck.type'], 'http');
    assert.equal(v['healthCheck.intervalSeconds'], '5');
    assert.equal(v['healthCheck.timeoutSeconds'], '3');
    assert.equal(v['healthCheck.rise'], '2');
    assert.equal(v['healthCheck.fall'], '3');
    assert.equal(v['healthCheck.http.expectedCodes'], '200-399');
    assert.equal(v['healthCheck.port'], '', 'empty = the server port (H2)');
    assert.equal(v.drainTimeoutSeconds, '30');
    assert.equal(v['slowStart.durationSeconds'], '30');
    assert.equal(v['persistence.timeoutSeconds'], '1800');
    assert.equal(defaultHint('healthCheck.intervalSeconds'), '5');
    assert.equal(defaultHint('drainTimeoutSeconds'), '30');
    assert.equal(defaultHint('tls.verify'), 'on');
    assert.equal(defaultHint('port'), undefined);
  });
  it('lets a server type suggest mode, check and port (database → tcp + postgres 5432)', () => {
    const db = newBackendValues('http', 'database');
    assert.equal(db.mode, 'tcp');
    assert.equal(db['healthCheck.type'], 'postgres');
    assert.equal(db.port, '5432');
    const cache = newBackendValues('http', 'cache');
    assert.equal(cache['healthCheck.type'], 'redis');
    assert.equal(cache.port, '6379');
  });
});

describe('slow start rules (SS2)', () => {
  it('explains each blocker', () => {
    assert.deepEqual(slowStartBlockers('http', 'weighted-round-robin'), []);
    const both = slowStartBlockers('tcp', 'round-robin');
    assert.equal(both.length, 2);
    assert.match(both[0]!, /http backend.*tcp/);
    assert.match(both[1]!, /weighted-round-robin.*round-robin/);
    assert.equal(slowStartBlockers('http', 'least-connections').length, 1);
  });
});

describe('backend payload', () => {
  it('sends only the settings of the chosen check type and persistence', () => {
    const v = { ...newBackendValues('http'), name: 'web', algorithm: 'weighted-round-robin' };
    const { payload, errors } = backendPayload(v);
    assert.deepEqual(errors, {});
    assert.equal(payload.name, 'web');
    const hc = payload.healthCheck as Record<string, unknown>;
    assert.deepEqual(hc.http, { method: 'GET', path: '/', expectedCodes: '200-399' });
    assert.equal(hc.mysql, undefined);
    assert.equal(hc.postgres, undefined);
    assert.deepEqual(payload.persistence, { type: 'none', timeoutSeconds: 1800 });
    assert.equal('udpTimeoutSeconds' in payload, false);

    const pg = backendPayload({ ...newBackendValues('tcp', 'database'), name: 'db' }).payload;
    const pgc = pg.healthCheck as Record<string, unknown>;
    assert.deepEqual(pgc.postgres, { user: 'fulcrum', database: 'postgres' });
    assert.equal(pgc.http, undefined);
    assert.equal(pg.port, 5432);

    const ck = backendPayload({ ...v, 'persistence.type': 'cookie', 'persistence.cookieName': 'SRV' }).payload;
    assert.deepEqual(ck.persistence, { type: 'cookie', cookieName: 'SRV', timeoutSeconds: 1800 });
  });
  it('names the field of a bad number', () => {
    const { errors } = backendPayload({ ...newBackendValues('http'), name: 'x', 'healthCheck.rise': 'two' });
    assert.deepEqual(errors, { 'healthCheck.rise': 'rise must be a whole number' });
  });
  it('patches only what changed', () => {
    const b = defaultBackend('b1', 'l1', 'web', 'http');
    const v = backendValues(b);
    assert.deepEqual(backendPayload(v, b).payload, {});
    const p = backendPayload({ ...v, 'healthCheck.intervalSeconds': '10' }, b).payload;
    assert.deepEqual(Object.keys(p), ['healthCheck']);
    assert.equal((p.healthCheck as Record<string, unknown>).intervalSeconds, 10);
    assert.deepEqual(backendPayload({ ...v, drainTimeoutSeconds: '5' }, b).payload, { drainTimeoutSeconds: 5 });
  });
  it('edits outlier detection, timeouts and udp flow limits with their defaults (H7, U1)', () => {
    const v = newBackendValues('udp');
    assert.equal(v['outlierDetection.enabled'], true);
    assert.equal(v['outlierDetection.consecutiveFailures'], '5');
    assert.equal(v['outlierDetection.baseEjectionSeconds'], '30');
    assert.equal(v['outlierDetection.maxEjectionSeconds'], '300');
    assert.equal(v['outlierDetection.maxEjectionPercent'], '50');
    assert.equal(v['timeouts.connectSeconds'], '5');
    assert.equal(v['timeouts.responseSeconds'], '60');
    assert.equal(v.udpTimeoutSeconds, '30');
    assert.equal(v.maxFlows, '100000');
    assert.equal(defaultHint('outlierDetection.maxEjectionPercent'), '50');
    const udp = backendPayload({ ...v, name: 'dns', maxFlows: '500', 'outlierDetection.enabled': false }).payload;
    assert.equal(udp.maxFlows, 500);
    assert.equal(udp.udpTimeoutSeconds, 30);
    assert.deepEqual(udp.outlierDetection, {
      enabled: false,
      consecutiveFailures: 5,
      baseEjectionSeconds: 30,
      maxEjectionSeconds: 300,
      maxEjectionPercent: 50,
    });
    const http = backendPayload({ ...newBackendValues('http'), name: 'web' }).payload;
    assert.equal('maxFlows' in http, false, 'udp limits only for udp backends');
    const b = defaultBackend('b1', 'l1', 'web', 'http');
    const patch = backendPayload({ ...backendValues(b), 'outlierDetection.consecutiveFailures': '3' }, b).payload;
    assert.deepEqual(patch, { outlierDetection: { ...b.outlierDetection, consecutiveFailures: 3 } });
    const bad = backendPayload({ ...backendValues(b), 'outlierDetection.maxEjectionPercent': 'half' }, b).errors;
    assert.deepEqual(bad, { 'outlierDetection.maxEjectionPercent': 'maxEjectionPercent must be a whole number' });
  });
  it('edits the queue with its defaults, left out of a new backend while off (issue 15 point 4)', () => {
    const v = newBackendValues('http');
    assert.deepEqual([v['queue.maxLength'], v['queue.timeoutSeconds']], ['0', '10']);
    assert.equal('queue' in backendPayload({ ...v, name: 'web' }).payload, false);
    assert.deepEqual(backendPayload({ ...v, name: 'web', 'queue.maxLength': '100' }).payload.queue, {
      maxLength: 100,
      timeoutSeconds: 10,
    });
    const b = { ...defaultBackend('b1', 'l1', 'web', 'http'), queue: { maxLength: 5 } };
    const own = backendValues(b);
    assert.deepEqual([own['queue.maxLength'], own['queue.timeoutSeconds']], ['5', '10']);
    assert.deepEqual(backendPayload(own, b).payload, {}, 'nothing changed: nothing sent');
    assert.deepEqual(backendPayload({ ...own, 'queue.timeoutSeconds': '3' }, b).payload, {
      queue: { maxLength: 5, timeoutSeconds: 3 },
    });
  });
  it('edits the PROXY protocol, left out of a new backend while off (issue 15 point 3)', () => {
    const v = newBackendValues('tcp');
    assert.equal(v.proxyProtocol, '');
    const plain = backendPayload({ ...v, name: 'db' }).payload;
    assert.equal('proxyProtocol' in plain, false);
    assert.equal('proxyProtocol' in (plain.healthCheck as object), false);
    const on = backendPayload({ ...v, name: 'db', proxyProtocol: 'v2', 'healthCheck.proxyProtocol': true }).payload;
    assert.equal(on.proxyProtocol, 'v2');
    assert.equal((on.healthCheck as { proxyProtocol?: boolean }).proxyProtocol, true);
    const b = { ...defaultBackend('b1', 'l1', 'web', 'http'), proxyProtocol: 'v1' as const };
    const own = backendValues(b);
    assert.equal(own.proxyProtocol, 'v1');
    assert.deepEqual(backendPayload(own, b).payload, {}, 'nothing changed: nothing sent');
    assert.deepEqual(backendPayload({ ...own, proxyProtocol: '' }, b).payload, { proxyProtocol: null });
  });

  it('offers what the mode allows (F2, P2, H1)', () => {
    assert.deepEqual(persistenceTypes('tcp'), ['none', 'source-ip']);
    assert.ok(persistenceTypes('http').includes('cookie'));
    assert.ok(healthCheckTypes('tcp').includes('mysql'));
    assert.ok(!healthCheckTypes('http').includes('mysql'));
    assert.equal(modeForProtocol('https'), 'http');
    assert.equal(modeForProtocol('udp'), 'udp');
    assert.equal(checkSettingsPrefix('https'), 'healthCheck.http.');
    assert.equal(checkSettingsPrefix('tcp'), null);
  });
});

describe('discovery by DNS SRV (issue 15 point 2)', () => {
  it('sends a discovery source only when it has a name, keeping stored overrides', () => {
    const v = { ...newBackendValues('http'), name: 'api' };
    assert.equal('discovery' in backendPayload(v).payload, false);
    const withName = backendPayload({
      ...v,
      'discovery.name': '_http._tcp.api.internal',
      'discovery.resolver': '10.0.0.2:53',
    }).payload;
    assert.deepEqual(withName.discovery, { type: 'dns-srv', name: '_http._tcp.api.internal', resolver: '10.0.0.2:53' });
    const b = {
      ...defaultBackend('b1', 'l1', 'api', 'http'),
      discovery: { type: 'dns-srv' as const, name: '_http._tcp.api.internal', overrides: { 'srv-1': { weight: 5 } } },
    };
    assert.deepEqual(backendPayload(backendValues(b), b).payload, {});
    const renamed = backendPayload({ ...backendValues(b), 'discovery.name': '_http._tcp.other.internal' }, b).payload;
    assert.deepEqual(renamed.discovery, {
      type: 'dns-srv',
      name: '_http._tcp.other.internal',
      overrides: { 'srv-1': { weight: 5 } },
    });
    assert.deepEqual(backendPayload({ ...backendValues(b), 'discovery.name': '' }, b).payload, { discovery: null });
  });
});
