import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import tls from 'node:tls';
import { namedHttpServer, removeDir, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { get, waitFor } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';
import { TestPki } from './tls-pki.ts';

/**
 * `--workers N` (issue 13 point 1): N worker threads accept on every frontend (SO_REUSEPORT);
 * the primary keeps the control plane. What must hold whichever worker takes a connection:
 * a change is live in every worker before the API answers, rotations and weights are one
 * split, counters are summed, persistence cookies and TLS sessions work everywhere, a killed
 * worker is replaced, and a stop drains every worker.
 */

interface Line {
  worker?: number;
  server: string | null;
  status?: number;
  client: string;
}

/** The access log's records (the primary is its one writer; workers send their lines). */
function accessLines(file: string): Line[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

/** A GET on a fresh connection (so the kernel may hand it to any worker); answers status, body and headers. */
function fresh(port: number, headers: Record<string, string> = {}): Promise<http.IncomingMessage & { text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(Object.assign(res, { text })));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
  });
}

type Backend = Awaited<ReturnType<typeof namedHttpServer>>;

/** Load balancer `shop`, backend `web` (`fields`) with `servers`, an http frontend on a free port. */
async function shop(
  f: TestFulcrum,
  servers: { name: string; app: Backend; weight?: number }[],
  fields: Record<string, unknown> = {},
): Promise<{ lbId: string; beId: string; feId: string; port: number; ids: Map<string, string> }> {
  const lbId = (await f.ok('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] })).id;
  const beId = (
    await f.ok('POST', '/backends', {
      loadBalancerId: lbId,
      name: 'web',
      mode: 'http',
      healthCheck: { enabled: false },
      ...fields,
    })
  ).id;
  const ids = new Map<string, string>();
  for (const s of servers) {
    const body = { name: s.name, address: '127.0.0.1', port: s.app.port, weight: s.weight ?? 1 };
    ids.set(s.name, (await f.ok('POST', `/backends/${beId}/servers`, body)).id);
  }
  const port = await freePort();
  const fe = await f.ok('POST', '/frontends', {
    loadBalancerId: lbId,
    name: 'fe',
    protocol: 'http',
    bindAddress: '127.0.0.1',
    port,
    defaultBackendId: beId,
  });
  assert.equal(fe.status.listening, true, JSON.stringify(fe.status));
  return { lbId, beId, feId: fe.id, port, ids };
}

async function backends(t: { after(fn: () => Promise<void>): unknown }, ...names: string[]): Promise<Backend[]> {
  const apps = await Promise.all(names.map((n) => namedHttpServer(n)));
  t.after(async () => {
    for (const a of apps) await a.close();
  });
  return apps;
}

for (const workers of [2, 4]) {
  describe(`--workers ${workers}`, () => {
    it('a change is live in every worker before the API answers; every worker serves', async (t) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-workers-'));
      t.after(() => removeDir(dir));
      const log = path.join(dir, 'access.log');
      const g = await startTestFulcrum({ t, workers, accessLog: log });
      const [a, b] = await backends(t, 'a', 'b');
      const s = await shop(g, [{ name: 'a', app: a! }]);
      const other = (
        await g.ok('POST', '/backends', {
          loadBalancerId: s.lbId,
          name: 'other',
          mode: 'http',
          healthCheck: { enabled: false },
        })
      ).id;
      await g.ok('POST', `/backends/${other}/servers`, { name: 'b', address: '127.0.0.1', port: b!.port });
      for (let round = 0; round < 3; round++) {
        const to = round % 2 === 0 ? other : s.beId;
        const want = round % 2 === 0 ? 'b' : 'a';
        await g.ok('PATCH', `/frontends/${s.feId}`, { defaultBackendId: to });
        // No wait: the answer came after every worker applied the change.
        const n = 12 * workers;
        const bodies = await Promise.all(Array.from({ length: n }, () => fresh(s.port).then((r) => r.text)));
        assert.deepEqual(
          bodies.filter((x) => x !== want),
          [],
          `round ${round}: every request after the answer goes to ${want}`,
        );
      }
      await waitFor(() => accessLines(log).length >= 36 * workers, 5000, 'access-log lines');
      const seen = new Set(accessLines(log).map((l) => l.worker));
      assert.deepEqual(
        [...seen].sort(),
        Array.from({ length: workers }, (_, i) => i),
        'every worker served and wrote through the one access log',
      );
    });

    it('round robin and weighted round robin are one split across workers; /stats sums every worker', async (t) => {
      const f = await startTestFulcrum({ t, workers });
      const [a, b, c] = await backends(t, 'a', 'b', 'c');
      const s = await shop(
        f,
        [
          { name: 'a', app: a!, weight: 1 },
          { name: 'b', app: b!, weight: 2 },
          { name: 'c', app: c!, weight: 3 },
        ],
        { algorithm: 'weighted-round-robin' },
      );
      const count = async (n: number) => {
        const seen: Record<string, number> = {};
        for (let i = 0; i < n; i += 20) {
          const batch = await Promise.all(Array.from({ length: 20 }, () => fresh(s.port).then((r) => r.text)));
          for (const x of batch) seen[x] = (seen[x] ?? 0) + 1;
        }
        return seen;
      };
      assert.deepEqual(await count(600), { a: 100, b: 200, c: 300 }, 'weights 1:2:3 over 600 requests');
      await f.ok('PATCH', `/backends/${s.beId}`, { algorithm: 'round-robin' });
      assert.deepEqual(await count(300), { a: 100, b: 100, c: 100 }, 'round robin over 300 requests');
      const stats = await f.ok('GET', '/stats');
      const fe = stats.frontends.find((x: { id: string }) => x.id === s.feId);
      assert.equal(fe.requests, 900, 'the frontend counted every request of every worker');
      assert.equal(fe.responses['2xx'], 900);
      const perServer = stats.servers.filter((x: { backendId: string }) => x.backendId === s.beId);
      assert.deepEqual(
        perServer.map((x: { name: string; requests: number }) => [x.name, x.requests]),
        [
          ['a', 200],
          ['b', 300],
          ['c', 400],
        ],
        'servers counted every worker: 100/200/300 by weight, then 100 each',
      );
      const metrics = await (
        await fetch(`${f.url}/metrics`, { headers: { authorization: `Bearer ${f.token}` } })
      ).text();
      assert.match(metrics, new RegExp(`fulcrum_frontend_requests_total\\{[^}]*frontend_id="${s.feId}"[^}]*\\} 900`));
    });

    it('a persistence cookie set by one worker is honoured by every other', async (t) => {
      const f = await startTestFulcrum({ t, workers });
      const [a, b, c] = await backends(t, 'a', 'b', 'c');
      const s = await shop(
        f,
        [
          { name: 'a', app: a! },
          { name: 'b', app: b! },
          { name: 'c', app: c! },
        ],
        { persistence: { type: 'cookie', timeoutSeconds: 600 } },
      );
      const first = await fresh(s.port);
      const setCookie = first.headers['set-cookie']?.[0];
      assert.ok(setCookie, 'a persistence cookie');
      const cookie = setCookie.split(';')[0]!;
      const bodies = await Promise.all(Array.from({ length: 10 * workers }, () => fresh(s.port, { cookie })));
      assert.deepEqual(new Set(bodies.map((r) => r.text)), new Set([first.text]), 'every worker kept the client');
    });

    it('a killed worker is replaced within a second; the others never fail a request', async (t) => {
      const f = await startTestFulcrum({ t, workers });
      const [a, b] = await backends(t, 'a', 'b');
      const s = await shop(f, [
        { name: 'a', app: a! },
        { name: 'b', app: b! },
      ]);
      const pool = f.fulcrum.workers!;
      assert.equal(pool.liveCount, workers);
      // Steady state: the spare has booted (right after a start it may still be booting).
      assert.equal(await pool.spareReady(), true);
      // Keep-alive clients busy on every worker while worker 0 dies: those on the others never fail.
      let stop = false;
      let failed = 0;
      let served = 0;
      const client = async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        while (!stop) {
          try {
            const r = await get(`http://127.0.0.1:${s.port}/`, agent);
            if (r.status === 200) served++;
            else failed++;
          } catch {
            // The connection this client held on the killed worker: open a new one (counted below).
            failed++;
            agent.destroy();
          }
        }
        agent.destroy();
      };
      const clients = Array.from({ length: 4 * workers }, client);
      let replacedMs = 0;
      try {
        await waitFor(() => served > 50, 5000, 'traffic');
        const killedAt = Date.now();
        await pool.kill(0);
        await waitFor(() => pool.liveCount === workers, 5000, 'the replacement');
        replacedMs = Date.now() - killedAt;
        const before = served;
        await waitFor(() => served > before + 200, 5000, 'traffic after the replacement');
      } finally {
        stop = true;
        await Promise.all(clients);
      }
      t.diagnostic(`replaced in ${replacedMs} ms, ${failed} failed of ${served}`);
      assert.ok(replacedMs < 1000, `replaced in ${replacedMs} ms`);
      // Only connections that lived on the killed worker may fail, once each.
      assert.ok(failed <= 4 * workers, `${failed} failed requests`);
      // New connections after the replacement: none fails.
      const after = await Promise.all(Array.from({ length: 10 * workers }, () => fresh(s.port)));
      assert.deepEqual(new Set(after.map((r) => r.statusCode)), new Set([200]));
    });
  });
}

