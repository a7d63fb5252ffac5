import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { addFrontend, type ServerBody, send, serverBody } from './helpers/persistence-support.ts';
import { shopBackend } from './helpers/shop.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DRAIN_S = 2;

/** An HTTP server that answers its name at once, except `/hold` requests, which wait for `release()`. */
async function holdServer(name: string) {
  const held: http.ServerResponse[] = [];
  const srv = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/hold') held.push(res);
    else res.end(name);
  });
  srv.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    name,
    port: (srv.address() as AddressInfo).port,
    held,
    /** Answers every held request. */
    release(): void {
      for (const res of held.splice(0)) if (!res.destroyed) res.end(name);
    },
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

interface EventBody {
  kind: string;
  serverId: string | null;
  from: string | null;
  to: string | null;
  reason: string | null;
  detail?: { connectionsCut?: number; activeConnections?: number };
}

// Draining (S3) as one primitive through the API and the CLI: PATCH enabled:false, DELETE and
// `fulcrum server drain` put the server in state `draining`: no new requests, open ones finish
// until the backend's drainTimeoutSeconds, then they are cut; events record the start and the
// end with the number of connections cut; a deleted server disappears when its drain ends.
describe('drain through the API, the HTTP data plane and the CLI (S3)', () => {
  let f: TestFulcrum;
  let beId = '';
  let port = 0;
  const apps: Awaited<ReturnType<typeof holdServer>>[] = [];
  let ids = new Map<string, string>();

  before(async () => {
    f = await startTestFulcrum();
    for (const n of ['a', 'b', 'c']) apps.push(await holdServer(n));
    let lbId: string;
    ({ lbId, beId, ids } = await shopBackend(f.ok, { drainTimeoutSeconds: DRAIN_S }, apps.slice(0, 2)));
    port = await addFrontend(f.ok, lbId, 'www', beId);
  });

  after(async () => {
    for (const a of apps) a.release();
    await f.close();
    for (const a of apps) await a.close();
  });

  /**
   * Sends one `/hold` request; answers the held server and the pending answer (which settles
   * when that server releases it, or rejects when the connection is cut).
   */
  async function holdOne(): Promise<{ server: Awaited<ReturnType<typeof holdServer>>; answer: Promise<unknown> }> {
    const before = apps.map((a) => a.held.length);
    const answer = send(port, { path: '/hold' });
    answer.catch(() => {}); // observed by the test when it matters
    let server: Awaited<ReturnType<typeof holdServer>> | undefined;
    await waitFor(
      () => {
        server = apps.find((a, i) => a.held.length > before[i]!);
        return server !== undefined;
      },
      3000,
      'a held request',
    );
    return { server: server!, answer };
  }

  const serverGet = (id: string) => f.api('GET', `/backends/${beId}/servers/${id}`);
  const events = async (id: string): Promise<EventBody[]> =>
    (await f.ok('GET', `/events?serverId=${id}`)).filter((e: EventBody) => e.kind.startsWith('drain'));

  async function onlyTo(names: string[], n = 8): Promise<void> {
    for (let i = 0; i < n; i++) {
      const r = await send(port);
      assert.equal(r.status, 200);
      assert.ok(names.includes(r.body), `new request went to ${r.body}, expected one of ${names}`);
    }
  }

  it('PATCH enabled:false drains: state draining, no new requests, the open one finishes, drain-end with 0 cut', async () => {
    const { server: x, answer } = await holdOne();
    const id = ids.get(x.name)!;
    const other = apps.slice(0, 2).find((a) => a !== x)!;
    const patched = await f.ok('PATCH', `/backends/${beId}/servers/${id}`, { enabled: false });
    assert.equal(patched.status.state, 'draining');
    assert.equal(patched.status.activeConnections, 1);
    const got = (await serverGet(id)).body as ServerBody;
    assert.equal(got.status.state, 'draining');
    assert.equal(got.enabled, false);
    await onlyTo([other.name]);
    x.release();
    const done = (await answer) as { status: number; body: string };
    assert.equal(done.status, 200, 'the open request finished on the draining server');
    assert.equal(done.body, x.name);
    await waitFor(async () => ((await serverGet(id)).body as ServerBody).status.state === 'disabled', 1500, 'disabled');
    const ev = await events(id);
    const start = ev.find((e) => e.kind === 'drain-start')!;
    const end = ev.find((e) => e.kind === 'drain-end')!;
    assert.deepEqual([start.from, start.to, start.reason], ['enabled', 'draining', 'disabled']);
    assert.equal(start.detail?.activeConnections, 1);
    assert.deepEqual([end.from, end.to, end.reason], ['draining', 'disabled', 'connections-finished']);
    assert.equal(end.detail?.connectionsCut, 0);
    await f.ok('PATCH', `/backends/${beId}/servers/${id}`, { enabled: true });
    assert.equal(((await serverGet(id)).body as ServerBody).status.state, 'active');
  });

  it('DELETE drains: visible as draining in GET, cut at drainTimeoutSeconds, drain-end counts the cut, then gone', async () => {
    const { server: x, answer } = await holdOne();
    const id = ids.get(x.name)!;
    const other = apps.slice(0, 2).find((a) => a !== x)!;
    const t0 = Date.now();
    const deleted = await f.ok('DELETE', `/backends/${beId}/servers/${id}`);
    assert.equal(deleted.status.state, 'draining');
    assert.equal(deleted.status.activeConnections, 1);
    const one = await serverGet(id);
    assert.equal(one.status, 200, 'a deleted server stays visible while it drains');
    assert.equal(one.body.status.state, 'draining');
    assert.equal(one.body.status.reason, 'removed');
    const list = (await f.ok('GET', `/backends/${beId}/servers`)) as ServerBody[];
    assert.equal(list.find((s) => s.id === id)?.status.state, 'draining');
    await onlyTo([other.name]);
    await assert.rejects(answer, 'the open request is cut at the drain deadline');
    const cutAfter = Date.now() - t0;
    assert.ok(cutAfter >= DRAIN_S * 1000 - 100 && cutAfter < DRAIN_S * 1000 + 1500, `cut after ${cutAfter} ms`);
    assert.equal((await serverGet(id)).status, 404, 'gone once drained');
    assert.ok(!((await f.ok('GET', `/backends/${beId}/servers`)) as ServerBody[]).some((s) => s.id === id));
    const ev = await events(id);
    const end = ev.find((e) => e.kind === 'drain-end')!;
    assert.deepEqual([end.to, end.reason], ['removed', 'drain-timeout']);
    assert.equal(end.detail?.connectionsCut, 1);
    assert.equal(ev.find((e) => e.kind === 'drain-start')?.reason, 'removed');
    x.release();
    ids.set(x.name, (await f.ok('POST', `/backends/${beId}/servers`, serverBody(x.name, x.port))).id);
  });

  it('DELETE of an idle server: answered as draining (removed), gone at once, drain-end with 0 cut', async () => {
    const c = apps[2]!;
    const id = (await f.ok('POST', `/backends/${beId}/servers`, serverBody(c.name, c.port))).id;
    const deleted = await f.ok('DELETE', `/backends/${beId}/servers/${id}`);
    assert.equal(deleted.status.state, 'draining');
    assert.equal(deleted.status.reason, 'removed');
    assert.equal((await serverGet(id)).status, 404);
    const end = (await events(id)).find((e) => e.kind === 'drain-end')!;
    assert.deepEqual([end.reason, end.detail?.connectionsCut], ['connections-finished', 0]);
  });

  it('the CLI `fulcrum server drain` and `server remove` use the same primitive', async () => {
    const cli = (...args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        execFile(
          path.join(ROOT, 'node_modules/.bin/node'),
          [path.join(ROOT, 'src/cli/main.ts'), ...args, '--url', f.fulcrum.apiUrl, '--token', f.token],
          { timeout: 15_000, env: { ...process.env, FULCRUM_TOKEN: '', FULCRUM_ADMIN_TOKEN: '' } },
          (err, out, errOut) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: errOut }),
        );
      });
    const { server: x, answer } = await holdOne();
    const id = ids.get(x.name)!;
    const other = apps.slice(0, 2).find((a) => a !== x)!;
    const drained = await cli('server', 'drain', beId, id);
    assert.equal(drained.code, 0, drained.err);
    const body = JSON.parse(drained.out) as ServerBody;
    assert.equal(body.enabled, false);
    assert.equal(body.status.state, 'draining');
    assert.equal(((await serverGet(id)).body as ServerBody).status.state, 'draining');
    await onlyTo([other.name], 4);
    x.release();
    assert.equal(((await answer) as { status: number }).status, 200);
    const enabled = await cli('server', 'enable', beId, id);
    assert.equal(enabled.code, 0, enabled.err);
    assert.equal((JSON.parse(enabled.out) as ServerBody).status.state, 'active');
    const removed = await cli('server', 'remove', beId, id);
    assert.equal(removed.code, 0, removed.err);
    assert.equal((JSON.parse(removed.out) as ServerBody).status.state, 'draining');
    assert.equal((await serverGet(id)).status, 404);
    // a wrong id is refused with the API's message and exit code 1, nothing changes
    const bad = await cli('server', 'drain', beId, 'no-such-server');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /404/);
    const ev = await events(id);
    assert.ok(ev.some((e) => e.kind === 'drain-start' && e.reason === 'disabled'));
    assert.ok(ev.some((e) => e.kind === 'drain-start' && e.reason === 'removed'));
  });
});
