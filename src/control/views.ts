import type { Backend, ConfigState, Frontend, Server } from '../config/model.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import type { DataPlanePort } from './ports.ts';

/**
 * API views: resources with their live `status` (API.md). Read the ServerRuntime and the
 * plane's listener status; never touch the store.
 */

/** Server `status` of API.md. `reason` is a stable code when the server is out of rotation. */
export interface ServerStatusView {
  health: 'unknown' | 'healthy' | 'unhealthy';
  state: 'active' | 'passive' | 'slow-start' | 'draining' | 'disabled';
  slowStartFactor: number;
  activeConnections: number;
  reason: string | null;
  lastCheck: { at: string; ok: boolean; reason: string; latencyMs: number } | null;
  /** Share of new requests this server gets now (0–1; issue 15 point 5). */
  expectedShare: number;
  /** While draining: when what is still open is cut (ISO 8601); else null. */
  drainDeadline: string | null;
}

/**
 * The rule of who shares new requests now (issue 15 point 5, S5): the available servers
 * (enabled, not draining, health ok, not ejected, weight > 0), passive ones only when no
 * active server is available. Returns whether passive servers are in, and the pool's summed
 * effective weight (weight × slow-start factor), summed in the servers' order.
 */
function sharingPool(servers: readonly ServerRuntime[], now: number): { passiveToo: boolean; total: number } {
  let anyActive = false;
  let active = 0;
  let all = 0;
  for (const s of servers) {
    if (!s.isAvailable(now)) continue;
    const w = s.effectiveWeight(now);
    all += w;
    if (!s.spec.passive) {
      anyActive = true;
      active += w;
    }
  }
  return anyActive ? { passiveToo: false, total: active } : { passiveToo: true, total: all };
}

function shareOf(s: ServerRuntime, pool: { passiveToo: boolean; total: number }, now: number): number {
  if (pool.total <= 0 || (s.spec.passive && !pool.passiveToo) || !s.isAvailable(now)) return 0;
  return Math.round((s.effectiveWeight(now) / pool.total) * 10_000) / 10_000;
}

/**
 * The share of new requests each server of a backend gets now (issue 15 point 5): its
 * effective weight over the sum of the sharing pool's (`sharingPool`); 0 outside the pool.
 * Rounded to 4 decimals.
 */
export function expectedShares(servers: readonly ServerRuntime[], now: number): Map<string, number> {
  const pool = sharingPool(servers, now);
  const out = new Map<string, number>();
  for (const s of servers) out.set(s.id, shareOf(s, pool, now));
  return out;
}

/** The expected shares of the servers of `backendId` (an empty map when the plane does not know it). */
export function backendShares(backendId: string, plane: DataPlanePort): Map<string, number> {
  const b = plane.runtime.backends.get(backendId);
  return b ? expectedShares(b.servers, plane.runtime.clock.now()) : new Map();
}

/**
 * One server's expected share, the value `expectedShares(servers, now)` maps it to, without
 * building the backend's map (a one-server answer in a backend of 10,000 servers).
 */
export function expectedShare(servers: readonly ServerRuntime[], server: ServerRuntime, now: number): number {
  return servers.includes(server) ? shareOf(server, sharingPool(servers, now), now) : 0;
}

/** `expectedShare` of server `serverId` of `backendId` in the plane; 0 when it does not know them. */
function serverShare(backendId: string, serverId: string, plane: DataPlanePort): number {
  const b = plane.runtime.backends.get(backendId);
  const rt = plane.runtime.server(serverId);
  return b && rt ? expectedShare(b.servers, rt, plane.runtime.clock.now()) : 0;
}

/** The fields a server document may predate (issue 15), with their defaults. */
function withServerDefaults(server: Server): Server {
  return {
    ...server,
    description: server.description ?? '',
    tags: server.tags ?? [],
    healthCheck: { port: null, enabled: true, ...server.healthCheck },
  };
}

/** True when `server` carries every tag of `wanted` (`key` matches `key` and any `key=value`). */
export function hasTags(server: Server, wanted: readonly string[]): boolean {
  const tags = server.tags ?? [];
  return wanted.every((w) => tags.includes(w) || (!w.includes('=') && tags.some((t) => t.startsWith(`${w}=`))));
}

