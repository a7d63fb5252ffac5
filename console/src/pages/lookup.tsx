/** Lookup (S8): every load balancer and backend a server address, server id or instance id belongs to. */
import { useId, useState } from 'react';
import { DataTable, LoadState } from '../components/ui.tsx';
import { useLoad } from '../hooks.ts';
import { query } from '../lib/api.ts';
import { endpoint, healthLabel, stateLabel } from '../lib/format.ts';
import { href, lookupQueries } from '../lib/route.ts';
import type { LookupHit } from '../lib/types.ts';

export function LookupPage({ q }: { q: string }) {
  const id = useId();
  const [text, setText] = useState(q);
  const hits = useLoad(
    async (api, signal) => {
      const out: LookupHit[] = [];
      const seen = new Set<string>();
      for (const params of lookupQueries(q)) {
        for (const h of await api.list<LookupHit>(`/servers${query(params)}`, signal)) {
          const k = `${h.backendId}/${h.server.id}`;
          if (!seen.has(k)) {
            seen.add(k);
            out.push(h);
          }
        }
      }
      return out;
    },
    [q],
  );
  return (
    <main className="page" aria-labelledby="page-title">
      <h1 id="page-title">Lookup</h1>
      <search>
        <form
          className="lookup-form"
          onSubmit={(e) => {
            e.preventDefault();
            location.hash = href({ page: 'lookup', q: text.trim() });
          }}
        >
          <label htmlFor={id}>IP address or id</label>
          <input
            id={id}
            type="search"
            value={text}
            placeholder="10.0.0.12, srv_…, inst_…"
            onChange={(e) => setText(e.target.value)}
          />
          <button type="submit" className="primary">
            Find
          </button>
        </form>
      </search>
      <p className="muted">
        Finds every load balancer and backend a server address, server id or instance id belongs to.
      </p>
      {q ? <LoadState loading={hits.loading && !hits.data} error={hits.error} what="results" /> : null}
      {q && hits.data && hits.data.length === 0 ? <p>Nothing uses {q}.</p> : null}
      {q && hits.data && hits.data.length > 0 ? (
        <DataTable
          caption={
            <>
              {hits.data.length} entr{hits.data.length === 1 ? 'y' : 'ies'} for {q}
            </>
          }
          columns={['Load balancer', 'Backend', 'Server', 'Address', 'Health', 'State']}
          rows={hits.data}
          row={(h) => (
            <tr key={`${h.backendId}/${h.server.id}`}>
              <td>
                <a href={href({ page: 'load-balancer', id: h.loadBalancerId, tab: 'backends' })}>
                  {h.loadBalancerName}
                </a>
              </td>
              <td>
                <a href={href({ page: 'backend', id: h.backendId })}>{h.backendName}</a>
              </td>
              <th scope="row">{h.server.name}</th>
              <td className="mono">{endpoint(h.server.address, h.server.port)}</td>
              <td>{healthLabel(h.server).health}</td>
              <td>{stateLabel(h.server)}</td>
            </tr>
          )}
        />
      ) : null}
    </main>
  );
}
