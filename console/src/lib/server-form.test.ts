import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultBackend } from '../../../src/config/defaults.ts';
import { newServerValues, serverPayload, serverValues, suggestServerPort, usualPort } from './server-form.ts';
import type { StoredServer } from './types.ts';

const server: StoredServer = {
  id: 's1',
  backendId: 'b1',
  name: 'web-1',
  serverType: 'web',
  instanceId: null,
  address: '127.0.0.1',
  port: 8080,
  weight: 1,
  zone: 'az1',
  passive: false,
  sslOffload: false,
  caCertificateId: null,
  enabled: true,
};

describe('server type defaults (issue point 6)', () => {
  it('suggests usual ports, the backend port first', () => {
    assert.equal(suggestServerPort('database'), 5432);
    assert.equal(suggestServerPort('cache'), 6379);
    assert.equal(suggestServerPort('web'), 80);
    assert.equal(suggestServerPort('other'), null);
    const mysql = defaultBackend('b', 'l', 'db', 'tcp');
    mysql.healthCheck.type = 'mysql';
    assert.equal(suggestServerPort('database', mysql), 3306);
    mysql.port = 3307;
    assert.equal(suggestServerPort('database', mysql), null, "empty: the server follows the backend's port");
    assert.equal(usualPort('postgres'), 5432);
    assert.equal(usualPort('tcp'), null);
  });
  it('starts an empty dialog with weight 1 (S1) and the port empty when the backend has one (it follows it)', () => {
    const b = defaultBackend('b', 'l', 'web', 'http');
    b.port = 9000;
    const v = newServerValues(b);
    assert.equal(v.weight, '1');
    assert.equal(v.port, '');
    assert.equal(serverPayload({ ...v, name: 'w', address: '10.0.0.1' }).payload.port, null);
    assert.equal(newServerValues(defaultBackend('b', 'l', 'web', 'http')).port, '80');
    assert.equal(v.serverType, 'web');
    assert.equal(v.source, 'custom');
    assert.equal(newServerValues(defaultBackend('b', 'l', 't', 'tcp')).serverType, 'other');
  });
});

describe('server payload (S1, S2)', () => {
  it('builds a new custom-IP server', () => {
    const v = { ...newServerValues(), name: 'web-1', address: '127.0.0.1', port: '8080', weight: '3' };
    const { payload, errors } = serverPayload(v);
    assert.deepEqual(errors, {});
    assert.deepEqual(payload, {
      name: 'web-1',
      serverType: 'web',
      address: '127.0.0.1',
      port: 8080,
      weight: 3,
      passive: false,
      sslOffload: false,
    });
  });
  it('builds a new inventory server without an address', () => {
    const v = {
      ...newServerValues(),
      name: 'db-1',
      source: 'instance',
      instanceId: 'i-1',
      address: 'ignored',
      zone: 'az2',
    };
    const { payload, errors } = serverPayload(v);
    assert.deepEqual(errors, {});
    assert.equal(payload.instanceId, 'i-1');
    assert.equal('address' in payload, false);
    assert.equal(payload.zone, 'az2');
  });
  it('refuses a missing address or instance, and a non-number port, naming the field', () => {
    assert.deepEqual(serverPayload({ ...newServerValues(), name: 'x' }).errors, {
      address: 'address is required: enter the server IP',
    });
    assert.deepEqual(serverPayload({ ...newServerValues(), name: 'x', source: 'instance' }).errors, {
      instanceId: 'choose a backend server from the inventory',
    });
    const e = serverPayload({ ...newServerValues(), name: 'x', address: '1.2.3.4', port: 'eighty' }).errors;
    assert.deepEqual(e, { port: 'port must be a whole number' });
  });
  it('passes an out-of-range port to the API (its message is the one shown)', () => {
    const { payload, errors } = serverPayload({ ...newServerValues(), name: 'x', address: '1.2.3.4', port: '70000' });
    assert.deepEqual(errors, {});
    assert.equal(payload.port, 70000);
  });
  it('updates only what changed', () => {
    const v = serverValues(server);
    assert.equal(v.source, 'custom');
    assert.deepEqual(serverPayload(v, server).payload, {});
    assert.deepEqual(serverPayload({ ...v, weight: '5' }, server).payload, { weight: 5 });
    assert.deepEqual(serverPayload({ ...v, zone: '' }, server).payload, { zone: null });
    assert.deepEqual(serverPayload({ ...v, port: '' }, server).payload, { port: null });
    assert.deepEqual(serverPayload({ ...v, passive: true, sslOffload: true }, server).payload, {
      passive: true,
      sslOffload: true,
    });
  });
  it('maxConnections: empty or 0 is unlimited, left out of a new server (issue 15 point 4)', () => {
    const base = { ...newServerValues(), name: 'x', address: '1.2.3.4' };
    assert.equal('maxConnections' in serverPayload(base).payload, false);
    assert.equal(serverPayload({ ...base, maxConnections: '10' }).payload.maxConnections, 10);
    const v = serverValues(server);
    assert.equal(v.maxConnections, '');
    assert.deepEqual(serverPayload({ ...v, maxConnections: '10' }, server).payload, { maxConnections: 10 });
    const limited: StoredServer = { ...server, maxConnections: 10 };
    assert.deepEqual(serverPayload({ ...serverValues(limited), maxConnections: '' }, limited).payload, {
      maxConnections: 0,
    });
    assert.equal(serverPayload({ ...v, maxConnections: 'ten' }, server).errors.maxConnections !== undefined, true);
  });
  it('switches an update between inventory and custom IP', () => {
    const toInst = serverPayload({ ...serverValues(server), source: 'instance', instanceId: 'i-9' }, server).payload;
    assert.deepEqual(toInst, { instanceId: 'i-9' });
    const inst: StoredServer = { ...server, instanceId: 'i-9', address: '10.0.0.9' };
    const v = serverValues(inst);
    assert.equal(v.source, 'instance');
    assert.deepEqual(serverPayload(v, inst).payload, {});
    assert.deepEqual(serverPayload({ ...v, source: 'custom', address: '10.0.0.10' }, inst).payload, {
      instanceId: null,
      address: '10.0.0.10',
    });
  });
});
