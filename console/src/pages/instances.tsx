/** The inventory of instances from which Add Backend Server picks a server; where each is used. */
import { useState } from 'react';
import { useConfirmDelete } from '../components/confirm-delete.tsx';
import { InstanceDialog } from '../components/instance-dialog.tsx';
import { DataTable, LoadState, RowActions } from '../components/ui.tsx';
import { useLoad, useServices } from '../hooks.ts';
import { href } from '../lib/route.ts';
import { ServerTypePresets } from '../lib/server-form.ts';
import type { Instance } from '../lib/types.ts';

export function InstancesPage() {
  const { notify, can } = useServices();
  const list = useLoad((a, s) => a.list<Instance>('/instances', s), [], { refreshOn: (e) => e.kind === 'config' });
  const [editing, setEditing] = useState<Instance | 'new' | null>(null);
  const remove = useConfirmDelete();
  const askDelete = (i: Instance) =>
    remove.ask({
      title: `Delete instance ${i.name}?`,
      message: 'It leaves the inventory. An instance used by a server cannot be deleted.',
      path: `/instances/${encodeURIComponent(i.id)}`,
      done: () => {
        notify(`Instance ${i.name} deleted.`);
        list.reload();
      },
    });
  return (
    <main className="page" aria-labelledby="page-title">
      <div className="page-head">
        <h1 id="page-title">Instances</h1>
        {can.changeConfig ? (
          <button type="button" className="primary" onClick={() => setEditing('new')}>
            Add instance
          </button>
        ) : null}
      </div>
      <p className="muted">The inventory from which Add Backend Server picks a Backend Server.</p>
      <LoadState loading={list.loading && !list.data} error={list.error} what="instances" />
      {list.data && list.data.length === 0 ? <p className="muted">The inventory is empty.</p> : null}
      {list.data && list.data.length > 0 ? (
        <DataTable
          columns={['Name', 'Private IP', 'Zone', 'OS', 'Type', 'Actions']}
          rows={list.data}
          row={(i) => (
            <tr key={i.id}>
              <th scope="row">{i.name}</th>
              <td className="mono">{i.privateIp}</td>
              <td>{i.zone ?? '—'}</td>
              <td>{i.os ?? '—'}</td>
              <td>{ServerTypePresets[i.serverType]?.label ?? i.serverType}</td>
              <RowActions
                name={i.name}
                actions={
                  can.changeConfig
                    ? [
                        { label: 'Edit', onClick: () => setEditing(i) },
                        { label: 'Delete', danger: true, onClick: () => askDelete(i) },
                      ]
                    : []
                }
              >
                <a href={href({ page: 'lookup', q: i.id })}>Where used</a>
              </RowActions>
            </tr>
          )}
        />
      ) : null}
      {editing ? (
        <InstanceDialog
          instance={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            list.reload();
          }}
        />
      ) : null}
      {remove.dialog}
    </main>
  );
}
