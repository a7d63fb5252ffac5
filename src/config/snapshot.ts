import { Defaults, defaultBackendQueue } from './defaults.ts';
import type {
  Algorithm,
  Backend,
  Certificate,
  ConfigState,
  Frontend,
  HealthCheck,
  Mode,
  OutlierDetection,
  Persistence,
  Protocol,
  ServerType,
  SlowStart,
} from './model.ts';

/**
 * The immutable compiled configuration the data plane runs on (DESIGN.md "The one flow").
 * References are resolved (a frontend holds its backends, a backend its servers), durations
 * are in milliseconds, and everything is frozen. Built by `compile()` from a ConfigState;
 * pure, no I/O. One per configVersion.
 */
export interface Snapshot {
  readonly version: number;
  readonly frontends: ReadonlyMap<string, FrontendSpec>;
  readonly backends: ReadonlyMap<string, BackendSpec>;
  readonly servers: ReadonlyMap<string, ServerSpec>;
  readonly certificates: ReadonlyMap<string, Certificate>;
}

/** A server as the data plane sees it: address and port resolved (instance IP, backend port). */
export interface ServerSpec {
  readonly id: string;
  readonly backendId: string;
  readonly loadBalancerId: string;
  readonly name: string;
  readonly serverType: ServerType;
  readonly instanceId: string | null;
  readonly address: string;
  /** The host name `address` was resolved from (issue 15 point 2, src/runtime/dns.ts): TLS SNI and certificate checks use it. */
  readonly host?: string;
  readonly port: number;
  /** `address:port` (IPv6 in brackets): a change of it resets health (issue 3 point 3). */
  readonly endpoint: string;
  readonly weight: number;
  /** Concurrent requests (tcp: connections) on this node; 0 = unlimited (issue 15 point 4). */
  readonly maxConnections: number;
  readonly zone: string | null;
  readonly passive: boolean;
  readonly sslOffload: boolean;
  readonly caCertificateId: string | null;
  readonly enabled: boolean;
  /** The instance's OS when the server names an instance (S10). */
  readonly os: string | null;
  /** Per-server health check overrides (issue 15 point 7): the check's port, or never checked. */
  readonly healthCheck?: { readonly port: number | null; readonly enabled: boolean };
}

/** A backend with its servers, in configuration order. */
export interface BackendSpec {
  readonly id: string;
  readonly loadBalancerId: string;
  readonly name: string;
  readonly mode: Mode;
  readonly algorithm: Algorithm;
  readonly persistence: Readonly<Persistence>;
  readonly healthCheck: Readonly<HealthCheck>;
  readonly slowStart: Readonly<SlowStart>;
  readonly tls: Readonly<Backend['tls']>;
  readonly outlierDetection: Readonly<OutlierDetection>;
  readonly drainTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly udpTimeoutMs: number;
  readonly maxFlows: number;
  /** HTTP retries on other servers (`retries`, default 2). */
  readonly retries: number;
  /** FIFO queue when every eligible server is at its limit: `maxLength` 0 = off (issue 15 point 4). */
  readonly queue: { readonly maxLength: number; readonly timeoutMs: number };
  /** PROXY protocol header sent first on each server connection; null = none (issue 15 point 3). */
  readonly proxyProtocol: 'v1' | 'v2' | null;
  readonly servers: readonly ServerSpec[];
  /** The raw backend document, for consumers that need a field not lifted above. */
  readonly config: Readonly<Backend>;
}

/** A routing rule compiled once per snapshot (F4): lower-cased host, exact or `*.` suffix. */
export interface CompiledRule {
  /** Exact lower-case host, or undefined. */
  readonly host: string | undefined;
  /** Lower-case suffix including the leading dot (for `*.example.com` → `.example.com`), or undefined. */
  readonly hostSuffix: string | undefined;
  readonly path: string | undefined;
  readonly pathPrefix: string | undefined;
  /** Lower-case header name and exact value. */
  readonly header: { readonly name: string; readonly value: string } | undefined;
  readonly method: string | undefined;
  readonly backend: BackendSpec;
  /** Index in the frontend's `rules`, for per-rule counters. */
  readonly index: number;
}

