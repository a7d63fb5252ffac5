import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';
import { Metrics } from '../src/api/metrics.ts';
import type { ConfigState } from '../src/config/model.ts';
import type { EventHub } from '../src/control/events.ts';
import { StatsCollector } from '../src/control/stats.ts';
import { createTcpListener } from '../src/dataplane/tcp/listener.ts';
import { FRONT_PROTOCOLS, startFrontProxy } from './helpers/front-protocols.ts';
import { waitFor } from './helpers/http-client.ts';
import { startBackend, type TestBackend } from './helpers/http-fixtures.ts';
import { backend, baseConfig, freePort, frontend, makePlane, server } from './helpers/plane.ts';

/**
 * Issue 15 point 4, end to end with real sockets: servers with `maxConnections` behind a
 * backend queue. Slow backends count the requests (tcp: connections) they hold at once; the
 * figures measured are printed for the closing note.
 */

interface Slow {
  backend: TestBackend;
  now: number;
  max: number;
  /** Request paths in the order they reached this server. */
  order: string[];
}

/** An HTTP backend answering after `delayMs`, counting the requests it holds at once. */
async function slowBackend(delayMs: number, startOrder: string[]): Promise<Slow> {
  const s: Slow = { backend: undefined as unknown as TestBackend, now: 0, max: 0, order: [] };
  s.backend = await startBackend((req: http.IncomingMessage, res: http.ServerResponse) => {
    s.now++;
    if (s.now > s.max) s.max = s.now;
    s.order.push(req.url ?? '');
    startOrder.push(req.url ?? '');
    req.resume();
    setTimeout(() => {
      s.now--;
      res.end('ok');
    }, delayMs);
  });
  return s;
}

const limited =
  (maxConnections: number) =>
  (c: ConfigState): void => {
    for (const s of c.servers) s.maxConnections = maxConnections;
  };

