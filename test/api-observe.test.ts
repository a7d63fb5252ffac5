import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ADMIN, type ApiHarness, type Json, startApi } from './api-support.ts';

/**
 * Observability through the API: events (H6) listing and the SSE stream over a real socket,
 * /stats (O1) with per-second series, /metrics (Prometheus text), backend zone and OS
 * warnings (S9, S10), and the OpenAPI document (C1).
 */

let h: ApiHarness;
let port = 0;
const ids = {} as Record<'lb' | 'be' | 'fe' | 'i1' | 'i2' | 's1' | 's2', string>;

async function ok(method: string, url: string, body?: unknown): Promise<Json> {
  const r = await h.call(method, url, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${url} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

before(async () => {
  h = await startApi();
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  port = (h.app.server.address() as AddressInfo).port;
  ids.lb = (await ok('POST', '/api/v1/load-balancers', { name: 'obs', allowedNetworks: ['10.0.0.0/8'] })).id;
  ids.be = (await ok('POST', '/api/v1/backends', { loadBalancerId: ids.lb, name: 'web', mode: 'http', port: 80 })).id;
  ids.fe = (
    await ok('POST', '/api/v1/frontends', {
      loadBalancerId: ids.lb,
      name: 'www',
      protocol: 'http',
      port: 18090,
      defaultBackendId: ids.be,
    })
  ).id;
  ids.i1 = (
    await ok('POST', '/api/v1/instances', { name: 'vm-a', privateIp: '10.0.1.1', zone: 'az1', os: 'ubuntu' })
  ).id;
  ids.i2 = (
    await ok('POST', '/api/v1/instances', { name: 'vm-b', privateIp: '10.0.2.1', zone: 'az2', os: 'windows' })
  ).id;
  ids.s1 = (await ok('POST', `/api/v1/backends/${ids.be}/servers`, { name: 'a', instanceId: ids.i1 })).id;
  ids.s2 = (await ok('POST', `/api/v1/backends/${ids.be}/servers`, { name: 'b', instanceId: ids.i2 })).id;
});
after(() => h.close(true));

/** Opens the SSE stream over a real socket; resolves with a reader of `data:` events. */
function openStream(
  query = '',
): Promise<{ next(timeoutMs: number): Promise<Json>; close(): void; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: `/api/v1/events/stream${query}`, headers: { authorization: `Bearer ${ADMIN}` } },
      (res) => {
        let buf = '';
        const queue: Json[] = [];
        let waiter: ((e: Json) => void) | undefined;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block
              .split('\n')
              .filter((l) => l.startsWith('data: '))
              .map((l) => l.slice(6))
              .join('\n');
            if (!data) continue;
            const e = JSON.parse(data);
            if (waiter) {
              const w = waiter;
              waiter = undefined;
              w(e);
            } else queue.push(e);
          }
        });
        resolve({
          headers: res.headers,
          next(timeoutMs) {
            if (queue.length) return Promise.resolve(queue.shift());
            return new Promise((res2, rej2) => {
              const t = setTimeout(() => rej2(new Error('no event within the time limit')), timeoutMs);
              waiter = (e) => {
                clearTimeout(t);
                res2(e);
              };
            });
          },
          close() {
            req.destroy();
          },
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('events', () => {
  it('lists configuration changes newest first, filtered by backend, server, kind and since', async () => {
    const all = await ok('GET', '/api/v1/events');
    assert.ok(all.length >= 7);
    assert.ok(
      all.every((e: Json, i: number) => i === 0 || all[i - 1].id > e.id),
      'newest first',
    );
    assert.equal(all[0].kind, 'config');
    assert.equal(all[0].serverId, ids.s2);
    assert.equal(all[0].detail.resource, `server/${ids.s2}`);
    const byServer = await ok('GET', `/api/v1/events?serverId=${ids.s1}`);
    assert.equal(byServer.length, 1);
    assert.equal(byServer[0].detail.action, 'create');
    const byBackend = await ok('GET', `/api/v1/events?backendId=${ids.be}`);
    assert.ok(byBackend.every((e: Json) => e.backendId === ids.be));
    assert.equal(byBackend.length, 3);
    assert.equal((await ok('GET', '/api/v1/events?limit=2')).length, 2);
    assert.equal((await ok('GET', `/api/v1/events?since=${all[1].id}`)).length, 1);
    assert.deepEqual(await ok('GET', '/api/v1/events?kind=health'), []);
    assert.equal((await h.call('GET', '/api/v1/events?limit=0')).body.error.field, 'limit');
    assert.equal((await h.call('GET', '/api/v1/events?since=yesterday')).body.error.field, 'since');
  });

  it('stores runtime events (health, drains) through the sink', async () => {
    h.runtime.emit({
      kind: 'health',
      loadBalancerId: ids.lb,
      backendId: ids.be,
      serverId: ids.s1,
      from: 'unknown',
      to: 'healthy',
      reason: 'rise',
    });
    const got = await ok('GET', `/api/v1/events?kind=health&serverId=${ids.s1}`);
    assert.equal(got.length, 1);
    assert.equal(got[0].to, 'healthy');
  });

  it('streams events over Server-Sent Events on a real socket, with the same filters', async () => {
    const stream = await openStream();
    const filtered = await openStream(`?serverId=${ids.s2}`);
    try {
      assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
      await ok('PATCH', `/api/v1/backends/${ids.be}/servers/${ids.s1}`, { weight: 3 });
      const e = await stream.next(3000);
      assert.equal(e.kind, 'config');
      assert.equal(e.serverId, ids.s1);
      assert.equal(typeof e.id, 'number');
      h.runtime.emit({
        kind: 'health',
        loadBalancerId: ids.lb,
        backendId: ids.be,
        serverId: ids.s2,
        from: 'unknown',
        to: 'unhealthy',
        reason: 'timeout',
      });
      const e2 = await stream.next(3000);
      assert.equal(e2.kind, 'health');
      const f = await filtered.next(3000);
      assert.equal(f.serverId, ids.s2, 'the filtered stream skipped the s1 change');
      assert.equal(f.to, 'unhealthy');
    } finally {
      stream.close();
      filtered.close();
    }
  });

  it('refuses the stream without a token', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/v1/events/stream' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 401);
  });
});

describe('backend status (S9, S10) and server status', () => {
  it('shows per-zone health and warns for a zone with no healthy server and for mixed OS', async () => {
    const rt1 = h.runtime.server(ids.s1)!;
    const rt2 = h.runtime.server(ids.s2)!;
    rt1.health = 'healthy';
    rt1.healthReason = null;
    rt2.health = 'unhealthy';
    rt2.healthReason = 'failed-checks';
    const be = await ok('GET', `/api/v1/backends/${ids.be}`);
    assert.deepEqual(
      be.status.zones.sort((a: Json, b: Json) => a.zone.localeCompare(b.zone)),
      [
        { zone: 'az1', servers: 1, healthy: 1 },
        { zone: 'az2', servers: 1, healthy: 0 },
      ],
    );
    const codes = be.status.warnings.map((w: Json) => w.code).sort();
    assert.deepEqual(codes, ['mixed-os', 'zone-unhealthy']);
    assert.equal(be.status.warnings.find((w: Json) => w.code === 'zone-unhealthy').zone, 'az2');
    const s2 = await ok('GET', `/api/v1/backends/${ids.be}/servers/${ids.s2}`);
    assert.equal(s2.status.health, 'unhealthy');
    assert.equal(s2.status.reason, 'failed-checks');
    rt2.health = 'healthy';
    rt2.healthReason = null;
    const again = await ok('GET', `/api/v1/backends/${ids.be}`);
    assert.deepEqual(
      again.status.warnings.map((w: Json) => w.code),
      ['mixed-os'],
      'the zone warning clears',
    );
  });
});

describe('stats and metrics (O1)', () => {
  it('/stats gives counters per frontend, backend and server, and per-second series', async () => {
    const rt1 = h.runtime.server(ids.s1)!;
    // Drive counters as the data plane would and sample twice, one "second" apart.
    const collector = (await import('../src/control/stats.ts')).StatsCollector;
    const c = new collector(h.plane, () => h.control.state);
    c.sample();
    rt1.requests += 40;
    rt1.totalConnections += 4;
    rt1.bytesIn += 1000;
    rt1.countResponse(200);
    rt1.countResponse(503);
    const fc = h.plane.counters.get(ids.fe)!;
    fc.requests += 40;
    fc.bytesOut += 2000;
    c.sample();
    const v = c.view();
    const srv = v.servers.find((s) => s.id === ids.s1)!;
    assert.equal(srv.requests, rt1.requests);
    assert.equal(srv.requestsPerSecond, 40);
    assert.equal(srv.responses['2xx'], 1);
    assert.equal(srv.responses['5xx'], 1);
    assert.equal(srv.health, 'healthy');
    assert.equal(srv.slowStartFactor, 1);
    const be = v.backends.find((b) => b.id === ids.be)!;
    assert.equal(be.requests, rt1.requests + h.runtime.server(ids.s2)!.requests);
    assert.equal(be.requestsPerSecond, 40);
    assert.deepEqual(v.series.frontends[ids.fe]!.requests, [40]);
    assert.deepEqual(v.series.total.bytesOut, [2000]);

    const api = await ok('GET', '/api/v1/stats');
    assert.equal(api.configVersion, h.control.version);
    assert.ok(api.frontends.some((f: Json) => f.id === ids.fe && f.requests === fc.requests));
    assert.ok(
      api.servers.some((s: Json) => s.id === ids.s1 && s.requests === rt1.requests && typeof s.state === 'string'),
    );
    assert.equal(api.series.windowSeconds, 300);
  });

  it('/metrics answers Prometheus text with per-server counters', async () => {
    const r = await h.call('GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    const text = String(r.body);
    assert.match(text, /# TYPE fulcrum_server_requests_total counter/);
    const line = text
      .split('\n')
      .find((l) => l.startsWith('fulcrum_server_requests_total{') && l.includes(`server_id="${ids.s1}"`));
    assert.ok(line, 'a line for the server');
    assert.equal(Number(line!.split(' ').pop()), h.runtime.server(ids.s1)!.requests);
    assert.match(text, new RegExp(`fulcrum_config_version ${h.control.version}`));
    assert.match(text, /fulcrum_frontend_listening\{/);
  });
});

describe('OpenAPI', () => {
  it('serves OpenAPI 3 JSON with every path of the API', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/openapi.json`);
    assert.equal(r.status, 200);
    const doc = (await r.json()) as Json;
    assert.match(doc.openapi, /^3\./);
    for (const p of [
      '/api/v1/load-balancers',
      '/api/v1/load-balancers/{id}',
      '/api/v1/frontends',
      '/api/v1/frontends/{id}',
      '/api/v1/backends',
      '/api/v1/backends/{id}',
      '/api/v1/backends/{id}/servers',
      '/api/v1/backends/{id}/servers/{serverId}',
      '/api/v1/servers',
      '/api/v1/instances',
      '/api/v1/instances/{id}',
      '/api/v1/events',
      '/api/v1/events/stream',
      '/api/v1/stats',
      '/api/v1/tokens',
      '/api/v1/tokens/{id}',
      '/api/v1/audit',
      '/api/v1/session',
      '/metrics',
    ]) {
      assert.ok(doc.paths[p], `path ${p}`);
    }
    const post = doc.paths['/api/v1/backends/{id}/servers'].post;
    const portSchema = post.requestBody.content['application/json'].schema.properties.port;
    assert.equal(portSchema.maximum, 65535);
    assert.equal(portSchema.nullable, true);
    assert.ok(doc.paths['/api/v1/session'].post && doc.paths['/api/v1/session'].delete);
    assert.ok(doc.components.securitySchemes.bearer);
  });
});