/** A frontend with its backends resolved. */
export interface FrontendSpec {
  readonly id: string;
  readonly loadBalancerId: string;
  readonly name: string;
  readonly protocol: Protocol;
  readonly bindAddress: string;
  readonly port: number;
  /** `protocol bindAddress:port`: a change of it means a new listening socket. */
  readonly bindKey: string;
  readonly enabled: boolean;
  readonly defaultBackend: BackendSpec | undefined;
  readonly rules: readonly CompiledRule[];
  readonly requestHeaderTimeoutMs: number;
  readonly clientIdleTimeoutMs: number;
  readonly maxConnections: number;
  readonly certificates: readonly Certificate[];
  readonly tlsPassthrough: boolean;
  /** `redirectToHttps`: the port of the https twin to redirect to (308); undefined = forward. */
  readonly redirectHttpsPort: number | undefined;
  readonly sniRules: readonly { readonly serverName: string; readonly backend: BackendSpec }[];
  /** HTTP: idle time between request body bytes before 408 (ms). */
  readonly requestBodyTimeoutMs: number;
  /** HTTP: slowest accepted request body (bytes/s); 0 = off. */
  readonly minRequestBodyBytesPerSecond: number;
  /** HTTP: largest accepted request body (bytes); 0 = unlimited. */
  readonly maxRequestBodyBytes: number;
  /** HTTP: CIDRs (IPv4/IPv6) of proxies whose forwarding fields are kept. */
  readonly trustedProxies: readonly string[];
  /** Connections must start with a PROXY header from `trustedProxies` (issue 15 point 3). */
  readonly acceptProxyProtocol: boolean;
  /** HTTP: lower-case Upgrade protocols that may be tunnelled (never `h2c`). */
  readonly allowedUpgrades: readonly string[];
  /** HTTP: merge duplicate slashes in the path (RFC 3986 §6 normalisation beyond). */
  readonly mergeSlashes: boolean;
  readonly config: Readonly<Frontend>;
}

/**
 * The https frontend an `http` frontend redirects to (T1, `redirectToHttps`): an enabled https
 * frontend of the same load balancer, preferring one on the same bind address.
 */
export function httpsTwin(frontends: readonly Frontend[], f: Frontend): Frontend | undefined {
  const candidates = frontends.filter(
    (x) => x.loadBalancerId === f.loadBalancerId && x.protocol === 'https' && x.enabled,
  );
  return candidates.find((x) => x.bindAddress === f.bindAddress) ?? candidates[0];
}

