/**
 * A backend's page: its settings, per-zone health and warnings (S9, S10), the servers table,
 * the Explain panel (issue 16), statistics and events.
 */
import { useState } from 'react';
import { BackendDialog } from '../components/backend-dialog.tsx';
import { ExplainPanel } from '../components/explain-panel.tsx';
import { ServersTable, useServers } from '../components/servers-table.tsx';
import { Statistics } from '../components/statistics.tsx';
import { Timeline } from '../components/timeline.tsx';
import { Badge, LoadState } from '../components/ui.tsx';
import { useCertificates } from '../data.ts';
import { useLoad, useServices } from '../hooks.ts';
import { AlgorithmLabels } from '../lib/backend-form.ts';
import { href } from '../lib/route.ts';
import type { Backend, LoadBalancer } from '../lib/types.ts';

function useBackend(id: string) {
  return useLoad((api, signal) => api.get<Backend>(`/backends/${encodeURIComponent(id)}`, signal), [id], {
    refreshOn: (e) => e.backendId === id || e.kind === 'config',
    everyMs: 5000,
  });
}

function BackendFacts({ b }: { b: Backend }) {
  const hc = b.healthCheck;
  return (
    <dl className="facts">
      <div>
        <dt>Mode</dt>
        <dd>{b.mode}</dd>
      </div>
      <div>
        <dt>Load balancing method</dt>
        <dd>{AlgorithmLabels[b.algorithm] ?? b.algorithm}</dd>
      </div>
      <div>
        <dt>Default port</dt>
        <dd>{b.port ?? '—'}</dd>
      </div>
      <div>
        <dt>Persistence</dt>
        <dd>
          {b.persistence.type}
          {b.persistence.type !== 'none' ? `, ${b.persistence.timeoutSeconds} s` : ''}
        </dd>
      </div>
      <div>
        <dt>Health check</dt>
        <dd>
          {hc.enabled
            ? `${hc.type}${hc.http ? ` ${hc.http.method} ${hc.http.path} → ${hc.http.expectedCodes}` : ''}, every ${hc.intervalSeconds} s, timeout ${hc.timeoutSeconds} s, rise ${hc.rise}, fall ${hc.fall}${hc.port ? `, port ${hc.port}` : ''}`
            : 'off'}
        </dd>
      </div>
      <div>
        <dt>Slow start</dt>
        <dd>{b.slowStart.enabled ? `${b.slowStart.durationSeconds} s` : 'off'}</dd>
      </div>
      <div>
        <dt>Backend TLS</dt>
        <dd>{b.tls.enabled ? `on${b.tls.verify ? ', verified' : ', not verified'}` : 'off'}</dd>
      </div>
      <div>
        <dt>Drain timeout</dt>
        <dd>{b.drainTimeoutSeconds} s</dd>
      </div>
    </dl>
  );
}

function ZoneStatus({ b }: { b: Backend }) {
  const { zones, warnings } = b.status;
  return (
    <>
      {warnings.length ? (
        <ul className="warnings" aria-label="Warnings">
          {warnings.map((w) => (
            <li key={w.message} role="status">
              ⚠ {w.message}
            </li>
          ))}
        </ul>
      ) : null}
      {zones.length ? (
        <p className="zones">
          {zones.map((z) => (
            <Badge key={z.zone ?? '-'} tone={z.healthy === 0 ? 'bad' : z.healthy < z.servers ? 'warn' : 'ok'}>
              {z.zone ?? 'no zone'}: {z.healthy}/{z.servers} healthy
            </Badge>
          ))}
        </p>
      ) : null}
    </>
  );
}

export function BackendPage({ id }: { id: string }) {
  const { notify, can } = useServices();
  const backend = useBackend(id);
  const b = backend.data;
  const servers = useServers(id);
  const certs = useCertificates();
  const lb = useLoad(
    (api, signal) =>
      b
        ? api.get<LoadBalancer>(`/load-balancers/${encodeURIComponent(b.loadBalancerId)}`, signal)
        : Promise.resolve(undefined),
    [b?.loadBalancerId],
  );
  const [editing, setEditing] = useState(false);
  if (!b) {
    return (
      <main className="page">
        <LoadState loading={backend.loading} error={backend.error} what="the backend" />
      </main>
    );
  }
  const list = servers.data ?? [];
  const names = new Map<string, string>([[b.id, b.name], ...list.map((s) => [s.id, s.name] as [string, string])]);
  return (
    <main className="page" aria-labelledby="page-title">
      <p className="crumbs">
        <a href={href({ page: 'load-balancers' })}>Load balancers</a> /{' '}
        <a href={href({ page: 'load-balancer', id: b.loadBalancerId, tab: 'backends' })}>
          {lb.data?.name ?? 'load balancer'}
        </a>{' '}
        /
      </p>
      <div className="page-head">
        <h1 id="page-title">Backend {b.name}</h1>
        {can.changeConfig ? (
          <button type="button" onClick={() => setEditing(true)}>
            Edit backend
          </button>
        ) : null}
      </div>
      <BackendFacts b={b} />
      <ZoneStatus b={b} />
      <ServersTable backend={b} />
      <ExplainPanel kind="backend" id={b.id} />
      <h2>Statistics</h2>
      <Statistics servers={list} historyOf={{ backendId: b.id }} />
      <h2>Events</h2>
      <Timeline backendIds={[b.id]} names={names} servers={list} />
      {editing ? (
        <BackendDialog
          loadBalancerId={b.loadBalancerId}
          backend={b}
          certificates={certs.data ?? []}
          onClose={() => setEditing(false)}
          onSaved={(x, v) => {
            setEditing(false);
            notify(`Backend ${x.name} saved.${v !== null ? ` Live in configuration version ${v}.` : ''}`);
            backend.reload();
          }}
        />
      ) : null}
    </main>
  );
}
