import type {
  Backend,
  BackendQueue,
  BackendTimeouts,
  BackendTls,
  FrontendTimeouts,
  HealthCheck,
  HealthCheckType,
  HttpCheckSettings,
  OutlierDetection,
  Persistence,
  SlowStart,
} from './model.ts';

/**
 * Default values of every optional field (API.md, SPEC.md). One source for the API, the
 * console's forms and the docs.
 */
export const Defaults = {
  bindAddress: '127.0.0.1',
  maxServers: 492, // S6
  weight: 1, // S1
  drainTimeoutSeconds: 30, // S3
  udpTimeoutSeconds: 30, // U1
  maxFlows: 100_000,
  cookieName: 'FULCRUM_SRV', // P2
  persistenceTimeoutSeconds: 1800,
  requestBodySeconds: 30, // frontend timeouts, HTTP (issue 12)
  allowedUpgrades: ['websocket'],
  mergeSlashes: true,
  maxRequestBodyBytes: 0, // unlimited
  minRequestBodyBytesPerSecond: 0, // off
  retries: 2, // backend, HTTP
  maxConnections: 0, // server, unlimited
} as const;

/** A backend's queue: off (`maxLength` 0), 10 s wait when turned on. */
export function defaultBackendQueue(): Required<BackendQueue> {
  return { maxLength: 0, timeoutSeconds: 10 };
}

export function defaultFrontendTimeouts(): FrontendTimeouts {
  return { requestHeaderSeconds: 10, clientIdleSeconds: 60 };
}

export function defaultBackendTimeouts(): BackendTimeouts {
  return { connectSeconds: 5, responseSeconds: 60 };
}

export function defaultHttpCheck(): HttpCheckSettings {
  return { method: 'GET', path: '/', expectedCodes: '200-399' }; // H3
}

/** H2, H4: interval 5 s, timeout 3 s, rise 2, fall 3; enabled with a tcp check by default. */
export function defaultHealthCheck(type: HealthCheckType = 'tcp'): HealthCheck {
  const hc: HealthCheck = { enabled: true, type, port: null, intervalSeconds: 5, timeoutSeconds: 3, rise: 2, fall: 3 };
  if (type === 'http' || type === 'https') hc.http = defaultHttpCheck();
  return hc;
}

export function defaultPersistence(): Persistence {
  return { type: 'none', timeoutSeconds: Defaults.persistenceTimeoutSeconds };
}

export function defaultSlowStart(): SlowStart {
  return { enabled: false, durationSeconds: 30 };
}

export function defaultBackendTls(): BackendTls {
  return { enabled: false, caCertificateId: null, sni: null, verify: true };
}

/** H7: 5 consecutive failures, 30 s base ejection doubling to at most 300 s, at most half ejected. */
export function defaultOutlierDetection(): OutlierDetection {
  return {
    enabled: true,
    consecutiveFailures: 5,
    baseEjectionSeconds: 30,
    maxEjectionSeconds: 300,
    maxEjectionPercent: 50,
  };
}

/** A whole backend with every default filled in, for the given identity and mode. */
export function defaultBackend(id: string, loadBalancerId: string, name: string, mode: Backend['mode']): Backend {
  return {
    id,
    loadBalancerId,
    name,
    mode,
    algorithm: 'round-robin',
    port: null,
    persistence: defaultPersistence(),
    healthCheck: defaultHealthCheck(mode === 'http' ? 'http' : mode === 'udp' ? 'udp' : 'tcp'),
    slowStart: defaultSlowStart(),
    tls: defaultBackendTls(),
    drainTimeoutSeconds: Defaults.drainTimeoutSeconds,
    timeouts: defaultBackendTimeouts(),
    udpTimeoutSeconds: Defaults.udpTimeoutSeconds,
    maxFlows: Defaults.maxFlows,
    outlierDetection: defaultOutlierDetection(),
  };
}

/**
 * Most data-plane worker threads `fulcrum serve --workers N` starts (issue 13 point 1); the
 * default, the number of cores, is capped here too. One bound for the CLI and `startFulcrum`.
 */
export const MAX_WORKERS = 256;
