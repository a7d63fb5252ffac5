// H4, H6 end to end in real time: a server whose health endpoint fails leaves rotation and
// comes back, while a client keeps sending real HTTP requests through a Plane.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { realClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/log.ts';
import { createHttpListener } from '../src/dataplane/http/listener.ts';
import { HealthService } from '../src/health/service.ts';
import type { FulcrumEvent } from '../src/runtime/events.ts';
import { backend, baseConfig, freePort, frontend, makePlane, server } from './helpers/plane.ts';

function backendServer(name: string, state: { healthy: boolean }): Promise<{ srv: Server; port: number }> {
  const srv = createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(state.healthy ? 200 : 503).end(state.healthy ? 'up' : 'down');
      return;
    }
    res.end(name);
  });
  return new Promise((r) => srv.listen(0, '127.0.0.1', () => r({ srv, port: (srv.address() as AddressInfo).port })));
}

test('real time: failing health check takes a server out of rotation and back (H4, H6)', async () => {
  const a = { healthy: true };
  const b = { healthy: true };
  const A = await backendServer('A', a);
  const B = await backendServer('B', b);
  const { plane, runtime, apply } = makePlane({ http: createHttpListener });
  const events: FulcrumEvent[] = [];
  runtime.setEventSink((e) => events.push(e));
  const health = new HealthService({ runtime, clock: realClock, log: silentLogger });
  const fePort = await freePort();
  const c = baseConfig();
  const be = backend('web', 'http');
  be.healthCheck = {
    enabled: true,
    type: 'http',
    port: null,
    intervalSeconds: 1,
    timeoutSeconds: 1,
    rise: 1,
    fall: 2,
    http: { method: 'GET', path: '/health', expectedCodes: '200' },
  };
  c.backends.push(be);
  c.servers.push(server('a', 'web', A.port), server('b', 'web', B.port));
  c.frontends.push(frontend('fe', 'http', fePort, 'web'));
  try {
    await apply(c);
    health.sync(runtime.snapshot!);
    const get = async (): Promise<string> => {
      const r = await fetch(`http://127.0.0.1:${fePort}/`, { signal: AbortSignal.timeout(2000) });
      const text = await r.text();
      return r.status === 200 ? text : `status ${r.status}`;
    };
    /** Sends requests every 50 ms until `done(seen)` or `ms` pass; returns every answer. */
    const drive = async (ms: number, done: (seen: string[]) => boolean): Promise<string[]> => {
      const seen: string[] = [];
      const end = Date.now() + ms;
      while (Date.now() < end) {
        seen.push(await get());
        if (done(seen)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return seen;
    };
    // H4: nothing before the first check (503), both in rotation after it (rise 1, interval 1 s).
    const first = await get();
    assert.match(first, /status 503|A|B/);
    const warm = await drive(3000, (s) => s.slice(-4).includes('A') && s.slice(-4).includes('B'));
    assert.ok(warm.slice(-4).includes('A') && warm.slice(-4).includes('B'), `both serve: ${warm.slice(-6)}`);

    // A's health fails: after fall (2) failed checks, ~1-3 s, A gets no new requests.
    a.healthy = false;
    const t0 = Date.now();
    const out = await drive(5000, (s) => s.length >= 6 && s.slice(-6).every((x) => x === 'B'));
    const outMs = Date.now() - t0;
    assert.ok(
      out.slice(-6).every((x) => x === 'B'),
      `A leaves rotation: ${out.slice(-8)}`,
    );
    assert.ok(outMs > 900, `not before two failed checks (${outMs} ms)`);
    assert.ok(
      out.every((x) => x === 'A' || x === 'B'),
      'no client error while A leaves',
    );
    const ra = runtime.servers.get('a')!;
    assert.equal(ra.health, 'unhealthy');
    assert.equal(ra.healthReason, 'response-code-mismatch');
    assert.equal(ra.lastCheck?.ok, false);
    const steady = await drive(1000, () => false);
    assert.ok(
      steady.every((x) => x === 'B'),
      'A stays out while failing',
    );

    // A recovers: back in rotation after one good check.
    a.healthy = true;
    const back = await drive(4000, (s) => s.slice(-4).includes('A'));
    assert.ok(back.includes('A'), 'A back in rotation');
    assert.equal(ra.health, 'healthy');

    const ha = events
      .filter((e) => e.kind === 'health' && e.serverId === 'a')
      .map((e) => `${e.from}>${e.to}:${e.reason}`);
    assert.deepEqual(ha, ['unknown>healthy:ok', 'healthy>unhealthy:response-code-mismatch', 'unhealthy>healthy:ok']);
    assert.ok(events.every((e) => typeof e.at === 'string' && e.backendId === 'web'));
  } finally {
    health.stop();
    await plane.close(0);
    A.srv.closeAllConnections();
    B.srv.closeAllConnections();
    A.srv.close();
    B.srv.close();
  }
});
