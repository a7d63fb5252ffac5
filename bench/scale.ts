// Benchmark (not a test), issue 13 points 4 and 5: does a change cost the same at 10 and at
// 10,000 servers? Two Fulcrums run in this process, one with a backend of 10 servers and one
// with a backend of 10,000; one-server PATCHes are sent to them in turn (interleaved, so a
// busy machine slows both alike) and timed through the API, from request to answer. Then
// the balancers' pick cost over 10 and over 10,000 servers, per algorithm, interleaved too.
// Quote the ratios (10,000 vs 10), never the absolute figures (bench/RESULTS.md).
//
//   npm run bench:scale
//   SCALE_CHANGES=100 SCALE_SERVERS=2000 node_modules/.bin/node bench/scale.ts   # quick look
//   SCALE_PARTS=picks SCALE_ALGORITHMS=least-connections node_modules/.bin/node bench/scale.ts
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { balancerClasses, createBalancer } from '../src/balancer/registry.ts';
import type { Algorithm } from '../src/config/model.ts';
import { compile } from '../src/config/snapshot.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import type { Closeable, ServerRuntime } from '../src/runtime/server-runtime.ts';
import { startTestFulcrum, type TestFulcrum } from '../test/helpers/fulcrum.ts';
import { addFrontend } from '../test/helpers/persistence-support.ts';
import { backend, baseConfig, freePort, server } from '../test/helpers/plane.ts';

const LARGE = Number(process.env.SCALE_SERVERS ?? 10_000);
const SMALL = 10;
const CHANGES = Number(process.env.SCALE_CHANGES ?? 300);
const WARMUP = 30;
/** `SCALE_WORKERS=N`: the Fulcrums run N data-plane worker threads (a change answers once all applied it). */
const WORKERS = Number(process.env.SCALE_WORKERS ?? 1);

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}

function address(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/**
 * A Fulcrum with one load balancer, one http frontend and one backend of `n` servers (checks
 * off), from a declarative file applied at start (one change): creating 10,000 servers one
 * by one through the API would only measure the set-up.
 */
async function fleet(n: number): Promise<{ t: TestFulcrum; backendId: string; serverIds: string[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-scale-'));
  const file = path.join(dir, 'fleet.json');
  const servers = Array.from({ length: n }, (_, i) => ({ name: `s${i}`, address: address(i), port: 80 }));
  const doc = {
    loadBalancers: [
      {
        name: 'lb',
        allowedNetworks: ['10.0.0.0/8'],
        maxServers: n + 100,
        backends: [{ name: 'web', mode: 'http', port: 80, healthCheck: { enabled: false }, servers }],
        frontends: [
          { name: 'www', protocol: 'http', bindAddress: '127.0.0.1', port: await freePort(), backend: 'web' },
        ],
      },
    ],
  };
  writeFileSync(file, JSON.stringify(doc));
  const t = await startTestFulcrum({ configFile: file, workers: WORKERS });
  rmSync(dir, { recursive: true, force: true });
  const [b] = await t.ok('GET', '/backends');
  const list = (await t.ok('GET', `/backends/${b.id}/servers`)) as { id: string }[];
  return { t, backendId: b.id, serverIds: list.map((s) => s.id) };
}

/** One one-server PATCH, timed from request to answer (ms). */
async function change(f: Awaited<ReturnType<typeof fleet>>, i: number): Promise<number> {
  const id = f.serverIds[(i * 7919) % f.serverIds.length] as string;
  const start = performance.now();
  await f.t.ok('PATCH', `/backends/${f.backendId}/servers/${id}`, { weight: 1 + (i % 100) });
  return performance.now() - start;
}

async function changes(): Promise<void> {
  const setup = performance.now();
  const small = await fleet(SMALL);
  const large = await fleet(LARGE);
  console.log(
    `setup: ${((performance.now() - setup) / 1000).toFixed(1)} s (${LARGE} servers from a declarative file, ${WORKERS} worker(s))`,
  );
  try {
    for (let i = 0; i < WARMUP; i++) {
      await change(small, i);
      await change(large, i);
    }
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      a.push(await change(small, WARMUP + i));
      b.push(await change(large, WARMUP + i));
    }
    const row = (name: string, xs: number[]) =>
      `${name.padEnd(16)} p50 ${quantile(xs, 0.5).toFixed(2)} ms   p99 ${quantile(xs, 0.99).toFixed(2)} ms`;
    console.log(`\none-server PATCH through the API, ${CHANGES} changes each, interleaved`);
    console.log(row(`${SMALL} servers`, a));
    console.log(row(`${LARGE} servers`, b));
    console.log(
      `ratio ${LARGE} vs ${SMALL}: p50 ${(quantile(b, 0.5) / quantile(a, 0.5)).toFixed(2)} ×, p99 ${(quantile(b, 0.99) / quantile(a, 0.99)).toFixed(2)} ×`,
    );
  } finally {
    await small.t.close();
    await large.t.close();
  }
}

/** A live backend of `n` servers under `algorithm`, through compile and the Runtime. */
function balancerOf(n: number, algorithm: Algorithm) {
  const c = baseConfig({ allowedNetworks: ['10.0.0.0/8'], maxServers: n });
  c.backends.push(backend('b', 'http', { algorithm, port: 80 }));
  for (let i = 0; i < n; i++) c.servers.push(server(`s${i}`, 'b', 80, { address: address(i) }));
  const runtime = new Runtime(createBalancer);
  runtime.reconcile(compile(c));
  const bal = runtime.backends.get('b')?.balancer;
  return bal && { bal, runtime };
}

/**
 * The algorithms the pick bench measures: SCALE_ALGORITHMS (comma list), default all. One per
 * process (`for a in …; do SCALE_PARTS=picks SCALE_ALGORITHMS=$a …`) keeps V8's call sites
 * monomorphic, so the 10-server figure does not move with what ran before it.
 */
const ALGORITHMS = (process.env.SCALE_ALGORITHMS?.split(',') ?? Object.keys(balancerClasses)) as Algorithm[];
for (const a of ALGORITHMS) {
  if (!Object.hasOwn(balancerClasses, a)) throw new Error(`SCALE_ALGORITHMS: "${a}" is not an algorithm`);
}

/** Connections each "request" round of the pick bench holds open (a ring: open one, close the oldest). */
const HELD = 64;

/**
 * Pick cost per algorithm over SMALL and LARGE servers. `withConnections`: each pick is
 * followed by the runtime opening a connection to the server and closing the one opened HELD
 * picks before (a request's whole balancer work, counts moving as in traffic).
 */
function picks(withConnections: boolean): void {
  const PICKS = 200_000;
  const ROUNDS = 5;
  const what = withConnections ? `pick + open + close, ${HELD} held` : 'pick alone';
  console.log(`\n${what}: ns per pick (median of ${ROUNDS} interleaved rounds of up to ${PICKS} picks)`);
  const clients = Array.from({ length: 1024 }, (_, i) => `192.0.2.${i & 255}`);
  for (const algorithm of ALGORITHMS) {
    const small = balancerOf(SMALL, algorithm);
    const large = balancerOf(LARGE, algorithm);
    if (!small || !large) continue;
    // At most about 0.2 s per measurement: an algorithm linear in the servers is slow at 10,000.
    let count = PICKS;
    const time = ({ bal, runtime }: NonNullable<typeof small>): number => {
      const ring: (readonly [ServerRuntime, Closeable])[] = [];
      const start = performance.now();
      for (let i = 0; i < count; i++) {
        const s = bal.pick({ clientAddress: clients[i & 1023] });
        if (!withConnections || !s) continue;
        const c = { destroy() {} };
        runtime.connectionOpened(s, c);
        ring.push([s, c]);
        if (ring.length > HELD) {
          const [os, oc] = ring.shift()!;
          runtime.connectionClosed(os, oc);
        }
      }
      const ns = ((performance.now() - start) * 1e6) / count;
      for (const [s, c] of ring) runtime.connectionClosed(s, c);
      return ns;
    };
    time(small);
    count = Math.max(1000, Math.min(PICKS, Math.floor(2e8 / Math.max(1, time(large)))));
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      a.push(time(small));
      b.push(time(large));
    }
    const x = quantile(a, 0.5);
    const y = quantile(b, 0.5);
    console.log(
      `${algorithm.padEnd(22)} ${SMALL}: ${x.toFixed(0).padStart(6)}   ${LARGE}: ${y.toFixed(0).padStart(6)}   ratio ${(y / x).toFixed(2)} ×`,
    );
  }
}

