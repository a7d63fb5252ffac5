// HTTPS benchmark (T1): Fulcrum's https frontend beside HAProxy with the same certificate, the
// same backend, in interleaved rounds. Not part of `npm test`.
//
//   node bench/https.ts                         # 3 rounds × 5 s per scenario and target
//   ROUNDS=5 DURATION=10 CONNS=64 node bench/https.ts
//
// Scenarios: `ka` (keep-alive: many requests per TLS connection) and `close` (a new TLS
// connection — full handshake — per request). The backend is one Node HTTP server answering
// "ok\n" (cpu 0, with wrk); each proxy gets cpu 1 alone (taskset). HAProxy: nbthread 1.
// Fulcrum: `npm start` with its API on 127.0.0.1, configured through the public API
// (certificate upload, https frontend). Quote the ratio, not the absolute figures.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const DURATION = Number(process.env.DURATION ?? 5);
const CONNS = Number(process.env.CONNS ?? 32);
const TOKEN = 'bench-token-0123456789abcdef';
const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-https-bench-'));
const children: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitPort(port: number, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        r(true);
      });
      c.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not open`);
}

function start(cpu: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const c = spawn('taskset', ['-c', cpu, cmd, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env, cwd: ROOT });
  children.push(c);
  return c;
}

function wrk(port: number, close: boolean): number {
  const args = ['-t1', `-c${CONNS}`, `-d${DURATION}s`, ...(close ? ['-H', 'Connection: close'] : [])];
  const out = execFileSync('taskset', ['-c', '0', 'wrk', ...args, `https://127.0.0.1:${port}/`], { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
  if (errors) console.log(`  note (${port}): ${errors[0]}`);
  return m ? Number(m[1]) : 0;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-subj', '/CN=bench.test',
    '-addext', 'subjectAltName=DNS:bench.test,IP:127.0.0.1',
  ], { stdio: 'ignore' }); // biome-ignore format: argument list
  const bundle = readFileSync(path.join(dir, 'cert.pem'), 'utf8') + readFileSync(path.join(dir, 'key.pem'), 'utf8');
  writeFileSync(path.join(dir, 'bundle.pem'), bundle);

  const bePort = await freePort();
  start('0', process.execPath, [
    '-e',
    `require('http').createServer((q,s)=>{q.resume();q.on('end',()=>s.end('ok\\n'))}).listen(${bePort},'127.0.0.1')`,
  ]);
  const haPort = await freePort();
  writeFileSync(
    path.join(dir, 'haproxy.cfg'),
    [
      'global',
      '  nbthread 1',
      '  maxconn 4000',
      '  ssl-default-bind-options ssl-min-ver TLSv1.2',
      'defaults',
      '  mode http',
      '  timeout connect 5s',
      '  timeout client 60s',
      '  timeout server 60s',
      '  option http-keep-alive',
      'frontend fe',
      `  bind 127.0.0.1:${haPort} ssl crt ${path.join(dir, 'bundle.pem')} alpn http/1.1`,
      '  default_backend be',
      'backend be',
      `  server s1 127.0.0.1:${bePort}`,
      '',
    ].join('\n'),
  );
  start('1', 'haproxy', ['-f', path.join(dir, 'haproxy.cfg'), '-db']);
  const apiPort = await freePort();
  start('1', process.execPath, ['src/cli/main.ts', 'serve', '--api', `127.0.0.1:${apiPort}`, '--data-dir', dir], {
    ...process.env,
    FULCRUM_ADMIN_TOKEN: TOKEN,
    FULCRUM_LOG_LEVEL: 'warn',
  });
  await waitPort(bePort);
  await waitPort(haPort);
  await waitPort(apiPort);
  const api = async (p: string, body: unknown): Promise<{ id: string }> => {
    const r = await fetch(`http://127.0.0.1:${apiPort}/api/v1${p}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${p}: ${r.status} ${await r.text()}`);
    return (await r.json()) as { id: string };
  };
  const lb = await api('/load-balancers', { name: 'bench', allowedNetworks: ['127.0.0.0/8'] });
  const be = await api('/backends', {
    loadBalancerId: lb.id,
    name: 'be',
    mode: 'http',
    healthCheck: { enabled: false, type: 'http' },
  });
  await api(`/backends/${be.id}/servers`, { name: 's1', serverType: 'web', address: '127.0.0.1', port: bePort });
  const cert = await api('/certificates', { name: 'bench', kind: 'server', pem: bundle });
  const fuPort = await freePort();
  await api('/frontends', {
    loadBalancerId: lb.id,
    name: 'fe',
    protocol: 'https',
    port: fuPort,
    defaultBackendId: be.id,
    certificateIds: [cert.id],
  });
  await waitPort(fuPort);

  const targets = [
    { name: 'haproxy', port: haPort },
    { name: 'fulcrum', port: fuPort },
  ];
  const results: Record<string, number[]> = {};
  for (const t of targets) wrk(t.port, false); // warm-up
  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of ['ka', 'close']) {
      for (const t of targets) {
        const rps = wrk(t.port, scenario === 'close');
        (results[`${scenario} ${t.name}`] ??= []).push(rps);
        console.log(`round ${round} ${scenario.padEnd(5)} ${t.name.padEnd(8)} ${rps.toFixed(0)} req/s`);
      }
    }
  }
  for (const scenario of ['ka', 'close']) {
    const h = median(results[`${scenario} haproxy`] ?? []);
    const f = median(results[`${scenario} fulcrum`] ?? []);
    console.log(
      `${scenario.padEnd(5)} median: haproxy ${h.toFixed(0)} req/s, fulcrum ${f.toFixed(0)} req/s, ratio fulcrum/haproxy ${(f / h).toFixed(2)}`,
    );
  }
}

try {
  await main();
} finally {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  rmSync(dir, { recursive: true, force: true });
}
