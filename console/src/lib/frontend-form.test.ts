import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultBackend } from '../../../src/config/defaults.ts';
import {
  backendsFor,
  emptyRuleRow,
  frontendErrorTarget,
  frontendPayload,
  frontendValues,
  loadBalancerPayload,
  moveItem,
  newFrontendValues,
  newLoadBalancerValues,
  protocolsFor,
  ruleErrors,
  ruleRows,
  rulesPayload,
} from './frontend-form.ts';
import type { LoadBalancer, StoredFrontend } from './types.ts';

const fe: StoredFrontend = {
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
  it('sets trustedProxies and acceptProxyProtocol, left out of a new frontend while unset (issue 15 point 3)', () => {
    const v = { ...newFrontendValues(), name: 'www', port: '8081', defaultBackendId: 'b1' };
    const plain = frontendPayload(v, [], []).payload;
    assert.equal('trustedProxies' in plain || 'acceptProxyProtocol' in plain, false);
    const on = frontendPayload(
      { ...v, protocol: 'tcp', trustedProxies: '10.0.0.0/8, ::1/128', acceptProxyProtocol: true },
      [],
      [],
    ).payload;
    assert.deepEqual([on.trustedProxies, on.acceptProxyProtocol], [['10.0.0.0/8', '::1/128'], true]);
    const edited = frontendValues({ ...fe, trustedProxies: ['10.0.0.0/8'], acceptProxyProtocol: true });
    assert.deepEqual([edited.trustedProxies, edited.acceptProxyProtocol], ['10.0.0.0/8', true]);
    assert.deepEqual(
      frontendPayload({ ...frontendValues(fe), acceptProxyProtocol: true }, [], ruleRows(fe), fe).payload,
      {
        acceptProxyProtocol: true,
      },
    );
  });
  it('requires a port and a backend for each rule', () => {
    const { errors } = frontendPayload({ ...newFrontendValues(), name: 'x' }, [], [{ ...emptyRuleRow(), host: 'a' }]);
    assert.deepEqual(errors, { port: 'port is required', 'rules.0.backendId': 'choose a backend' });
  });
  it('round-trips rules and patches only changes', () => {
    assert.deepEqual(ruleRows(fe), [{ ...emptyRuleRow(), host: 'api.example.com', backendId: 'b2' }]);
    assert.deepEqual(
      rulesPayload([{ ...emptyRuleRow(), host: ' ', pathPrefix: '/api', backendId: 'b3' }, emptyRuleRow()]),
      [{ match: { pathPrefix: '/api' }, backendId: 'b3' }],
    );
    const v = frontendValues(fe);
    assert.deepEqual(frontendPayload(v, [], ruleRows(fe), fe).payload, {});
    assert.deepEqual(frontendPayload({ ...v, port: '9000' }, [], ruleRows(fe), fe).payload, { port: 9000 });
    assert.deepEqual(frontendPayload(v, [], [], fe).payload, { rules: [] });
  });
  it('round-trips a rule with every match field and unknown keys intact (F4)', () => {
    const full = {
      match: {
        host: 'api.example.com',
        path: '/exact',
        pathPrefix: '/api',
        header: { name: 'X-Canary', value: '' },
        method: 'POST',
        future: { x: 1 },
      },
      backendId: 'b2',
      note: 'kept',
    };
    const withAll = {
      ...fe,
      rules: [full, { match: { method: 'DELETE' }, backendId: 'b1' }],
    } as unknown as StoredFrontend;
    const rows = ruleRows(withAll);
    assert.deepEqual(rows[0], {
      host: 'api.example.com',
      path: '/exact',
      pathPrefix: '/api',
      headerName: 'X-Canary',
      headerValue: '',
      method: 'POST',
      backendId: 'b2',
      extraMatch: { future: { x: 1 } },
      extra: { note: 'kept' },
    });
    assert.deepEqual(rulesPayload(rows), withAll.rules, 'form → payload gives back exactly what came');
    // unchanged → empty PATCH; editing only the host keeps header, method, path and unknown keys
    const v = frontendValues(withAll);
    assert.deepEqual(frontendPayload(v, [], rows, withAll).payload, {});
    const edited = rows.map((r, i) => (i === 0 ? { ...r, host: 'v2.example.com' } : r));
    const patch = frontendPayload(v, [], edited, withAll).payload;
    assert.deepEqual(patch, {
      rules: [{ ...full, match: { ...full.match, host: 'v2.example.com' } }, withAll.rules[1]],
    });
    // reordering is a change (first match wins, F4)
    const swapped = frontendPayload(v, [], moveItem(rows, 1, -1), withAll).payload;
    assert.deepEqual(swapped, { rules: [withAll.rules[1], withAll.rules[0]] });
    assert.deepEqual(moveItem([1, 2, 3], 0, -1), [1, 2, 3], 'out of range changes nothing');
    assert.deepEqual(moveItem([1, 2, 3], 2, -2), [3, 2, 1]);
  });
  it('checks rule rows before sending (F4)', () => {
    assert.deepEqual(ruleErrors([emptyRuleRow()]), {}, 'an empty row is ignored');
    assert.deepEqual(
      ruleErrors([
        { ...emptyRuleRow(), backendId: 'b1' },
        { ...emptyRuleRow(), headerValue: 'on', path: 'x', pathPrefix: 'api', backendId: 'b1' },
      ]),
      {
        'rules.0': 'give at least one condition: host, path, path prefix, header or method',
        'rules.1.header': 'header name is required with a value',
        'rules.1.path': 'path must start with /',
        'rules.1.pathPrefix': 'path prefix must start with /',
      },
    );
    assert.equal(frontendErrorTarget('rules[2].match.header.name'), 'rules.2.header');
    assert.equal(frontendErrorTarget('rules.0.match'), 'rules.0');
    assert.equal(frontendErrorTarget('rules[1].backendId'), 'rules.1.backendId');
    assert.equal(frontendErrorTarget('sniRules[0].backendId'), 'sniRules.0.backendId');
    assert.equal(frontendErrorTarget('redirectToHttps'), 'redirectToHttps');
    assert.equal(frontendErrorTarget('timeouts.clientIdleSeconds'), 'timeouts.clientIdleSeconds');
    assert.equal(frontendErrorTarget('nonsense'), null);
  });
  it('sends redirectToHttps only for http and TLS passthrough with SNI rules only for tcp (T1, T4)', () => {
    const base = { ...newFrontendValues(), name: 'x', port: '80', redirectToHttps: true, tlsPassthrough: true };
    const sni = [
      { serverName: ' A.Example.com ', backendId: 't1' },
      { serverName: '', backendId: '' },
    ];
    const http = frontendPayload(base, [], [], undefined, sni).payload;
    assert.equal(http.redirectToHttps, true);
    assert.equal(http.tlsPassthrough, false);
    assert.deepEqual(http.sniRules, []);
    const tcp = frontendPayload({ ...base, protocol: 'tcp' }, [], [], undefined, sni);
    assert.deepEqual(tcp.errors, {});
    assert.equal(tcp.payload.redirectToHttps, false);
    assert.equal(tcp.payload.tlsPassthrough, true);
    assert.deepEqual(tcp.payload.sniRules, [{ serverName: 'a.example.com', backendId: 't1' }]);
    const bad = frontendPayload({ ...base, protocol: 'tcp' }, [], [], undefined, [{ serverName: 'a', backendId: '' }]);
    assert.deepEqual(bad.errors, { 'sniRules.0.backendId': 'choose a backend' });
    // an existing frontend: unchanged passthrough settings are not sent
    const tcpFe: StoredFrontend = {
      ...fe,
      protocol: 'tcp',
      rules: [],
      tlsPassthrough: true,
      sniRules: [{ serverName: 'a.example.com', backendId: 't1' }],
    };
    assert.deepEqual(frontendPayload(frontendValues(tcpFe), [], [], tcpFe).payload, {});
    assert.deepEqual(frontendPayload({ ...frontendValues(tcpFe), tlsPassthrough: false }, [], [], tcpFe).payload, {
      tlsPassthrough: false,
      sniRules: [],
    });
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
