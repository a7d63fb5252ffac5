// UDP frontends (U1) end to end: real UDP servers and clients on loopback, the real plane,
// runtime and balancer registry. Time-dependent cases (idle expiry, drain deadline, graceful
// close) run on a FakeClock; the datagrams themselves are real.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { after, test } from 'node:test';
import { createBalancer } from '../src/balancer/registry.ts';
import type { ConfigState } from '../src/config/model.ts';
import { compile } from '../src/config/snapshot.ts';
import { type Clock, FakeClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/log.ts';
import { Plane } from '../src/dataplane/plane.ts';
import { createUdpListener } from '../src/dataplane/udp/listener.ts';
import type { FulcrumEvent } from '../src/runtime/events.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { waitFor } from './helpers/http-client.ts';
import { backend, baseConfig, frontend, server } from './helpers/plane.ts';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface UdpServer {
  readonly name: string;
  readonly port: number;
  /** Datagrams received. */
  received: number;
  /** Distinct source ports (one per flow socket of the proxy). */
  readonly sources: Set<number>;
  /** Sends an unsolicited datagram to the last source it heard from (a server-initiated reply). */
  push(msg: string): void;
  close(): Promise<void>;
}

/**
 * A UDP server on loopback port 0. `echo`: answers `name|payload`; `raw`: answers the payload
 * unchanged; `dns`: answers a DNS-like query (2-byte id + question) with the same id, the
 * question and `@name`.
 */
async function udpServer(name: string, mode: 'echo' | 'raw' | 'dns' = 'echo', host = '127.0.0.1'): Promise<UdpServer> {
  const socket = dgram.createSocket({
    type: host.includes(':') ? 'udp6' : 'udp4',
    recvBufferSize: 1 << 20,
    sendBufferSize: 1 << 20,
  });
  const prefix = Buffer.from(`${name}|`);
  let last: dgram.RemoteInfo | undefined;
  const srv: UdpServer = {
    name,
    port: 0,
    received: 0,
    sources: new Set(),
    push: (msg) => {
      if (last) socket.send(msg, last.port, last.address);
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
  socket.on('message', (msg, rinfo) => {
    srv.received++;
    srv.sources.add(rinfo.port);
    last = rinfo;
    const answer =
      mode === 'raw'
        ? msg
        : mode === 'dns'
          ? Buffer.concat([msg, Buffer.from(`@${name}`)])
          : Buffer.concat([prefix, msg]);
    socket.send(answer, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, host, () => r()));
  (srv as { port: number }).port = socket.address().port;
  cleanups.push(() => srv.close().catch(() => {}));
  return srv;
}

/** A port that nobody listens on (bound, then released): datagrams to it get ICMP port unreachable. */
async function deadPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Client {
  readonly port: number;
  send(msg: Buffer | string): void;
  /** Replies received and not yet taken by `next`. */
  queued(): number;
  /** The next reply, or rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<Buffer>;
  /** Sends and waits for the reply. */
  ask(msg: Buffer | string, timeoutMs?: number): Promise<Buffer>;
  close(): Promise<void>;
}

async function client(target: number, host = '127.0.0.1'): Promise<Client> {
  const socket = dgram.createSocket({
    type: host.includes(':') ? 'udp6' : 'udp4',
    recvBufferSize: 1 << 20,
    sendBufferSize: 1 << 20,
  });
  const inbox: Buffer[] = [];
  let waiter: ((b: Buffer) => void) | undefined;
  socket.on('message', (msg) => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(msg);
    } else inbox.push(msg);
  });
  await new Promise<void>((r) => socket.bind(0, host, () => r()));
  let closed = false;
  const c: Client = {
    port: socket.address().port,
    send: (msg) => socket.send(msg, target, host),
    queued: () => inbox.length,
    next(timeoutMs = 2000) {
      const queued = inbox.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise<Buffer>((resolve, reject) => {
        const t = setTimeout(() => {
          waiter = undefined;
          reject(new Error(`no reply within ${timeoutMs} ms`));
        }, timeoutMs);
        waiter = (b) => {
          clearTimeout(t);
          resolve(b);
        };
      });
    },
    ask(msg, timeoutMs) {
      c.send(msg);
      return c.next(timeoutMs);
    },
    close: () =>
      closed
        ? Promise.resolve()
        : new Promise<void>((r) => {
            closed = true;
            socket.close(() => r());
          }),
  };
  cleanups.push(() => c.close());
  return c;
}

/** A free UDP port on loopback (bound, then released). */
const freeUdpPort = deadPort;

/** A plane with the udp listener on the given clock; `apply` bumps the version. */
function udpPlane(clock?: Clock) {
  const events: FulcrumEvent[] = [];
  const runtime = new Runtime(createBalancer, { clock, events: (e) => events.push(e) });
  const plane = new Plane(runtime, { udp: createUdpListener }, silentLogger);
  let version = 0;
  cleanups.push(() => plane.close(0));
  return {
    plane,
    runtime,
    events,
    apply(config: ConfigState) {
      config.version = ++version;
      return plane.apply(compile(structuredClone(config)));
    },
  };
}

/** The server name an echo reply came from. */
function from(reply: Buffer): string {
  return reply.toString().split('|')[0] as string;
}

/** Waits (real time, bounded) until `cond` holds. */
function until(cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  return waitFor(cond, timeoutMs, what);
}

async function twoServerSetup(over: Parameters<typeof backend>[2] = {}, clock?: Clock) {
  const a = await udpServer('a');
  const b = await udpServer('b');
  const port = await freeUdpPort();
  const config = baseConfig();
  config.backends.push(backend('u', 'udp', over));
  config.servers.push(server('a', 'u', a.port), server('b', 'u', b.port));
  config.frontends.push(frontend('f', 'udp', port, 'u'));
  const p = udpPlane(clock);
  await p.apply(config);
  assert.deepEqual(p.plane.status('f'), { listening: true, reason: null });
  return { a, b, port, config, ...p };
}

test('many concurrent clients each keep their server, replies reach the right client, counters add up', async () => {
  const { port, plane, runtime, a, b } = await twoServerSetup();
  const clients = await Promise.all(Array.from({ length: 40 }, () => client(port)));
  const rounds = 8;
  const assigned = new Map<Client, string>();
  for (let r = 0; r < rounds; r++) {
    const replies = await Promise.all(clients.map((c, i) => c.ask(`client-${i}-round-${r}`)));
    replies.forEach((reply, i) => {
      const c = clients[i]!;
      const [srv, payload] = reply.toString().split('|');
      assert.equal(payload, `client-${i}-round-${r}`, 'the reply belongs to this client and this datagram');
      if (r === 0) assigned.set(c, srv!);
      else assert.equal(srv, assigned.get(c), `client ${i} stays on its server`);
    });
  }
  const perServer = [...assigned.values()];
  assert.equal(perServer.filter((s) => s === 'a').length, 20, 'round robin splits the flows');
  assert.equal(perServer.filter((s) => s === 'b').length, 20);
  // one flow socket per client on each server
  assert.equal(a.sources.size + b.sources.size, 40);
  const fc = plane.counters.get('f')!;
  const total = clients.length * rounds;
  assert.equal(fc.requests, total);
  assert.equal(fc.activeConnections, 40);
  assert.equal(fc.totalConnections, 40);
  const sent = clients.reduce((sum, _c, i) => {
    let bytes = 0;
    for (let r = 0; r < rounds; r++) bytes += Buffer.byteLength(`client-${i}-round-${r}`);
    return sum + bytes;
  }, 0);
  assert.equal(fc.bytesIn, sent);
  assert.equal(fc.bytesOut, sent + total * 2, 'replies carry the 2-byte `x|` prefix');
  const ra = runtime.server('a')!;
  const rb = runtime.server('b')!;
  assert.equal(ra.requests + rb.requests, total);
  assert.equal(ra.activeConnections, 20);
  assert.equal(rb.activeConnections, 20);
  assert.equal(ra.bytesOut + rb.bytesOut, sent);
  assert.equal(ra.bytesIn + rb.bytesIn, fc.bytesOut);
  assert.equal(runtime.backends.get('u')!.requests, total);
});

test('DNS-like queries from concurrent clients get the answer to their own query id', async () => {
  const s1 = await udpServer('ns1', 'dns');
  const s2 = await udpServer('ns2', 'dns');
  const port = await freeUdpPort();
  const config = baseConfig();
  config.backends.push(backend('dns', 'udp'));
  config.servers.push(server('ns1', 'dns', s1.port), server('ns2', 'dns', s2.port));
  config.frontends.push(frontend('f', 'udp', port, 'dns'));
  const { apply } = udpPlane();
  await apply(config);
  const clients = await Promise.all(Array.from({ length: 16 }, () => client(port)));
  const seen = new Map<Client, string>();
  for (let q = 0; q < 5; q++) {
    await Promise.all(
      clients.map(async (c, i) => {
        const id = i * 100 + q;
        const query = Buffer.alloc(2 + 12);
        query.writeUInt16BE(id, 0);
        query.write(`host${i}.test.`, 2);
        const answer = await c.ask(query);
        assert.equal(answer.readUInt16BE(0), id, 'same query id');
        assert.equal(answer.subarray(2, 14).toString(), query.subarray(2).toString());
        const ns = answer.subarray(15).toString();
        if (q === 0) seen.set(c, ns);
        else assert.equal(ns, seen.get(c));
      }),
    );
  }
  assert.deepEqual(new Set(seen.values()), new Set(['ns1', 'ns2']));
});

test('datagrams of 60,000 and 65,507 bytes pass intact both ways', async () => {
  const raw = await udpServer('raw', 'raw');
  const port = await freeUdpPort();
  const config = baseConfig();
  config.backends.push(backend('u', 'udp'));
  config.servers.push(server('raw', 'u', raw.port));
  config.frontends.push(frontend('f', 'udp', port, 'u'));
  const { apply, plane } = udpPlane();
  await apply(config);
  const c = await client(port);
  for (const size of [60_000, 65_507, 1, 0]) {
    const payload = randomBytes(size);
    const reply = await c.ask(payload);
    assert.equal(reply.length, size);
    assert.ok(reply.equals(payload), `${size} bytes intact`);
  }
  assert.equal(plane.counters.get('f')!.bytesIn, 60_000 + 65_507 + 1);
  assert.equal(plane.counters.get('f')!.bytesOut, 60_000 + 65_507 + 1);
});

test('idle flows expire after the backend udp timeout (FakeClock), and a new datagram starts a new flow', async () => {
  const clock = new FakeClock();
  const { port, plane, runtime, a, b } = await twoServerSetup({ udpTimeoutSeconds: 2 }, clock);
  const c1 = await client(port);
  const c2 = await client(port);
  assert.equal(from(await c1.ask('1')), 'a');
  assert.equal(from(await c2.ask('1')), 'b');
  const fc = plane.counters.get('f')!;
  assert.equal(fc.activeConnections, 2);
  clock.advance(1500);
  assert.equal(from(await c1.ask('2')), 'a', 'c1 active again at 1.5 s');
  clock.advance(1000); // c2 idle 2.5 s, c1 idle 1 s
  assert.equal(fc.activeConnections, 1, 'c2 expired');
  assert.equal(runtime.server('b')!.activeConnections, 0);
  assert.equal(runtime.server('a')!.activeConnections, 1);
  clock.advance(999); // c1 idle 1.999 s
  assert.equal(fc.activeConnections, 1, 'c1 not idle for 2 s yet');
  clock.advance(600); // c1 idle 2.599 s: past the timeout and a sweep period (500 ms)
  assert.equal(fc.activeConnections, 0, 'c1 expired too');
  assert.equal(runtime.server('a')!.activeConnections, 0);
  assert.equal(runtime.server('a')!.connections.size, 0);
  // the next datagram of c1 is a new flow from a new proxy socket
  const sourcesBefore = a.sources.size + b.sources.size;
  await c1.ask('3');
  assert.equal(fc.totalConnections, 3);
  assert.equal(fc.activeConnections, 1);
  assert.equal(a.sources.size + b.sources.size, sourcesBefore + 1);
});

test('server datagrams keep a flow alive (idleness counts both directions)', async () => {
  const clock = new FakeClock();
  const { port, plane, a, b } = await twoServerSetup({ udpTimeoutSeconds: 1 }, clock);
  const c = await client(port);
  const srv = from(await c.ask('x')) === 'a' ? a : b;
  const fc = plane.counters.get('f')!;
  for (let i = 0; i < 3; i++) {
    clock.advance(700);
    srv.push(`push-${i}`);
    assert.equal((await c.next()).toString(), `push-${i}`, 'the server-initiated datagram reaches the client');
  }
  clock.advance(700); // the client has been silent for 2.8 s; the server spoke 0.7 s ago
  assert.equal(fc.activeConnections, 1, 'the server’s datagrams kept the flow');
  clock.advance(800);
  assert.equal(fc.activeConnections, 0, 'idle both ways for 1.5 s: expired');
  assert.equal(fc.totalConnections, 1);
});

test('a server removed mid-flow (drain timeout 0): the flow moves on its next datagram', async () => {
  const { port, config, apply, runtime } = await twoServerSetup({ drainTimeoutSeconds: 0 });
  const c = await client(port);
  const first = from(await c.ask('1'));
  assert.equal(from(await c.ask('2')), first);
  config.servers = config.servers.filter((s) => s.id !== first);
  await apply(config);
  await until(() => runtime.server(first) === undefined, 'the drain of the removed server to end');
  const other = first === 'a' ? 'b' : 'a';
  assert.equal(from(await c.ask('3')), other);
  assert.equal(from(await c.ask('4')), other);
});

test('a draining server keeps its flows until the drain deadline, then they move (S3, FakeClock)', async () => {
  const clock = new FakeClock();
  const { port, config, apply, runtime, events, plane } = await twoServerSetup({ drainTimeoutSeconds: 5 }, clock);
  const c1 = await client(port);
  const c2 = await client(port);
  assert.equal(from(await c1.ask('1')), 'a');
  assert.equal(from(await c2.ask('1')), 'b');
  config.servers.find((s) => s.id === 'a')!.enabled = false;
  await apply(config);
  const ra = runtime.server('a')!;
  assert.equal(ra.draining, true);
  clock.advance(4000);
  assert.equal(from(await c1.ask('2')), 'a', 'still on the draining server before the deadline');
  const c3 = await client(port);
  assert.equal(from(await c3.ask('1')), 'b', 'a new flow avoids the draining server');
  clock.advance(1000); // deadline: the runtime destroys the flow
  assert.equal(ra.draining, false);
  assert.equal(ra.activeConnections, 0);
  assert.equal(ra.connections.size, 0);
  const ends = events.filter((e) => e.kind === 'drain-end' && e.serverId === 'a');
  assert.equal(ends.length, 1, 'exactly one drain-end event');
  assert.equal(ends[0]!.reason, 'drain-timeout');
  assert.equal(from(await c1.ask('3')), 'b', 'moved after the deadline');
  assert.equal(plane.counters.get('f')!.activeConnections, 3);
});

test('an unhealthy server loses its flows on their next datagram (P3, H6)', async () => {
  const { port, config, apply, runtime } = await twoServerSetup();
  // turn health checks on and declare both servers healthy by hand (the health helper's scheduler is not involved)
  config.backends[0]!.healthCheck.enabled = true;
  await apply(config);
  for (const id of ['a', 'b']) runtime.server(id)!.health = 'healthy';
  const c = await client(port);
  const first = from(await c.ask('1'));
  const rt = runtime.server(first)!;
  rt.health = 'unhealthy';
  runtime.invalidate(rt);
  const other = first === 'a' ? 'b' : 'a';
  assert.equal(from(await c.ask('2')), other);
  assert.equal(rt.activeConnections, 0, 'the old flow was released');
  rt.health = 'healthy';
  runtime.invalidate(rt);
  assert.equal(from(await c.ask('3')), other, 'and it stays on its new server');
});

test('a server address change (S2) moves the flow to the new endpoint', async () => {
  const { port, config, apply } = await twoServerSetup();
  const c3 = await udpServer('c');
  const c = await client(port);
  const first = from(await c.ask('1'));
  config.servers.find((s) => s.id === first)!.port = c3.port;
  await apply(config);
  // round robin may pick either server for the new flow; it must not be the old endpoint
  const replies = new Set<string>();
  replies.add(from(await c.ask('2')));
  assert.ok(!replies.has(first), `not the old endpoint of ${first}`);
});

test('ICMP port unreachable (ECONNREFUSED) records a failure and moves the flow to another server', async () => {
  const live = await udpServer('live');
  const dead = await deadPort();
  const port = await freeUdpPort();
  const config = baseConfig();
  config.backends.push(backend('u', 'udp'));
  config.servers.push(server('dead', 'u', dead), server('live', 'u', live.port));
  config.frontends.push(frontend('f', 'udp', port, 'u'));
  const { apply, runtime } = udpPlane();
  await apply(config);
  const outcomes: [string, boolean][] = [];
  runtime.outcomeListener = (rt, ok) => outcomes.push([rt.id, ok]);
  // round robin: of two new flows, one lands on each server
  const c1 = await client(port);
  const c2 = await client(port);
  c1.send('first');
  c2.send('first');
  await until(() => outcomes.length === 2, 'both outcomes');
  assert.deepEqual(new Set(outcomes.map((o) => o.join(':'))), new Set(['dead:false', 'live:true']));
  await until(() => c1.queued() + c2.queued() === 1, 'the live server’s reply');
  const [answered, refused] = c1.queued() === 1 ? [c1, c2] : [c2, c1];
  await answered.next();
  assert.equal(runtime.server('dead')!.failures, 1);
  assert.equal(runtime.server('dead')!.activeConnections, 1, 'the failed flow is kept until its next datagram');
  assert.equal(from(await refused.ask('second')), 'live', 'the refused flow moved');
  assert.equal(from(await answered.ask('second')), 'live');
  assert.deepEqual(outcomes.slice(2), [['live', true]], 'the moved flow’s first reply counts as a success');
  assert.equal(runtime.server('dead')!.activeConnections, 0);
  assert.equal(runtime.server('live')!.activeConnections, 2);
});

test('no available server: the datagram is dropped and counted', async () => {
  const port = await freeUdpPort();
  const config = baseConfig();
  config.backends.push(backend('u', 'udp'));
  config.servers.push(server('off', 'u', 9, { enabled: false }));
  config.frontends.push(frontend('f', 'udp', port, 'u'));
  const { apply, plane, runtime } = udpPlane();
  await apply(config);
  const c = await client(port);
  c.send('hello?');
  await until(() => plane.counters.get('f')!.refused === 1, 'the refusal');
  assert.equal(runtime.backends.get('u')!.noServer, 1);
  assert.equal(plane.counters.get('f')!.activeConnections, 0);
  await assert.rejects(c.next(100), /no reply/);
});

test('IPv6: a frontend on ::1 forwards to a server on ::1', async () => {
  const s = await udpServer('v6', 'echo', '::1');
  const port = await freeUdpPort();
  const config = baseConfig();
  config.backends.push(backend('u', 'udp'));
  config.servers.push(server('v6', 'u', s.port, { address: '::1' }));
  config.frontends.push(frontend('f', 'udp', port, 'u', { bindAddress: '::1' }));
  const { apply, plane } = udpPlane();
  await apply(config);
  assert.deepEqual(plane.status('f'), { listening: true, reason: null });
  const c = await client(port, '::1');
  assert.equal((await c.ask('hi')).toString(), 'v6|hi');
  assert.equal((await c.ask('again')).toString(), 'v6|again');
  assert.equal(plane.counters.get('f')!.totalConnections, 1);
});

test('an address in use is reported on the frontend status, not thrown (F5)', async () => {
  const taken = dgram.createSocket('udp4');
  await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => taken.close(() => r())));
  const config = baseConfig();
  config.backends.push(backend('u', 'udp'));
  config.servers.push(server('a', 'u', 9));
  config.frontends.push(frontend('f', 'udp', taken.address().port, 'u'));
  const { apply, plane } = udpPlane(new FakeClock()); // FakeClock: the bind retry never fires
  await apply(config);
  const status = plane.status('f')!;
  assert.equal(status.listening, false);
  assert.match(status.reason!, /EADDRINUSE/);
});

