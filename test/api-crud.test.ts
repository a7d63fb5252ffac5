import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ADMIN, type ApiHarness, type Json, startApi } from './api-support.ts';

/**
 * CRUD of every resource through the API (C1) with defaults and merges, configVersion +1 per
 * change, auth (401/403, roles, session cookie), S8 lookup, instance IP moves, and restart (C2).
 */

async function ok(h: ApiHarness, method: string, url: string, body?: unknown, token?: string): Promise<Json> {
  const r = await h.call(method, url, body, token);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${url} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

describe('CRUD, versions, lookup and restart', () => {
  it('creates, reads, updates and deletes every resource; each change bumps configVersion by one', async () => {
    const h = await startApi();
    try {
      let v = h.control.version;
      const expectNext = (body: { configVersion: number }) => {
        assert.equal(body.configVersion, ++v, 'configVersion +1 per change');
        assert.equal(h.control.version, v);
        assert.equal(h.plane.appliedVersion, v, 'the data plane applied it before the answer');
      };
      const lb = await ok(h, 'POST', '/api/v1/load-balancers', { name: 'shop', allowedNetworks: ['10.0.0.0/8'] });
      expectNext(lb);
      assert.deepEqual(
        { ...lb, id: undefined, configVersion: undefined },
        {
          id: undefined,
          name: 'shop',
          description: '',
          allowedNetworks: ['10.0.0.0/8'],
          ipAsBackend: false,
          maxServers: 492,
          version: 1,
          configVersion: undefined,
        },
      );
      const inst = await ok(h, 'POST', '/api/v1/instances', {
        name: 'vm-1',
        privateIp: '192.168.1.10',
        zone: 'az1',
        os: 'ubuntu-24.04',
        serverType: 'web',
      });
      expectNext(inst);
      const be = await ok(h, 'POST', '/api/v1/backends', {
        loadBalancerId: lb.id,
        name: 'web',
        mode: 'http',
        port: 8080,
      });
      expectNext(be);
      assert.equal(be.algorithm, 'round-robin');
      assert.equal(be.healthCheck.type, 'http');
      assert.equal(be.healthCheck.http.expectedCodes, '200-399');
      assert.equal(be.drainTimeoutSeconds, 30);
      assert.deepEqual(be.timeouts, { connectSeconds: 5, responseSeconds: 60 });
      assert.deepEqual(be.slowStart, { enabled: false, durationSeconds: 30 });
      assert.equal(be.udpTimeoutSeconds, 30);
      assert.ok(be.status && Array.isArray(be.status.zones) && Array.isArray(be.status.warnings));
      const fe = await ok(h, 'POST', '/api/v1/frontends', {
        loadBalancerId: lb.id,
        name: 'www',
        protocol: 'http',
        port: 18080,
        defaultBackendId: be.id,
      });
      expectNext(fe);
      assert.equal(fe.bindAddress, '127.0.0.1');
      assert.equal(fe.enabled, true);
      assert.deepEqual(fe.certificateIds, []);
      assert.deepEqual(fe.timeouts, { requestHeaderSeconds: 10, clientIdleSeconds: 60 });
      assert.equal(typeof fe.status.listening, 'boolean');
      assert.equal(typeof fe.status.reason, 'string', 'no http listener in this plane: the status says why');

      const s1 = await ok(h, 'POST', `/api/v1/backends/${be.id}/servers`, {
        name: 'web-1',
        address: '10.0.0.11',
        weight: 2,
        zone: 'az1',
      });
      expectNext(s1);
      assert.equal(s1.port, null, 'the backend port applies (F3)');
      assert.equal(s1.passive, false);
      assert.equal(s1.sslOffload, false);
      assert.equal(s1.enabled, true);
      assert.equal(s1.status.health, 'unknown', 'H4: unknown until checked');
      assert.equal(h.runtime.server(s1.id)?.spec.port, 8080, 'the data plane got the backend port');
      const s2 = await ok(h, 'POST', `/api/v1/backends/${be.id}/servers`, { name: 'web-2', instanceId: inst.id });
      expectNext(s2);
      assert.equal(s2.address, '192.168.1.10', 'address follows the instance');
      assert.equal(s2.serverType, 'web', 'server type from the instance');
      assert.equal(s2.weight, 1, 'weight defaults to 1');

      // Reads.
      assert.equal((await ok(h, 'GET', '/api/v1/load-balancers')).length, 1);
      assert.equal((await ok(h, 'GET', `/api/v1/load-balancers/${lb.id}`)).name, 'shop');
      assert.equal((await ok(h, 'GET', `/api/v1/frontends?loadBalancerId=${lb.id}`)).length, 1);
      assert.equal((await ok(h, 'GET', '/api/v1/frontends?loadBalancerId=lb-other')).length, 0);
      assert.equal((await ok(h, 'GET', `/api/v1/backends?loadBalancerId=${lb.id}`))[0].id, be.id);
      assert.equal((await ok(h, 'GET', `/api/v1/backends/${be.id}/servers`)).length, 2);
      assert.equal((await ok(h, 'GET', `/api/v1/backends/${be.id}/servers/${s1.id}`)).name, 'web-1');
      assert.equal((await ok(h, 'GET', `/api/v1/instances/${inst.id}`)).os, 'ubuntu-24.04');
      assert.equal((await ok(h, 'GET', '/api/v1/instances')).length, 1);

      // Updates (S2): live on the data plane when the answer comes.
      const u1 = await ok(h, 'PATCH', `/api/v1/backends/${be.id}/servers/${s1.id}`, {
        weight: 5,
        port: 9090,
        passive: true,
      });
      expectNext(u1);
      assert.equal(u1.weight, 5);
      assert.equal(u1.zone, 'az1', 'fields not given are kept');
      assert.equal(h.runtime.server(s1.id)?.spec.weight, 5);
      assert.equal(h.runtime.server(s1.id)?.spec.endpoint, '10.0.0.11:9090');
      assert.equal(u1.status.state, 'passive');
      const ub = await ok(h, 'PATCH', `/api/v1/backends/${be.id}`, {
        algorithm: 'least-connections',
        healthCheck: { rise: 3 },
      });
      expectNext(ub);
      assert.equal(ub.healthCheck.rise, 3);
      assert.equal(ub.healthCheck.fall, 3, 'nested fields merge');
      assert.equal(ub.healthCheck.http.path, '/');
      const uf = await ok(h, 'PATCH', `/api/v1/frontends/${fe.id}`, {
        enabled: false,
        timeouts: { clientIdleSeconds: 30 },
      });
      expectNext(uf);
      assert.deepEqual(uf.timeouts, { requestHeaderSeconds: 10, clientIdleSeconds: 30 });
      assert.deepEqual(uf.status, { listening: false, reason: 'disabled' });
      const ul = await ok(h, 'PATCH', `/api/v1/load-balancers/${lb.id}`, { description: 'the shop' });
      expectNext(ul);
      assert.equal(ul.description, 'the shop');
      const same = await ok(h, 'PATCH', `/api/v1/load-balancers/${lb.id}`, { description: 'the shop' });
      assert.equal(same.configVersion, v, 'a change that changes nothing keeps the version');

      // A PATCH of the instance's IP moves the server naming it, in the same change (S7).
      const ui = await ok(h, 'PATCH', `/api/v1/instances/${inst.id}`, { privateIp: '192.168.1.20' });
      expectNext(ui);
      assert.equal((await ok(h, 'GET', `/api/v1/backends/${be.id}/servers/${s2.id}`)).address, '192.168.1.20');
      assert.equal(h.runtime.server(s2.id)?.spec.address, '192.168.1.20');

      // Audit (C6): newest first, actor, before/after.
      const audit = await ok(h, 'GET', '/api/v1/audit?limit=2');
      assert.equal(audit.length, 2);
      assert.equal(audit[0].action, 'update');
      assert.equal(audit[0].resource, `instance/${inst.id}`);
      assert.equal(audit[0].actor, 'admin');
      assert.equal(audit[0].before.privateIp, '192.168.1.10');
      assert.equal(audit[0].after.privateIp, '192.168.1.20');
      assert.equal(audit[0].configVersion, v);

      // Deletes: a server drains (S3), then the rest in dependency order.
      const d1 = await ok(h, 'DELETE', `/api/v1/backends/${be.id}/servers/${s1.id}`);
      expectNext(d1);
      assert.equal(d1.id, s1.id);
      assert.equal((await h.call('GET', `/api/v1/backends/${be.id}/servers/${s1.id}`)).status, 404);
      expectNext(await ok(h, 'DELETE', `/api/v1/frontends/${fe.id}`));
      expectNext(await ok(h, 'DELETE', `/api/v1/backends/${be.id}`));
      assert.equal(h.control.state.servers.length, 0, 'the backend took its servers with it');
      expectNext(await ok(h, 'DELETE', `/api/v1/instances/${inst.id}`));
      expectNext(await ok(h, 'DELETE', `/api/v1/load-balancers/${lb.id}`));
      assert.deepEqual(await ok(h, 'GET', '/api/v1/load-balancers'), []);
    } finally {
      await h.close(true);
    }
  });

  it('S8: looks servers up by address, id and instance id across load balancers', async () => {
    const h = await startApi();
    try {
      const inst = await ok(h, 'POST', '/api/v1/instances', { name: 'vm', privateIp: '10.1.0.5' });
      const out: { lb: string; be: string }[] = [];
      for (const name of ['a', 'b']) {
        const lb = await ok(h, 'POST', '/api/v1/load-balancers', { name, allowedNetworks: ['10.0.0.0/8'] });
        const be = await ok(h, 'POST', '/api/v1/backends', {
          loadBalancerId: lb.id,
          name: 'app',
          mode: 'tcp',
          port: 7000,
        });
        await ok(h, 'POST', `/api/v1/backends/${be.id}/servers`, { name: 'by-inst', instanceId: inst.id });
        await ok(h, 'POST', `/api/v1/backends/${be.id}/servers`, {
          name: 'custom',
          address: `10.2.0.${out.length + 1}`,
        });
        out.push({ lb: lb.id, be: be.id });
      }
      const byAddr = await ok(h, 'GET', '/api/v1/servers?address=10.1.0.5');
      assert.equal(byAddr.length, 2);
      assert.deepEqual(byAddr.map((r: Json) => r.loadBalancerName).sort(), ['a', 'b']);
      assert.equal(byAddr[0].backendName, 'app');
      assert.equal(byAddr[0].server.name, 'by-inst');
      assert.ok(byAddr[0].server.status, 'server entries carry their status');
      const byInst = await ok(h, 'GET', `/api/v1/servers?instanceId=${inst.id}`);
      assert.equal(byInst.length, 2);
      const one = await ok(h, 'GET', `/api/v1/servers?id=${byAddr[0].server.id}`);
      assert.equal(one.length, 1);
      assert.equal(one[0].backendId, byAddr[0].backendId);
      assert.deepEqual(await ok(h, 'GET', '/api/v1/servers?address=10.9.9.9'), []);
      assert.equal((await ok(h, 'GET', '/api/v1/servers?address=10.2.0.2'))[0].loadBalancerId, out[1]!.lb);
    } finally {
      await h.close(true);
    }
  });

  it('C2: a restart from the same data dir restores everything, and versions go on from there', async () => {
    const h = await startApi();
    const lb = await ok(h, 'POST', '/api/v1/load-balancers', { name: 'keep', allowedNetworks: ['10.0.0.0/8'] });
    const be = await ok(h, 'POST', '/api/v1/backends', {
      loadBalancerId: lb.id,
      name: 'web',
      mode: 'http',
      port: 80,
      algorithm: 'weighted-round-robin',
      slowStart: { enabled: true, durationSeconds: 120 },
    });
    const s = await ok(h, 'POST', `/api/v1/backends/${be.id}/servers`, { name: 'w1', address: '10.0.0.1', weight: 7 });
    await ok(h, 'POST', '/api/v1/frontends', {
      loadBalancerId: lb.id,
      name: 'www',
      protocol: 'http',
      port: 18081,
      defaultBackendId: be.id,
    });
    const state = structuredClone(h.control.state);
    const version = h.control.version;
    await h.close(false);

    const h2 = await startApi({ dir: h.dir });
    try {
      assert.equal(h2.control.version, version);
      assert.deepEqual(h2.control.state, state);
      assert.equal(h2.plane.appliedVersion, version, 'the restored configuration is applied at start');
      assert.equal((await ok(h2, 'GET', `/api/v1/backends/${be.id}/servers/${s.id}`)).weight, 7);
      assert.equal(h2.runtime.server(s.id)?.spec.weight, 7);
      const next = await ok(h2, 'PATCH', `/api/v1/load-balancers/${lb.id}`, { description: 'after restart' });
      assert.equal(next.configVersion, version + 1);
      assert.equal((await ok(h2, 'GET', '/api/v1/audit')).length, 5, 'the audit log survived too');
    } finally {
      await h2.close(true);
    }
  });
});

describe('auth', () => {
  it('401 without or with a wrong token, and nothing changes', async () => {
    const h = await startApi();
    try {
      for (const token of [null, 'wrong', `${ADMIN}x`, '']) {
        const r = await h.call('POST', '/api/v1/load-balancers', { name: 'x' }, token);
        assert.equal(r.status, 401);
        assert.equal(r.body.error.code, 'unauthorized');
        assert.equal((await h.call('GET', '/api/v1/load-balancers', undefined, token)).status, 401);
      }
      const basic = await h.app.inject({
        method: 'GET',
        url: '/api/v1/load-balancers',
        headers: { authorization: `Basic ${ADMIN}` },
      });
      assert.equal(basic.statusCode, 401);
      assert.equal((await h.call('GET', '/metrics', undefined, null)).status, 401);
      assert.equal((await h.call('GET', '/metrics', undefined, 'nope')).status, 401);
      assert.equal(h.control.version, 0);
      assert.deepEqual(await ok(h, 'GET', '/api/v1/load-balancers'), []);
      assert.equal(
        (await h.call('GET', '/openapi.json', undefined, null)).status,
        200,
        'the OpenAPI document is public',
      );
    } finally {
      await h.close(true);
    }
  });

  it('generates the admin token into the data dir (0600) when the env has none, and reuses it', async () => {
    const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { resolveAdminToken } = await import('../src/api/auth.ts');
    const { silentLogger } = await import('../src/core/log.ts');
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-token-'));
    try {
      const t1 = resolveAdminToken(dir, silentLogger, {});
      assert.ok(t1.length >= 32);
      assert.equal(statSync(join(dir, 'admin-token')).mode & 0o777, 0o600);
      assert.equal(readFileSync(join(dir, 'admin-token'), 'utf8').trim(), t1);
      assert.equal(resolveAdminToken(dir, silentLogger, {}), t1, 'reused');
      const fromEnv = 'from-env-0123456789';
      assert.equal(resolveAdminToken(dir, silentLogger, { FULCRUM_ADMIN_TOKEN: fromEnv }), fromEnv);
      // Issue 10 point 4: a short or spaced admin token is refused at start, naming the variable.
      assert.throws(
        () => resolveAdminToken(dir, silentLogger, { FULCRUM_ADMIN_TOKEN: 'short-token' }),
        /FULCRUM_ADMIN_TOKEN: must be at least 16/,
      );
      assert.throws(
        () => resolveAdminToken(dir, silentLogger, { FULCRUM_ADMIN_TOKEN: 'has a space 0123456789' }),
        /printable ASCII/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tokens: created once with the secret, roles enforced (viewer reads, operator changes servers), revoked', async () => {
    const h = await startApi();
    try {
      const lb = await ok(h, 'POST', '/api/v1/load-balancers', { name: 'r', ipAsBackend: true });
      const be = await ok(h, 'POST', '/api/v1/backends', { loadBalancerId: lb.id, name: 'b', mode: 'tcp', port: 1 });
      const viewer = await ok(h, 'POST', '/api/v1/tokens', { name: 'grafana', role: 'viewer' });
      assert.match(viewer.token, /^ftk_/);
      const operator = await ok(h, 'POST', '/api/v1/tokens', { name: 'deploy', role: 'operator' });
      const list = await ok(h, 'GET', '/api/v1/tokens');
      assert.deepEqual(
        list.map((t: Json) => t.name),
        ['grafana', 'deploy'],
      );
      assert.ok(
        list.every((t: Json) => t.token === undefined),
        'no secrets in the list',
      );
      assert.equal((await h.call('POST', '/api/v1/tokens', { name: 'grafana', role: 'viewer' })).status, 409);
      assert.equal((await h.call('POST', '/api/v1/tokens', { name: 'x', role: 'root' })).body.error.field, 'role');

      // viewer: reads only.
      assert.equal((await h.call('GET', '/api/v1/backends', undefined, viewer.token)).status, 200);
      assert.equal((await h.call('GET', '/metrics', undefined, viewer.token)).status, 200);
      const v0 = h.control.version;
      const denied = await h.call(
        'POST',
        `/api/v1/backends/${be.id}/servers`,
        { name: 's', address: '1.2.3.4' },
        viewer.token,
      );
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.code, 'forbidden');
      assert.equal((await h.call('GET', '/api/v1/tokens', undefined, viewer.token)).status, 403);
      // operator: servers yes, other resources no.
      const s = await ok(
        h,
        'POST',
        `/api/v1/backends/${be.id}/servers`,
        { name: 's', address: '1.2.3.4' },
        operator.token,
      );
      await ok(h, 'PATCH', `/api/v1/backends/${be.id}/servers/${s.id}`, { enabled: false }, operator.token);
      assert.equal((await h.call('PATCH', `/api/v1/backends/${be.id}`, { port: 2 }, operator.token)).status, 403);
      assert.equal((await h.call('POST', '/api/v1/load-balancers', { name: 'z' }, operator.token)).status, 403);
      assert.equal(h.control.version, v0 + 2, 'only the operator server changes happened');
      assert.equal((await ok(h, 'GET', '/api/v1/audit?limit=1'))[0].actor, 'deploy', 'the audit names the token');

      // revoke
      await ok(h, 'DELETE', `/api/v1/tokens/${operator.id}`);
      assert.equal((await h.call('GET', '/api/v1/backends', undefined, operator.token)).status, 401);
      assert.equal((await h.call('DELETE', `/api/v1/tokens/${operator.id}`)).status, 404);
    } finally {
      await h.close(true);
    }
  });

  it('tokens survive a restart', async () => {
    const h = await startApi();
    const t = await ok(h, 'POST', '/api/v1/tokens', { name: 'ci', role: 'viewer' });
    await h.close(false);
    const h2 = await startApi({ dir: h.dir });
    try {
      assert.equal((await h2.call('GET', '/api/v1/load-balancers', undefined, t.token)).status, 200);
    } finally {
      await h2.close(true);
    }
  });

  it('DELETE with content-type application/json and no body works (as curl sends it); an empty POST is a 400', async () => {
    const h = await startApi();
    try {
      const lb = await ok(h, 'POST', '/api/v1/load-balancers', { name: 'empty-body' });
      const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
      const del = await h.app.inject({ method: 'DELETE', url: `/api/v1/load-balancers/${lb.id}`, headers });
      assert.equal(del.statusCode, 200, del.body);
      assert.equal(del.json().configVersion, 2);
      const post = await h.app.inject({ method: 'POST', url: '/api/v1/load-balancers', headers });
      assert.equal(post.statusCode, 400);
      assert.match(post.json().error.message, /^body: /);
      assert.equal(h.control.version, 2, 'the empty POST changed nothing');
    } finally {
      await h.close(true);
    }
  });

  it('session cookie: POST /session sets an HttpOnly SameSite=Strict cookie that authenticates; DELETE clears it', async () => {
    const h = await startApi();
    try {
      const bad = await h.app.inject({ method: 'POST', url: '/api/v1/session', payload: { token: 'nope' } });
      assert.equal(bad.statusCode, 401);
      assert.equal(bad.headers['set-cookie'], undefined);
      const res = await h.app.inject({ method: 'POST', url: '/api/v1/session', payload: { token: ADMIN } });
      assert.equal(res.statusCode, 200);
      const cookie = String(res.headers['set-cookie']);
      assert.match(cookie, /^fulcrum_session=[^;]+; HttpOnly; SameSite=Strict; Path=\//);
      const pair = cookie.split(';')[0]!;
      // A change riding on the cookie must come from the console's own origin (issue 10 point 4).
      for (const origin of [undefined, 'http://evil.example', 'null', 'http://localhost:81']) {
        const csrf = await h.app.inject({
          method: 'POST',
          url: '/api/v1/load-balancers',
          headers: { cookie: pair, ...(origin ? { origin } : {}) },
          payload: { name: 'c' },
        });
        assert.equal(csrf.statusCode, 403, `origin ${origin}`);
        assert.equal(csrf.json().error.field, 'origin');
      }
      const withCookie = await h.app.inject({
        method: 'POST',
        url: '/api/v1/load-balancers',
        headers: { cookie: pair, origin: 'http://localhost:80' },
        payload: { name: 'c' },
      });
      assert.equal(withCookie.statusCode, 201);
      assert.equal(withCookie.json().configVersion, 1, 'the refused attempts changed nothing');
      assert.equal(
        (await h.app.inject({ method: 'GET', url: '/api/v1/session', headers: { cookie: pair } })).json().role,
        'admin',
      );
      const out = await h.app.inject({ method: 'DELETE', url: '/api/v1/session', headers: { cookie: pair } });
      assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
      assert.equal(
        (await h.app.inject({ method: 'GET', url: '/api/v1/load-balancers', headers: { cookie: pair } })).statusCode,
        401,
      );
      assert.equal(
        (
          await h.app.inject({
            method: 'GET',
            url: '/api/v1/load-balancers',
            headers: { cookie: 'fulcrum_session=forged' },
          })
        ).statusCode,
        401,
      );
    } finally {
      await h.close(true);
    }
  });
});
