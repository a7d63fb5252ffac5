/**
 * The configuration model: the resources of API.md as stored and as the API shows them.
 * Pure data, JSON-serialisable. Names follow SPEC.md's terms table.
 *
 * Optional references are `null` when unset (never `undefined`), so a stored document and
 * an API answer have the same shape.
 */

export const Protocols = ['http', 'https', 'tcp', 'udp'] as const;
/** A frontend's protocol (F1). */
export type Protocol = (typeof Protocols)[number];

export const Modes = ['http', 'tcp', 'udp'] as const;
/** A backend's mode (F2: http/https frontends → http, tcp → tcp, udp → udp). */
export type Mode = (typeof Modes)[number];

export const Algorithms = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'source-ip',
  'random-two-choices',
  'least-response-time',
] as const;
/** Load-balancing algorithm (A1, A2). */
export type Algorithm = (typeof Algorithms)[number];

export const ServerTypes = ['web', 'application', 'database', 'cache', 'other'] as const;
/** Server type (S1). */
export type ServerType = (typeof ServerTypes)[number];

export const HealthCheckTypes = ['tcp', 'http', 'https', 'mysql', 'postgres', 'redis', 'tls', 'udp'] as const;
/** Health check type (H1). */
export type HealthCheckType = (typeof HealthCheckTypes)[number];

export const PersistenceTypes = ['none', 'source-ip', 'cookie', 'app-cookie'] as const;
/** Persistence type (P1, P2). */
export type PersistenceType = (typeof PersistenceTypes)[number];

/** A load balancer: groups frontends and backends; quotas apply per load balancer (S6, S7). */
export interface LoadBalancer {
  id: string;
  /** The resource's own version (ETag; 1 when created, + 1 on each change), kept by the store. */
  version?: number;
  name: string;
  description: string;
  /** IPv4 CIDRs a custom server address must fall in unless `ipAsBackend` (S7). */
  allowedNetworks: string[];
  /** Any IPv4 address may be a server; one-way: cannot be turned off once on (S7). */
  ipAsBackend: boolean;
  /** Server quota for the whole load balancer (S6, default 492). */
  maxServers: number;
}

export interface FrontendTimeouts {
  /** Time allowed for a client to send a whole request head (default 10). */
  requestHeaderSeconds: number;
  /** Idle time allowed on a client connection between requests, or on a tcp connection (default 60). */
  clientIdleSeconds: number;
  /** HTTP: idle time allowed between request body bytes before 408 (default 30). */
  requestBodySeconds?: number;
}

/** An HTTP routing rule (F4): the first rule whose every given condition matches wins. */
export interface RoutingRule {
  match: {
    host?: string;
    pathPrefix?: string;
    path?: string;
    header?: { name: string; value: string };
    method?: string;
  };
  backendId: string;
}

/** TLS passthrough rule (T4): ClientHello SNI → backend. */
export interface SniRule {
  serverName: string;
  backendId: string;
}

/** A frontend: a listening address:port with a protocol and a default backend (F1). */
export interface Frontend {
  id: string;
  /** The resource's own version (ETag; 1 when created, + 1 on each change), kept by the store. */
  version?: number;
  loadBalancerId: string;
  name: string;
  protocol: Protocol;
  bindAddress: string;
  port: number;
  defaultBackendId: string | null;
  certificateIds: string[];
  enabled: boolean;
  timeouts: FrontendTimeouts;
  /** Concurrent client connections allowed; 0 = unlimited. */
  maxConnections: number;
  rules: RoutingRule[];
  tlsPassthrough: boolean;
  sniRules: SniRule[];
  /**
   * `http` frontends only: answer every request with 308 to the same host and path on the
   * load balancer's `https` frontend (its "twin", T1), instead of forwarding it.
   */
  redirectToHttps: boolean;
  /** HTTP: CIDRs whose X-Forwarded-For / Forwarded / X-Real-IP are kept (default none: always replaced). */
  trustedProxies?: string[];
  /** http, https, tcp: each connection starts with a PROXY header from one of `trustedProxies` (default false). */
  acceptProxyProtocol?: boolean;
  /** HTTP: Upgrade protocols tunnelled after a matching 101 (default ["websocket"]; h2c never). */
  allowedUpgrades?: string[];
  /** HTTP: merge duplicate slashes of the path before routing and forwarding (default true). */
  mergeSlashes?: boolean;
  /** HTTP: largest request body accepted, 413 above (default 0 = unlimited). */
  maxRequestBodyBytes?: number;
  /** HTTP: slowest request body accepted in bytes per second, 408 below (default 0 = off). */
  minRequestBodyBytesPerSecond?: number;
}