for (const protocol of FRONT_PROTOCOLS) {
  describe(`maxConnections and the queue over ${protocol}`, () => {
    test('2 servers × maxConnections 10, 100 concurrent clients: never above 10, all served in order', async () => {
      const startOrder: string[] = [];
      const a = await slowBackend(100, startOrder);
      const b = await slowBackend(100, startOrder);
      const p = await startFrontProxy(protocol, [a.backend.port, b.backend.port], {
        backend: { queue: { maxLength: 200, timeoutSeconds: 10 } },
        extra: limited(10),
      });
      let proxyMax = 0;
      const sample = setInterval(() => {
        for (const rt of p.runtime.servers.values()) proxyMax = Math.max(proxyMax, rt.activeConnections);
      }, 5);
      try {
        const started = performance.now();
        const answers: Promise<number>[] = [];
        for (let i = 0; i < 100; i++) {
          // h2: 4 connections of 25 streams each (a session sends at most 32 upstream at once)
          const localAddress = protocol === 'h2' ? `127.0.0.${1 + (i % 4)}` : undefined;
          answers.push(p.request({ path: `/${i}`, localAddress }).then((r) => r.status));
          await new Promise((r) => setTimeout(r, 1)); // a known arrival order
        }
        const statuses = await Promise.all(answers);
        const elapsed = performance.now() - started;
        assert.deepEqual(
          statuses.filter((s) => s !== 200),
          [],
        );
        assert.ok(a.max <= 10 && b.max <= 10, `max concurrent per server ${a.max} / ${b.max}`);
        assert.ok(proxyMax <= 10, `runtime activeConnections peaked at ${proxyMax}`);
        assert.equal(a.max, 10);
        assert.equal(b.max, 10);
        const q = p.runtime.backends.get('be')!.queue;
        assert.equal(q.timeouts, 0);
        assert.equal(q.full, 0);
        assert.ok(q.served >= 60, `served from the queue: ${q.served}`);
        // FIFO: the position at which each request reached a server follows its send order
        // (an inversion only between requests sent within a few ms, racing on the sockets)
        let displacement = 0;
        startOrder.forEach((path, pos) => {
          displacement = Math.max(displacement, Math.abs(Number(path.slice(1)) - pos));
        });
        assert.ok(displacement <= 8, `largest displacement from the send order: ${displacement}`);
        console.log(
          `[queue ${protocol}] 100 clients, 2 × maxConnections 10, 100 ms answers: max concurrent ${a.max} / ${b.max} (runtime ${proxyMax}); ` +
            `queued ${q.queued}, served from queue ${q.served}, peak length ${q.peakLength}, mean wait ${Math.round(q.waitMsTotal / Math.max(1, q.served))} ms, ` +
            `max wait ${q.maxWaitMs} ms, timeouts ${q.timeouts}, full ${q.full}; largest order displacement ${displacement}; all done in ${Math.round(elapsed)} ms`,
        );
        await waitFor(() => p.records.length >= 100);
        assert.equal(
          p.records.filter((r) => r.termination !== undefined).length,
          0,
          JSON.stringify(p.records.find((r) => r.termination !== undefined)),
        );
      } finally {
        clearInterval(sample);
        await p.close();
        await a.backend.close();
        await b.backend.close();
      }
    });

    test('queue-full and queue-timeout: 503 with their reasons', async () => {
      const order: string[] = [];
      const a = await slowBackend(1500, order);
      const p = await startFrontProxy(protocol, [a.backend.port], {
        backend: { queue: { maxLength: 1, timeoutSeconds: 1 } },
        extra: limited(1),
      });
      try {
        const first = p.request({ path: '/first' });
        await waitFor(() => a.now === 1);
        const queued = p.request({ path: '/queued' });
        await waitFor(() => p.runtime.backends.get('be')!.queue.length === 1);
        const full = await p.request({ path: '/full' });
        assert.equal(full.status, 503);
        const t0 = performance.now();
        const timedOut = await queued;
        const waited = performance.now() - t0;
        assert.equal(timedOut.status, 503);
        assert.ok(waited > 700 && waited < 1500, `queue-timeout after ${Math.round(waited)} ms`);
        assert.equal((await first).status, 200);
        await waitFor(() => p.records.length >= 3);
        const reason = (path: string) => p.records.find((r) => r.target === path)?.termination;
        assert.equal(reason('/full'), 'queue-full');
        assert.equal(reason('/queued'), 'queue-timeout');
        assert.equal(reason('/first'), undefined);
        const t = p.plane.counters.get('fe')!.terminations;
        assert.equal(t['queue-full'], 1);
        assert.equal(t['queue-timeout'], 1);
        const q = p.runtime.backends.get('be')!.queue;
        assert.deepEqual([q.full, q.timeouts, q.served, q.length], [1, 1, 0, 0]);
        assert.equal(a.max, 1);
        // /stats and /metrics
        const stats = new StatsCollector(p.plane, () => p.config);
        const v = stats.view();
        const bq = v.backends.find((x) => x.id === 'be')!.queue;
        assert.deepEqual(
          { ...bq, waitMsAvg: 0, waitMsMax: 0, waitMsTotal: 0 },
          {
            maxLength: 1,
            timeoutSeconds: 1,
            length: 0,
            peakLength: 1,
            queued: 1,
            served: 0,
            timeouts: 1,
            full: 1,
            waitMsAvg: 0,
            waitMsMax: 0,
            waitMsTotal: 0,
          },
        );
        const s0 = v.servers.find((x) => x.id === 's0')!;
        assert.deepEqual([s0.maxConnections, s0.connectionLimit], [1, 1]);
        assert.equal(v.frontends.find((x) => x.id === 'fe')!.terminations['queue-timeout'], 1);
        const text = await new Metrics(stats, { dropped: 0 } as unknown as EventHub, { processMetrics: false }).text();
        assert.match(text, /fulcrum_backend_queue_timeouts_total\{[^}]*backend_id="be"[^}]*\} 1/);
        assert.match(text, /fulcrum_backend_queue_full_total\{[^}]*\} 1/);
        assert.match(text, /fulcrum_backend_queue_length\{[^}]*\} 0/);
        assert.match(text, /fulcrum_server_connection_limit\{[^}]*server_id="s0"[^}]*\} 1/);
        assert.match(text, /fulcrum_frontend_terminations_total\{[^}]*reason="queue-full"[^}]*\} 1/);
      } finally {
        await p.close();
        await a.backend.close();
      }
    });

    test('without a queue, a full backend answers 503 queue-full at once', async () => {
      const a = await slowBackend(500, []);
      const p = await startFrontProxy(protocol, [a.backend.port], { extra: limited(1) });
      try {
        const first = p.request({ path: '/first' });
        await waitFor(() => a.now === 1);
        const r = await p.request({ path: '/second' });
        assert.equal(r.status, 503);
        assert.equal((await first).status, 200);
        await waitFor(() => p.records.length >= 2);
        assert.equal(p.records.find((x) => x.target === '/second')?.termination, 'queue-full');
      } finally {
        await p.close();
        await a.backend.close();
      }
    });
  });
}

