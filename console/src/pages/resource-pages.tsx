/**
 * A backend's page (settings, per-zone health and warnings S9/S10, servers table, charts) and a
 * frontend's page (listening status F5, settings, the servers table of its default backend).
 */
import { useState } from 'react';
import { BackendDialog } from '../components/backend-dialog.tsx';
import { FrontendDialog } from '../components/frontend-dialog.tsx';
import { ServersTable, useServers } from '../components/servers-table.tsx';
import { Statistics } from '../components/statistics.tsx';
import { Timeline } from '../components/timeline.tsx';
import { Badge, LoadState } from '../components/ui.tsx';
import { useLoad, useServices } from '../hooks.ts';
import { AlgorithmLabels } from '../lib/backend-form.ts';
import { href } from '../lib/route.ts';
import type { Backend, Frontend, LoadBalancer } from '../lib/types.ts';
import { useCertificates, useLbData } from './data.ts';
import { ListenStatus } from './load-balancers.tsx';

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
      <h2>Statistics</h2>
      <Statistics servers={list} />
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

export function FrontendPage({ id }: { id: string }) {
  const { notify, can } = useServices();
  const fe = useLoad((api, signal) => api.get<Frontend>(`/frontends/${encodeURIComponent(id)}`, signal), [id], {
    refreshOn: (e) => e.kind === 'config',
    everyMs: 5000,
  });
  const f = fe.data;
  const data = useLbData(f?.loadBalancerId);
  const certs = useCertificates();
  const [editing, setEditing] = useState(false);
  if (!f) {
    return (
      <main className="page">
        <LoadState loading={fe.loading} error={fe.error} what="the frontend" />
      </main>
    );
  }
  const lb = data.data?.loadBalancers[0];
  const backend = data.data?.backends.find((b) => b.id === f.defaultBackendId);
  return (
    <main className="page" aria-labelledby="page-title">
      <p className="crumbs">
        <a href={href({ page: 'load-balancers' })}>Load balancers</a> /{' '}
        <a href={href({ page: 'load-balancer', id: f.loadBalancerId, tab: 'frontends' })}>
          {lb?.name ?? 'load balancer'}
        </a>{' '}
        /
      </p>
      <div className="page-head">
        <h1 id="page-title">Frontend {f.name}</h1>
        {can.changeConfig ? (
          <button type="button" onClick={() => setEditing(true)} disabled={!lb}>
            Edit frontend
          </button>
        ) : null}
      </div>
      <dl className="facts">
        <div>
          <dt>Protocol</dt>
          <dd>{f.protocol}</dd>
        </div>
        <div>
          <dt>Listens on</dt>
          <dd className="mono">
            {f.bindAddress}:{f.port}
          </dd>
        </div>
        <div>
          <dt>Status</dt>
          <dd>
            <ListenStatus frontend={f} />
          </dd>
        </div>
        <div>
          <dt>Default backend</dt>
          <dd>{backend ? <a href={href({ page: 'backend', id: backend.id })}>{backend.name}</a> : '—'}</dd>
        </div>
        <div>
          <dt>Routing rules</dt>
          <dd>
            {f.rules?.length
              ? f.rules
                  .map(
                    (r) =>
                      `${r.match.host ?? '*'}${r.match.pathPrefix ?? r.match.path ?? ''} → ${data.data?.backends.find((b) => b.id === r.backendId)?.name ?? r.backendId}`,
                  )
                  .join('; ')
              : 'none'}
          </dd>
        </div>
        {f.protocol === 'https' ? (
          <div>
            <dt>Certificates</dt>
            <dd>{f.certificateIds.map((c) => certs.data?.find((x) => x.id === c)?.name ?? c).join(', ') || 'none'}</dd>
          </div>
        ) : null}
      </dl>
      {backend ? (
        <ServersTable backend={backend} />
      ) : (
        <p className="muted">Choose a default backend to add servers here.</p>
      )}
      {editing && lb ? (
        <FrontendDialog
          loadBalancer={lb}
          frontend={f}
          backends={data.data?.backends ?? []}
          certificates={certs.data ?? []}
          onClose={() => setEditing(false)}
          onSaved={(x, v) => {
            setEditing(false);
            notify(`Frontend ${x.name} saved.${v !== null ? ` Live in configuration version ${v}.` : ''}`);
            fe.reload();
            data.reload();
          }}
        />
      ) : null}
    </main>
  );
}
