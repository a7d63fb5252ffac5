import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FulcrumError } from '../core/errors.ts';
import { type ConfigState, emptyConfig } from './model.ts';
import { buildBackend, buildFrontend, buildLoadBalancer, buildServer } from './resources.ts';
import { parseExpectedCodes, validateChange, validateConfig } from './validate.ts';

function base(): ConfigState {
  const c = emptyConfig();
  c.loadBalancers.push(buildLoadBalancer({ name: 'lb', allowedNetworks: ['10.0.0.0/8'] }, 'lb1'));
  c.backends.push(buildBackend({ loadBalancerId: 'lb1', name: 'web', mode: 'http', port: 80 }, 'b1'));
  c.frontends.push(
    buildFrontend({ loadBalancerId: 'lb1', name: 'www', protocol: 'http', port: 8080, defaultBackendId: 'b1' }, 'f1'),
  );
  c.servers.push(buildServer({ name: 's1', address: '10.0.0.1' }, 'b1', c, 's1'));
  return c;
}

function refuses(fn: () => void, code: string, field: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FulcrumError, String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.field, field, e.message);
    assert.ok(e.message.startsWith(`${field}: `), e.message);
    return true;
  });
}

describe('parseExpectedCodes (H3)', () => {
  it('parses codes and ranges', () => {
    assert.deepEqual(parseExpectedCodes('200'), [[200, 200]]);
    assert.deepEqual(parseExpectedCodes('200,204'), [
      [200, 200],
      [204, 204],
    ]);
    assert.deepEqual(parseExpectedCodes('200-299, 302'), [
      [200, 299],
      [302, 302],
    ]);
  });
  it('refuses anything else', () => {
    for (const bad of ['abc', '', '20', '200-', '299-200', '600', '200;204', '099']) {
      assert.equal(parseExpectedCodes(bad), undefined, bad);
    }
  });
});

describe('validateConfig', () => {
  it('accepts a consistent configuration', () => {
    validateConfig(base());
  });
  it('F2 mode mismatch names both', () => {
    const c = base();
    c.backends[0]!.mode = 'tcp';
    c.backends[0]!.healthCheck.http = undefined;
    c.backends[0]!.healthCheck.type = 'tcp';
    refuses(() => validateConfig(c), 'rule', 'defaultBackendId');
  });
  it('F5 wildcard clashes with a specific address on the same port and transport only', () => {
    const c = base();
    c.frontends.push(
      buildFrontend({ loadBalancerId: 'lb1', name: 'any', protocol: 'http', bindAddress: '::', port: 8080 }, 'f2'),
    );
    refuses(() => validateConfig(c), 'port_in_use', 'port');
    c.frontends[1]!.port = 8443;
    c.frontends[1]!.protocol = 'tcp';
    validateConfig(c);
  });
  it('S6 quota', () => {
    const c = base();
    c.loadBalancers[0]!.maxServers = 1;
    validateConfig(c);
    c.servers.push(buildServer({ name: 's2', address: '10.0.0.2' }, 'b1', c, 's2'));
    refuses(() => validateConfig(c), 'quota', 'maxServers');
  });
  it('S7 address rules', () => {
    const c = base();
    c.servers[0]!.address = '192.168.0.1';
    refuses(() => validateConfig(c), 'rule', 'address');
    c.loadBalancers[0]!.ipAsBackend = true;
    validateConfig(c);
    c.servers[0]!.address = 'fe80::1';
    refuses(() => validateConfig(c), 'invalid', 'address');
  });
  it('SS2 and the transition rules', () => {
    const before = base();
    const c = structuredClone(before);
    c.backends[0]!.slowStart.enabled = true;
    refuses(() => validateConfig(c), 'rule', 'slowStart.enabled');
    c.backends[0]!.algorithm = 'weighted-round-robin';
    validateConfig(c);
    const d = structuredClone(c);
    d.backends[0]!.algorithm = 'least-connections';
    refuses(() => validateChange(c, d), 'rule', 'algorithm');
    const e = structuredClone(before);
    e.loadBalancers[0]!.ipAsBackend = true;
    validateChange(before, e);
    refuses(() => validateChange(e, before), 'conflict', 'ipAsBackend');
  });
});