// HTTP/2 streams count like requests: 30 streams on ONE connection against maxConnections 5.
test('HTTP/2: streams of one connection each count against maxConnections', async () => {
  const order: string[] = [];
  const a = await slowBackend(100, order);
  const p = await startFrontProxy('h2', [a.backend.port], {
    backend: { queue: { maxLength: 100, timeoutSeconds: 10 } },
    extra: limited(5),
  });
  try {
    const statuses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => p.request({ path: `/${i}` }).then((r) => r.status)),
    );
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.equal(a.max, 5);
    const q = p.runtime.backends.get('be')!.queue;
    assert.ok(q.served >= 20, `served from the queue ${q.served}`);
    console.log(
      `[queue h2 one session] 30 streams, maxConnections 5: max concurrent ${a.max}, served from queue ${q.served}`,
    );
  } finally {
    await p.close();
    await a.backend.close();
  }
});

/**
 * A TCP server that answers "ok" after `delayMs` and ends, counting the connections it serves
 * (from accept to its answer). `maxOpen` also counts sockets until their close: the proxy
 * closes a finished session before it connects the next client in the freed slot, but this
 * server may see the new connection before the old one's FIN (one poll of the event loop).
 */
async function slowTcp(
  delayMs: number,
): Promise<{ port: number; now: number; max: number; maxOpen: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const o = { port: 0, now: 0, max: 0, maxOpen: 0, close: async () => {} };
  const srv = net.createServer((s) => {
    sockets.add(s);
    o.now++;
    if (o.now > o.max) o.max = o.now;
    if (sockets.size > o.maxOpen) o.maxOpen = sockets.size;
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    setTimeout(() => {
      o.now--;
      s.end('ok');
    }, delayMs);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  o.port = (srv.address() as net.AddressInfo).port;
  o.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => srv.close(r));
  };
  return o;
}

/** Connects to `port` and resolves with what the server sent before the close ('' = closed at once). */
function tcpRead(port: number): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let got = '';
    c.on('data', (d) => {
      got += d.toString();
    });
    c.on('error', () => {});
    c.on('close', () => resolve(got));
  });
}

