/**
 * A load balancer's overview (issue point 2): its settings and the tabs Frontends, Backends,
 * Events, Statistics; create, edit and delete its frontends and backends, with confirmation.
 */
import { type ReactNode, useState } from 'react';
import { AddServersDialog } from '../components/add-servers-dialog.tsx';
import { BackendDialog } from '../components/backend-dialog.tsx';
import { useConfirmDelete } from '../components/confirm-delete.tsx';
import { FrontendDialog } from '../components/frontend-dialog.tsx';
import { HealthCell } from '../components/health-cell.tsx';
import { ListenStatus } from '../components/listen-status.tsx';
import { LoadBalancerDialog } from '../components/load-balancer-dialog.tsx';
import { Statistics } from '../components/statistics.tsx';
import { Timeline } from '../components/timeline.tsx';
import { DataTable, LoadState, RowActions, Tabs } from '../components/ui.tsx';
import { namesOf, useCertificates, useLbData } from '../data.ts';
import { useServices } from '../hooks.ts';
import { href, type LbTab } from '../lib/route.ts';
import type { Backend, Frontend } from '../lib/types.ts';

type Pending =
  | { kind: 'edit-lb' }
  | { kind: 'new-frontend' }
  | { kind: 'edit-frontend'; frontend: Frontend }
  | { kind: 'new-backend' }
  | { kind: 'edit-backend'; backend: Backend }
  | { kind: 'add-servers'; backend: Backend }
  | null;

