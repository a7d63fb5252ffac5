import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { get, namedHttpServer, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { freePort } from './helpers/plane.ts';

// The Foundation issue end to end: the public API configures, the data plane carries real
// HTTP to real servers started here.
describe('foundation end to end (API → store → data plane)', () => {
  let f: TestFulcrum;
  const servers: Awaited<ReturnType<typeof namedHttpServer>>[] = [];
  let lb: { id: string };
  /** The http backend and frontend port made by the first test, used by the next ones. */
  let beId = '';
  let port = 0;
  before(async () => {
    f = await startTestFulcrum();
    lb = await f.ok('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] });
    for (const n of ['s1', 's2', 's3', 'standby']) servers.push(await namedHttpServer(n));
  });
  after(async () => {
    await f.close();
    for (const s of servers) await s.close();
  });

  it('splits 600 requests 1:2:3 by weight, smoothly (A1, S4)', async () => {
    const be = await f.ok('POST', '/backends', {
      loadBalancerId: lb.id,
      name: 'web',
      mode: 'http',
      algorithm: 'weighted-round-robin',
      healthCheck: { enabled: false },
    });
    for (const [i, w] of [1, 2, 3].entries()) {
      const s = await f.ok('POST', `/backends/${be.id}/servers`, {
        name: `s${i + 1}`,
        serverType: 'web',
        address: '127.0.0.1',
        port: servers[i]!.port,
        weight: w,
      });
      assert.equal(typeof s.configVersion, 'number');
    }
    port = await freePort();
    const fe = await f.ok('POST', '/frontends', {
      loadBalancerId: lb.id,
      name: 'www',
      protocol: 'http',
      port,
      defaultBackendId: be.id,
    });
    assert.equal(fe.status?.listening, true, JSON.stringify(fe.status));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const seq: string[] = [];
    for (let i = 0; i < 600; i++) {
      const r = await get(`http://127.0.0.1:${port}/`, agent);
      assert.equal(r.status, 200);
      seq.push(r.body);
    }
    agent.destroy();
    const count = (n: string) => seq.filter((s) => s === n).length;
    for (const [n, want] of [
      ['s1', 100],
      ['s2', 200],
      ['s3', 300],
    ] as const) {
      assert.ok(Math.abs(count(n) - want) <= want * 0.05, `${n}: ${count(n)} of 600, want ${want} ± 5 %`);
    }
    let run = 1;
    for (let i = 1; i < seq.length; i++) {
      run = seq[i] === seq[i - 1] ? run + 1 : 1;
      assert.ok(run <= 2, `more than 2 in a row to ${seq[i]} at request ${i}`);
    }
    beId = be.id;
  });

  it('sends traffic to a passive server only when no active one is available, then back (S5)', async () => {
    const standby = await f.ok('POST', `/backends/${beId}/servers`, {
      name: 'standby',
      serverType: 'web',
      address: '127.0.0.1',
      port: servers[3]!.port,
      passive: true,
    });
    const before = servers[3]!.count();
    for (let i = 0; i < 12; i++) assert.notEqual((await get(`http://127.0.0.1:${port}/`)).body, 'standby');
    assert.equal(servers[3]!.count(), before, 'the passive server got nothing while actives are available');
    const list = (await f.ok('GET', `/backends/${beId}/servers`)) as { id: string; name: string; passive: boolean }[];
    const actives = list.filter((s) => !s.passive);
    const first = actives[0];
    assert.ok(first);
    for (const s of actives) await f.ok('PATCH', `/backends/${beId}/servers/${s.id}`, { enabled: false });
    for (let i = 0; i < 5; i++) assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'standby');
    await f.ok('PATCH', `/backends/${beId}/servers/${first.id}`, { enabled: true });
    for (let i = 0; i < 5; i++) assert.equal((await get(`http://127.0.0.1:${port}/`)).body, first.name);
    for (const s of actives.slice(1)) await f.ok('PATCH', `/backends/${beId}/servers/${s.id}`, { enabled: true });
    await f.ok('DELETE', `/backends/${beId}/servers/${standby.id}`);
  });

  it('survives 30 live changes while 16 concurrent clients send requests: no request fails (S2)', async (t) => {
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const client = async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      while (!stop) {
        try {
          const r = await get(`http://127.0.0.1:${port}/`, agent);
          if (r.status === 200) ok++;
          else failures.push(`${r.status} ${r.body}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
      agent.destroy();
    };
    // The extra server has an endpoint of its own: one backend may not list the same
    // address:port twice. At most one extra is configured at a time (add, reweigh, remove).
    const spare = await namedHttpServer('spare');
    t.after(() => spare.close());
    const clients = Array.from({ length: 16 }, client);
    const extra: string[] = [];
    try {
      for (let i = 0; i < 30; i++) {
        if (i % 3 === 0) {
          const s = await f.ok('POST', `/backends/${beId}/servers`, {
            name: `extra-${i}`,
            serverType: 'web',
            address: '127.0.0.1',
            port: spare.port,
            weight: 1 + (i % 5),
          });
          extra.push(s.id);
        } else if (i % 3 === 1) {
          await f.ok('PATCH', `/backends/${beId}/servers/${extra[extra.length - 1]}`, { weight: 1 + ((i * 7) % 10) });
        } else {
          await f.ok('DELETE', `/backends/${beId}/servers/${extra.shift()}`);
        }
        await new Promise((r) => setTimeout(r, 30));
      }
    } finally {
      stop = true; // a refused change must not leave 16 clients looping
      await Promise.all(clients);
    }
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed of ${ok + failures.length}`);
    assert.ok(ok > 100, `only ${ok} requests went through`);
  });

  it('restores the configuration after a restart and traffic flows again (C2)', async () => {
    const before = await f.ok('GET', '/backends');
    await f.restart();
    const afterList = await f.ok('GET', '/backends');
    assert.deepEqual(
      JSON.stringify(afterList).replace(/"status":\{[^}]*\}/g, ''),
      JSON.stringify(before).replace(/"status":\{[^}]*\}/g, ''),
    );
    const r = await get(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 200);
    assert.match(r.body, /^s[123]$/);
  });
});
