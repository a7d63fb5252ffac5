// Benchmark (not a test), issue 13 point 5: what an idle keep-alive client connection costs.
// A fresh `fulcrum serve` (own process, `--workers IDLE_WORKERS`, default 1) proxies to a
// loopback backend; this process opens IDLE_CONNECTIONS client connections (default 18,000;
// the open-files limit here is 20,000 per process) from 127.0.0.2 … 127.0.0.x, sends one
// request on each and keeps it open and idle. Fulcrum's RSS is read from /proc before and
// after; the difference per connection is extrapolated to 100,000.
//
//   node_modules/.bin/node bench/idle.ts
//   IDLE_CONNECTIONS=4000 IDLE_WORKERS=2 node_modules/.bin/node bench/idle.ts
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { apiClient, TOKEN } from '../test/helpers/fulcrum.ts';
import { addFrontend } from '../test/helpers/persistence-support.ts';
import { freePort } from '../test/helpers/plane.ts';

const N = Number(process.env.IDLE_CONNECTIONS ?? 18_000);
const WORKERS = Number(process.env.IDLE_WORKERS ?? 1);
/** Client connections per source address (each address has its own ephemeral ports). */
const PER_ADDRESS = 4000;

function rssKiB(pid: number): number {
  // With workers the threads share the process: one RSS.
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

async function waitApi(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`${url}/api/v1/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('fulcrum did not start');
}

/** One client connection from `localAddress`: one request, then held open and idle. */
function idleClient(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => {
      s.write('GET / HTTP/1.1\r\nhost: idle\r\n\r\n');
    });
    s.once('data', () => resolve(s));
    s.once('error', reject);
  });
}

const backend = http.createServer((_q, r) => r.end('ok'));
backend.keepAliveTimeout = 600_000;
await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
const backendPort = (backend.address() as net.AddressInfo).port;
const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-idle-'));
const apiPort = await freePort();
let child: ChildProcess | undefined;
const sockets: net.Socket[] = [];
try {
  child = spawn(
    process.execPath,
    [
      'src/cli/main.ts',
      'serve',
      '--api',
      `127.0.0.1:${apiPort}`,
      '--data-dir',
      dir,
      '--no-console',
      '--log-level',
      'warn',
      '--workers',
      String(WORKERS),
    ],
    { stdio: 'inherit', env: { ...process.env, FULCRUM_ADMIN_TOKEN: TOKEN } },
  );
  const url = `http://127.0.0.1:${apiPort}`;
  await waitApi(url);
  const ok = apiClient(url, TOKEN);
  const lb = (await ok('POST', '/load-balancers', { name: 'idle', allowedNetworks: ['127.0.0.0/8'] })).id;
  const be = (
    await ok('POST', '/backends', { loadBalancerId: lb, name: 'web', mode: 'http', healthCheck: { enabled: false } })
  ).id;
  await ok('POST', `/backends/${be}/servers`, { name: 'b', address: '127.0.0.1', port: backendPort });
  const fe = await addFrontend(ok, lb, 'www', be, 'http', {
    bindAddress: '127.0.0.1',
    timeouts: { clientIdleSeconds: 3600 },
  });
  // Warm up (JIT, pools) with a few connections, then measure from there.
  for (let i = 0; i < 200; i++) (await idleClient(fe, '127.0.0.2')).destroy();
  await new Promise((r) => setTimeout(r, 1000));
  const before = rssKiB(child.pid!);
  for (let i = 0; i < N; i += 200) {
    const batch = Array.from({ length: Math.min(200, N - i) }, (_, k) =>
      idleClient(fe, `127.0.0.${2 + Math.floor((i + k) / PER_ADDRESS)}`),
    );
    sockets.push(...(await Promise.all(batch)));
  }
  await new Promise((r) => setTimeout(r, 3000)); // let idle connections settle (buffers released, GC)
  const after = rssKiB(child.pid!);
  const per = (after - before) / N;
  console.log(
    `${N} idle keep-alive client connections, ${WORKERS} worker(s): RSS ${before} → ${after} KiB, ` +
      `${per.toFixed(2)} KiB per connection; 100,000 would take ~${((per * 100_000) / 1024).toFixed(0)} MiB more`,
  );
} finally {
  for (const s of sockets) s.destroy();
  child?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  backend.closeAllConnections();
  backend.close();
  rmSync(dir, { recursive: true, force: true });
}