/** Why a server takes no new traffic, as a stable code; null when it may. */
export function outOfRotationReason(rt: ServerRuntime, now: number): string | null {
  if (!rt.spec.enabled) return 'disabled';
  if (rt.draining) return rt.removed ? 'removed' : 'draining';
  if (rt.isEjected(now)) return 'ejected';
  if (rt.dnsProblem !== null) return rt.dnsProblem;
  if (!rt.healthOk) return rt.healthReason ?? (rt.health === 'unknown' ? 'initial-check' : 'failed-checks');
  if (rt.spec.weight === 0) return 'weight-zero';
  return null;
}

/** Live status of a server (unknown/disabled when the data plane has not seen it yet). */
export function serverStatus(
  server: Server,
  rt: ServerRuntime | undefined,
  now: number,
  expectedShare = 0,
): ServerStatusView {
  if (!rt) {
    return {
      health: 'unknown',
      state: server.enabled ? (server.passive ? 'passive' : 'active') : 'disabled',
      slowStartFactor: 1,
      activeConnections: 0,
      reason: 'not-applied',
      lastCheck: null,
      expectedShare: 0,
      drainDeadline: null,
    };
  }
  const factor = rt.slowStartFactor(now);
  return {
    health: rt.health,
    state: rt.state(now),
    slowStartFactor: Math.round(factor * 1000) / 1000,
    activeConnections: rt.activeConnections,
    reason: outOfRotationReason(rt, now),
    lastCheck: rt.lastCheck ? { ...rt.lastCheck } : null,
    expectedShare: rt.draining ? 0 : expectedShare,
    drainDeadline: rt.draining && rt.drainDeadline > 0 ? new Date(rt.drainDeadline).toISOString() : null,
  };
}

/**
 * A server as the API answers it. `removed`: the server was just deleted (the DELETE answer,
 * S3): while it still drains its live status shows `draining`; when it had no open connection
 * the drain already ended and it is gone, answered as `state: "draining"`, reason `removed`.
 */
export function serverView(
  server: Server,
  plane: DataPlanePort,
  removed = false,
  shares?: ReadonlyMap<string, number>,
): Server & { status: ServerStatusView } {
  const now = plane.runtime.clock.now();
  const rt = plane.runtime.server(server.id);
  server = withServerDefaults(server);
  if (removed && !rt?.draining) {
    return {
      ...server,
      status: {
        health: rt?.health ?? 'unknown',
        state: 'draining',
        slowStartFactor: 1,
        activeConnections: 0,
        reason: 'removed',
        lastCheck: rt?.lastCheck ? { ...rt.lastCheck } : null,
        expectedShare: 0,
        drainDeadline: null,
      },
    };
  }
  const share = shares ? (shares.get(server.id) ?? 0) : serverShare(server.backendId, server.id, plane);
  return { ...server, status: serverStatus(server, rt, now, share) };
}

/**
 * Servers the backend's discovery source found (issue 15 point 2): read-only, `discovered: true`,
 * `address` the SRV target's name, with their live status.
 */
export function discoveredViews(
  backendId: string,
  plane: DataPlanePort,
  shares?: ReadonlyMap<string, number>,
): (Server & { status: ServerStatusView; discovered: true })[] {
  return discoveredServers(backendId, plane).map((server) => ({
    ...serverView(server, plane, false, shares),
    discovered: true as const,
  }));
}

/** The servers backend `backendId`'s discovery source found, as Server documents (address: the SRV target). */
export function discoveredServers(backendId: string, plane: DataPlanePort): Server[] {
  return (plane.discovered?.(backendId) ?? []).map((spec) => ({
    id: spec.id,
    backendId,
    name: spec.name,
    serverType: spec.serverType,
    instanceId: null,
    address: spec.address,
    port: spec.port,
    weight: spec.weight,
    zone: null,
    passive: spec.passive,
    sslOffload: false,
    caCertificateId: null,
    enabled: spec.enabled,
  }));
}

/** Every server of `state` and, after them, those the backends' discovery sources found (issue 15 point 2). */
export function allServers(state: Readonly<ConfigState>, plane: DataPlanePort): Server[] {
  const found = plane.discovered ? state.backends.flatMap((b) => discoveredServers(b.id, plane)) : [];
  return found.length === 0 ? state.servers : [...state.servers, ...found];
}

