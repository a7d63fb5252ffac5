import { defaultBackend } from '../config/defaults.ts';
import type { Algorithm, Backend, ConfigState, Persistence, Server } from '../config/model.ts';
import { type BackendSpec, compile, type Snapshot } from '../config/snapshot.ts';
import { FakeClock } from '../core/clock.ts';
import { ServerRuntime } from '../runtime/server-runtime.ts';

/** One server of a test backend; every field optional. */
export interface TestServer {
  name?: string;
  weight?: number;
  passive?: boolean;
  enabled?: boolean;
  address?: string;
  /** Concurrent requests the server takes (issue 15 point 4); absent = unlimited. */
  maxConnections?: number;
}

/** Options of a test backend. */
export interface TestBackendOptions {
  algorithm?: Algorithm;
  /** Health checks on (servers start `unknown`, not available) or off (healthy at once, H5). Default off. */
  healthCheck?: boolean;
  slowStartSeconds?: number;
  persistence?: Partial<Persistence>;
  mode?: Backend['mode'];
  id?: string;
}

/** Builds a ConfigState with one load balancer, one backend and the given servers (ids `s1`, `s2`, …). */
export function testConfig(servers: readonly TestServer[], opts: TestBackendOptions = {}, version = 1): ConfigState {
  const backendId = opts.id ?? 'b1';
  const b = defaultBackend(backendId, 'lb1', `backend-${backendId}`, opts.mode ?? 'http');
  b.algorithm = opts.algorithm ?? 'round-robin';
  b.healthCheck.enabled = opts.healthCheck ?? false;
  if (opts.slowStartSeconds) b.slowStart = { enabled: true, durationSeconds: opts.slowStartSeconds };
  if (opts.persistence) b.persistence = { ...b.persistence, ...opts.persistence };
  b.port = 8080;
  const list: Server[] = servers.map((s, i) => ({
    id: `s${i + 1}`,
    backendId,
    name: s.name ?? `server-${i + 1}`,
    serverType: 'web',
    instanceId: null,
    address: s.address ?? `10.0.0.${i + 1}`,
    port: null,
    weight: s.weight ?? 1,
    zone: null,
    passive: s.passive ?? false,
    sslOffload: false,
    caCertificateId: null,
    enabled: s.enabled ?? true,
    ...(s.maxConnections !== undefined ? { maxConnections: s.maxConnections } : {}),
  }));
  return {
    version,
    loadBalancers: [
      { id: 'lb1', name: 'lb', description: '', allowedNetworks: [], ipAsBackend: true, maxServers: 492 },
    ],
    frontends: [],
    backends: [b],
    servers: list,
    instances: [],
    certificates: [],
  };
}

/** A compiled test backend with live ServerRuntimes and a FakeClock. */
export interface TestBackend {
  snapshot: Snapshot;
  backend: BackendSpec;
  servers: ServerRuntime[];
  clock: FakeClock;
  now: () => number;
}

/** Compiles `testConfig(...)` and builds one ServerRuntime per server (no Runtime). */
export function testBackend(servers: readonly TestServer[], opts: TestBackendOptions = {}): TestBackend {
  const snapshot = compile(testConfig(servers, opts));
  const backend = snapshot.backends.get(opts.id ?? 'b1')!;
  const clock = new FakeClock();
  return {
    snapshot,
    backend,
    servers: backend.servers.map((s) => new ServerRuntime(s, backend)),
    clock,
    now: () => clock.now(),
  };
}

/** `n` equal servers. */
export function equalServers(n: number, extra: TestServer = {}): TestServer[] {
  return Array.from({ length: n }, () => ({ ...extra }));
}

/** Distinct client addresses 10.x.y.z for hashing tests. */
export function clientAddresses(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
}

/** Counts picks per server id. */
export function tally(picks: readonly (ServerRuntime | undefined)[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of picks) {
    const k = s?.id ?? 'none';
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** A deterministic pseudo-random source for tests (core/seeded-random.ts). */
export { seededRandom } from '../core/seeded-random.ts';