test('replace: a new default backend moves flows; a smaller maxFlows evicts the oldest at once', async () => {
  const { port, config, apply, plane } = await twoServerSetup();
  const other = await udpServer('z');
  config.backends.push(backend('u2', 'udp'));
  config.servers.push(server('z', 'u2', other.port));
  const clients = await Promise.all(Array.from({ length: 4 }, () => client(port)));
  for (const c of clients) assert.notEqual(from(await c.ask('1')), 'z');
  const fc = plane.counters.get('f')!;
  assert.equal(fc.activeConnections, 4);
  config.backends[0]!.maxFlows = 2;
  await apply(config);
  assert.equal(fc.activeConnections, 2);
  assert.equal(fc.flowsEvicted, 2);
  config.frontends[0]!.defaultBackendId = 'u2';
  await apply(config);
  for (const c of clients) assert.equal(from(await c.ask('2')), 'z', 'every flow follows the new default backend');
});

test('source-ip persistence keeps every flow of one client address on one server (P1), and re-pins (P3)', async () => {
  const { port, config, apply, runtime } = await twoServerSetup();
  config.backends[0]!.persistence = { type: 'source-ip', timeoutSeconds: 60 };
  await apply(config);
  const clients = await Promise.all(Array.from({ length: 6 }, () => client(port)));
  const servers = new Set<string>();
  for (const c of clients) servers.add(from(await c.ask('1')));
  assert.equal(servers.size, 1, 'round robin would alternate; persistence pins 127.0.0.1');
  const pinned = [...servers][0]!;
  const rt = runtime.server(pinned)!;
  config.backends[0]!.healthCheck.enabled = true;
  await apply(config);
  for (const id of ['a', 'b']) runtime.server(id)!.health = 'healthy';
  rt.health = 'unhealthy';
  runtime.invalidate(rt);
  const other = pinned === 'a' ? 'b' : 'a';
  for (const c of clients) assert.equal(from(await c.ask('2')), other, 'moved and re-pinned');
  rt.health = 'healthy';
  runtime.invalidate(rt);
  const late = await client(port);
  assert.equal(from(await late.ask('1')), other, 'a new flow follows the new pin');
});

