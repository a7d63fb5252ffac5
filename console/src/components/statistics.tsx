/**
 * Statistics (issue point 8; O1, P4): live charts per server and a counters table, from the
 * shared `/api/v1/stats` poll. The charts open with the API's kept history
 * (`/api/v1/stats/history`, the last 10 minutes per second; issue 16 point 3).
 */
import { useEffect, useState } from 'react';
import { useServices, useStatsTick } from '../hooks.ts';
import { query } from '../lib/api.ts';
import { formatBytes, formatRate } from '../lib/format.ts';
import { describeQueue, describeTerminations, type HistoryAnswer } from '../lib/stats.ts';
import { Chart } from './chart.tsx';
import { DataTable } from './ui.tsx';

export interface StatsTarget {
  id: string;
  name: string;
}

const CLASSES = ['c1', 'c2', 'c3', 'c4', 'c5'] as const;

/** Seconds of kept history the charts open with (the live history keeps 10 minutes too). */
const HISTORY_SECONDS = 600;

export function Statistics({
  servers,
  frontends = [],
  historyOf,
}: {
  servers: readonly StatsTarget[];
  frontends?: readonly StatsTarget[];
  /** Whose kept history to open with: `{ backendId }` or `{ loadBalancerId }`. */
  historyOf?: { backendId: string } | { loadBalancerId: string };
}) {
  const { api, live } = useServices();
  useStatsTick();
  const h = live.history;
  const [, setSeeded] = useState(0);
  const historyQuery = historyOf ? query({ ...historyOf, limit: HISTORY_SECONDS }) : '';
  useEffect(() => {
    if (!historyQuery) return;
    const ctl = new AbortController();
    api
      .get<HistoryAnswer>(`/stats/history${historyQuery}`, ctl.signal)
      .then((a) => {
        live.history.seed(a);
        setSeeded((n) => n + 1);
      })
      .catch(() => {}); // without history the charts start with the live samples, as before
    return () => ctl.abort();
  }, [api, live, historyQuery]);
  const ids = servers.map((s) => s.id);
  const names = servers.map((s) => s.name);
  const rps = h.columns(ids, 'rps');
  const active = h.columns(ids, 'active');
  const times = rps[0] ?? [];
  const classCols = CLASSES.map((c) => {
    const cols = h.columns(ids, c).slice(1);
    return times.map((_, i) => cols.reduce((sum, col) => sum + (col[i] ?? 0), 0));
  });
  const latest = h.latest;
  return (
    <section
      className="statistics"
      aria-label="Statistics"
      data-history-points={ids.reduce((most, id) => Math.max(most, h.pastSize(id)), 0)}
    >
      <p className="muted">
        The last 10 minutes as the API kept them (per second), then sampled every 2 seconds while this page is open;{' '}
        {h.size} live sample{h.size === 1 ? '' : 's'} kept.
      </p>
      <div className="charts">
        <Chart title="Requests per second per server" labels={names} data={rps} unit="req/s" />
        <Chart
          title="Responses per second by class"
          labels={['1xx', '2xx', '3xx', '4xx', '5xx']}
          data={[times, ...classCols]}
          unit="resp/s"
        />
        <Chart title="Active connections per server" labels={names} data={active} unit="connections" />
      </div>
      <DataTable
        caption="Counters since start"
        columns={[
          'Server',
          ...['Req/s', 'Requests', 'Active', '2xx', '3xx', '4xx', '5xx', 'Bytes in', 'Bytes out'].map(
            (label) => ({ label, num: true }) as const,
          ),
          'Queue (its backend)',
          'Ended early (why)',
        ]}
        rows={[
          ...servers.map((s) => ({ ...s, group: 'servers' as const })),
          ...frontends.map((f) => ({ ...f, group: 'frontends' as const })),
        ]}
        row={(s) => {
          const c = latest?.[s.group].get(s.id);
          return (
            <tr key={`${s.group}-${s.id}`}>
              <th scope="row">
                {s.name}
                {s.group === 'frontends' ? <span className="muted"> (frontend)</span> : null}
              </th>
              <td className="num">{s.group === 'servers' ? formatRate(h.serverRate(s.id)) : '—'}</td>
              <td className="num">{c?.requests ?? 0}</td>
              <td className="num">
                {c?.activeConnections ?? 0}
                {c?.connectionLimit ? <span className="muted"> / {c.connectionLimit}</span> : null}
              </td>
              <td className="num">{c?.responses[2] ?? 0}</td>
              <td className="num">{c?.responses[3] ?? 0}</td>
              <td className="num">{c?.responses[4] ?? 0}</td>
              <td className="num">{c?.responses[5] ?? 0}</td>
              <td className="num">{formatBytes(c?.bytesIn ?? 0)}</td>
              <td className="num">{formatBytes(c?.bytesOut ?? 0)}</td>
              <td className="queue">
                {s.group === 'servers' && c?.backendId ? describeQueue(latest?.backends.get(c.backendId)?.queue) : '—'}
              </td>
              <td className="terminations">{describeTerminations(c?.terminations)}</td>
            </tr>
          );
        }}
      />
    </section>
  );
}
