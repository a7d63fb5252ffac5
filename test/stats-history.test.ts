import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { get, namedHttpServer, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { freePort } from './helpers/plane.ts';

// issue 16 point 3: GET /api/v1/stats/history after real traffic, bounds and refusals.
describe('stats history (GET /stats/history)', () => {
  let f: TestFulcrum;
  let slow: Awaited<ReturnType<typeof namedHttpServer>>;
  const ids = {} as Record<'lb' | 'be' | 'fe' | 's', string>;
  let port = 0;
  before(async () => {
    f = await startTestFulcrum();
    slow = await namedHttpServer('slow', 1200);
    ids.lb = (await f.ok('POST', '/load-balancers', { name: 'hist', allowedNetworks: ['127.0.0.0/8'] })).id;
    ids.be = (
      await f.ok('POST', '/backends', {
        loadBalancerId: ids.lb,
        name: 'web',
        mode: 'http',
        port: slow.port,
        healthCheck: { enabled: false },
      })
    ).id;
    ids.s = (
      await f.ok('POST', `/backends/${ids.be}/servers`, { name: 's', serverType: 'web', address: '127.0.0.1' })
    ).id;
    port = await freePort();
    ids.fe = (
      await f.ok('POST', '/frontends', {
        loadBalancerId: ids.lb,
        name: 'www',
        protocol: 'http',
        port,
        defaultBackendId: ids.be,
      })
    ).id;
  });
  after(async () => {
    await f.close();
    await slow.close();
  });

  const sum = (a: (number | null)[]) => a.reduce<number>((s, v) => s + (v ?? 0), 0);

  it('serves requests, classes, active connections, TTFB p50/p95 and bytes after real traffic', async () => {
    // the series exists once the collector has sampled the new server (its baseline)
    for (let i = 0; i < 30; i++) {
      const first = await f.ok('GET', `/stats/history?serverId=${ids.s}`);
      if (first.times.length > 0 && first.servers[ids.s].requests.at(-1) !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const answers = await Promise.all(Array.from({ length: 8 }, () => get(`http://127.0.0.1:${port}/`)));
    assert.ok(answers.every((a) => a.body === 'slow'));
    let h = await f.ok('GET', `/stats/history?serverId=${ids.s}`);
    for (let i = 0; i < 40 && sum(h.servers[ids.s]['2xx']) < 8; i++) {
      await new Promise((r) => setTimeout(r, 100));
      h = await f.ok('GET', `/stats/history?serverId=${ids.s}`);
    }
    const s = h.servers[ids.s];
    assert.equal(h.resolution, 'second');
    assert.equal(h.intervalSeconds, 1);
    assert.equal(h.times.length, s.requests.length);
    assert.ok(h.times.every((t: number, i: number) => i === 0 || t > h.times[i - 1]));
    assert.equal(sum(s.requests), 8);
    assert.equal(sum(s['2xx']), 8);
    assert.equal(sum(s['5xx']), 0);
    assert.ok(Math.max(...s.activeConnections) >= 1, `active ${s.activeConnections}`);
    // a server's bytesIn: what it answered (`slow` plus the head); bytesOut: what it was sent
    assert.ok(sum(s.bytesIn) > 8 * 4, `bytes in ${sum(s.bytesIn)}`);
    assert.ok(sum(s.bytesOut) > 8 * 16, `bytes out ${sum(s.bytesOut)}`);
    const p50 = s.ttfbP50Ms.filter((v: number | null) => v !== null);
    const p95 = s.ttfbP95Ms.filter((v: number | null) => v !== null);
    assert.ok(p50.length >= 1 && p50.every((v: number) => v > 1000 && v < 1600), `p50 ${p50}`);
    assert.ok(
      p95.every((v: number) => v > 1000 && v < 1600),
      `p95 ${p95}`,
    );
    assert.equal(h.total, null);
    assert.equal(h.bytesPerSeries, 113_024);

    const b = await f.ok('GET', `/stats/history?backendId=${ids.be}&limit=600`);
    assert.deepEqual(Object.keys(b.servers), [ids.s]);
    assert.equal(sum(b.total.requests), 8);
    assert.ok(b.times.length <= 600);
    const fe = await f.ok('GET', `/stats/history?frontendId=${ids.fe}`);
    assert.equal(sum(fe.frontends[ids.fe].requests), 8);
    assert.equal(sum(fe.frontends[ids.fe]['2xx']), 8);
    const lb = await f.ok('GET', `/stats/history?loadBalancerId=${ids.lb}`);
    assert.deepEqual([Object.keys(lb.servers), Object.keys(lb.frontends)], [[ids.s], [ids.fe]]);
    const m = await f.ok('GET', `/stats/history?serverId=${ids.s}&resolution=minute`);
    assert.equal(m.intervalSeconds, 60);
    assert.ok(m.times.length <= 1440);
  });

  it('answers 400 for bad parameters and 404 for an unknown id', async () => {
    for (const q of [
      '',
      `?serverId=${ids.s}&backendId=${ids.be}`,
      `?serverId=${ids.s}&resolution=hour`,
      `?serverId=${ids.s}&limit=0`,
      `?serverId=${ids.s}&limit=abc`,
      `?serverId=${ids.s}&other=1`,
      '?serverId=',
    ]) {
      const r = await f.api('GET', `/stats/history${q}`);
      assert.equal(r.status, 400, `${q} → ${r.status} ${JSON.stringify(r.body)}`);
    }
    const r = await f.api('GET', '/stats/history?backendId=00000000-0000-4000-8000-000000000000');
    assert.equal(r.status, 404, JSON.stringify(r.body));
    const v = await f.api('GET', `/stats/history?serverId=${ids.s}`, undefined, null);
    assert.equal(v.status, 401);
  });
});