export function LoadBalancerPage({ id, tab }: { id: string; tab: LbTab }) {
  const { notify, can } = useServices();
  const data = useLbData(id);
  const certs = useCertificates();
  const [pending, setPending] = useState<Pending>(null);
  const remove = useConfirmDelete();
  const d = data.data;
  const lb = d?.loadBalancers[0];
  if (!lb) {
    return (
      <main className="page">
        <p>
          <a href={href({ page: 'load-balancers' })}>← Load balancers</a>
        </p>
        <LoadState loading={data.loading} error={data.error} what="the load balancer" />
      </main>
    );
  }
  const allServers = [...(d?.servers.values() ?? [])].flat();
  const backendName = (bid: string | null) => d?.backends.find((b) => b.id === bid)?.name ?? '—';
  const names = namesOf(d);
  const done = (msg: string, v: number | null) => {
    setPending(null);
    notify(`${msg}${v !== null ? ` Live in configuration version ${v}.` : ''}`);
    data.reload();
  };
  /** Asks to delete one resource: DELETE `path`, then "`what` deleted." and `after` (if any). */
  const askDelete = (title: string, message: ReactNode, path: string, what: string, after?: () => void) =>
    remove.ask({
      title,
      message,
      path,
      done: (v) => {
        done(`${what} deleted.`, v);
        after?.();
      },
    });
  const askDeleteLb = () =>
    askDelete(
      `Delete load balancer ${lb.name}?`,
      d && (d.frontends.length || d.backends.length)
        ? `It still has ${d.frontends.length} frontend(s) and ${d.backends.length} backend(s): delete those first.`
        : 'It has no frontends or backends. This cannot be undone.',
      `/load-balancers/${encodeURIComponent(lb.id)}`,
      `Load balancer ${lb.name}`,
      () => {
        location.hash = href({ page: 'load-balancers' });
      },
    );
  const askDeleteFrontend = (f: Frontend) =>
    askDelete(
      `Delete frontend ${f.name}?`,
      <>
        {f.bindAddress}:{f.port} stops listening; open connections are drained, then closed.
      </>,
      `/frontends/${encodeURIComponent(f.id)}`,
      `Frontend ${f.name}`,
    );
  const askDeleteBackend = (b: Backend) =>
    askDelete(
      `Delete backend ${b.name}?`,
      <>
        Its {d?.servers.get(b.id)?.length ?? 0} server(s) are removed with it; open connections will be drained for{' '}
        {b.drainTimeoutSeconds} seconds. A backend used by a frontend cannot be deleted.
      </>,
      `/backends/${encodeURIComponent(b.id)}`,
      `Backend ${b.name}`,
    );
  const tabs = (['frontends', 'backends', 'events', 'statistics'] as const).map((t) => ({
    id: t,
    label: t[0]!.toUpperCase() + t.slice(1),
    href: href({ page: 'load-balancer', id, tab: t }),
  }));

  return (
    <main className="page" aria-labelledby="page-title">
      <p className="crumbs">
        <a href={href({ page: 'load-balancers' })}>Load balancers</a> /
      </p>
      <div className="page-head">
        <h1 id="page-title">{lb.name}</h1>
        {can.changeConfig ? (
          <div className="buttons">
            <button type="button" onClick={() => setPending({ kind: 'edit-lb' })}>
              Edit load balancer
            </button>
            <button type="button" className="danger" onClick={askDeleteLb}>
              Delete load balancer
            </button>
          </div>
        ) : null}
      </div>
      <dl className="facts">
        <div>
          <dt>Description</dt>
          <dd>{lb.description || '—'}</dd>
        </div>
        <div>
          <dt>Allowed networks</dt>
          <dd>{lb.allowedNetworks.join(', ') || '—'}</dd>
        </div>
        <div>
          <dt>IP as backend</dt>
          <dd>{lb.ipAsBackend ? 'on' : 'off'}</dd>
        </div>
        <div>
          <dt>Servers</dt>
          <dd>
            {allServers.length} of {lb.maxServers}
          </dd>
        </div>
        <div>
          <dt>Health</dt>
          <dd>
            <HealthCell servers={allServers} />
          </dd>
        </div>
      </dl>
      <Tabs tabs={tabs} active={tab} />

      {tab === 'frontends' ? (
        <TabSection
          title="Frontends"
          create="Create frontend"
          onCreate={can.changeConfig ? () => setPending({ kind: 'new-frontend' }) : undefined}
          empty={d?.frontends.length === 0 ? 'No frontends yet.' : null}
        >
          {d && d.frontends.length > 0 ? (
            <DataTable
              columns={['Name', 'Protocol', 'Address', 'Default backend', 'Status', can.changeConfig && 'Actions']}
              rows={d.frontends}
              row={(f) => (
                <tr key={f.id} data-frontend={f.name}>
                  <th scope="row">
                    <a href={href({ page: 'frontend', id: f.id })}>{f.name}</a>
                  </th>
                  <td>{f.protocol}</td>
                  <td className="mono">
                    {f.bindAddress}:{f.port}
                  </td>
                  <td>{backendName(f.defaultBackendId)}</td>
                  <td>
                    <ListenStatus frontend={f} />
                  </td>
                  {can.changeConfig ? (
                    <RowActions
                      name={f.name}
                      actions={[
                        { label: 'Edit', onClick: () => setPending({ kind: 'edit-frontend', frontend: f }) },
                        { label: 'Delete', danger: true, onClick: () => askDeleteFrontend(f) },
                      ]}
                    />
                  ) : null}
                </tr>
              )}
            />
          ) : null}
        </TabSection>
      ) : null}

      {tab === 'backends' ? (
        <TabSection
          title="Backends"
          create="Create backend"
          onCreate={can.changeConfig ? () => setPending({ kind: 'new-backend' }) : undefined}
          empty={d?.backends.length === 0 ? 'No backends yet.' : null}
        >
          {d && d.backends.length > 0 ? (
            <DataTable
              columns={[
                'Name',
                'Mode',
                'Method',
                { label: 'Port', num: true },
                { label: 'Servers', num: true },
                'Health',
                can.changeConfig && 'Actions',
              ]}
              rows={d.backends}
              row={(b) => (
                <tr key={b.id} data-backend={b.name}>
                  <th scope="row">
                    <a href={href({ page: 'backend', id: b.id })}>{b.name}</a>
                  </th>
                  <td>{b.mode}</td>
                  <td>{b.algorithm}</td>
                  <td className="num">{b.port ?? '—'}</td>
                  <td className="num">{d.servers.get(b.id)?.length ?? 0}</td>
                  <td>
                    <HealthCell servers={d.servers.get(b.id) ?? []} />
                  </td>
                  {can.changeConfig ? (
                    <RowActions
                      name={b.name}
                      actions={[
                        { label: 'Edit', onClick: () => setPending({ kind: 'edit-backend', backend: b }) },
                        { label: 'Delete', danger: true, onClick: () => askDeleteBackend(b) },
                      ]}
                    />
                  ) : null}
                </tr>
              )}
            />
          ) : null}
        </TabSection>
      ) : null}

      {tab === 'events' ? (
        <Timeline
          loadBalancerId={id}
          backendIds={d?.backends.map((b) => b.id)}
          names={names}
          backends={d?.backends ?? []}
          servers={allServers}
        />
      ) : null}

      {tab === 'statistics' ? (
        <Statistics
          servers={allServers.map((s) => ({ id: s.id, name: `${s.name} (${backendName(s.backendId)})` }))}
          frontends={d?.frontends ?? []}
          historyOf={{ loadBalancerId: id }}
        />
      ) : null}

      {pending?.kind === 'edit-lb' ? (
        <LoadBalancerDialog
          loadBalancer={lb}
          onClose={() => setPending(null)}
          onSaved={(x, v) => done(`Load balancer ${x.name} saved.`, v)}
        />
      ) : null}
      {pending?.kind === 'new-frontend' || pending?.kind === 'edit-frontend' ? (
        <FrontendDialog
          loadBalancer={lb}
          frontend={pending.kind === 'edit-frontend' ? pending.frontend : undefined}
          backends={d?.backends ?? []}
          certificates={certs.data ?? []}
          onClose={() => setPending(null)}
          onSaved={(f, v, created) => done(`Frontend ${f.name} ${created ? 'created' : 'saved'}.`, v)}
        />
      ) : null}
      {pending?.kind === 'new-backend' || pending?.kind === 'edit-backend' ? (
        <BackendDialog
          loadBalancerId={lb.id}
          backend={pending.kind === 'edit-backend' ? pending.backend : undefined}
          certificates={certs.data ?? []}
          onClose={() => setPending(null)}
          onSaved={(b, v, created) => {
            done(`Backend ${b.name} ${created ? 'created' : 'saved'}.`, v);
            // issue 16: a new backend's servers are added as the next step (Skip leaves it without)
            if (created) setPending({ kind: 'add-servers', backend: b });
          }}
        />
      ) : null}
      {pending?.kind === 'add-servers' ? (
        <AddServersDialog
          backend={pending.backend}
          onClose={() => {
            setPending(null);
            data.reload();
          }}
          onDone={(names, v) => done(`Added ${names.join(', ')} to backend ${pending.backend.name}.`, v)}
        />
      ) : null}
      {remove.dialog}
    </main>
  );
}

/** The Frontends or Backends tab: its heading, the Create button (when `onCreate` is given), the empty text or the table. */
function TabSection({
  title,
  create,
  onCreate,
  empty,
  children,
}: {
  title: string;
  create: string;
  onCreate: (() => void) | undefined;
  empty: string | null;
  children: ReactNode;
}) {
  return (
    <section aria-label={title}>
      <div className="section-head">
        <h2>{title}</h2>
        {onCreate ? (
          <button type="button" className="primary" onClick={onCreate}>
            {create}
          </button>
        ) : null}
      </div>
      {empty ? <p className="muted">{empty}</p> : null}
      {children}
    </section>
  );
}
