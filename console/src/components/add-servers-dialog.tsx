/**
 * The step after Create Backend (issue 16 point 3, "add servers as a step of creating a
 * backend"): pick instances from the inventory and type custom addresses, then add them all
 * at once. Closing (Skip, ✕, Escape) leaves the backend created without servers. A refusal is
 * shown beside the input it names; the servers already added are listed and not sent again.
 */
import { type ReactNode, useId, useState } from 'react';
import { useInstances } from '../data.ts';
import { useServices } from '../hooks.ts';
import { type AddressRow, errorKey, newAddressRow, planServers } from '../lib/add-servers.ts';
import { ApiError } from '../lib/api.ts';
import type { FieldErrors } from '../lib/form.ts';
import type { Backend, Server } from '../lib/types.ts';
import { Dialog, describe, FieldFoot, FormError } from './ui.tsx';

export interface AddServersDialogProps {
  backend: Backend;
  /** Closes the step; the backend stays. */
  onClose: () => void;
  /** Every planned server was added: their names and the configuration version they are live in. */
  onDone: (names: string[], configVersion: number | null) => void;
}

export function AddServersDialog({ backend, onClose, onDone }: AddServersDialogProps) {
  const { api } = useServices();
  const id = useId();
  const instances = useInstances();
  const [picked, setPicked] = useState<Set<string>>(() => new Set());
  const [instancePort, setInstancePort] = useState('');
  const [rows, setRows] = useState<AddressRow[]>(() => [newAddressRow(backend.name, 1)]);
  const [nextKey, setNextKey] = useState(2);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [added, setAdded] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const list = (instances.data ?? []).filter((i) => !added.includes(i.name) || picked.has(i.id));
  const portHint = backend.port
    ? `empty = the backend's port ${backend.port}`
    : 'the backend has no default port: give one';

  const clear = (key: string) =>
    setErrors((e) => {
      if (!(key in e)) return e;
      const { [key]: _, ...rest } = e;
      return rest;
    });
  const setRow = (key: number, patch: Partial<AddressRow>) => {
    setRows((rs) => rs.map((r) => (r.key === key ? { ...r, ...patch } : r)));
    for (const f of Object.keys(patch)) clear(`row:${key}.${f}`);
  };
  const toggle = (iid: string, on: boolean) => {
    setPicked((p) => {
      const n = new Set(p);
      if (on) n.add(iid);
      else n.delete(iid);
      return n;
    });
    clear(`instance:${iid}`);
  };
  const addRow = () => {
    setRows((rs) => [...rs, newAddressRow(backend.name, nextKey)]);
    setNextKey((k) => k + 1);
  };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const plan = planServers(backend, instances.data ?? [], picked, instancePort, rows);
    setFormError(null);
    if (Object.keys(plan.errors).length) {
      setErrors(plan.errors);
      return;
    }
    if (!plan.servers.length) {
      setErrors({});
      setFormError('Pick an instance or enter an address first, or Skip to add servers later.');
      return;
    }
    setBusy(true);
    const failed: FieldErrors = {};
    const done: string[] = [];
    let version: number | null = null;
    for (const s of plan.servers) {
      try {
        const r = await api.change<Server>('POST', `/backends/${encodeURIComponent(backend.id)}/servers`, s.payload);
        done.push(r.resource.name);
        version = r.configVersion ?? version;
        // added: not sent again
        if (s.key.startsWith('instance:')) {
          const iid = s.key.slice('instance:'.length);
          setPicked((p) => {
            const n = new Set(p);
            n.delete(iid);
            return n;
          });
        } else {
          const k = Number(s.key.slice('row:'.length));
          setRows((rs) => rs.filter((r) => r.key !== k));
        }
      } catch (err) {
        if (err instanceof ApiError) failed[errorKey(s, err.field)] = `${s.name}: ${err.message}`;
        else failed[errorKey(s, null)] = `${s.name}: ${String(err)}`;
      }
    }
    setBusy(false);
    setErrors(failed);
    const all = [...added, ...done];
    setAdded(all);
    if (Object.keys(failed).length === 0) onDone(all, version);
  };

  const field = (key: string, label: string, input: (p: InputProps) => ReactNode, hint?: string) => {
    const fid = `${id}-${key.replace(/\W/g, '-')}`;
    const error = errors[key];
    return (
      <div className={error ? 'field has-error' : 'field'} data-field={key}>
        <label htmlFor={fid}>{label}</label>
        {input({
          id: fid,
          'aria-invalid': error ? true : undefined,
          'aria-describedby': describe(fid, hint, error),
        })}
        <FieldFoot id={fid} hint={hint} error={error} />
      </div>
    );
  };

  return (
    <Dialog
      wide
      title={`Add servers to ${backend.name}`}
      onClose={onClose}
      describedBy={`${id}-intro`}
      footer={
        <>
          <button type="button" onClick={onClose}>
            {added.length ? 'Close' : 'Skip'}
          </button>
          <button type="submit" form={`${id}-form`} className="primary" disabled={busy}>
            Add servers
          </button>
        </>
      }
    >
      <form id={`${id}-form`} noValidate onSubmit={(e) => void submit(e)} className="grid-form">
        <p id={`${id}-intro`} className="wide-field">
          Backend <strong>{backend.name}</strong> is created. Add its servers now: pick instances from the inventory,
          enter addresses, or both. Skip to add them later; the backend stays.
        </p>
        <FormError message={formError} />
        {added.length ? (
          <p className="wide-field" role="status" data-added>
            Added: {added.join(', ')}.
          </p>
        ) : null}
        <fieldset data-field="instances">
          <legend>From the inventory</legend>
          {instances.loading && !instances.data ? <p className="muted">Loading the inventory…</p> : null}
          {instances.data && instances.data.length === 0 ? (
            <p className="muted">The inventory is empty: enter addresses below.</p>
          ) : null}
          {list.map((i) => {
            const key = `instance:${i.id}`;
            const cid = `${id}-i-${i.id}`;
            const error = errors[key];
            return (
              <div key={i.id} className={error ? 'field check has-error' : 'field check'} data-instance={i.name}>
                <input
                  id={cid}
                  type="checkbox"
                  checked={picked.has(i.id)}
                  aria-invalid={error ? true : undefined}
                  aria-describedby={describe(cid, undefined, error)}
                  onChange={(e) => toggle(i.id, e.target.checked)}
                />
                <label htmlFor={cid}>
                  {i.name} — {i.privateIp}
                  {i.zone ? ` (${i.zone})` : ''}
                </label>
                <FieldFoot id={cid} error={error} />
              </div>
            );
          })}
          {instances.data?.length
            ? field(
                'instancePort',
                'Port of the inventory servers',
                (p) => (
                  <input
                    {...p}
                    type="number"
                    inputMode="numeric"
                    min={1}
                    max={65535}
                    value={instancePort}
                    onChange={(e) => {
                      setInstancePort(e.target.value);
                      clear('instancePort');
                    }}
                  />
                ),
                portHint,
              )
            : null}
        </fieldset>
        <fieldset data-field="addresses">
          <legend>Custom IP addresses</legend>
          {rows.map((r, n) => (
            <div className="rule-row address-row" key={r.key} data-address-row={n + 1}>
              {field(`row:${r.key}.name`, `Server ${n + 1} name`, (p) => (
                <input {...p} value={r.name} onChange={(e) => setRow(r.key, { name: e.target.value })} />
              ))}
              {field(`row:${r.key}.address`, `Server ${n + 1} IP address`, (p) => (
                <input
                  {...p}
                  value={r.address}
                  placeholder="10.0.0.12"
                  onChange={(e) => setRow(r.key, { address: e.target.value })}
                />
              ))}
              {field(
                `row:${r.key}.port`,
                `Server ${n + 1} port`,
                (p) => (
                  <input
                    {...p}
                    type="number"
                    inputMode="numeric"
                    min={1}
                    max={65535}
                    value={r.port}
                    onChange={(e) => setRow(r.key, { port: e.target.value })}
                  />
                ),
                portHint,
              )}
              {rows.length > 1 ? (
                <button
                  type="button"
                  className="remove-row"
                  aria-label={`Remove server ${n + 1}`}
                  onClick={() => setRows((rs) => rs.filter((x) => x.key !== r.key))}
                >
                  Remove
                </button>
              ) : null}
            </div>
          ))}
          <button type="button" onClick={addRow}>
            Add another address
          </button>
        </fieldset>
      </form>
    </Dialog>
  );
}

interface InputProps {
  id: string;
  'aria-invalid': true | undefined;
  'aria-describedby': string | undefined;
}
