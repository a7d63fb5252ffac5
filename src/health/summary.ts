import type { BackendRuntime } from '../runtime/runtime.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';

/** Per-zone health of one backend (S9). `zone` null groups servers without a zone. */
export interface ZoneHealth {
  zone: string | null;
  /** Servers configured in the zone (enabled or not). */
  servers: number;
  /** Of those, servers whose health allows traffic (healthy, or checks disabled) and that are not ejected. */
  healthy: number;
}

/** Status of a backend's health for the API and console (S9, S10). */
export interface BackendHealthSummary {
  zones: ZoneHealth[];
  /** Human warnings: a zone with servers but none healthy (S9); servers on different OS values (S10). */
  warnings: string[];
}

/**
 * Summarises a backend's health per zone and warns about a zone with servers but none
 * healthy (S9) and about instances reporting different OS values (S10, a warning, never an
 * error). Pure: reads the live runtimes at `now` (ms epoch). Zones keep configuration order.
 */
export function backendHealthSummary(backend: BackendRuntime, now: number): BackendHealthSummary {
  const zones = new Map<string | null, ZoneHealth>();
  const os = new Map<string, number>();
  for (const s of backend.servers) {
    const zone = s.spec.zone;
    let z = zones.get(zone);
    if (!z) zones.set(zone, (z = { zone, servers: 0, healthy: 0 }));
    z.servers++;
    if (s.healthOk && !s.isEjected(now)) z.healthy++;
    if (s.spec.os) os.set(s.spec.os, (os.get(s.spec.os) ?? 0) + 1);
  }
  const warnings: string[] = [];
  for (const z of zones.values()) {
    if (z.servers > 0 && z.healthy === 0) {
      warnings.push(
        z.zone === null
          ? `no healthy server among the ${z.servers} server(s) without a zone`
          : `zone ${z.zone} has ${z.servers} server(s) and none is healthy`,
      );
    }
  }
  if (os.size > 1) {
    const list = [...os].map(([name, n]) => `${name} (${n})`).join(', ');
    warnings.push(`servers of this backend run different operating systems: ${list}`);
  }
  return { zones: [...zones.values()], warnings };
}

/**
 * True when no server of the backend, active or passive, may take new traffic at `now`
 * (ms epoch). The data plane then answers 503 with Retry-After (http) or closes (tcp).
 */
export function allDown(backend: BackendRuntime, now: number): boolean {
  for (const s of backend.servers) if (s.isAvailable(now)) return false;
  return true;
}

/**
 * The stable reason a server takes no new traffic, or null when it is in rotation (issue
 * point 4): `disabled`, `draining`, `ejected`, then the health reason (`initial-check`,
 * `timeout`, `connection-refused`, …). Weight 0 is not a reason (S4: it keeps sessions).
 */
export function outOfRotationReason(s: ServerRuntime, now: number): string | null {
  if (s.draining) return 'draining';
  if (!s.spec.enabled) return 'disabled';
  if (s.isEjected(now)) return 'ejected';
  if (!s.healthOk) return s.healthReason ?? (s.health === 'unknown' ? 'initial-check' : 'failed-checks');
  return null;
}
