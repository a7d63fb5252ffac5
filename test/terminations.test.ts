import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { describe, test } from 'node:test';
import { createTcpListener } from '../src/dataplane/tcp/listener.ts';
import { createUdpListener } from '../src/dataplane/udp/listener.ts';
import { TERMINATIONS, type Termination } from '../src/runtime/terminations.ts';
import { FRONT_PROTOCOLS, startFrontProxy } from './helpers/front-protocols.ts';
import { waitFor } from './helpers/http-client.ts';
import { deadPort, rawExchange, startBackend, startRawBackend } from './helpers/http-fixtures.ts';
import { backend, baseConfig, freePort, frontend, makePlane, server } from './helpers/plane.ts';

/**
 * Issue 12 point 2: every termination reason of runtime/terminations.ts is produced and seen,
 * in the access log line (HTTP) or the frontend / server counters behind /stats and /metrics
 * (TCP, UDP). The reasons the HTTP suites assert already, once per front protocol:
 * no-server, connect-refused, response-timeout, server-reset (http-errors), bad-response,
 * retried (http-protocols), body-timeout (http-protocols, also slower than the minimum rate).
 * This file covers the rest, and tcp / udp. connect-timeout (HTTP/1.1, HTTP/2, tcp) is in
 * connect-timeout.test.ts, against a loopback listener whose full accept queue drops SYNs.
 */

test('the reasons are the documented list', () => {
  const covered: Termination[] = [
    'client-aborted',
    'client-timeout',
    'body-timeout',
    'body-too-large',
    'bad-request',
    'connect-refused',
    'connect-timeout',
    'server-reset',
    'response-timeout',
    'bad-response',
    'no-server',
    'queue-full', // queue.test.ts
    'queue-timeout', // queue.test.ts
    'retried',
  ];
  assert.deepEqual([...TERMINATIONS].sort(), [...covered].sort());
});

for (const protocol of FRONT_PROTOCOLS) {
  describe(`termination reasons over ${protocol}`, () => {
    test('body-too-large: a declared length over maxRequestBodyBytes → 413, nothing forwarded', async () => {
      const b = await startBackend();
      const p = await startFrontProxy(protocol, [b.port], { frontend: { maxRequestBodyBytes: 10 } });
      try {
        const r = await p
          .request({ method: 'POST', path: '/big', body: 'x'.repeat(100), headers: { 'content-length': '100' } })
          .catch((err: Error) => ({ status: -1, headers: {}, body: err.message }));
        assert.equal(r.status, 413, r.body);
        await waitFor(() => p.records.some((x) => x.target === '/big'));
        assert.equal(p.records.find((x) => x.target === '/big')?.termination, 'body-too-large');
        assert.equal(p.plane.counters.get('fe')?.terminations['body-too-large'], 1);
        assert.equal(b.requests, 0);
      } finally {
        await p.close();
        await b.close();
      }
    });

    test('bad-request: a target with a fragment → 400, nothing forwarded', async () => {
      const b = await startBackend();
      const p = await startFrontProxy(protocol, [b.port]);
      try {
        const r = await p.request({ path: '/a#frag' });
        assert.equal(r.status, 400);
        await waitFor(() => p.records.length > 0);
        assert.equal(p.records[0]?.termination, 'bad-request');
        assert.equal(p.plane.counters.get('fe')?.terminations['bad-request'], 1);
        assert.equal(b.requests, 0);
      } finally {
        await p.close();
        await b.close();
      }
    });

    test('client-aborted: the client goes away before the answer', async () => {
      const srv = await startRawBackend(() => {}); // never answers
      const p = await startFrontProxy(protocol, [srv.port]);
      try {
        if (protocol === 'h2') {
          const s = p.session().request({ ':method': 'GET', ':path': '/gone' });
          s.on('error', () => {});
          await waitFor(() => srv.connections === 1);
          s.close();
        } else {
          const c = net.connect(p.port, '127.0.0.1');
          c.write('GET /gone HTTP/1.1\r\nHost: x\r\n\r\n');
          await waitFor(() => srv.connections === 1);
          c.resetAndDestroy(); // a FIN alone is a half-close: the answer is still awaited
        }
        await waitFor(() => p.records.some((x) => x.target === '/gone'));
        assert.equal(p.records.find((x) => x.target === '/gone')?.termination, 'client-aborted');
        assert.equal(p.plane.counters.get('fe')?.terminations['client-aborted'], 1);
      } finally {
        await p.close();
        await srv.close();
      }
    });
  });
}

