/**
 * A frontend's page: listening status (F5), settings, the servers table of its default backend
 * and the Explain panel (issue 16).
 */
import { useState } from 'react';
import { ExplainPanel } from '../components/explain-panel.tsx';
import { FrontendDialog } from '../components/frontend-dialog.tsx';
import { ListenStatus } from '../components/listen-status.tsx';
import { ServersTable } from '../components/servers-table.tsx';
import { LoadState } from '../components/ui.tsx';
import { useCertificates, useLbData } from '../data.ts';
import { useLoad, useServices } from '../hooks.ts';
import { href } from '../lib/route.ts';
import type { Frontend } from '../lib/types.ts';

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
      <ExplainPanel kind="frontend" id={f.id} protocol={f.protocol} />
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