/** Formats host:port, bracketing IPv6 literals. */
export function endpointOf(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/**
 * Compiles a configuration into a frozen Snapshot. Pure. Assumes the configuration has
 * passed validation (references exist); a dangling reference is skipped rather than thrown,
 * so a snapshot can always be built.
 */
export function compile(config: ConfigState): Snapshot {
  const instances = new Map(config.instances.map((i) => [i.id, i]));
  const lbOfBackend = new Map(config.backends.map((b) => [b.id, b.loadBalancerId]));
  const backendById = new Map(config.backends.map((b) => [b.id, b]));
  const serversByBackend = new Map<string, ServerSpec[]>();
  const servers = new Map<string, ServerSpec>();
  for (const s of config.servers) {
    const backend = backendById.get(s.backendId);
    if (!backend) continue;
    const inst = s.instanceId ? instances.get(s.instanceId) : undefined;
    const address = inst ? inst.privateIp : s.address;
    const port = s.port ?? backend.port ?? 0;
    const spec: ServerSpec = {
      id: s.id,
      backendId: s.backendId,
      loadBalancerId: lbOfBackend.get(s.backendId) ?? '',
      name: s.name,
      serverType: s.serverType,
      instanceId: s.instanceId,
      address,
      port,
      endpoint: endpointOf(address, port),
      weight: s.weight,
      maxConnections: s.maxConnections ?? Defaults.maxConnections,
      zone: s.zone ?? inst?.zone ?? null,
      passive: s.passive,
      sslOffload: s.sslOffload,
      caCertificateId: s.caCertificateId,
      enabled: s.enabled,
      os: inst?.os ?? null,
      healthCheck: { port: s.healthCheck?.port ?? null, enabled: s.healthCheck?.enabled ?? true },
    };
    servers.set(s.id, spec);
    let list = serversByBackend.get(s.backendId);
    if (!list) serversByBackend.set(s.backendId, (list = []));
    list.push(spec);
  }
  const backends = new Map<string, BackendSpec>();
  for (const b of config.backends) {
    backends.set(b.id, {
      id: b.id,
      loadBalancerId: b.loadBalancerId,
      name: b.name,
      mode: b.mode,
      algorithm: b.algorithm,
      persistence: b.persistence,
      healthCheck: b.healthCheck,
      slowStart: b.slowStart,
      tls: b.tls,
      outlierDetection: b.outlierDetection,
      drainTimeoutMs: b.drainTimeoutSeconds * 1000,
      connectTimeoutMs: b.timeouts.connectSeconds * 1000,
      responseTimeoutMs: b.timeouts.responseSeconds * 1000,
      udpTimeoutMs: b.udpTimeoutSeconds * 1000,
      maxFlows: b.maxFlows,
      retries: b.retries ?? Defaults.retries,
      queue: queueOf(b),
      proxyProtocol: b.proxyProtocol ?? null,
      servers: serversByBackend.get(b.id) ?? [],
      config: structuredClone(b),
    });
    deepFreeze(backends.get(b.id));
  }
  const certificates = new Map(config.certificates.map((c) => [c.id, c]));
  const frontends = new Map<string, FrontendSpec>();
  for (const f of config.frontends) {
    const rules: CompiledRule[] = [];
    f.rules.forEach((r, index) => {
      const backend = backends.get(r.backendId);
      if (!backend) return;
      const host = r.match.host?.toLowerCase();
      const wildcard = host?.startsWith('*.');
      rules.push({
        host: wildcard ? undefined : host,
        hostSuffix: wildcard ? host?.slice(1) : undefined,
        path: r.match.path,
        pathPrefix: r.match.pathPrefix,
        header: r.match.header ? { name: r.match.header.name.toLowerCase(), value: r.match.header.value } : undefined,
        method: r.match.method?.toUpperCase(),
        backend,
        index,
      });
    });
    const sniRules: { serverName: string; backend: BackendSpec }[] = [];
    for (const r of f.sniRules) {
      const backend = backends.get(r.backendId);
      if (backend) sniRules.push({ serverName: r.serverName.toLowerCase(), backend });
    }
    frontends.set(f.id, {
      id: f.id,
      loadBalancerId: f.loadBalancerId,
      name: f.name,
      protocol: f.protocol,
      bindAddress: f.bindAddress,
      port: f.port,
      bindKey: `${f.protocol === 'udp' ? 'udp' : 'tcp'} ${endpointOf(f.bindAddress, f.port)}`,
      enabled: f.enabled,
      defaultBackend: f.defaultBackendId ? backends.get(f.defaultBackendId) : undefined,
      rules,
      requestHeaderTimeoutMs: f.timeouts.requestHeaderSeconds * 1000,
      clientIdleTimeoutMs: f.timeouts.clientIdleSeconds * 1000,
      maxConnections: f.maxConnections,
      certificates: f.certificateIds.map((id) => certificates.get(id)).filter((c): c is Certificate => !!c),
      tlsPassthrough: f.tlsPassthrough,
      redirectHttpsPort: f.redirectToHttps === true ? httpsTwin(config.frontends, f)?.port : undefined,
      sniRules,
      requestBodyTimeoutMs: (f.timeouts.requestBodySeconds ?? Defaults.requestBodySeconds) * 1000,
      minRequestBodyBytesPerSecond: f.minRequestBodyBytesPerSecond ?? Defaults.minRequestBodyBytesPerSecond,
      maxRequestBodyBytes: f.maxRequestBodyBytes ?? Defaults.maxRequestBodyBytes,
      trustedProxies: f.trustedProxies ?? [],
      acceptProxyProtocol: f.acceptProxyProtocol === true,
      allowedUpgrades: (f.allowedUpgrades ?? Defaults.allowedUpgrades)
        .map((u) => u.toLowerCase())
        .filter((u) => u !== 'h2c'),
      mergeSlashes: f.mergeSlashes ?? Defaults.mergeSlashes,
      config: structuredClone(f),
    });
  }
  for (const m of [servers, backends, frontends, certificates] as ReadonlyMap<string, unknown>[]) {
    for (const v of m.values()) deepFreeze(v);
  }
  return Object.freeze({ version: config.version, frontends, backends, servers, certificates });
}

/** A backend's queue with its defaults, in ms. */
function queueOf(b: Backend): { maxLength: number; timeoutMs: number } {
  const d = defaultBackendQueue();
  const q = b.queue;
  return { maxLength: q?.maxLength ?? d.maxLength, timeoutMs: (q?.timeoutSeconds ?? d.timeoutSeconds) * 1000 };
}
