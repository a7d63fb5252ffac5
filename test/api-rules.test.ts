import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ApiHarness, type Json, startApi } from './api-support.ts';

/**
 * Every rule the API enforces (C1, F2, F4, F5, S1, S6, S7, H1–H3, SS2, P2, deletions):
 * the documented status, code and field, a message that starts with the field, and nothing
 * changed afterwards (same configVersion, same store content, same answers).
 */

let h: ApiHarness;
const ids = {} as Record<
  'shop' | 'lb2' | 'ipLb' | 'web' | 'db' | 'dns' | 'other' | 'inst' | 'fe' | 'udpFe' | 's1' | 's2',
  string
>;

async function everything(): Promise<unknown> {
  const lists = await Promise.all(
    ['/api/v1/load-balancers', '/api/v1/frontends', '/api/v1/backends', '/api/v1/instances', '/api/v1/audit'].map(
      async (u) => (await h.call('GET', u)).body,
    ),
  );
  const servers = [];
  for (const b of ['web', 'db', 'dns', 'other'] as const)
    servers.push((await h.call('GET', `/api/v1/backends/${ids[b]}/servers`)).body);
  return { version: h.control.version, stored: await h.store.load(), lists, servers };
}

async function ok(method: string, url: string, body?: unknown): Promise<Json> {
  const r = await h.call(method, url, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${url} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Sends a request that must be refused; checks status, code, field and that nothing changed. */
async function refused(
  method: string,
  url: string,
  body: unknown,
  status: number,
  code: string,
  field: string | undefined,
): Promise<string> {
  const beforeAll = await everything();
  const r = await h.call(method, url, body);
  assert.equal(r.status, status, `${method} ${url} ${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error.code, code, JSON.stringify(r.body));
  assert.equal(r.body.error.field, field, JSON.stringify(r.body));
  if (field)
    assert.ok(r.body.error.message.startsWith(`${field}: `), `message names the field: ${r.body.error.message}`);
  assert.deepEqual(await everything(), beforeAll, 'a refused request changes nothing');
  return r.body.error.message;
}

before(async () => {
  h = await startApi();
  ids.shop = (
    await ok('POST', '/api/v1/load-balancers', { name: 'shop', allowedNetworks: ['10.0.0.0/8'], maxServers: 3 })
  ).id;
  ids.lb2 = (await ok('POST', '/api/v1/load-balancers', { name: 'edge' })).id;
  ids.ipLb = (await ok('POST', '/api/v1/load-balancers', { name: 'anyip', ipAsBackend: true })).id;
  ids.web = (
    await ok('POST', '/api/v1/backends', { loadBalancerId: ids.shop, name: 'web', mode: 'http', port: 8080 })
  ).id;
  ids.db = (await ok('POST', '/api/v1/backends', { loadBalancerId: ids.shop, name: 'db', mode: 'tcp' })).id;
  ids.dns = (await ok('POST', '/api/v1/backends', { loadBalancerId: ids.lb2, name: 'dns', mode: 'udp', port: 53 })).id;
  ids.other = (
    await ok('POST', '/api/v1/backends', { loadBalancerId: ids.lb2, name: 'web', mode: 'http', port: 80 })
  ).id;
  ids.inst = (await ok('POST', '/api/v1/instances', { name: 'vm-1', privateIp: '192.168.5.10', os: 'linux' })).id;
  ids.fe = (
    await ok('POST', '/api/v1/frontends', {
      loadBalancerId: ids.shop,
      name: 'www',
      protocol: 'http',
      port: 18080,
      defaultBackendId: ids.web,
    })
  ).id;
  ids.udpFe = (
    await ok('POST', '/api/v1/frontends', {
      loadBalancerId: ids.lb2,
      name: 'dns',
      protocol: 'udp',
      port: 18053,
      defaultBackendId: ids.dns,
    })
  ).id;
  ids.s1 = (await ok('POST', `/api/v1/backends/${ids.web}/servers`, { name: 'web-1', address: '10.0.0.11' })).id;
  ids.s2 = (await ok('POST', `/api/v1/backends/${ids.web}/servers`, { name: 'web-2', instanceId: ids.inst })).id;
});
after(() => h.close(true));

describe('F2/F4 frontend ↔ backend', () => {
  it('refuses a tcp frontend on an http backend, naming both', async () => {
    const msg = await refused(
      'POST',
      '/api/v1/frontends',
      { loadBalancerId: ids.shop, name: 'raw', protocol: 'tcp', port: 18081, defaultBackendId: ids.web },
      409,
      'rule',
      'defaultBackendId',
    );
    assert.match(msg, /tcp frontend/);
    assert.match(msg, /backend "web" has mode http/);
  });
  it('refuses changing the mode of a backend an http frontend uses', async () => {
    await refused('PATCH', `/api/v1/backends/${ids.web}`, { mode: 'tcp' }, 409, 'rule', 'defaultBackendId');
  });
  it('refuses a backend of another load balancer, as default and in a rule', async () => {
    await refused(
      'PATCH',
      `/api/v1/frontends/${ids.fe}`,
      { defaultBackendId: ids.other },
      409,
      'rule',
      'defaultBackendId',
    );
    await refused(
      'PATCH',
      `/api/v1/frontends/${ids.fe}`,
      { rules: [{ match: { pathPrefix: '/api' }, backendId: ids.other }] },
      409,
      'rule',
      'rules[0].backendId',
    );
    await refused(
      'PATCH',
      `/api/v1/frontends/${ids.fe}`,
      { rules: [{ match: { pathPrefix: '/api' }, backendId: ids.db }] },
      409,
      'rule',
      'rules[0].backendId',
    );
  });
  it('refuses an unknown backend id', async () => {
    await refused(
      'PATCH',
      `/api/v1/frontends/${ids.fe}`,
      { defaultBackendId: 'be-nope' },
      400,
      'invalid',
      'defaultBackendId',
    );
  });
});

describe('F5 bind conflicts', () => {
  it('refuses the same address:port on a tcp-based transport, and a wildcard on that port', async () => {
    const base = { loadBalancerId: ids.shop, defaultBackendId: ids.db, protocol: 'tcp' };
    await refused('POST', '/api/v1/frontends', { ...base, name: 'clash', port: 18080 }, 409, 'port_in_use', 'port');
    await refused(
      'POST',
      '/api/v1/frontends',
      { ...base, name: 'clash', port: 18080, bindAddress: '0.0.0.0' },
      409,
      'port_in_use',
      'port',
    );
    await refused(
      'POST',
      '/api/v1/frontends',
      { ...base, name: 'clash', port: 18080, bindAddress: '::' },
      409,
      'port_in_use',
      'port',
    );
  });
  it('allows udp on a port a tcp frontend uses, and another address on the same port', async () => {
    const a = await ok('POST', '/api/v1/frontends', {
      loadBalancerId: ids.lb2,
      name: 'dns2',
      protocol: 'udp',
      port: 18080,
      defaultBackendId: ids.dns,
    });
    const b = await ok('POST', '/api/v1/frontends', {
      loadBalancerId: ids.shop,
      name: 'raw2',
      protocol: 'tcp',
      port: 18080,
      bindAddress: '127.0.0.2',
      defaultBackendId: ids.db,
    });
    await ok('DELETE', `/api/v1/frontends/${a.id}`);
    await ok('DELETE', `/api/v1/frontends/${b.id}`);
  });
});

describe('S1 server fields and names', () => {
  const url = () => `/api/v1/backends/${ids.web}/servers`;
  it('refuses a duplicate server name in the backend', async () => {
    await refused('POST', url(), { name: 'web-1', address: '10.0.0.12' }, 409, 'conflict', 'name');
  });
  it('refuses ports, weights and types out of range', async () => {
    assert.equal(
      await refused('POST', url(), { name: 'x', address: '10.0.0.12', port: 0 }, 400, 'invalid', 'port'),
      'port: must be an integer from 1 to 65535 or null',
    );
    await refused('POST', url(), { name: 'x', address: '10.0.0.12', port: 65536 }, 400, 'invalid', 'port');
    await refused('POST', url(), { name: 'x', address: '10.0.0.12', port: 'http' }, 400, 'invalid', 'port');
    assert.equal(
      await refused('POST', url(), { name: 'x', address: '10.0.0.12', weight: 101 }, 400, 'invalid', 'weight'),
      'weight: must be an integer from 0 to 100',
    );
    await refused('POST', url(), { name: 'x', address: '10.0.0.12', weight: 1.5 }, 400, 'invalid', 'weight');
    await refused('POST', url(), { name: 'x', address: '10.0.0.12', weight: -1 }, 400, 'invalid', 'weight');
    await refused(
      'POST',
      url(),
      { name: 'x', address: '10.0.0.12', serverType: 'mainframe' },
      400,
      'invalid',
      'serverType',
    );
    await refused('POST', url(), { address: '10.0.0.12' }, 400, 'invalid', 'name');
    await refused('POST', url(), { name: '', address: '10.0.0.12' }, 400, 'invalid', 'name');
    await refused('POST', url(), { name: 'x', address: '10.0.0.12', colour: 'red' }, 400, 'invalid', 'colour');
    await refused('PATCH', `${url()}/${ids.s1}`, { weight: 1000 }, 400, 'invalid', 'weight');
    await refused('PATCH', `${url()}/${ids.s1}`, { name: 'web-2' }, 409, 'conflict', 'name');
  });
  it('refuses a server without a port when the backend has none (F3)', async () => {
    await refused(
      'POST',
      `/api/v1/backends/${ids.db}/servers`,
      { name: 'pg', address: '10.0.0.20' },
      400,
      'invalid',
      'port',
    );
  });
  it('refuses a server with neither address nor instance, or an unknown instance', async () => {
    await refused('POST', url(), { name: 'x' }, 400, 'invalid', 'address');
    await refused('POST', url(), { name: 'x', instanceId: 'inst-nope' }, 400, 'invalid', 'instanceId');
    await refused('POST', url(), { name: 'x', instanceId: ids.inst, address: '10.0.0.99' }, 400, 'invalid', 'address');
  });
  it('refuses unknown CA certificates', async () => {
    await refused(
      'POST',
      url(),
      { name: 'x', address: '10.0.0.12', caCertificateId: 'cert-nope' },
      400,
      'invalid',
      'caCertificateId',
    );
    await refused(
      'PATCH',
      `/api/v1/backends/${ids.web}`,
      { tls: { caCertificateId: 'cert-nope' } },
      400,
      'invalid',
      'tls.caCertificateId',
    );
  });
  it('refuses duplicate load balancer, backend and instance names; same name in another load balancer is fine', async () => {
    await refused('POST', '/api/v1/load-balancers', { name: 'shop' }, 409, 'conflict', 'name');
    await refused(
      'POST',
      '/api/v1/backends',
      { loadBalancerId: ids.shop, name: 'web', mode: 'http' },
      409,
      'conflict',
      'name',
    );
    await refused('POST', '/api/v1/instances', { name: 'vm-1', privateIp: '192.168.5.11' }, 409, 'conflict', 'name');
    await refused('POST', '/api/v1/instances', { name: 'vm-9', privateIp: 'not-an-ip' }, 400, 'invalid', 'privateIp');
    // 'web' exists in both shop and edge (set up in before()).
    assert.equal((await h.call('GET', `/api/v1/backends?loadBalancerId=${ids.lb2}`)).body[1].name, 'web');
  });
});

describe('one server per address:port in a backend (issue 11)', () => {
  const url = () => `/api/v1/backends/${ids.web}/servers`;
  it('refuses a second server on the same address and effective port with 409 naming address and port', async () => {
    // web-1 is 10.0.0.11 on the backend's port 8080; web-2 follows vm-1 (192.168.5.10:8080).
    const msg = await refused('POST', url(), { name: 'dup', address: '10.0.0.11' }, 409, 'conflict', 'address');
    assert.match(msg, /10\.0\.0\.11:8080/);
    assert.match(msg, /web-1/);
    await refused('POST', url(), { name: 'dup', address: '10.0.0.11', port: 8080 }, 409, 'conflict', 'address');
    await refused('POST', url(), { name: 'dup', instanceId: ids.inst }, 409, 'conflict', 'address');
    await refused('PATCH', `${url()}/${ids.s1}`, { address: '192.168.5.10' }, 409, 'conflict', 'address');
  });
  it('accepts the same address on another port, and the same endpoint in another backend', async () => {
    const s = await ok('POST', url(), { name: 'other-port', address: '10.0.0.11', port: 8081 });
    await ok('DELETE', `${url()}/${s.id}`);
    const t = await ok('POST', `/api/v1/backends/${ids.db}/servers`, {
      name: 'same',
      address: '10.0.0.11',
      port: 8080,
    });
    await ok('DELETE', `/api/v1/backends/${ids.db}/servers/${t.id}`);
  });
});

describe('every problem of a request at once (issue 11)', () => {
  it('lists every schema problem in details, the first as field and message', async () => {
    const r = await h.call('POST', '/api/v1/backends', {
      loadBalancerId: ids.shop,
      name: 'many',
      mode: 'http',
      port: 0,
      healthCheck: { intervalSeconds: 0, rise: 1000 },
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    const fields = r.body.error.details.map((d: Json) => d.field).sort();
    assert.deepEqual(fields, ['healthCheck.intervalSeconds', 'healthCheck.rise', 'port']);
    assert.equal(r.body.error.field, r.body.error.details[0].field);
    assert.equal(r.body.error.message, r.body.error.details[0].message);
    for (const d of r.body.error.details) assert.equal(d.message, `${d.field}: ${d.rule}`);
  });
  it('lists every semantic problem in details', async () => {
    const r = await h.call('POST', '/api/v1/backends', {
      loadBalancerId: ids.shop,
      name: 'many',
      mode: 'tcp',
      persistence: { type: 'cookie' },
      slowStart: { enabled: true },
    });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    const fields = r.body.error.details.map((d: Json) => d.field).sort();
    assert.deepEqual(fields, ['persistence.type', 'slowStart.enabled']);
    for (const d of r.body.error.details) assert.doesNotMatch(d.message, /\((P2|SS2)\)/);
  });
});

describe('S6 quota', () => {
  it('refuses the server past maxServers with 409 quota, and lowering maxServers below the count', async () => {
    const s3 = await ok('POST', `/api/v1/backends/${ids.web}/servers`, { name: 'web-3', address: '10.0.0.13' });
    const msg = await refused(
      'POST',
      `/api/v1/backends/${ids.web}/servers`,
      { name: 'web-4', address: '10.0.0.14' },
      409,
      'quota',
      'maxServers',
    );
    assert.match(msg, /at most 3 servers/);
    await refused('PATCH', `/api/v1/load-balancers/${ids.shop}`, { maxServers: 2 }, 409, 'conflict', 'maxServers');
    await ok('DELETE', `/api/v1/backends/${ids.web}/servers/${s3.id}`);
  });
  it('defaults maxServers to 492', async () => {
    assert.equal((await h.call('GET', `/api/v1/load-balancers/${ids.lb2}`)).body.maxServers, 492);
  });
});

describe('S7 IP as backend', () => {
  const url = () => `/api/v1/backends/${ids.web}/servers`;
  it('refuses an address outside the allowed networks and not in the inventory', async () => {
    await refused('POST', url(), { name: 'x', address: '172.16.0.1' }, 409, 'rule', 'address');
    await refused('PATCH', `${url()}/${ids.s1}`, { address: '172.16.0.1' }, 409, 'rule', 'address');
  });
  it('accepts an inventory IP given as a custom address', async () => {
    // Port 9090: web-2 already takes 192.168.5.10 on the backend's port (one server per address:port).
    const s = await ok('POST', url(), { name: 'inv', address: '192.168.5.10', port: 9090 });
    await ok('DELETE', `${url()}/${s.id}`);
  });
  it('refuses IPv6 and what is not a host name as custom addresses with 400', async () => {
    await refused('POST', url(), { name: 'x', address: '::1' }, 400, 'invalid', 'address');
    await refused('POST', url(), { name: 'x', address: 'web_1.example.com' }, 400, 'invalid', 'address');
    // A host name is taken (issue 15 point 2): S7 applies to each address it resolves to (test/dns-e2e.test.ts).
    const s = await ok('POST', url(), { name: 'named', address: 'web.example.com', port: 9091 });
    await ok('DELETE', `${url()}/${s.id}`);
  });
  it('refuses allowed networks that are not IPv4 CIDRs', async () => {
    await refused(
      'PATCH',
      `/api/v1/load-balancers/${ids.shop}`,
      { allowedNetworks: ['10.0.0.0/33'] },
      400,
      'invalid',
      'allowedNetworks[0]',
    );
    await refused(
      'PATCH',
      `/api/v1/load-balancers/${ids.shop}`,
      { allowedNetworks: ['10.0.0.0/8'], maxServers: 0 },
      400,
      'invalid',
      'maxServers',
    );
  });
  it('refuses shrinking the allowed networks under existing servers', async () => {
    await refused(
      'PATCH',
      `/api/v1/load-balancers/${ids.shop}`,
      { allowedNetworks: ['11.0.0.0/8'] },
      409,
      'rule',
      'address',
    );
  });
  it('with ipAsBackend Json IPv4 is accepted; it cannot be turned off; no udp frontends', async () => {
    const be = await ok('POST', '/api/v1/backends', {
      loadBalancerId: ids.ipLb,
      name: 'Json',
      mode: 'tcp',
      port: 5432,
    });
    await ok('POST', `/api/v1/backends/${be.id}/servers`, { name: 'far', address: '203.0.113.7' });
    await refused(
      'POST',
      `/api/v1/backends/${be.id}/servers`,
      { name: 'v6', address: '2001:db8::1' },
      400,
      'invalid',
      'address',
    );
    await refused(
      'PATCH',
      `/api/v1/load-balancers/${ids.ipLb}`,
      { ipAsBackend: false },
      409,
      'conflict',
      'ipAsBackend',
    );
    const udp = await ok('POST', '/api/v1/backends', { loadBalancerId: ids.ipLb, name: 'u', mode: 'udp', port: 53 });
    await refused(
      'POST',
      '/api/v1/frontends',
      { loadBalancerId: ids.ipLb, name: 'u', protocol: 'udp', port: 18054, defaultBackendId: udp.id },
      409,
      'rule',
      'protocol',
    );
  });
  it('refuses turning ipAsBackend on while a udp frontend exists', async () => {
    await refused('PATCH', `/api/v1/load-balancers/${ids.lb2}`, { ipAsBackend: true }, 409, 'conflict', 'ipAsBackend');
  });
});

describe('health check settings', () => {
  const url = () => `/api/v1/backends/${ids.web}`;
  it('refuses bad values, naming the nested field', async () => {
    await refused('PATCH', url(), { healthCheck: { type: 'icmp' } }, 400, 'invalid', 'healthCheck.type');
    assert.equal(
      await refused(
        'PATCH',
        url(),
        { healthCheck: { intervalSeconds: 0 } },
        400,
        'invalid',
        'healthCheck.intervalSeconds',
      ),
      'healthCheck.intervalSeconds: must be an integer from 1 to 300',
    );
    await refused(
      'PATCH',
      url(),
      { healthCheck: { intervalSeconds: 301 } },
      400,
      'invalid',
      'healthCheck.intervalSeconds',
    );
    await refused('PATCH', url(), { healthCheck: { timeoutSeconds: 0 } }, 400, 'invalid', 'healthCheck.timeoutSeconds');
    await refused('PATCH', url(), { healthCheck: { timeoutSeconds: 6 } }, 400, 'invalid', 'healthCheck.timeoutSeconds');
    await refused('PATCH', url(), { healthCheck: { rise: 0 } }, 400, 'invalid', 'healthCheck.rise');
    await refused('PATCH', url(), { healthCheck: { fall: 0 } }, 400, 'invalid', 'healthCheck.fall');
    await refused('PATCH', url(), { healthCheck: { port: 70000 } }, 400, 'invalid', 'healthCheck.port');
    await refused(
      'PATCH',
      url(),
      { healthCheck: { http: { expectedCodes: 'abc' } } },
      400,
      'invalid',
      'healthCheck.http.expectedCodes',
    );
    await refused(
      'PATCH',
      url(),
      { healthCheck: { http: { expectedCodes: '200-' } } },
      400,
      'invalid',
      'healthCheck.http.expectedCodes',
    );
  });
  it('accepts code lists and ranges, port null, and merges field by field', async () => {
    for (const codes of ['200', '200,204', '200-299,302']) {
      const b = await ok('PATCH', url(), { healthCheck: { http: { expectedCodes: codes } } });
      assert.equal(b.healthCheck.http.expectedCodes, codes);
      assert.equal(b.healthCheck.http.path, '/', 'other http fields kept');
      assert.equal(b.healthCheck.intervalSeconds, 5, 'other health fields kept');
    }
    const b = await ok('PATCH', url(), { healthCheck: { port: 9000, intervalSeconds: 10, timeoutSeconds: 10 } });
    assert.equal(b.healthCheck.port, 9000);
    assert.equal((await ok('PATCH', url(), { healthCheck: { port: null } })).healthCheck.port, null);
  });
});

describe('SS2 slow start', () => {
  it('refuses slow start on tcp and on non-weighted algorithms, and bad durations', async () => {
    await refused(
      'PATCH',
      `/api/v1/backends/${ids.db}`,
      { slowStart: { enabled: true } },
      409,
      'rule',
      'slowStart.enabled',
    );
    const msg = await refused(
      'PATCH',
      `/api/v1/backends/${ids.web}`,
      { slowStart: { enabled: true } },
      409,
      'rule',
      'slowStart.enabled',
    );
    assert.match(msg, /slow start needs an http backend with weighted-round-robin/);
    assert.doesNotMatch(msg, /\(SS2\)/, 'no SPEC ids in user-facing messages');
    await refused(
      'PATCH',
      `/api/v1/backends/${ids.web}`,
      { algorithm: 'weighted-round-robin', slowStart: { enabled: true, durationSeconds: 29 } },
      400,
      'invalid',
      'slowStart.durationSeconds',
    );
    await refused(
      'PATCH',
      `/api/v1/backends/${ids.web}`,
      { slowStart: { durationSeconds: 1201 } },
      400,
      'invalid',
      'slowStart.durationSeconds',
    );
  });
  it('accepts http + weighted-round-robin, then refuses changing the algorithm while on', async () => {
    const b = await ok('PATCH', `/api/v1/backends/${ids.web}`, {
      algorithm: 'weighted-round-robin',
      slowStart: { enabled: true, durationSeconds: 60 },
    });
    assert.equal(b.slowStart.enabled, true);
    await refused('PATCH', `/api/v1/backends/${ids.web}`, { algorithm: 'least-connections' }, 409, 'rule', 'algorithm');
    await ok('PATCH', `/api/v1/backends/${ids.web}`, { slowStart: { enabled: false } });
    await ok('PATCH', `/api/v1/backends/${ids.web}`, { algorithm: 'round-robin' });
  });
});

describe('persistence and algorithms', () => {
  it('refuses bad persistence', async () => {
    await refused(
      'PATCH',
      `/api/v1/backends/${ids.web}`,
      { persistence: { type: 'sticky' } },
      400,
      'invalid',
      'persistence.type',
    );
    await refused(
      'PATCH',
      `/api/v1/backends/${ids.web}`,
      { persistence: { timeoutSeconds: -1 } },
      400,
      'invalid',
      'persistence.timeoutSeconds',
    );
    await refused(
      'PATCH',
      `/api/v1/backends/${ids.db}`,
      { persistence: { type: 'cookie' } },
      409,
      'rule',
      'persistence.type',
    );
    await refused(
      'PATCH',
      `/api/v1/backends/${ids.web}`,
      { persistence: { type: 'app-cookie' } },
      400,
      'invalid',
      'persistence.cookieName',
    );
  });
  it('accepts cookie persistence with the default cookie name, and app-cookie with a name', async () => {
    const b = await ok('PATCH', `/api/v1/backends/${ids.web}`, { persistence: { type: 'cookie' } });
    assert.equal(b.persistence.cookieName, 'FULCRUM_SRV');
    await ok('PATCH', `/api/v1/backends/${ids.web}`, { persistence: { type: 'app-cookie', cookieName: 'JSESSIONID' } });
    await ok('PATCH', `/api/v1/backends/${ids.web}`, { persistence: { type: 'none' } });
  });
  it('accepts every A1/A2 algorithm and refuses others', async () => {
    for (const a of [
      'round-robin',
      'weighted-round-robin',
      'least-connections',
      'source-ip',
      'random-two-choices',
      'least-response-time',
    ]) {
      assert.equal((await ok('PATCH', `/api/v1/backends/${ids.db}`, { algorithm: a })).algorithm, a);
    }
    await refused('PATCH', `/api/v1/backends/${ids.db}`, { algorithm: 'fastest' }, 400, 'invalid', 'algorithm');
  });
});

describe('deletions', () => {
  it('refuses deleting a load balancer with frontends or backends', async () => {
    await refused('DELETE', `/api/v1/load-balancers/${ids.shop}`, undefined, 409, 'conflict', 'id');
  });
  it('refuses deleting a backend a frontend uses', async () => {
    await refused('DELETE', `/api/v1/backends/${ids.web}`, undefined, 409, 'conflict', 'id');
  });
  it('refuses deleting an instance a server uses', async () => {
    await refused('DELETE', `/api/v1/instances/${ids.inst}`, undefined, 409, 'conflict', 'id');
  });
  it('answers 404 for unknown ids, also a server under the wrong backend', async () => {
    await refused('GET', '/api/v1/backends/be-nope', undefined, 404, 'not_found', 'id');
    await refused('PATCH', '/api/v1/frontends/fe-nope', { enabled: false }, 404, 'not_found', 'id');
    await refused('DELETE', `/api/v1/backends/${ids.db}/servers/${ids.s1}`, undefined, 404, 'not_found', 'id');
    await refused(
      'POST',
      '/api/v1/backends/be-nope/servers',
      { name: 'x', address: '10.0.0.5' },
      404,
      'not_found',
      'id',
    );
  });
});

describe('frontend fields', () => {
  it('refuses bad frontend fields and read-only ones', async () => {
    await refused(
      'PATCH',
      `/api/v1/frontends/${ids.fe}`,
      { loadBalancerId: ids.lb2 },
      400,
      'invalid',
      'loadBalancerId',
    );
    await refused('PATCH', `/api/v1/frontends/${ids.fe}`, { protocol: 'ftp' }, 400, 'invalid', 'protocol');
    await refused('PATCH', `/api/v1/frontends/${ids.fe}`, { bindAddress: 'localhost' }, 400, 'invalid', 'bindAddress');
    await refused(
      'PATCH',
      `/api/v1/frontends/${ids.fe}`,
      { timeouts: { clientIdleSeconds: 0 } },
      400,
      'invalid',
      'timeouts.clientIdleSeconds',
    );
    await refused('PATCH', `/api/v1/frontends/${ids.fe}`, { protocol: 'https' }, 400, 'invalid', 'certificateIds');
    await refused(
      'PATCH',
      `/api/v1/frontends/${ids.fe}`,
      { protocol: 'https', certificateIds: ['cert-x'] },
      400,
      'invalid',
      'certificateIds[0]',
    );
    await refused(
      'POST',
      '/api/v1/frontends',
      { loadBalancerId: 'lb-nope', name: 'x', protocol: 'tcp', port: 18099 },
      400,
      'invalid',
      'loadBalancerId',
    );
    await refused(
      'POST',
      '/api/v1/frontends',
      { loadBalancerId: ids.shop, name: 'x', protocol: 'tcp' },
      400,
      'invalid',
      'port',
    );
  });
  it('refuses a body that is not JSON', async () => {
    const r = await h.app.inject({
      method: 'POST',
      url: '/api/v1/load-balancers',
      headers: { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' },
      payload: '{"name":',
    });
    assert.equal(r.statusCode, 400);
    assert.equal(r.json().error.code, 'invalid');
  });
});