describe("--workers 2: reads that collect the workers' counters", () => {
  it('an authenticated GET collects them; an anonymous GET of a public route does not', async (t) => {
    const f = await startTestFulcrum({ t, workers: 2 });
    const pool = f.fulcrum.workers!;
    let calls = 0;
    const refresh = pool.refresh.bind(pool);
    pool.refresh = () => {
      calls++;
      return refresh();
    };
    const anonymous = async () => {
      const r = await fetch(`${f.url}/openapi.json`);
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    };
    let before = calls;
    for (let i = 0; i < 20; i++) await anonymous();
    // the once-a-second collection may fall in this window, once
    assert.ok(calls - before <= 1, `${calls - before} collections for 20 anonymous reads`);
    before = calls;
    for (let i = 0; i < 20; i++) await f.ok('GET', '/load-balancers');
    assert.ok(calls - before >= 20, `${calls - before} collections for 20 authenticated reads`);
  });
});

describe("--workers 2: a dead worker's connections", () => {
  it('stop counting when it dies: the open-connection count drops to what the others hold', async (t) => {
    const f = await startTestFulcrum({ t, workers: 2 });
    // A server that never answers: every request stays open, one connection each.
    const held = http.createServer(() => {});
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
    t.after(() => {
      held.closeAllConnections();
      held.close();
    });
    const app = { port: (held.address() as import('node:net').AddressInfo).port, close: async () => {} } as Backend;
    const s = await shop(f, [{ name: 'held', app }]);
    const serverPath = `/backends/${s.beId}/servers/${s.ids.get('held')}`;
    const open = async () => (await f.ok('GET', serverPath)).status.activeConnections as number;
    // 24 fresh connections: the kernel spreads them over both workers (all on one: 2^-23).
    const requests: http.ClientRequest[] = [];
    let lost = 0;
    for (let i = 0; i < 24; i++) {
      const req = http.get({ host: '127.0.0.1', port: s.port, path: `/${i}`, agent: false });
      req.on('error', () => lost++);
      requests.push(req);
    }
    t.after(() => {
      for (const r of requests) r.destroy();
    });
    await waitFor(async () => (await open()) === 24, 5000, 'all 24 open at the server');
    await f.fulcrum.workers!.kill(0);
    await waitFor(() => f.fulcrum.workers!.liveCount === 2, 5000, 'the replacement');
    await waitFor(() => lost > 0, 5000, 'the requests on the dead worker fail');
    // The count drops at once to what the other worker holds; `lost` reaches it as the errors arrive.
    await waitFor(async () => (await open()) === 24 - lost, 5000, 'open back to what the other worker holds');
    assert.ok(lost < 24, `the other worker held some (${lost} lost)`);
  });
});

