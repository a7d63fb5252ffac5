import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultBackend } from '../../../src/config/defaults.ts';
import {
  backendsFor,
  frontendPayload,
  frontendValues,
  loadBalancerPayload,
  newFrontendValues,
  newLoadBalancerValues,
  protocolsFor,
  ruleRows,
  rulesPayload,
} from './frontend-form.ts';
import type { Frontend, LoadBalancer } from './types.ts';

const fe: Frontend = {
  id: 'f1',
  loadBalancerId: 'l1',
  name: 'www',
  protocol: 'http',
  bindAddress: '127.0.0.1',
  port: 8081,
  defaultBackendId: 'b1',
  certificateIds: [],
  enabled: true,
  timeouts: { requestHeaderSeconds: 10, clientIdleSeconds: 60 },
  maxConnections: 0,
  rules: [{ match: { host: 'api.example.com' }, backendId: 'b2' }],
  tlsPassthrough: false,
  redirectToHttps: false,
  sniRules: [],
};

describe('frontend payload (F1, F4, T1)', () => {
  it('builds a new frontend with defaults', () => {
    const v = { ...newFrontendValues(), name: 'www', port: '8081', defaultBackendId: 'b1' };
    const { payload, errors } = frontendPayload(v, ['c1'], []);
    assert.deepEqual(errors, {});
    assert.equal(payload.bindAddress, '127.0.0.1');
    assert.equal(payload.port, 8081);
    assert.deepEqual(payload.certificateIds, [], 'certificates only for https');
    assert.deepEqual(payload.rules, []);
    assert.deepEqual(payload.timeouts, { requestHeaderSeconds: 10, clientIdleSeconds: 60 });
    const https = frontendPayload({ ...v, protocol: 'https' }, ['c1'], []).payload;
    assert.deepEqual(https.certificateIds, ['c1']);
  });
  it('requires a port and a backend for each rule', () => {
    const { errors } = frontendPayload(
      { ...newFrontendValues(), name: 'x' },
      [],
      [{ host: 'a', pathPrefix: '', backendId: '' }],
    );
    assert.deepEqual(errors, { port: 'port is required', 'rules.0.backendId': 'choose a backend' });
  });
  it('round-trips rules and patches only changes', () => {
    assert.deepEqual(ruleRows(fe), [{ host: 'api.example.com', pathPrefix: '', backendId: 'b2' }]);
    assert.deepEqual(
      rulesPayload([
        { host: ' ', pathPrefix: '/api', backendId: 'b3' },
        { host: '', pathPrefix: '', backendId: '' },
      ]),
      [{ match: { pathPrefix: '/api' }, backendId: 'b3' }],
    );
    const v = frontendValues(fe);
    assert.deepEqual(frontendPayload(v, [], ruleRows(fe), fe).payload, {});
    assert.deepEqual(frontendPayload({ ...v, port: '9000' }, [], ruleRows(fe), fe).payload, { port: 9000 });
    assert.deepEqual(frontendPayload(v, [], [], fe).payload, { rules: [] });
  });
  it('offers only backends of the matching mode (F2) and no udp with ipAsBackend (S7)', () => {
    const bs = [defaultBackend('h', 'l', 'h', 'http'), defaultBackend('t', 'l', 't', 'tcp')];
    assert.deepEqual(
      backendsFor('https', bs).map((b) => b.id),
      ['h'],
    );
    assert.deepEqual(
      backendsFor('tcp', bs).map((b) => b.id),
      ['t'],
    );
    assert.deepEqual(backendsFor('udp', bs), []);
    assert.deepEqual(protocolsFor({ ipAsBackend: true }), ['http', 'https', 'tcp']);
    assert.ok(protocolsFor(null).includes('udp'));
  });
});

describe('load balancer payload (S6, S7)', () => {
  it('defaults the quota to 492 and splits networks', () => {
    const { payload, errors } = loadBalancerPayload({
      ...newLoadBalancerValues(),
      name: 'shop',
      allowedNetworks: '10.0.0.0/8,127.0.0.0/8',
    });
    assert.deepEqual(errors, {});
    assert.deepEqual(payload, {
      name: 'shop',
      description: '',
      allowedNetworks: ['10.0.0.0/8', '127.0.0.0/8'],
      ipAsBackend: false,
      maxServers: 492,
    });
  });
  it('patches only changes', () => {
    const lb: LoadBalancer = {
      id: 'l',
      name: 'shop',
      description: '',
      allowedNetworks: [],
      ipAsBackend: false,
      maxServers: 492,
    };
    const v = { name: 'shop', description: '', allowedNetworks: '', ipAsBackend: true, maxServers: '492' };
    assert.deepEqual(loadBalancerPayload(v, lb).payload, { ipAsBackend: true });
  });
});
