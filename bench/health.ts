// Benchmark (not a test): 1,000 servers checked every second over TCP by one HealthService.
// Target (issue "Health checks"): < 10 % of one core. The TCP listeners run in a child
// process so the figure is the prober's own cost.
//
//   node_modules/.bin/node bench/health.ts            # 20 s measurement
//   HEALTH_BENCH_SECONDS=5 node_modules/.bin/node bench/health.ts
//   HEALTH_BENCH_VARIANT=noop …                       # scheduler only, no sockets
import { fork } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { createBalancer } from '../src/balancer/registry.ts';
import { compile } from '../src/config/snapshot.ts';
import { realClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/log.ts';
import { HealthService } from '../src/health/service.ts';
import { tcpCheck } from '../src/health/tcp.ts';
import type { HealthCheck } from '../src/health/types.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { backend, baseConfig, server } from '../test/helpers/plane.ts';

const SERVERS = 1000;
const LISTENERS = 8;

if (process.argv[2] === 'listeners') {
  // Child: LISTENERS accept-and-forget TCP servers; sends their ports.
  const ports: number[] = [];
  for (let i = 0; i < LISTENERS; i++) {
    const srv = createServer((s) => {
      s.on('error', () => {});
      s.resume();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', 511, r));
    ports.push((srv.address() as AddressInfo).port);
  }
  process.send?.(ports);
  process.on('disconnect', () => process.exit(0));
} else {
  const seconds = Number(process.env.HEALTH_BENCH_SECONDS ?? 20);
  const child = fork(new URL(import.meta.url).pathname, ['listeners'], { stdio: 'inherit' });
  const ports = await new Promise<number[]>((r) => child.once('message', (m) => r(m as number[])));

  // the tests' configuration builder (test/helpers/plane.ts), the one place that knows every field
  const config = baseConfig({ allowedNetworks: [], ipAsBackend: true, maxServers: SERVERS });
  const b = backend('b1', 'tcp');
  b.healthCheck = {
    ...b.healthCheck,
    enabled: true,
    type: 'tcp',
    intervalSeconds: 1,
    timeoutSeconds: 1,
    rise: 2,
    fall: 3,
  };
  config.backends.push(b);
  for (let i = 0; i < SERVERS; i++)
    config.servers.push(server(`s${i}`, 'b1', ports[i % ports.length]!, { serverType: 'other' }));
  const runtime = new Runtime(createBalancer);
  const snapshot = compile(config);
  runtime.reconcile(snapshot);
  // HEALTH_BENCH_VARIANT=noop measures the scheduler alone (probes answer at once, no socket).
  const noop = process.env.HEALTH_BENCH_VARIANT === 'noop';
  let probes = 0;
  const counted: HealthCheck = {
    type: 'tcp',
    probe(target, signal) {
      probes++;
      return noop
        ? Promise.resolve({ ok: true, reason: 'ok', message: '', latencyMs: 0 })
        : tcpCheck.probe(target, signal);
    },
  };
  const health = new HealthService({ runtime, clock: realClock, log: silentLogger, checks: { tcp: counted } });
  health.sync(snapshot);

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await sleep(3000); // warm-up: every server probed at least twice
  const checksAt = (): number => {
    let n = 0;
    for (const s of runtime.servers.values()) if (s.lastCheck) n++;
    return n;
  };
  probes = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  let healthy = 0;
  let failed = 0;
  for (const s of runtime.servers.values()) {
    if (s.health === 'healthy') healthy++;
    if (s.lastCheck && !s.lastCheck.ok) failed++;
  }
  health.stop();
  child.disconnect();
  const cpuPct = ((cpu.user + cpu.system) / 1000 / wallMs) * 100;
  console.log(
    JSON.stringify(
      {
        variant: noop ? 'noop (scheduler only)' : 'tcp',
        servers: SERVERS,
        listeners: ports.length,
        intervalSeconds: 1,
        seconds: Math.round(wallMs / 100) / 10,
        checked: checksAt(),
        healthy,
        lastCheckFailed: failed,
        probesPerSecond: Math.round(probes / (wallMs / 1000)),
        cpuPercentOfOneCore: Math.round(cpuPct * 10) / 10,
        userMs: Math.round(cpu.user / 1000),
        systemMs: Math.round(cpu.system / 1000),
        targetPercent: 10,
      },
      null,
      2,
    ),
  );
}
