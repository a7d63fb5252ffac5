import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { get, namedHttpServer, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { addFrontend, type ServerBody, serverBody } from './helpers/persistence-support.ts';
import { shopBackend } from './helpers/shop.ts';

// The one real-time slow-start test (SS1, SS2, SS5, O1): a 30-second ramp through the real API
// and the real HTTP data plane. Server `old` (first of the backend, full weight at once, SS3)
// is joined by `new`; checks are off, so the ramp starts when `new` is added (SS5). With equal
// weights `new` should get f/(1+f) of the requests, f = 0.1 + 0.9·t/30 s. The shares are
// measured in the first 5 s, around 15 s and after 30 s, and compared with that formula
// evaluated at each request's own send time.
const DURATION_S = 30;

describe('slow start end to end in real time (30 s)', () => {
  let f: TestFulcrum;
  let beId = '';
  let port = 0;
  const servers: Awaited<ReturnType<typeof namedHttpServer>>[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });

  before(async () => {
    f = await startTestFulcrum();
    servers.push(await namedHttpServer('old'), await namedHttpServer('new'));
    let lbId: string;
    ({ lbId, beId } = await shopBackend(f.ok, {
      algorithm: 'weighted-round-robin',
      slowStart: { enabled: true, durationSeconds: DURATION_S },
    }));
    const old = await f.ok('POST', `/backends/${beId}/servers`, serverBody('old', servers[0]!.port));
    assert.equal(old.status.state, 'active', 'SS3: the first server of an empty backend does not ramp');
    assert.equal(old.status.slowStartFactor, 1);
    port = await addFrontend(f.ok, lbId, 'www', beId);
  });

  after(async () => {
    agent.destroy();
    await f.close();
    for (const s of servers) await s.close();
  });

  /** Sends requests for `ms` (paced to ≤ 250/s); answers the measured share of `new` and the formula's. */
  async function measure(t0: number, ms: number): Promise<{ share: number; want: number; n: number }> {
    const end = Date.now() + ms;
    let n = 0;
    let hits = 0;
    let want = 0;
    while (Date.now() < end && n < 2000) {
      const sent = Date.now();
      const r = await get(`http://127.0.0.1:${port}/`, agent);
      assert.equal(r.status, 200);
      const fct = Math.min(1, 0.1 + (0.9 * (sent - t0)) / (DURATION_S * 1000));
      want += fct / (1 + fct);
      n++;
      if (r.body === 'new') hits++;
      const spent = Date.now() - sent;
      if (spent < 4) await new Promise((res) => setTimeout(res, 4 - spent));
    }
    return { share: hits / n, want: want / n, n };
  }

  const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
  const status = async (id: string): Promise<ServerBody['status']> =>
    (await f.ok('GET', `/backends/${beId}/servers/${id}`)).status;

  it('the new server ramps from ~10 % to its full share over 30 s, visible in its status', async () => {
    const before = Date.now();
    const added = await f.ok('POST', `/backends/${beId}/servers`, serverBody('new', servers[1]!.port));
    const t0 = Date.now();
    assert.ok(t0 - before < 2000, 'the add is live within the API answer');
    assert.equal(added.status.state, 'slow-start');
    assert.ok(
      added.status.slowStartFactor >= 0.1 && added.status.slowStartFactor < 0.15,
      `${added.status.slowStartFactor}`,
    );

    const first = await measure(t0, 5000);
    const mid5 = await status(added.id);
    assert.equal(mid5.state, 'slow-start');
    await sleepUntil(t0 + 14_000);
    const at15 = await status(added.id);
    const middle = await measure(t0, 2000);
    await sleepUntil(t0 + DURATION_S * 1000 + 500);
    const end = await status(added.id);
    const last = await measure(t0, 2000);
    const stats = await f.ok('GET', '/stats');
    const report = { first, middle, last, at15, end };
    console.log(`# slow start shares: ${JSON.stringify(report)}`);

    // first 5 s: f goes 0.10 → 0.25, share ≈ 9 % → 20 % (≈ 15 % on average)
    assert.ok(first.n >= 200, `enough requests in the first 5 s: ${first.n}`);
    assert.ok(first.share < 0.22, `first 5 s share ${first.share}`);
    assert.ok(Math.abs(first.share - first.want) < 0.04, `first 5 s: ${first.share} vs ${first.want}`);
    // around 15 s: f ≈ 0.55, share ≈ 35 %
    assert.equal(at15.state, 'slow-start');
    assert.ok(Math.abs(at15.slowStartFactor - 0.52) < 0.04, `factor at 14 s: ${at15.slowStartFactor}`);
    assert.ok(Math.abs(middle.share - middle.want) < 0.04, `15 s: ${middle.share} vs ${middle.want}`);
    assert.ok(middle.share > 0.28 && middle.share < 0.42, `15 s share ${middle.share}`);
    // after 30 s: full weight, half of the requests, state active
    assert.equal(end.state, 'active');
    assert.equal(end.slowStartFactor, 1);
    assert.ok(Math.abs(last.share - 0.5) < 0.03, `after 30 s share ${last.share}`);
    // P4/O1: per-server request counts show the imbalance the ramp caused
    const s = stats.servers.find((x: { id: string }) => x.id === added.id);
    assert.equal(s.slowStartFactor, 1);
    assert.ok(s.requests > 0);
  });
});