describe('--workers 2: passive health, TLS and stop', () => {
  it('passive health counts failures from every worker in order and ejects for all of them (H7)', async (t) => {
    const f = await startTestFulcrum({ t, workers: 2 });
    const [good] = await backends(t, 'good');
    const bad = await namedHttpServer('bad', 0, (_req, res) => {
      res.statusCode = 500;
    });
    t.after(() => bad.close());
    const s = await shop(f, [
      { name: 'good', app: good! },
      { name: 'bad', app: bad },
    ]);
    // Round robin on fresh connections: the failures of 'bad' arrive through both workers.
    const seen: string[] = [];
    for (let i = 0; i < 30; i++) seen.push((await fresh(s.port)).text);
    const badAnswers = seen.filter((x) => x === 'bad').length;
    // 5 consecutive failures eject it (the default); one more may be on its way while the ejection travels.
    assert.ok(badAnswers >= 5 && badAnswers <= 7, `bad answered ${badAnswers} times before its ejection`);
    const events = await f.ok('GET', `/events?serverId=${s.ids.get('bad')}`);
    assert.equal(events.filter((e: { kind: string }) => e.kind === 'ejection').length, 1, 'one ejection');
    const after = await Promise.all(Array.from({ length: 20 }, () => fresh(s.port).then((r) => r.text)));
    assert.deepEqual(new Set(after), new Set(['good']), 'no worker sends to the ejected server');
    await f.fulcrum.workers!.refresh();
    assert.ok(f.fulcrum.plane.runtime.server(s.ids.get('bad')!)!.isEjected(Date.now()));
  });

  it('udp: every client flow is answered whichever worker the kernel gives it (U1)', async (t) => {
    const echo = dgram.createSocket('udp4');
    echo.on('message', (m, r) => echo.send(m, r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    t.after(() => echo.close());
    const f = await startTestFulcrum({ t, workers: 2 });
    const lbId = (await f.ok('POST', '/load-balancers', { name: 'u', allowedNetworks: ['127.0.0.0/8'] })).id;
    const be = (
      await f.ok('POST', '/backends', {
        loadBalancerId: lbId,
        name: 'dns',
        mode: 'udp',
        healthCheck: { enabled: false },
      })
    ).id;
    await f.ok('POST', `/backends/${be}/servers`, { name: 'e', address: '127.0.0.1', port: echo.address().port });
    const port = await freePort();
    const fe = await f.ok('POST', '/frontends', {
      loadBalancerId: lbId,
      name: 'u',
      protocol: 'udp',
      bindAddress: '127.0.0.1',
      port,
      defaultBackendId: be,
    });
    assert.equal(fe.status.listening, true, JSON.stringify(fe.status));
    const flow = (i: number) =>
      new Promise<string[]>((resolve, reject) => {
        const c = dgram.createSocket('udp4');
        const got: string[] = [];
        const timer = setTimeout(() => {
          c.close();
          reject(new Error(`flow ${i}: ${got.length} of 3 answers`));
        }, 5000);
        c.on('message', (m) => {
          got.push(m.toString());
          if (got.length === 3) {
            clearTimeout(timer);
            c.close();
            resolve(got.sort());
          }
        });
        c.bind(0, '127.0.0.1', () => {
          for (let k = 0; k < 3; k++) c.send(`${i}-${k}`, port, '127.0.0.1');
        });
      });
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => flow(i)));
    assert.deepEqual(answers[7], ['7-0', '7-1', '7-2']);
    const stats = await f.ok('GET', '/stats');
    assert.equal(stats.frontends.find((x: { id: string }) => x.id === fe.id).totalConnections, 24, '24 flows counted');
  });

  it('a TLS session resumes on whichever worker the next connection lands (shared ticket keys)', async (t) => {
    const pki = new TestPki();
    t.after(() => pki.cleanup());
    const ca = pki.ca('ca');
    const cert = pki.leaf(ca, { cn: 'a.test', sans: ['DNS:a.test'] });
    const f = await startTestFulcrum({ t, workers: 2 });
    const [a] = await backends(t, 'a');
    const s = await shop(f, [{ name: 'a', app: a! }]);
    const certId = (await f.ok('POST', '/certificates', { name: 'a', kind: 'server', pem: cert.bundle })).id;
    const port = await freePort();
    await f.ok('POST', '/frontends', {
      loadBalancerId: s.lbId,
      name: 'tls',
      protocol: 'https',
      bindAddress: '127.0.0.1',
      port,
      defaultBackendId: s.beId,
      certificateIds: [certId],
    });
    const connect = (session?: Buffer) =>
      new Promise<{ reused: boolean; session: Buffer | undefined }>((resolve, reject) => {
        let ticket: Buffer | undefined;
        const sock = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ca: ca.certPem, session });
        sock.on('session', (x) => (ticket = x));
        sock.on('secureConnect', () => {
          sock.write('GET / HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n');
        });
        sock.on('data', () => {});
        sock.on('end', () => resolve({ reused: sock.isSessionReused(), session: ticket }));
        sock.on('error', reject);
      });
    const first = await connect();
    assert.ok(first.session, 'a session ticket');
    const again = await Promise.all(Array.from({ length: 16 }, () => connect(first.session)));
    assert.deepEqual(
      again.map((x) => x.reused),
      again.map(() => true),
      'every connection resumed (16 fresh connections spread over 2 workers)',
    );
  });

  it('a stop drains every worker: requests in flight on each finish', async (t) => {
    const slow = await namedHttpServer('slow', 600);
    t.after(() => slow.close());
    const f = await startTestFulcrum({ t, workers: 2 });
    const s = await shop(f, [{ name: 'slow', app: slow }]);
    const inFlight = Array.from({ length: 8 }, () => fresh(s.port));
    await waitFor(() => slow.count() === 8, 5000, 'requests in flight');
    await f.stop(5000);
    const answers = await Promise.all(inFlight);
    assert.deepEqual(
      answers.map((r) => r.statusCode),
      answers.map(() => 200),
    );
  });
});