export interface HttpCheckSettings {
  method: string;
  path: string;
  host?: string;
  /** H3: a list of codes and ranges, e.g. "200,204,300-399". Default "200-399". */
  expectedCodes: string;
  /** Healthy only when the first 64 KiB of the body contains this text (or matches it as /regex/). */
  expectBody?: string;
}

/** Active health check settings of a backend (H1–H5). */
export interface HealthCheck {
  enabled: boolean;
  type: HealthCheckType;
  /** Overrides the server's port (H2); null = the server's port. */
  port: number | null;
  intervalSeconds: number;
  timeoutSeconds: number;
  rise: number;
  fall: number;
  http?: HttpCheckSettings;
  mysql?: { user: string };
  postgres?: { user: string; database: string };
  udp?: { send: string; expect?: string };
  /** Send the backend's `proxyProtocol` header (LOCAL / UNKNOWN) before the check (issue 15 point 3; default false). */
  proxyProtocol?: boolean;
}

/** Persistence (P1, P2). `timeoutSeconds`: idle time after which the session ends (0 = browser session for cookies). */
export interface Persistence {
  type: PersistenceType;
  cookieName?: string;
  timeoutSeconds: number;
}

/** Slow start (SS1–SS6). */
export interface SlowStart {
  enabled: boolean;
  durationSeconds: number;
}

/** Backend-side TLS (T2, T3). */
export interface BackendTls {
  enabled: boolean;
  caCertificateId: string | null;
  sni: string | null;
  verify: boolean;
}

/** Passive health / outlier detection (H7). */
export interface OutlierDetection {
  enabled: boolean;
  consecutiveFailures: number;
  baseEjectionSeconds: number;
  maxEjectionSeconds: number;
  maxEjectionPercent: number;
}

export interface BackendTimeouts {
  connectSeconds: number;
  responseSeconds: number;
}

/** A backend: servers with one mode, algorithm, persistence, health check, slow start and TLS settings (F3). */
export interface Backend {
  id: string;
  /** The resource's own version (ETag; 1 when created, + 1 on each change), kept by the store. */
  version?: number;
  loadBalancerId: string;
  name: string;
  mode: Mode;
  algorithm: Algorithm;
  /** Default server port (F3); null = each server must give its own. */
  port: number | null;
  persistence: Persistence;
  healthCheck: HealthCheck;
  slowStart: SlowStart;
  tls: BackendTls;
  drainTimeoutSeconds: number;
  timeouts: BackendTimeouts;
  udpTimeoutSeconds: number;
  maxFlows: number;
  outlierDetection: OutlierDetection;
  /** HTTP: attempts on other servers for a request no server has seen, or an idempotent one cut before any answer (default 2). */
  retries?: number;
  /** FIFO queue for when every eligible server is at its `maxConnections` (issue 15 point 4; default off). */
  queue?: BackendQueue;
  /** tcp, http: a PROXY protocol header first on each server connection (issue 15 point 3; default null = off). */
  proxyProtocol?: 'v1' | 'v2' | null;
  /** Servers discovered from DNS SRV records (issue 15 point 2; default null = none; src/runtime/dns.ts). */
  discovery?: BackendDiscovery | null;
}

