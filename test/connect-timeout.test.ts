import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createBalancer } from '../src/balancer/registry.ts';
import type { Backend, ConfigState } from '../src/config/model.ts';
import { compile } from '../src/config/snapshot.ts';
import { StatsCollector } from '../src/control/stats.ts';
import { silentLogger } from '../src/core/log.ts';
import type { AccessRecord } from '../src/dataplane/access-log.ts';
import { Plane } from '../src/dataplane/plane.ts';
import { createTcpListener } from '../src/dataplane/tcp/listener.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { type Blackhole, startBlackhole } from './helpers/blackhole.ts';
import { FRONT_PROTOCOLS, startFrontProxy } from './helpers/front-protocols.ts';
import { waitFor } from './helpers/http-client.ts';
import { startBackend, startRawBackend } from './helpers/http-fixtures.ts';
import { backend, baseConfig, freePort, frontend, server } from './helpers/plane.ts';

/**
 * Issue 12 point 2, `connect-timeout`: servers whose connects never complete (a loopback
 * listener that never accepts and whose accept queue is full, so Linux drops the SYNs:
 * ./helpers/blackhole.ts) behind a backend with `timeouts.connectSeconds: 1`. HTTP/1.1 and
 * HTTP/2 clients get 502 (exchange.ts: a connect that failed, timed out or refused, is a bad
 * gateway; 504 is for a server that connected but did not answer in time), and the access-log
 * line and the /stats counters of the frontend and the server say `connect-timeout`; with a
 * healthy second server the request is retried there and says `retried`. TCP frontends
 * likewise. Timing bounds below only tell a timeout (≥ ~1 s) from a refusal (at once).
 */

const CONNECT_1S: Partial<Backend> = { timeouts: { connectSeconds: 1, responseSeconds: 60 } };

let hole: Blackhole;
before(async () => {
  hole = await startBlackhole(2);
});
after(async () => {
  await hole.close();
});

/** The `/stats` answer (control/stats.ts, what GET /stats serves) for a plane and its configuration. */
function stats(plane: Plane, config: ConfigState) {
  const v = new StatsCollector(plane, () => config).view();
  return {
    fe: v.frontends.find((f) => f.id === 'fe'),
    server: (id: string) => v.servers.find((s) => s.id === id),
  };
}

for (const protocol of FRONT_PROTOCOLS) {
  describe(`connect-timeout over ${protocol}`, () => {
    test('a server that never completes the connect → 502, connect-timeout in the log line and /stats', async () => {
      const p = await startFrontProxy(protocol, [hole.ports[0] as number], { backend: CONNECT_1S });
      try {
        const t0 = performance.now();
        const r = await p.request({ path: '/never' });
        const elapsed = performance.now() - t0;
        assert.equal(r.status, 502, r.body);
        assert.ok(elapsed >= 900 && elapsed < 10_000, `answered after ${Math.round(elapsed)} ms`);
        await waitFor(() => p.records.some((x) => x.target === '/never'));
        const line = p.records.find((x) => x.target === '/never') as AccessRecord;
        assert.equal(line.termination, 'connect-timeout');
        assert.equal(line.status, 502);
        assert.equal(line.server, 's0');
        assert.equal(line.protocol, protocol);
        assert.equal(line.retries, undefined, 'no other server to retry on');
        const s = stats(p.plane, p.config);
        assert.equal(s.fe?.terminations['connect-timeout'], 1);
        assert.equal(s.fe?.terminations['connect-refused'], 0);
        assert.equal(s.server('s0')?.terminations['connect-timeout'], 1);
        assert.equal(s.server('s0')?.failures, 1);
      } finally {
        await p.close();
      }
    });

    test('with a healthy second server: retried there, 200, the log line says retried', async () => {
      const b = await startBackend();
      // round-robin starts with s0: the first request tries the blackhole first
      const p = await startFrontProxy(protocol, [hole.ports[0] as number, b.port], {
        backend: { ...CONNECT_1S, retries: 2 },
      });
      try {
        const t0 = performance.now();
        const r = await p.request({ path: '/retry' });
        const elapsed = performance.now() - t0;
        assert.equal(r.status, 200, r.body);
        assert.equal(r.body, `ok:${b.port}`);
        assert.ok(elapsed >= 900, `answered after ${Math.round(elapsed)} ms: s0 was not tried first`);
        await waitFor(() => p.records.some((x) => x.target === '/retry'));
        const line = p.records.find((x) => x.target === '/retry') as AccessRecord;
        assert.equal(line.termination, 'retried');
        assert.equal(line.retries, 1);
        assert.equal(line.status, 200);
        assert.equal(line.server, 's1');
        const s = stats(p.plane, p.config);
        assert.equal(s.fe?.terminations.retried, 1);
        assert.equal(s.fe?.terminations['connect-timeout'], 0, 'the request itself succeeded');
        assert.equal(s.server('s0')?.terminations['connect-timeout'], 1);
        assert.equal(s.server('s1')?.terminations['connect-timeout'], 0);
        assert.equal(b.requests, 1);
      } finally {
        await p.close();
        await b.close();
      }
    });
  });
}