// HTTP/1.1 only: a request head that trickles in has no HTTP/2 equivalent (one HEADERS frame).
test('client-timeout (HTTP/1.1): the head does not arrive in time → 408', async () => {
  const b = await startBackend();
  const p = await startFrontProxy('http/1.1', [b.port], {
    frontend: { timeouts: { requestHeaderSeconds: 0.3, clientIdleSeconds: 60 } },
  });
  try {
    const r = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n', 3000);
    assert.match(r.text, /^HTTP\/1\.1 408 /);
    await waitFor(() => p.records.length > 0);
    assert.equal(p.records[0]?.termination, 'client-timeout');
    assert.equal(p.plane.counters.get('fe')?.terminations['client-timeout'], 1);
  } finally {
    await p.close();
    await b.close();
  }
});

describe('termination reasons over tcp (counters)', () => {
  async function tcpProxy(ports: number[], over: Parameters<typeof backend>[2] = {}, fe = {}) {
    const port = await freePort();
    const config = baseConfig();
    config.backends.push(backend('be', 'tcp', over));
    for (const [i, p] of ports.entries()) config.servers.push(server(`s${i}`, 'be', p));
    config.frontends.push(frontend('fe', 'tcp', port, 'be', fe));
    const p = makePlane({ tcp: createTcpListener });
    await p.apply(config);
    return { ...p, port, config, counters: () => p.plane.counters.get('fe')?.terminations };
  }

  test('no-server, connect-refused, server-reset, client-aborted, client-timeout', async () => {
    const none = await tcpProxy([]);
    const refused = await tcpProxy([await deadPort()], { retries: 0 });
    const reset = await startRawBackend((s) => s.once('data', () => s.resetAndDestroy()));
    const resetting = await tcpProxy([reset.port]);
    const quiet = await startRawBackend(() => {});
    const aborting = await tcpProxy([quiet.port]);
    const idle = await tcpProxy([quiet.port], {}, { timeouts: { requestHeaderSeconds: 10, clientIdleSeconds: 0.3 } });
    try {
      await rawExchange(none.port, 'x', 1000);
      await waitFor(() => (none.counters()?.['no-server'] ?? 0) === 1);
      await rawExchange(refused.port, 'x', 1000);
      await waitFor(() => (refused.counters()?.['connect-refused'] ?? 0) === 1);
      await rawExchange(resetting.port, 'x', 1000);
      await waitFor(() => (resetting.counters()?.['server-reset'] ?? 0) === 1);
      const c = net.connect(aborting.port, '127.0.0.1');
      await waitFor(() => quiet.connections === 1);
      c.resetAndDestroy();
      await waitFor(() => (aborting.counters()?.['client-aborted'] ?? 0) === 1);
      await rawExchange(idle.port, '', 3000);
      await waitFor(() => (idle.counters()?.['client-timeout'] ?? 0) === 1);
    } finally {
      for (const x of [none, refused, resetting, aborting, idle]) await x.plane.close(100);
      await reset.close();
      await quiet.close();
    }
  });
});

describe('termination reasons over udp (counters)', () => {
  test('no-server and connect-refused', async () => {
    const mk = async (ports: number[]) => {
      const port = await freePort();
      const config = baseConfig();
      config.backends.push(backend('be', 'udp'));
      for (const [i, p] of ports.entries()) config.servers.push(server(`s${i}`, 'be', p));
      config.frontends.push(frontend('fe', 'udp', port, 'be'));
      const p = makePlane({ udp: createUdpListener });
      await p.apply(config);
      return { ...p, port, counters: () => p.plane.counters.get('fe')?.terminations };
    };
    const none = await mk([]);
    const refused = await mk([await deadPort()]);
    const client = dgram.createSocket('udp4');
    try {
      client.send('x', none.port, '127.0.0.1');
      await waitFor(() => (none.counters()?.['no-server'] ?? 0) >= 1);
      for (let i = 0; i < 3; i++) {
        client.send('x', refused.port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 50));
      }
      await waitFor(() => (refused.counters()?.['connect-refused'] ?? 0) >= 1, 5000);
    } finally {
      client.close();
      await none.plane.close(100);
      await refused.plane.close(100);
    }
  });
});
