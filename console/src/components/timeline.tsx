/**
 * Events timeline (issue point 9; H6, S3): the stored events merged with the live stream,
 * newest first, with filters. Health transitions appear as they happen.
 */
import { useEffect, useId, useMemo, useState } from 'react';
import { useLoad, useServices } from '../hooks.ts';
import { query } from '../lib/api.ts';
import { type EventFilter, emptyFilter, matchesFilter, mergeEvents } from '../lib/events.ts';
import { eventText, formatClock } from '../lib/format.ts';
import type { FulcrumEvent } from '../lib/types.ts';
import { LoadState } from './ui.tsx';

export interface TimelineProps {
  /** Only events of this load balancer (by its backends when the event has no load balancer id). */
  loadBalancerId?: string;
  backendIds?: readonly string[];
  /** id → name, for the filters and the text. */
  names: ReadonlyMap<string, string>;
  backends?: readonly { id: string; name: string }[];
  servers?: readonly { id: string; name: string }[];
}

const tone = (e: FulcrumEvent): string => {
  if (e.kind === 'health') return e.to === 'healthy' ? 'ok' : e.to === 'unhealthy' ? 'bad' : 'unknown';
  if (e.kind.startsWith('drain')) return 'warn';
  if (e.kind === 'ejection') return 'bad';
  return 'info';
};

export function Timeline({ loadBalancerId, backendIds, names, backends = [], servers = [] }: TimelineProps) {
  const { live } = useServices();
  const id = useId();
  const [filter, setFilter] = useState<EventFilter>(emptyFilter);
  const [events, setEvents] = useState<FulcrumEvent[]>([]);
  const scopeKey = backendIds?.join(',') ?? '';
  // biome-ignore lint/correctness/useExhaustiveDependencies: keyed by the ids, not the array's identity.
  const scope = useMemo(() => new Set(backendIds ?? []), [scopeKey]);
  // Scope: a load balancer's events (and its backends'), or only the given backends' events, or everything.
  const inScope = (e: FulcrumEvent): boolean => {
    if (loadBalancerId) return e.loadBalancerId === loadBalancerId || (e.backendId !== null && scope.has(e.backendId));
    if (backendIds) return e.backendId !== null && scope.has(e.backendId);
    return true;
  };
  const onlyBackend = !loadBalancerId && backendIds?.length === 1 ? backendIds[0] : undefined;
  const stored = useLoad(
    (api, signal) =>
      api.list<FulcrumEvent>(`/events${query({ loadBalancerId, backendId: onlyBackend, limit: 500 })}`, signal),
    [loadBalancerId, onlyBackend],
  );
  // biome-ignore lint/correctness/useExhaustiveDependencies: merge once per load.
  useEffect(() => {
    if (stored.data) setEvents((cur) => mergeEvents(cur, stored.data!.filter(inScope)));
  }, [stored.data]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: inScope reads the latest scope.
  useEffect(
    () =>
      live.onEvent((e) => {
        if (inScope(e)) setEvents((cur) => mergeEvents(cur, [e]));
      }),
    [live, loadBalancerId, scope],
  );
  const kinds = useMemo(() => [...new Set(events.map((e) => e.kind))].sort(), [events]);
  const shown = events.filter((e) => matchesFilter(e, filter, names));
  const set = (patch: Partial<EventFilter>) => setFilter((f) => ({ ...f, ...patch }));
  return (
    <section className="timeline" aria-label="Events">
      <search className="filters" aria-label="Filter events">
        <label htmlFor={`${id}-kind`}>Kind</label>
        <select id={`${id}-kind`} value={filter.kind} onChange={(e) => set({ kind: e.target.value })}>
          <option value="">All kinds</option>
          {kinds.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        {backends.length ? (
          <>
            <label htmlFor={`${id}-backend`}>Backend</label>
            <select id={`${id}-backend`} value={filter.backendId} onChange={(e) => set({ backendId: e.target.value })}>
              <option value="">All backends</option>
              {backends.map((b) => (
                <option key={b.id} value={b.id}>
                  {b.name}
                </option>
              ))}
            </select>
          </>
        ) : null}
        {servers.length ? (
          <>
            <label htmlFor={`${id}-server`}>Server</label>
            <select id={`${id}-server`} value={filter.serverId} onChange={(e) => set({ serverId: e.target.value })}>
              <option value="">All servers</option>
              {servers.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            </select>
          </>
        ) : null}
        <label htmlFor={`${id}-text`}>Contains</label>
        <input
          id={`${id}-text`}
          type="search"
          value={filter.text}
          placeholder="reason, name…"
          onChange={(e) => set({ text: e.target.value })}
        />
      </search>
      <LoadState loading={stored.loading && !stored.data} error={stored.error} what="events" />
      {stored.data && shown.length === 0 ? (
        <p className="muted">No events{events.length ? ' match the filters' : ' yet'}.</p>
      ) : null}
      <ol className="events" aria-live="polite" aria-label="Event timeline">
        {shown.slice(0, 200).map((e) => (
          <li
            key={`${e.id ?? ''}${e.at}${e.kind}${e.serverId}${e.to}`}
            className={`event ${tone(e)}`}
            data-kind={e.kind}
          >
            <time dateTime={e.at} title={e.at}>
              {formatClock(e.at)}
            </time>
            <span className={`badge ${tone(e)}`}>{e.kind}</span>
            <span className="subject">
              {e.serverId
                ? (names.get(e.serverId) ?? e.serverId)
                : e.backendId
                  ? (names.get(e.backendId) ?? e.backendId)
                  : ''}
            </span>
            <span className="what">{eventText(e)}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
