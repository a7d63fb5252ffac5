// UDP flow table bound (U1): a flood of distinct client flows stays within the backend's
// maxFlows, the oldest idle flows are evicted and counted, and their sockets are closed.
// Real client sockets in batches, each batch from its own loopback source address
// (127.0.0.x) so that every (address, port) pair is a distinct flow.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { createBalancer } from '../src/balancer/registry.ts';
import { compile } from '../src/config/snapshot.ts';
import { silentLogger } from '../src/core/log.ts';
import { Plane } from '../src/dataplane/plane.ts';
import { createUdpListener } from '../src/dataplane/udp/listener.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { backend, baseConfig, frontend, server } from './helpers/plane.ts';

const FLOWS = Number(process.env.UDP_FLOOD_FLOWS ?? 50_000);
const BATCH = 1000;
const MAX_FLOWS = 1000;

function bind(socket: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

test(`a flood of ${FLOWS} distinct flows stays within maxFlows ${MAX_FLOWS}; evictions are counted`, async () => {
  const echo = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  await bind(echo, 0, '127.0.0.1');
  const probe = dgram.createSocket('udp4');
  await bind(probe, 0, '127.0.0.1');
  const port = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));

  const config = baseConfig();
  config.backends.push(backend('u', 'udp', { maxFlows: MAX_FLOWS }));
  config.servers.push(server('e1', 'u', echo.address().port), server('e2', 'u', echo.address().port, { name: 'e2' }));
  config.frontends.push(frontend('f', 'udp', port, 'u'));
  const runtime = new Runtime(createBalancer);
  const plane = new Plane(runtime, { udp: createUdpListener }, silentLogger);
  await plane.apply(compile(config));
  const fc = plane.counters.get('f')!;
  const fdsBefore = openFds();
  const started = performance.now();
  let answered = 0;
  let maxActive = 0;
  let maxFds = 0;
  try {
    for (let batch = 0; batch * BATCH < FLOWS; batch++) {
      const source = `127.0.${1 + (batch >> 8)}.${(batch & 255) + 1}`;
      const n = Math.min(BATCH, FLOWS - batch * BATCH);
      const sockets: dgram.Socket[] = [];
      let got = 0;
      const all = new Promise<void>((resolve) => {
        for (let i = 0; i < n; i++) {
          const s = dgram.createSocket('udp4');
          s.on('message', () => {
            if (++got === n) resolve();
          });
          sockets.push(s);
        }
      });
      await Promise.all(sockets.map((s) => bind(s, 0, source)));
      for (const s of sockets) s.send('hi', port, '127.0.0.1');
      // a datagram may be dropped under load on a busy machine; wait for all, at most 3 s per batch
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise((r) => (timer = setTimeout(r, 3000)))]);
      clearTimeout(timer);
      answered += got;
      maxActive = Math.max(maxActive, fc.activeConnections);
      maxFds = Math.max(maxFds, openFds());
      const serverFlows = runtime.server('e1')!.activeConnections + runtime.server('e2')!.activeConnections;
      assert.equal(serverFlows, fc.activeConnections, 'every live flow is an open connection of its server');
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    }
    const seconds = (performance.now() - started) / 1000;
    assert.equal(fc.totalConnections, FLOWS, 'every client socket made a flow');
    assert.ok(maxActive <= MAX_FLOWS, `at most ${MAX_FLOWS} flows at once (saw ${maxActive})`);
    assert.equal(fc.activeConnections, MAX_FLOWS);
    assert.equal(fc.flowsEvicted, FLOWS - MAX_FLOWS, 'each flow beyond the bound evicted one, and was counted');
    assert.ok(answered >= FLOWS * 0.99, `replies reached their clients (${answered}/${FLOWS})`);
    // fds: the bound's flow sockets plus one batch of client sockets, never the whole flood
    assert.ok(maxFds - fdsBefore <= MAX_FLOWS + BATCH + 50, `open fds stayed bounded (+${maxFds - fdsBefore})`);
    console.log(`# ${FLOWS} flows in ${seconds.toFixed(2)} s (${Math.round(FLOWS / seconds)} new flows/s)`);
  } finally {
    await plane.close(0);
    await new Promise<void>((r) => echo.close(() => r()));
  }
  assert.equal(fc.activeConnections, 0, 'closing the plane ends every flow');
  assert.equal(runtime.server('e1')!.activeConnections + runtime.server('e2')!.activeConnections, 0);
});