test('least-connections counts open flows: new flows go to the server with fewer (A1)', async () => {
  const { port, config, apply, runtime } = await twoServerSetup({ algorithm: 'least-connections' });
  config.servers.find((s) => s.id === 'b')!.enabled = false;
  await apply(config);
  const first = await Promise.all(Array.from({ length: 3 }, () => client(port)));
  for (const c of first) assert.equal(from(await c.ask('1')), 'a');
  config.servers.find((s) => s.id === 'b')!.enabled = true;
  await apply(config);
  assert.equal(runtime.server('a')!.activeConnections, 3);
  const next = await Promise.all(Array.from({ length: 3 }, () => client(port)));
  const got: string[] = [];
  for (const c of next) got.push(from(await c.ask('1')));
  assert.deepEqual(got, ['b', 'b', 'b'], 'b had no flows, a had 3');
  assert.equal(runtime.server('b')!.activeConnections, 3);
});

test('a frontend maxConnections below the backend maxFlows bounds the flows too', async () => {
  const { port, config, apply, plane } = await twoServerSetup();
  config.frontends[0]!.maxConnections = 2;
  await apply(config);
  const clients = await Promise.all(Array.from({ length: 3 }, () => client(port)));
  for (const c of clients) await c.ask('1');
  const fc = plane.counters.get('f')!;
  assert.equal(fc.activeConnections, 2);
  assert.equal(fc.totalConnections, 3);
  assert.equal(fc.flowsEvicted, 1);
  // the evicted one was the oldest: the first client gets a new flow, the last keeps its own
  await clients[2]!.ask('2');
  assert.equal(fc.totalConnections, 3);
  await clients[0]!.ask('2');
  assert.equal(fc.totalConnections, 4);
});

