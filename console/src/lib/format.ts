/**
 * Formatting for tables and tooltips: rates, bytes, ages, server state and health,
 * certificate expiry (T1 expiry warnings), health summaries (S9).
 */
import type { Certificate, Server } from './types.ts';

/** Requests (or anything) per second: `0`, `0.4`, `12`, `1.2k`. */
export function formatRate(perSecond: number | null | undefined): string {
  if (perSecond === null || perSecond === undefined || !Number.isFinite(perSecond) || perSecond <= 0) return '0';
  if (perSecond < 10) return (Math.round(perSecond * 10) / 10).toString();
  if (perSecond < 1000) return Math.round(perSecond).toString();
  return `${(perSecond / 1000).toFixed(1)}k`;
}

/** Bytes with binary units: `512 B`, `1.5 KiB`, `3.0 MiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(bytes || 0))} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** How long ago an ISO time was, relative to `now` (ms epoch): `just now`, `12 s ago`, `3 min ago`, `2 h ago`, `4 d ago`. */
export function formatAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'unknown';
  const s = Math.round((now - t) / 1000);
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** Local time `HH:MM:SS` of an ISO time. */
export function formatClock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleTimeString([], { hour12: false });
}

/** The state column (issue point 5): active / passive / slow start 40% / draining / disabled. */
export function stateLabel({ status }: Pick<Server, 'status'>): string {
  if (status.state === 'slow-start') return `slow start ${Math.round(status.slowStartFactor * 100)}%`;
  return status.state;
}

/** The health column: `healthy`, `unhealthy`, `unknown`; the reason code goes with it (issue point 5). */
export function healthLabel({ status }: Pick<Server, 'status'>): { health: string; reason: string | null } {
  const reason = status.lastCheck?.reason ?? status.reason;
  return { health: status.health, reason: status.health === 'healthy' && status.lastCheck?.ok ? null : reason };
}

/** The tooltip of the health cell: reason code and last check time. */
export function healthTooltip(server: Pick<Server, 'status'>, now: number): string {
  const parts: string[] = [];
  const { health, reason } = healthLabel(server);
  parts.push(`Health: ${health}`);
  if (reason) parts.push(`Reason: ${reason}`);
  const lc = server.status.lastCheck;
  if (lc) {
    parts.push(`Last check: ${formatAgo(lc.at, now)} (${lc.ok ? 'ok' : 'failed'}, ${Math.round(lc.latencyMs)} ms)`);
  } else parts.push('Last check: none yet');
  return parts.join('\n');
}

/** Counts for a health summary (load balancer list, backend header). */
export interface HealthSummary {
  total: number;
  healthy: number;
  unhealthy: number;
  unknown: number;
}

/** Sums server health; disabled and draining servers still count by their health. */
export function healthSummary(servers: readonly Pick<Server, 'status'>[]): HealthSummary {
  const s: HealthSummary = { total: 0, healthy: 0, unhealthy: 0, unknown: 0 };
  for (const x of servers) {
    s.total++;
    const h = x.status.health;
    if (h === 'healthy') s.healthy++;
    else if (h === 'unhealthy') s.unhealthy++;
    else s.unknown++;
  }
  return s;
}

/** `3/4 healthy` or `no servers`. */
export function summaryText(s: HealthSummary): string {
  if (s.total === 0) return 'no servers';
  const extra = [s.unhealthy ? `${s.unhealthy} unhealthy` : '', s.unknown ? `${s.unknown} unknown` : '']
    .filter(Boolean)
    .join(', ');
  return `${s.healthy}/${s.total} healthy${extra ? ` (${extra})` : ''}`;
}

/** Certificate expiry state (T1): expired, expiring within `warnDays` (default 30), or ok. */
export function certificateExpiry(
  cert: Pick<Certificate, 'notAfter'>,
  now: number,
  warnDays = 30,
): { level: 'ok' | 'warning' | 'expired'; daysLeft: number; text: string } {
  const t = Date.parse(cert.notAfter);
  if (Number.isNaN(t)) return { level: 'warning', daysLeft: 0, text: 'unknown expiry' };
  const daysLeft = Math.floor((t - now) / 86_400_000);
  if (t <= now) return { level: 'expired', daysLeft, text: `expired ${new Date(t).toISOString().slice(0, 10)}` };
  if (daysLeft < warnDays) {
    return { level: 'warning', daysLeft, text: `expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'}` };
  }
  return { level: 'ok', daysLeft, text: `valid until ${new Date(t).toISOString().slice(0, 10)}` };
}

/** `address:port`, with brackets for IPv6, and the backend's port when the server has none (F3). */
export function endpoint(address: string, port: number | null | undefined, backendPort?: number | null): string {
  const p = port ?? backendPort;
  const host = address.includes(':') ? `[${address}]` : address;
  return p ? `${host}:${p}` : `${host}:(backend port)`;
}

/** A one-line description of an event for the timeline (H6). */
export function eventText(e: {
  kind: string;
  from: string | null;
  to: string | null;
  reason: string | null;
  detail?: Record<string, unknown>;
}): string {
  const parts: string[] = [];
  if (e.from || e.to) parts.push(`${e.from ?? '–'} → ${e.to ?? '–'}`);
  if (e.reason) parts.push(e.reason);
  const d = e.detail;
  if (d) {
    if (typeof d.action === 'string' && d.action !== e.reason) parts.push(d.action);
    if (typeof d.resource === 'string') parts.push(d.resource);
    if (typeof d.actor === 'string') parts.push(`by ${d.actor}`);
    if (typeof d.message === 'string' && d.message !== e.reason) parts.push(d.message);
    if (typeof d.name === 'string') parts.push(d.name);
    if (typeof d.configVersion === 'number') parts.push(`configuration version ${d.configVersion}`);
  }
  return parts.join(' · ') || e.kind;
}