describe('connect-timeout over tcp', () => {
  async function tcpProxy(ports: number[]) {
    const port = await freePort();
    const config = baseConfig();
    config.backends.push(backend('be', 'tcp', CONNECT_1S));
    for (const [i, p] of ports.entries()) config.servers.push(server(`s${i}`, 'be', p));
    config.frontends.push(frontend('fe', 'tcp', port, 'be'));
    const records: AccessRecord[] = [];
    const plane = new Plane(new Runtime(createBalancer), { tcp: createTcpListener }, silentLogger, {
      accessLog: { write: (r) => records.push(structuredClone(r)), writeLines: () => {}, close: () => {} },
    });
    config.version = 1;
    await plane.apply(compile(structuredClone(config)));
    return { port, plane, config, records };
  }

  /** Connects, writes `data`, and resolves with what came back once the proxy closes the connection. */
  function exchange(port: number, data: string, endAfter?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1');
      let got = '';
      const t = setTimeout(() => {
        c.destroy();
        reject(new Error(`no close after 10 s (got ${JSON.stringify(got)})`));
      }, 10_000);
      c.on('data', (d) => {
        got += d.toString();
        if (endAfter !== undefined && got.includes(endAfter)) c.end();
      });
      c.on('error', () => {});
      c.on('close', () => {
        clearTimeout(t);
        resolve(got);
      });
      c.write(data);
    });
  }

  test('every server blackholed → the connection is closed, connect-timeout in counters and the log line', async () => {
    const p = await tcpProxy(hole.ports);
    try {
      const t0 = performance.now();
      const got = await exchange(p.port, 'hello');
      const elapsed = performance.now() - t0;
      assert.equal(got, '');
      // one attempt on each server, one second each
      assert.ok(elapsed >= 1800, `closed after ${Math.round(elapsed)} ms`);
      await waitFor(() => p.records.length > 0);
      assert.equal(p.records[0]?.termination, 'connect-timeout');
      assert.equal(p.records[0]?.kind, 'tcp');
      const s = stats(p.plane, p.config);
      assert.equal(s.fe?.terminations['connect-timeout'], 1);
      assert.equal(s.server('s0')?.terminations['connect-timeout'], 1);
      assert.equal(s.server('s1')?.terminations['connect-timeout'], 1);
    } finally {
      await p.plane.close(100);
    }
  });

  test('a healthy second server: the connection goes through there and says retried', async () => {
    const echo = await startRawBackend((s) => s.on('data', (d) => s.write(d)));
    const p = await tcpProxy([hole.ports[0] as number, echo.port]);
    try {
      const got = await exchange(p.port, 'ping', 'ping');
      assert.equal(got, 'ping');
      await waitFor(() => p.records.length > 0);
      assert.equal(p.records[0]?.termination, 'retried');
      assert.equal(p.records[0]?.retries, 1);
      assert.equal(p.records[0]?.server, 's1');
      const s = stats(p.plane, p.config);
      assert.equal(s.fe?.terminations.retried, 1);
      assert.equal(s.fe?.terminations['connect-timeout'], 0);
      assert.equal(s.server('s0')?.terminations['connect-timeout'], 1);
      assert.equal(echo.connections, 1);
    } finally {
      await p.plane.close(100);
      await echo.close();
    }
  });
});