/**
 * Issue 13 point 5: change latency API → every worker live, while traffic flows. A backend of
 * two servers (one child process answering on two loopback ports), wrk keeping 16 keep-alive
 * connections busy on the frontend, and LIVE_CHANGES one-server PATCHes timed request to
 * answer (the answer comes once every worker applied the change).
 */
async function live(): Promise<void> {
  const n = Number(process.env.SCALE_LIVE_CHANGES ?? 1000);
  if (n <= 0) return;
  const [p1, p2] = [await freePort(), await freePort()];
  const backendCode = `for (const p of [${p1}, ${p2}]) require('http').createServer((q, r) => r.end('ok')).listen(p, '127.0.0.1')`;
  const backendProc = spawn(process.execPath, ['-e', backendCode], { stdio: 'ignore' });
  const t = await startTestFulcrum({ workers: WORKERS });
  try {
    const lb = (await t.ok('POST', '/load-balancers', { name: 'lb', allowedNetworks: ['127.0.0.0/8'] })).id;
    const be = (
      await t.ok('POST', '/backends', {
        loadBalancerId: lb,
        name: 'web',
        mode: 'http',
        healthCheck: { enabled: false },
      })
    ).id;
    const ids: string[] = [];
    for (const port of [p1, p2])
      ids.push((await t.ok('POST', `/backends/${be}/servers`, { name: `s${port}`, address: '127.0.0.1', port })).id);
    const fe = await addFrontend(t.ok, lb, 'www', be, 'http', { bindAddress: '127.0.0.1' });
    const seconds = Math.ceil(n / 50) + 5;
    const wrk = spawn('wrk', ['-t1', '-c16', `-d${seconds}s`, `http://127.0.0.1:${fe}/`], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let wrkOut = '';
    wrk.stdout.on('data', (d) => (wrkOut += d));
    await new Promise((r) => setTimeout(r, 1000));
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      await t.ok('PATCH', `/backends/${be}/servers/${ids[i % 2]}`, { weight: 1 + (i % 50) });
      xs.push(performance.now() - start);
    }
    wrk.kill('SIGINT');
    await new Promise((r) => wrk.once('exit', r));
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(wrkOut)?.[1] ?? '?';
    console.log(
      `\none-server PATCH with ${WORKERS} worker(s) while wrk runs (${rps} req/s over the whole run), ${n} changes`,
    );
    console.log(`p50 ${quantile(xs, 0.5).toFixed(2)} ms   p99 ${quantile(xs, 0.99).toFixed(2)} ms`);
  } finally {
    await t.close();
    backendProc.kill();
  }
}

/** Which parts run: SCALE_PARTS, a comma list of changes, picks, live (default all). */
const PARTS = new Set((process.env.SCALE_PARTS ?? 'changes,picks,live').split(','));
if (PARTS.has('changes')) await changes();
if (PARTS.has('picks')) {
  picks(false);
  picks(true);
}
if (PARTS.has('live')) await live();