/** A backend's discovery source: SRV records of `name`, asked of `resolver` (`IP:port`) or the process's. */
export interface BackendDiscovery {
  type: 'dns-srv';
  name: string;
  resolver?: string | null;
  /**
   * What operators set on discovered servers, by server id: a weight in place of the record's,
   * `enabled: false` (disabled or drained). The rest of a discovered server is read-only.
   */
  overrides?: Record<string, { weight?: number; enabled?: boolean }>;
}

/** A backend's queue (HAProxy `maxqueue` + `timeout queue`, NGINX Plus `queue`). */
export interface BackendQueue {
  /** Requests (tcp: connections) that may wait; 0 = no queue: 503 (tcp: close) at once. */
  maxLength: number;
  /** Longest wait before 503 (tcp: close) with reason `queue-timeout` (default 10). */
  timeoutSeconds?: number;
}

/** A backend server (S1). Either `instanceId` or a custom `address`; the address follows the instance. */
export interface Server {
  id: string;
  /** The resource's own version (ETag; 1 when created, + 1 on each change), kept by the store. */
  version?: number;
  backendId: string;
  name: string;
  serverType: ServerType;
  instanceId: string | null;
  /** The server's IP: the custom IP, or the instance's privateIp when `instanceId` is set. */
  address: string;
  /** null = the backend's port (F3). */
  port: number | null;
  weight: number;
  /** Concurrent requests (tcp: connections) on this node; 0 = unlimited (default; issue 15 point 4). */
  maxConnections?: number;
  zone: string | null;
  passive: boolean;
  sslOffload: boolean;
  caCertificateId: string | null;
  enabled: boolean;
  /** Free text for people (default ""). */
  description?: string;
  /** Labels, `key` or `key=value` (at most 32; default []); `?tag=` filters by them. */
  tags?: string[];
  /** Overrides of the backend's health check for this server (issue 15 point 7). */
  healthCheck?: ServerHealthCheck;
}

/** A server's own health check settings: `port` replaces the check's port; `enabled: false` never checks it. */
export interface ServerHealthCheck {
  port?: number | null;
  enabled?: boolean;
}

/** An inventory entry (a VM or host) from which a server can be picked. */
export interface Instance {
  id: string;
  /** The resource's own version (ETag; 1 when created, + 1 on each change), kept by the store. */
  version?: number;
  name: string;
  privateIp: string;
  zone: string | null;
  os: string | null;
  serverType: ServerType;
}

/** An uploaded certificate (T1, T3). The private key never leaves the store in clear. */
export interface Certificate {
  id: string;
  /** The resource's own version (ETag; 1 when created, + 1 on each change), kept by the store. */
  version?: number;
  name: string;
  kind: 'server' | 'ca';
  /** Certificate chain (or CA bundle) in PEM. */
  certPem: string;
  /** Private key, encrypted at rest (server certificates only). */
  keyEncrypted: string | null;
  subjects: string[];
  issuer: string;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
}

/** The whole configuration at one version: what the store holds and the compiler reads. */
export interface ConfigState {
  version: number;
  loadBalancers: LoadBalancer[];
  frontends: Frontend[];
  backends: Backend[];
  servers: Server[];
  instances: Instance[];
  certificates: Certificate[];
}

/** Resource kinds held by the store. */
export type ResourceKind = 'loadBalancer' | 'frontend' | 'backend' | 'server' | 'instance' | 'certificate';

/** Maps a kind to its document type. */
export interface ResourceOf {
  loadBalancer: LoadBalancer;
  frontend: Frontend;
  backend: Backend;
  server: Server;
  instance: Instance;
  certificate: Certificate;
}

/** An empty configuration at version 0. */
export function emptyConfig(): ConfigState {
  return { version: 0, loadBalancers: [], frontends: [], backends: [], servers: [], instances: [], certificates: [] };
}
