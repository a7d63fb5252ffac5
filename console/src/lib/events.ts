/**
 * The events timeline's logic (H6, S3): merge the stored list with the live stream, newest
 * first and bounded, and filter by kind, backend, server and free text.
 */
import type { FulcrumEvent } from './types.ts';

/** Filters of the timeline; empty strings mean "any". */
export interface EventFilter {
  kind: string;
  backendId: string;
  serverId: string;
  text: string;
}

export const emptyFilter: EventFilter = { kind: '', backendId: '', serverId: '', text: '' };

/** A stable identity for de-duplication: the id the store gave the event (the list and the stream both carry it). */
export function eventKey(e: FulcrumEvent): string {
  return String(e.id);
}

/** Merges new events into a list: newest first, no duplicates, at most `limit` (default 500). */
export function mergeEvents(
  list: readonly FulcrumEvent[],
  incoming: readonly FulcrumEvent[],
  limit = 500,
): FulcrumEvent[] {
  const seen = new Set<string>();
  const all: FulcrumEvent[] = [];
  for (const e of [...incoming, ...list]) {
    const k = eventKey(e);
    if (seen.has(k)) continue;
    seen.add(k);
    all.push(e);
  }
  all.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  return all.length > limit ? all.slice(0, limit) : all;
}

/** True when an event passes the filter. `names` maps ids to names so the text filter finds "web-1". */
export function matchesFilter(e: FulcrumEvent, f: EventFilter, names?: ReadonlyMap<string, string>): boolean {
  if (f.kind && e.kind !== f.kind) return false;
  if (f.backendId && e.backendId !== f.backendId) return false;
  if (f.serverId && e.serverId !== f.serverId) return false;
  const text = f.text.trim().toLowerCase();
  if (text) {
    const hay = [
      e.kind,
      e.from,
      e.to,
      e.reason,
      e.serverId,
      e.backendId,
      e.serverId ? names?.get(e.serverId) : '',
      e.backendId ? names?.get(e.backendId) : '',
      e.detail ? JSON.stringify(e.detail) : '',
    ]
      .filter(Boolean)
      .join(' ')
      .toLowerCase();
    if (!hay.includes(text)) return false;
  }
  return true;
}

/** Parses one Server-Sent Events `data:` payload into an event; null when it is not one (no id, kind or time). */
export function parseStreamEvent(data: string): FulcrumEvent | null {
  try {
    const o = JSON.parse(data) as Partial<FulcrumEvent> | null;
    if (!o || typeof o !== 'object') return null;
    if (typeof o.id !== 'number' || typeof o.kind !== 'string' || typeof o.at !== 'string') return null;
    return {
      ...o,
      id: o.id,
      kind: o.kind,
      at: o.at,
      loadBalancerId: o.loadBalancerId ?? null,
      backendId: o.backendId ?? null,
      serverId: o.serverId ?? null,
      from: o.from ?? null,
      to: o.to ?? null,
      reason: o.reason ?? null,
    };
  } catch {
    return null;
  }
}

/** True when an event may change what a backend's servers table shows (health, drain, config). */
export function affectsBackend(e: FulcrumEvent, backendId: string): boolean {
  return e.backendId === backendId || e.kind === 'config' || (e.backendId === null && e.serverId !== null);
}