describe('maxConnections and the queue over tcp', () => {
  async function tcpProxy(
    servers: number[],
    maxConnections: number,
    queue?: { maxLength: number; timeoutSeconds: number },
  ) {
    const port = await freePort();
    const cfg = baseConfig();
    cfg.backends.push(backend('be', 'tcp', queue ? { queue } : {}));
    for (const [i, p] of servers.entries()) cfg.servers.push(server(`s${i}`, 'be', p, { maxConnections }));
    cfg.frontends.push(frontend('fe', 'tcp', port, 'be'));
    const made = makePlane({ tcp: createTcpListener });
    await made.apply(cfg);
    return { port, ...made };
  }

  test('2 servers × maxConnections 10, 100 concurrent connections: never above 10, all served', async () => {
    const a = await slowTcp(100);
    const b = await slowTcp(100);
    const { port, plane, runtime } = await tcpProxy([a.port, b.port], 10, { maxLength: 200, timeoutSeconds: 10 });
    let proxyMax = 0;
    const sample = setInterval(() => {
      for (const rt of runtime.servers.values()) proxyMax = Math.max(proxyMax, rt.activeConnections);
    }, 5);
    try {
      const got = await Promise.all(Array.from({ length: 100 }, () => tcpRead(port)));
      assert.ok(proxyMax <= 10, `runtime activeConnections peaked at ${proxyMax}`);
      assert.equal(got.filter((g) => g !== 'ok').length, 0);
      assert.ok(a.max <= 10 && b.max <= 10, `${a.max} / ${b.max}`);
      assert.equal(a.max + b.max, 20);
      const q = runtime.backends.get('be')!.queue;
      assert.equal(q.timeouts, 0);
      assert.ok(q.served >= 60, `served from the queue ${q.served}`);
      console.log(
        `[queue tcp] 100 connections, 2 × maxConnections 10, 100 ms sessions: max concurrent ${a.max} / ${b.max} (runtime ${proxyMax}; open sockets incl. closing ${a.maxOpen} / ${b.maxOpen}); queued ${q.queued}, ` +
          `served ${q.served}, peak length ${q.peakLength}, mean wait ${Math.round(q.waitMsTotal / Math.max(1, q.served))} ms, max wait ${q.maxWaitMs} ms, timeouts ${q.timeouts}`,
      );
    } finally {
      clearInterval(sample);
      await plane.close(200);
      await a.close();
      await b.close();
    }
  });

  test('queue-full and queue-timeout close the connection, counted', async () => {
    const a = await slowTcp(1500);
    const { port, plane, runtime } = await tcpProxy([a.port], 1, { maxLength: 1, timeoutSeconds: 1 });
    try {
      const first = tcpRead(port);
      await waitFor(() => a.now === 1);
      const queued = tcpRead(port);
      await waitFor(() => runtime.backends.get('be')!.queue.length === 1);
      assert.equal(await tcpRead(port), '', 'queue full: closed at once');
      assert.equal(await queued, '', 'queue timeout: closed');
      assert.equal(await first, 'ok');
      const t = plane.counters.get('fe')!.terminations;
      assert.equal(t['queue-full'], 1);
      assert.equal(t['queue-timeout'], 1);
      assert.equal(a.max, 1);
    } finally {
      await plane.close(200);
      await a.close();
    }
  });
});

// Slow start scales the limit on the real plane: a server joining with maxConnections 5 at
// the start of a 20-minute ramp (factor 0.1, still below 0.2 for 2 minutes) takes
// ceil(5 × factor) = 1 request at a time.
test('slow start scales maxConnections on a joining server (http/1.1)', async () => {
  const order: string[] = [];
  const a = await slowBackend(150, order);
  const b = await slowBackend(150, order);
  const p = await startFrontProxy('http/1.1', [a.backend.port], {
    backend: {
      algorithm: 'weighted-round-robin',
      slowStart: { enabled: true, durationSeconds: 1200 },
      queue: { maxLength: 100, timeoutSeconds: 10 },
    },
    extra: limited(10),
  });
  try {
    const c = structuredClone(p.config);
    c.servers.push({ ...c.servers[0]!, id: 's1', name: 's1', port: b.backend.port, maxConnections: 5 });
    await p.apply(c);
    const s1 = p.runtime.servers.get('s1')!;
    assert.equal(s1.connectionLimit(p.runtime.clock.now()), 1);
    const statuses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => p.request({ path: `/${i}` }).then((r) => r.status)),
    );
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.equal(a.max, 10, 'the full server: its whole limit');
    assert.equal(b.max, 1, 'the ramping server: ceil(5 × 0.1)');
    console.log(
      `[queue slow start] 30 clients: max concurrent ${a.max} (full) / ${b.max} (ramping, maxConnections 5, factor 0.1)`,
    );
  } finally {
    await p.close();
    await a.backend.close();
    await b.backend.close();
  }
});
