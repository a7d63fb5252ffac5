/** The nodes sharing the store (C5, issue 14): what each applied, its last heartbeat, live or stale. */
import { DataTable, LoadState } from '../components/ui.tsx';
import { useLoad } from '../hooks.ts';
import { formatAgo } from '../lib/format.ts';
import type { NodeView } from '../lib/types.ts';

/** How often the page reads GET /nodes again (ms): a heartbeat comes every 2 s by default. */
const REFRESH_MS = 2000;

export function NodesPage() {
  const list = useLoad((a, s) => a.list<NodeView>('/nodes', s), [], { everyMs: REFRESH_MS });
  const nodes = list.data ?? [];
  const newest = Math.max(0, ...nodes.map((n) => n.appliedVersion));
  const stale = nodes.filter((n) => n.status === 'stale');
  const now = Date.now();
  return (
    <main className="page" aria-labelledby="page-title">
      <div className="page-head">
        <h1 id="page-title">Nodes</h1>
      </div>
      <p className="muted">
        Every Fulcrum node sharing this configuration store, the configuration version its data plane applied, and its
        last heartbeat. A node is stale when it has not sent a heartbeat for three intervals.
      </p>
      <LoadState loading={list.loading && !list.data} error={list.error} what="nodes" />
      {stale.length > 0 ? (
        <p className="load-error" role="alert">
          {stale.length === 1 ? `Node ${stale[0]!.name} is stale` : `${stale.length} nodes are stale`}: no heartbeat
          recently. It may have stopped, or lost the store; it serves its last configuration, if it runs at all.
        </p>
      ) : null}
      {nodes.length > 0 ? (
        <DataTable
          columns={['Name', 'Applied version', 'Last seen', 'Status']}
          rows={nodes}
          row={(n) => (
            <tr key={n.name} data-node={n.name}>
              <th scope="row">{n.name}</th>
              <td className="mono">
                {n.appliedVersion}
                {n.appliedVersion < newest ? <span className="muted"> (behind {newest})</span> : null}
              </td>
              <td title={n.lastSeen}>{formatAgo(n.lastSeen, now)}</td>
              <td>
                <span className={`badge ${n.status === 'live' ? 'ok' : 'warn'}`}>{n.status}</span>
              </td>
            </tr>
          )}
        />
      ) : null}
    </main>
  );
}