test('stopAccepting frees the port at once; close(drainMs) keeps flows until the drain time (FakeClock)', async () => {
  const clock = new FakeClock();
  const { port, plane } = await twoServerSetup({}, clock);
  const c = await client(port);
  const first = from(await c.ask('1'));
  // graceful stop: existing flows keep forwarding, new clients are refused
  const closing = plane.close(10_000);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(from(await c.ask('2')), first, 'the existing flow still answers during the drain');
  const newcomer = await client(port);
  newcomer.send('hello');
  await assert.rejects(newcomer.next(150), /no reply/);
  assert.equal(plane.counters.get('f')!.refused, 1);
  clock.advance(10_000);
  await closing;
  // the port is free again
  const rebind = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    rebind.once('error', reject);
    rebind.bind(port, '127.0.0.1', () => resolve());
  });
  await new Promise<void>((r) => rebind.close(() => r()));
  assert.equal(plane.counters.get('f')!.activeConnections, 0, 'the flow ended with the close');
});

test('moving the frontend to another port retires the old socket and frees its port', async () => {
  const { port, config, apply, plane } = await twoServerSetup();
  const c = await client(port);
  await c.ask('1');
  const newPort = await freeUdpPort();
  config.frontends[0]!.port = newPort;
  await apply(config);
  assert.deepEqual(plane.status('f'), { listening: true, reason: null });
  const c2 = await client(newPort);
  assert.equal((await c2.ask('x')).toString().endsWith('|x'), true);
  const rebind = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    rebind.once('error', reject);
    rebind.bind(port, '127.0.0.1', () => resolve());
  });
  await new Promise<void>((r) => rebind.close(() => r()));
  assert.equal(plane.counters.get('f')!.activeConnections, 1, 'the old socket’s flows ended with it');
});
