/**
 * The servers table of a backend (issue point 5, 6; SPEC S1–S5, S9, H6, P4), with the
 * "Add Backend Server" button and per-row Update, Enable/Disable, Drain and Remove. Rows can be
 * selected: Drain, Disable, Enable, Remove and Set weight on the selection are each one batch
 * (`POST …/servers/batch`, issue 15 point 1): one configuration version, or nothing changed.
 * Live: reloads on the backend's events and every 2 s (slow-start progress, connections);
 * requests per second come from the shared stats poll.
 */
import { useMemo, useState } from 'react';
import { useCertificates, useInstances } from '../data.ts';
import { useLoad, useNow, useServices, useStatsTick } from '../hooks.ts';
import { ApiError, query } from '../lib/api.ts';
import { affectsBackend } from '../lib/events.ts';
import { endpoint, formatRate, healthLabel, healthTooltip, stateLabel } from '../lib/format.ts';
import { ActionDone, actionBatch, type BatchAction, batchProblems } from '../lib/server-batch.ts';
import { formatShare, ServerTypePresets } from '../lib/server-form.ts';
import type { Backend, Server } from '../lib/types.ts';
import { useConfirmDelete } from './confirm-delete.tsx';
import { ServerDialog } from './server-dialog.tsx';
import { Badge, DataTable, LoadState, RowActions } from './ui.tsx';

type Pending = { kind: 'add' } | { kind: 'update'; server: Server } | null;

/** Loads the backend's servers, refreshing live; exported for pages that need the list too. */
export function useServers(backendId: string, tag = '') {
  return useLoad(
    (api, signal) =>
      api.list<Server>(`/backends/${encodeURIComponent(backendId)}/servers${query({ tag: tag.trim() })}`, signal),
    [backendId, tag],
    { refreshOn: (e) => affectsBackend(e, backendId), everyMs: 2000 },
  );
}

const healthTone: Record<string, string> = { healthy: 'ok', unhealthy: 'bad', unknown: 'unknown' };
const stateTone: Record<string, string> = {
  active: 'ok',
  passive: 'info',
  'slow-start': 'info',
  draining: 'warn',
  disabled: 'off',
};

