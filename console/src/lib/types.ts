/**
 * Shapes of the public API (/work/shared/API.md) as the console reads them. The stored
 * resource types come from the one source, `src/config/model.ts`; the console adds the
 * live `status` parts the API attaches and the `configVersion` every change answers with.
 */
import type {
  Backend as BackendModel,
  Frontend as FrontendModel,
  Instance,
  LoadBalancer,
  Server as ServerModel,
} from '../../../src/config/model.ts';

export type {
  Algorithm,
  HealthCheck,
  HealthCheckType,
  Instance,
  LoadBalancer,
  Mode,
  Persistence,
  PersistenceType,
  Protocol,
  RoutingRule,
  ServerType,
} from '../../../src/config/model.ts';

/** Result of a server's last active health check (API.md server `status.lastCheck`). */
export interface LastCheck {
  /** ISO 8601 time. */
  at: string;
  ok: boolean;
  reason: string | null;
  latencyMs?: number;
}

/** Live status of a server (API.md). `slowStartFactor` is 0–1. */
export interface ServerStatus {
  health: 'unknown' | 'healthy' | 'unhealthy';
  state: 'active' | 'passive' | 'slow-start' | 'draining' | 'disabled';
  slowStartFactor: number;
  activeConnections: number;
  lastCheck?: LastCheck | null;
  /** Stable reason code when out of rotation because of health (e.g. `initial-check`). */
  reason?: string | null;
  healthReason?: string | null;
}

/** A server as the API answers it: the stored server plus its live status. */
export interface Server extends ServerModel {
  status?: ServerStatus;
}

/** Per-zone health of a backend (S9). */
export interface ZoneHealth {
  zone: string | null;
  servers: number;
  healthy: number;
}

/** A backend warning (S9 zone without a healthy server, S10 mixed OS). */
export interface BackendWarning {
  code: string;
  message: string;
  zone?: string;
}

/** Live status of a backend (S9, S10). */
export interface BackendStatus {
  servers?: number;
  healthy?: number;
  zones?: ZoneHealth[];
  warnings?: (BackendWarning | string)[];
}

export interface Backend extends BackendModel {
  status?: BackendStatus;
}

/** Listening status of a frontend (F5). */
export interface FrontendStatus {
  listening: boolean;
  reason: string | null;
}

export interface Frontend extends FrontendModel {
  status?: FrontendStatus;
}

/** An uploaded certificate (T1, T3) as the API lists it; the key never comes back. */
export interface Certificate {
  id: string;
  name: string;
  kind: 'server' | 'ca';
  subjects: string[];
  issuer?: string;
  notBefore?: string;
  /** ISO 8601 expiry. */
  notAfter: string;
  fingerprintSha256?: string;
  /** Problems the API found at upload (weak key, self-signed, …). */
  warnings?: string[];
}

/** One lookup hit (S8). */
export interface LookupHit {
  loadBalancerId: string;
  loadBalancerName: string;
  backendId: string;
  backendName: string;
  server: Server;
}

/** An event (H6, S3): health transitions, drains, configuration changes. */
export interface FulcrumEvent {
  id?: string | number;
  /** ISO 8601 time. */
  at: string;
  kind: string;
  loadBalancerId: string | null;
  backendId: string | null;
  serverId: string | null;
  from: string | null;
  to: string | null;
  reason: string | null;
  detail?: Record<string, unknown>;
}

/** What every successful change answers (API.md "Conventions"). */
export interface Changed {
  configVersion: number;
}

export type { BackendModel, FrontendModel, Instance as InstanceModel, LoadBalancer as LoadBalancerModel, ServerModel };