/**
 * Servers deleted from backend `backendId` that are still draining (S3: open connections
 * finish until the drain timeout, then the server disappears). Built from the runtime's last
 * spec (the resolved address and port), with status `draining`, reason `removed`.
 */
export function drainingRemovedViews(
  backendId: string,
  plane: DataPlanePort,
): (Server & { status: ServerStatusView })[] {
  const out: (Server & { status: ServerStatusView })[] = [];
  const now = plane.runtime.clock.now();
  for (const rt of plane.runtime.drainingRemoved.values()) {
    const s = rt.spec;
    if (s.backendId !== backendId || !rt.draining) continue;
    const server: Server = {
      id: s.id,
      backendId: s.backendId,
      name: s.name,
      serverType: s.serverType,
      instanceId: s.instanceId,
      address: s.address,
      port: s.port,
      weight: s.weight,
      zone: s.zone,
      passive: s.passive,
      sslOffload: s.sslOffload,
      caCertificateId: s.caCertificateId,
      enabled: s.enabled,
      description: '',
      tags: [],
      healthCheck: { port: s.healthCheck?.port ?? null, enabled: s.healthCheck?.enabled ?? true },
    };
    out.push({ ...server, status: serverStatus(server, rt, now) });
  }
  return out;
}

/** A frontend as the API answers it: `status: { listening, reason }` (F5). */
export function frontendView(
  f: Frontend,
  plane: DataPlanePort,
): Frontend & { status: { listening: boolean; reason: string | null } } {
  const st = plane.status(f.id);
  return {
    ...f,
    status: st ? { listening: st.listening, reason: st.reason } : { listening: false, reason: 'not applied yet' },
  };
}

/** Backend `status` (S9, S10): per-zone health and warnings. */
export interface BackendStatusView {
  servers: number;
  healthy: number;
  zones: { zone: string | null; servers: number; healthy: number }[];
  warnings: { code: string; message: string; zone?: string }[];
}

/** Computes a backend's status from its servers' live health and their instances' OS. */
export function backendStatus(b: Backend, state: ConfigState, plane: DataPlanePort): BackendStatusView {
  const now = plane.runtime.clock.now();
  const instances = new Map(state.instances.map((i) => [i.id, i]));
  const zones = new Map<string | null, { zone: string | null; servers: number; healthy: number }>();
  const oses = new Map<string, string[]>();
  let total = 0;
  let healthy = 0;
  for (const s of state.servers) {
    if (s.backendId !== b.id) continue;
    const inst = s.instanceId ? instances.get(s.instanceId) : undefined;
    const zone = s.zone ?? inst?.zone ?? null;
    let z = zones.get(zone);
    if (!z) zones.set(zone, (z = { zone, servers: 0, healthy: 0 }));
    z.servers++;
    total++;
    const rt = plane.runtime.server(s.id);
    const ok = rt ? rt.healthOk && !rt.isEjected(now) : !b.healthCheck.enabled;
    if (ok) {
      z.healthy++;
      healthy++;
    }
    if (inst?.os) {
      const list = oses.get(inst.os) ?? [];
      list.push(s.name);
      oses.set(inst.os, list);
    }
  }
  const warnings: BackendStatusView['warnings'] = [];
  for (const z of zones.values()) {
    if (z.servers > 0 && z.healthy === 0 && z.zone !== null) {
      warnings.push({
        code: 'zone-unhealthy',
        message: `zone ${z.zone} has ${z.servers} server(s) and none is healthy`,
        zone: z.zone,
      });
    }
  }
  if (oses.size > 1) {
    const parts = [...oses].map(([os, names]) => `${os}: ${names.join(', ')}`);
    warnings.push({ code: 'mixed-os', message: `servers run different operating systems (${parts.join('; ')})` });
  }
  if (b.tls.enabled && !b.tls.verify) {
    warnings.push({
      code: 'tls-verify-off',
      message: "backend TLS does not verify the servers' certificates (tls.verify is false)",
    });
  }
  return { servers: total, healthy, zones: [...zones.values()], warnings };
}

/** A backend as the API answers it. */
export function backendView(
  b: Backend,
  state: ConfigState,
  plane: DataPlanePort,
): Backend & { status: BackendStatusView } {
  return { ...b, status: backendStatus(b, state, plane) };
}