export function ServersTable({ backend }: { backend: Backend }) {
  const { api, live, notify, can } = useServices();
  const [tag, setTag] = useState('');
  const servers = useServers(backend.id, tag);
  const instances = useInstances();
  const certs = useCertificates();
  useStatsTick();
  const now = useNow(2000);
  const [pending, setPending] = useState<Pending>(null);
  const confirm = useConfirmDelete();
  const list = servers.data ?? [];
  const zones = useMemo(() => [...new Set(list.map((s) => s.zone).filter((z): z is string => !!z))], [list]);
  const drainSeconds = backend.drainTimeoutSeconds;
  const serverPath = (s: Server) => `/backends/${encodeURIComponent(backend.id)}/servers/${encodeURIComponent(s.id)}`;
  const version = (v: number | null) => (v === null ? '' : ` Live in configuration version ${v}.`);

  // ---------- the selection and its batches ----------
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [batchWeight, setBatchWeight] = useState('');
  const [batchBusy, setBatchBusy] = useState(false);
  const selectable = list.filter((s) => s.status.reason !== 'removed');
  const chosen = selectable.filter((s) => selected.has(s.id));
  const toggle = (id: string, on: boolean) =>
    setSelected((cur) => {
      const next = new Set(cur);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  const batchPath = `/backends/${encodeURIComponent(backend.id)}/servers/batch`;
  const plural = (n: number) => `${n} server${n === 1 ? '' : 's'}`;
  const batchDone = (action: BatchAction, n: number, v: number | null) => {
    notify(`${plural(n)} ${ActionDone[action]} in one change.${version(v)}`);
    setSelected(new Set());
    servers.reload();
  };
  /** Sends one batch for the selection; Drain and Remove ask first. */
  const runBatch = async (action: BatchAction) => {
    const targets = chosen.map((s) => ({ id: s.id, name: s.name }));
    if (targets.length === 0) return;
    const weight = action === 'weight' ? Number(batchWeight) : undefined;
    if (action === 'weight' && (batchWeight.trim() === '' || !Number.isInteger(weight))) {
      notify('Set weight: enter a whole number from 0 to 100.', 'error');
      return;
    }
    const body = actionBatch(action, targets, weight);
    const names = targets.map((t) => t.name);
    if (action === 'drain' || action === 'remove') {
      const verb = action === 'drain' ? 'Drain' : 'Remove';
      confirm.ask({
        title: `${verb} ${plural(targets.length)}?`,
        message: (
          <>
            {names.join(', ')} will get no new connections
            {action === 'remove' ? ` and be removed from ${backend.name}` : ''}. Open connections will be drained for{' '}
            {drainSeconds} seconds, then closed. All of them change together, or none does.
          </>
        ),
        confirmLabel: verb,
        danger: action === 'remove',
        path: batchPath,
        change: { method: 'POST', path: batchPath, body },
        done: (v) => batchDone(action, targets.length, v),
      });
      return;
    }
    setBatchBusy(true);
    try {
      const r = await api.change('POST', batchPath, body);
      batchDone(action, targets.length, r.configVersion);
    } catch (e) {
      const why = e instanceof ApiError ? batchProblems(e, { update: names }).join('; ') : String(e);
      notify(`Nothing changed: ${why}`, 'error');
    } finally {
      setBatchBusy(false);
    }
  };

  const setEnabled = async (s: Server, enabled: boolean) => {
    try {
      const r = await api.change<Server>('PATCH', serverPath(s), { enabled });
      notify(
        enabled
          ? `Server ${s.name} enabled.${version(r.configVersion)}`
          : `Server ${s.name} disabled: no new connections; open ones drain for up to ${drainSeconds} s.${version(r.configVersion)}`,
      );
      servers.reload();
    } catch (e) {
      notify(`Could not ${enabled ? 'enable' : 'disable'} ${s.name}: ${(e as Error).message}`, 'error');
    }
  };

  /** Drain (PATCH `enabled: false`) or remove (DELETE) a server, after the operator confirmed. */
  const askDrain = (s: Server) =>
    confirm.ask({
      title: `Drain ${s.name}?`,
      message: (
        <>
          {s.name} will get no new connections. Open connections will be drained for {drainSeconds} seconds (the
          backend's drain timeout), then closed. Enable it again to bring it back.
        </>
      ),
      confirmLabel: 'Drain',
      danger: false,
      path: serverPath(s),
      change: { method: 'POST', path: `${serverPath(s)}/drain`, body: {} },
      ...(s.version !== undefined ? { ifMatch: s.version } : {}),
      done: (v) => {
        notify(`Server ${s.name} is draining: open connections may finish for up to ${drainSeconds} s.${version(v)}`);
        servers.reload();
      },
    });
  const askRemove = (s: Server) =>
    confirm.ask({
      title: `Remove ${s.name}?`,
      message: (
        <>
          {s.name} ({endpoint(s.address, s.port, backend.port)}) will be removed from {backend.name}. Open connections
          will be drained for {drainSeconds} seconds, then closed.
        </>
      ),
      confirmLabel: 'Remove',
      path: serverPath(s),
      ...(s.version !== undefined ? { ifMatch: s.version } : {}),
      done: (v) => {
        notify(`Server ${s.name} removed; open connections drain for up to ${drainSeconds} s.${version(v)}`);
        servers.reload();
      },
    });

  return (
    <section className="servers" aria-labelledby={`servers-${backend.id}`}>
      <div className="section-head">
        <h3 id={`servers-${backend.id}`}>Backend Servers of {backend.name}</h3>
        {can.changeServers ? (
          <button type="button" className="primary" onClick={() => setPending({ kind: 'add' })}>
            Add Backend Server
          </button>
        ) : null}
      </div>
      <label className="tag-filter">
        Tag{' '}
        <input
          type="search"
          value={tag}
          placeholder="env=prod, canary"
          aria-label="Filter servers by tag"
          onChange={(e) => setTag(e.target.value)}
        />
      </label>
      <LoadState loading={servers.loading && !servers.data} error={servers.error} what="servers" />
      {servers.data && list.length === 0 ? (
        <p className="muted">
          {tag.trim() ? `No server has the tags ${tag}.` : 'No servers yet. Add one to send traffic.'}
        </p>
      ) : null}
      {can.changeServers && selectable.length > 0 ? (
        <div className="selection-bar" role="toolbar" aria-label="Selected servers">
          <label>
            <input
              type="checkbox"
              aria-label="Select all servers"
              checked={chosen.length === selectable.length}
              onChange={(e) => setSelected(new Set(e.target.checked ? selectable.map((s) => s.id) : []))}
            />{' '}
            {chosen.length ? `${chosen.length} selected` : 'Select all'}
          </label>
          {(['drain', 'disable', 'enable', 'remove'] as const).map((a) => (
            <button
              key={a}
              type="button"
              className={a === 'remove' ? 'danger' : undefined}
              aria-label={`${a[0]!.toUpperCase() + a.slice(1)} selected servers`}
              disabled={chosen.length === 0 || batchBusy}
              onClick={() => void runBatch(a)}
            >
              {a[0]!.toUpperCase() + a.slice(1)}
            </button>
          ))}
          <input
            type="number"
            min={0}
            max={100}
            value={batchWeight}
            placeholder="weight"
            aria-label="Weight for the selected servers"
            onChange={(e) => setBatchWeight(e.target.value)}
          />
          <button type="button" disabled={chosen.length === 0 || batchBusy} onClick={() => void runBatch('weight')}>
            Set weight
          </button>
        </div>
      ) : null}
      {list.length > 0 ? (
        <DataTable
          className="data servers-table"
          columns={[
            can.changeServers && 'Select',
            'Name',
            'Type',
            'Address',
            'Zone',
            { label: 'Weight', num: true },
            'Passive',
            'SSL Offload',
            'Health',
            'State',
            { label: 'Connections', num: true },
            { label: 'Req/s', num: true },
            can.changeServers && 'Actions',
          ]}
          rows={list}
          row={(s) => {
            const h = healthLabel(s);
            // Found by the backend's SRV discovery (issue 15 point 2): only enable, disable and drain apply.
            const discovered = (s as { discovered?: boolean }).discovered === true;
            const { state, slowStartFactor: factor } = s.status;
            return (
              <tr key={s.id} data-server={s.name}>
                {can.changeServers ? (
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select ${s.name}`}
                      disabled={s.status.reason === 'removed' || discovered}
                      checked={selected.has(s.id)}
                      onChange={(e) => toggle(s.id, e.target.checked)}
                    />
                  </td>
                ) : null}
                <th scope="row" title={s.description || undefined}>
                  {s.name}
                  {discovered ? (
                    <span className="tags" title="from the backend's DNS SRV records; follows them">
                      <Badge tone="info">discovered</Badge>
                    </span>
                  ) : null}
                  {s.tags?.length ? (
                    <span className="tags">
                      {s.tags.map((t) => (
                        <Badge key={t} tone="info">
                          {t}
                        </Badge>
                      ))}
                    </span>
                  ) : null}
                </th>
                <td>{ServerTypePresets[s.serverType]?.label ?? s.serverType}</td>
                <td className="mono">{endpoint(s.address, s.port, backend.port)}</td>
                <td>{s.zone ?? '—'}</td>
                <td className="num" data-col="weight" title="share of new requests now">
                  {s.weight} <span className="share">{formatShare(s.status.expectedShare)}</span>
                </td>
                <td>{s.passive ? 'yes' : 'no'}</td>
                <td>{s.sslOffload ? 'yes' : 'no'}</td>
                <td data-col="health" title={healthTooltip(s, now)}>
                  <Badge tone={healthTone[h.health] ?? 'unknown'}>{h.health}</Badge>
                  {h.reason ? <span className="reason">{h.reason}</span> : null}
                </td>
                <td data-col="state">
                  <Badge tone={stateTone[state] ?? 'info'}>{stateLabel(s)}</Badge>
                  {state === 'slow-start' ? (
                    <progress max={1} value={factor} aria-label={`slow start ${Math.round(factor * 100)}%`} />
                  ) : null}
                </td>
                <td className="num" data-col="connections">
                  {s.status.activeConnections}
                </td>
                <td className="num" data-col="rps">
                  {formatRate(live.history.serverRate(s.id))}
                </td>
                {can.changeServers ? (
                  <RowActions
                    name={s.name}
                    actions={[
                      ...(discovered
                        ? []
                        : [{ label: 'Update', onClick: () => setPending({ kind: 'update', server: s }) }]),
                      s.enabled
                        ? { label: 'Disable', onClick: () => void setEnabled(s, false) }
                        : { label: 'Enable', onClick: () => void setEnabled(s, true) },
                      {
                        label: 'Drain',
                        disabled: state === 'draining' || !s.enabled,
                        onClick: () => askDrain(s),
                      },
                      ...(discovered ? [] : [{ label: 'Remove', danger: true, onClick: () => askRemove(s) }]),
                    ]}
                  />
                ) : null}
              </tr>
            );
          }}
        />
      ) : null}
      {pending?.kind === 'add' || pending?.kind === 'update' ? (
        <ServerDialog
          backend={backend}
          server={pending.kind === 'update' ? pending.server : undefined}
          instances={instances.data ?? []}
          certificates={certs.data ?? []}
          zones={zones}
          onClose={() => setPending(null)}
          onSavedMany={(added, v) => {
            setPending(null);
            notify(`${plural(added.length)} added in one change.${version(v)}`);
            servers.reload();
          }}
          onSaved={(s, v, created) => {
            setPending(null);
            notify(
              created
                ? `Server ${s.name} added.${version(v)}`
                : `Server ${s.name} updated. The change is live in configuration version ${v ?? '?'}.`,
            );
            servers.reload();
          }}
        />
      ) : null}
      {confirm.dialog}
    </section>
  );
}
