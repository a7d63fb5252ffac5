// UDP benchmark (U1): datagrams per second echoed through a Fulcrum udp frontend, as a ratio
// of the same load sent directly to the echo server. Not part of `npm test`.
//
//   node bench/udp.ts                       # 3 interleaved rounds of 3 s, 64-byte datagrams
//   ROUNDS=5 DURATION=5 SIZE=1400 CLIENTS=32 WINDOW=16 node bench/udp.ts
//
// Three processes: the echo server and Fulcrum (a Plane with the udp listener) each in a
// child; the load generator here. Each of CLIENTS sockets keeps WINDOW datagrams in flight
// (a reply triggers the next datagram; a stalled window is re-primed after 50 ms, so loss
// does not stop the run). Quote the ratio, not the absolute figures: the machine is shared.
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';

const role = process.argv[2];
const BUFFER = 4 * 1024 * 1024;
// children exit normally on SIGTERM, so that `NODE_OPTIONS=--cpu-prof` writes a profile
if (role) process.on('SIGTERM', () => process.exit(0));

if (role === 'echo') {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: BUFFER, sendBufferSize: BUFFER });
  s.on('message', (m, r) => s.send(m, r.port, r.address));
  s.bind(0, '127.0.0.1', () => console.log(`PORT ${s.address().port}`));
} else if (role === 'fulcrum') {
  const echoPort = Number(process.argv[3]);
  const { createUdpListener } = await import('../src/dataplane/udp/listener.ts');
  // the tests' configuration builder (test/helpers/plane.ts), the one place that knows every field
  const { backend, baseConfig, frontend, makePlane, server } = await import('../test/helpers/plane.ts');
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  const port = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  const config = baseConfig({ allowedNetworks: [], ipAsBackend: true });
  const b = backend('u', 'udp');
  b.outlierDetection.enabled = false;
  config.backends.push(b);
  config.servers.push(server('s', 'u', echoPort, { serverType: 'other' }));
  config.frontends.push(frontend('f', 'udp', port, 'u'));
  await makePlane({ udp: createUdpListener }).apply(config);
  process.on('message', (m) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send?.({ cpuUs: u.user + u.system });
    }
  });
  console.log(`PORT ${port}`);
} else {
  await main();
}

function child(args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve({ proc, port: Number(m[1]) });
    });
    proc.once('exit', (code) => reject(new Error(`child ${args[0]} exited with ${code}`)));
  });
}

/** Replies per second over `seconds` against 127.0.0.1:port. */
async function load(port: number, seconds: number, clients: number, window: number, size: number): Promise<number> {
  const payload = Buffer.alloc(size, 120);
  const sockets: dgram.Socket[] = [];
  let replies = 0;
  let running = true;
  const lastReply: number[] = [];
  for (let i = 0; i < clients; i++) {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    lastReply.push(performance.now());
    s.on('message', () => {
      replies++;
      lastReply[i] = performance.now();
      if (running) s.send(payload, port, '127.0.0.1');
    });
    sockets.push(s);
  }
  const prime = (s: dgram.Socket) => {
    for (let k = 0; k < window; k++) s.send(payload, port, '127.0.0.1');
  };
  for (const s of sockets) prime(s);
  // warm-up 0.5 s, then count
  await new Promise((r) => setTimeout(r, 500));
  const restart = setInterval(() => {
    const now = performance.now();
    sockets.forEach((s, i) => {
      if (now - lastReply[i]! > 50) {
        lastReply[i] = now;
        prime(s);
      }
    });
  }, 25);
  const from = replies;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const rate = (replies - from) / ((performance.now() - t0) / 1000);
  running = false;
  clearInterval(restart);
  await new Promise((r) => setTimeout(r, 100));
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return rate;
}

/** CPU time (user + system, µs) the child has used so far. */
function cpuOf(proc: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    proc.once('message', (m) => resolve((m as { cpuUs: number }).cpuUs));
    proc.send('cpu');
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  const rounds = Number(process.env.ROUNDS ?? 3);
  const seconds = Number(process.env.DURATION ?? 3);
  const size = Number(process.env.SIZE ?? 64);
  const clients = Number(process.env.CLIENTS ?? 16);
  const window = Number(process.env.WINDOW ?? 8);
  const echo = await child(['echo']);
  const fulcrum = await child(['fulcrum', String(echo.port)]);
  const direct: number[] = [];
  const proxied: number[] = [];
  const cpuPerRoundTrip: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      direct.push(await load(echo.port, seconds, clients, window, size));
      const cpu0 = await cpuOf(fulcrum.proc);
      const t0 = performance.now();
      const rate = await load(fulcrum.port, seconds, clients, window, size);
      const cpu1 = await cpuOf(fulcrum.proc);
      // the load runs 0.5 s of warm-up, `seconds` measured and 0.1 s of tail: divide the CPU by all of it
      const roundTrips = rate * ((performance.now() - t0) / 1000);
      proxied.push(rate);
      cpuPerRoundTrip.push((cpu1 - cpu0) / roundTrips);
      console.log(
        `round ${r + 1}: direct ${Math.round(direct[r]!)} dgram/s, fulcrum ${Math.round(rate)} dgram/s, ` +
          `fulcrum CPU ≈ ${cpuPerRoundTrip[r]!.toFixed(1)} µs per round trip`,
      );
    }
  } finally {
    echo.proc.kill();
    fulcrum.proc.kill();
  }
  const d = median(direct);
  const f = median(proxied);
  const summary = {
    size,
    clients,
    window,
    direct: Math.round(d),
    fulcrum: Math.round(f),
    ratio: +(f / d).toFixed(3),
    fulcrumCpuUsPerRoundTrip: +median(cpuPerRoundTrip).toFixed(1),
  };
  console.log(`udp ${size} B, ${clients} clients × ${window} in flight: fulcrum/direct = ${summary.ratio}`);
  console.log(`SUMMARY ${JSON.stringify(summary)}`);
}
