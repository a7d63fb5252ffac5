/** The load balancers list (issue point 2): name, frontends, backends, servers and a health summary; create. */
import { useState } from 'react';
import { HealthCell } from '../components/health-cell.tsx';
import { LoadBalancerDialog } from '../components/load-balancer-dialog.tsx';
import { DataTable, LoadState } from '../components/ui.tsx';
import { useLbData } from '../data.ts';
import { useServices } from '../hooks.ts';
import { href } from '../lib/route.ts';

export function LoadBalancersPage() {
  const { notify, can } = useServices();
  const data = useLbData(undefined);
  const [creating, setCreating] = useState(false);
  const d = data.data;
  return (
    <main className="page" aria-labelledby="page-title">
      <div className="page-head">
        <h1 id="page-title">Load balancers</h1>
        {can.changeConfig ? (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            Create load balancer
          </button>
        ) : null}
      </div>
      <LoadState loading={data.loading && !d} error={data.error} what="load balancers" />
      {d && d.loadBalancers.length === 0 ? <p className="muted">No load balancers yet. Create one to start.</p> : null}
      {d && d.loadBalancers.length > 0 ? (
        <DataTable
          columns={[
            'Name',
            { label: 'Frontends', num: true },
            { label: 'Backends', num: true },
            { label: 'Servers', num: true },
            'Health',
          ]}
          rows={d.loadBalancers}
          row={(lb) => {
            const backends = d.backends.filter((b) => b.loadBalancerId === lb.id);
            const servers = backends.flatMap((b) => d.servers.get(b.id) ?? []);
            return (
              <tr key={lb.id} data-lb={lb.name}>
                <th scope="row">
                  <a href={href({ page: 'load-balancer', id: lb.id, tab: 'frontends' })}>{lb.name}</a>
                  {lb.description ? <div className="muted small">{lb.description}</div> : null}
                </th>
                <td className="num">{d.frontends.filter((f) => f.loadBalancerId === lb.id).length}</td>
                <td className="num">{backends.length}</td>
                <td className="num">
                  {servers.length} / {lb.maxServers}
                </td>
                <td>
                  <HealthCell servers={servers} />
                </td>
              </tr>
            );
          }}
        />
      ) : null}
      {creating ? (
        <LoadBalancerDialog
          onClose={() => setCreating(false)}
          onSaved={(lb, v) => {
            setCreating(false);
            notify(`Load balancer ${lb.name} created${v !== null ? ` (configuration version ${v})` : ''}.`);
            location.hash = href({ page: 'load-balancer', id: lb.id, tab: 'frontends' });
          }}
        />
      ) : null}
    </main>
  );
}
