/**
 * "Add Backend Server" and "Update" dialog (SPEC S1, S2, C3; seeds 000 and 004): Name,
 * Server Type, Backend Server (inventory) or Custom IP, Port, Weight, Zone, Passive,
 * SSL Offload, Server Certificate (CA). API errors appear beside the field they name.
 * Adding from the inventory, several instances may be picked at once: they are added as one
 * batch (`POST …/servers/batch`, issue 15 point 1), one server per instance named after it,
 * in one configuration version or not at all.
 */
import { useState } from 'react';
import { ServerTypes } from '../../../src/config/model.ts';
import { useForm, useServices } from '../hooks.ts';
import { ApiError } from '../lib/api.ts';
import { batchProblems, instancesBatch } from '../lib/server-batch.ts';
import {
  movesServer,
  newServerValues,
  ServerFields,
  ServerTypePresets,
  serverChanges,
  serverPayload,
  serverValues,
  suggestServerPort,
} from '../lib/server-form.ts';
import type { Backend, Certificate, Instance, Server, ServerType } from '../lib/types.ts';
import { applyApiError, CheckField, Dialog, FormError, FormFooter, SelectField, TextField, useSave } from './ui.tsx';

export interface ServerDialogProps {
  backend: Backend;
  /** The server to update; absent for a new one. */
  server?: Server;
  instances: readonly Instance[];
  certificates: readonly Certificate[];
  zones: readonly string[];
  onClose: () => void;
  /** Called with the saved server and the configuration version it is live in. */
  onSaved: (server: Server, configVersion: number | null, created: boolean) => void;
  /** Several instances added as one batch: the servers made and the configuration version they are live in. */
  onSavedMany?: (servers: Server[], configVersion: number | null) => void;
}

/** What a server type means here: its usual port (the dialog suggests it while Port is untouched). */
function typeHint(t: ServerType): string {
  const p = ServerTypePresets[t]?.port;
  return p ? `usual port ${p}` : 'no usual port';
}

export function ServerDialog({
  backend,
  server,
  instances,
  certificates,
  zones,
  onClose,
  onSaved,
  onSavedMany,
}: ServerDialogProps) {
  const { api } = useServices();
  const form = useForm(() => (server ? serverValues(server) : newServerValues(backend)));
  const { values } = form;
  const byInstance = values.source === 'instance';
  /** A 412 on save (issue 15 point 6): the server as it is now and what changed since the dialog opened. */
  const [conflict, setConflict] = useState<{ current: Server | null; changes: string[] } | null>(null);
  const [reapplying, setReapplying] = useState(false);
  /** Adding from the inventory: the instances picked (several make one batch). */
  const [picked, setPicked] = useState<string[]>([]);
  const several = !server && byInstance && picked.length > 1;
  const [batchBusy, setBatchBusy] = useState(false);
  const serversPath = `/backends/${encodeURIComponent(backend.id)}/servers`;
  const path = server ? `${serversPath}/${encodeURIComponent(server.id)}` : serversPath;
  const { busy, upsert } = useSave(form, (err) => {
    if (server && err.code === 'precondition_failed') {
      api.get<Server>(path).then(
        (current) => setConflict({ current, changes: serverChanges(server, current) }),
        () => setConflict({ current: null, changes: ['the server was removed'] }),
      );
      return;
    }
    applyApiError(form, err, ServerFields, { address: byInstance ? 'instanceId' : 'address' });
  });
  /** Sends the operator's changes again on top of the server as it is now. */
  const reapply = async () => {
    if (!conflict?.current) return;
    setReapplying(true);
    try {
      const r = await api.change<Server>(
        'PATCH',
        path,
        serverPayload(values, server).payload,
        conflict.current.version,
      );
      onSaved(r.resource, r.configVersion, false);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'precondition_failed') {
        const current = await api.get<Server>(path).catch(() => null);
        setConflict(current ? { current, changes: serverChanges(server as Server, current) } : null);
      } else {
        setConflict(null);
        if (err instanceof ApiError) applyApiError(form, err, ServerFields);
        else form.setFormError(String(err));
      }
    } finally {
      setReapplying(false);
    }
  };
  const cas = certificates.filter((c) => c.kind === 'ca');

  const onType = (t: string) => {
    if (server || form.touched.has('port')) return;
    const p = suggestServerPort(t as ServerType, backend);
    form.setMany({ port: p === null ? '' : String(p) });
  };
  const onInstance = (id: string) => {
    const inst = instances.find((i) => i.id === id);
    if (!inst) return;
    const patch: Record<string, string> = {};
    if (!form.touched.has('zone') && inst.zone) patch.zone = inst.zone;
    if (!form.touched.has('serverType') && !server) patch.serverType = inst.serverType;
    if (!form.touched.has('name') && !server && !values.name) patch.name = inst.name;
    form.setMany(patch);
  };

  const pick = (id: string, on: boolean) => {
    const next = on ? [...picked.filter((x) => x !== id), id] : picked.filter((x) => x !== id);
    setPicked(next);
    form.set('instanceId', next[0] ?? '');
    if (next.length === 1) onInstance(next[0] as string);
  };
  /** Several instances: one batch, each named and typed after its instance. */
  const addSeveral = async () => {
    const { payload, errors } = serverPayload(values);
    delete errors.name;
    if (Object.keys(errors).length) {
      form.setErrors(errors);
      return;
    }
    // The zone the first pick filled in is its own: each server takes its instance's unless the operator chose one.
    if (!form.touched.has('zone')) delete payload.zone;
    const chosen = picked.map((id) => instances.find((i) => i.id === id)).filter((i): i is Instance => !!i);
    const body = instancesBatch(payload, chosen);
    setBatchBusy(true);
    form.setFormError(null);
    try {
      const r = await api.change<{ added: Server[] }>('POST', `${serversPath}/batch`, body);
      onSavedMany?.(r.resource.added ?? [], r.configVersion);
    } catch (err) {
      const lines = err instanceof ApiError ? batchProblems(err, { add: chosen.map((i) => i.name) }) : [String(err)];
      form.setFormError(`Nothing was added: ${lines.join('; ')}`);
    } finally {
      setBatchBusy(false);
    }
  };

  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    setConflict(null);
    if (several) {
      void addSeveral();
      return;
    }
    void upsert<Server>({
      prepared: serverPayload(values, server),
      editing: !!server,
      path,
      onSaved,
      onUnchanged: onClose,
      ...(server?.version !== undefined ? { ifMatch: server.version } : {}),
    });
  };
  const moving = !!server && movesServer(serverPayload(values, server).payload);

  const backendPort = backend.port ? `empty = the backend's port ${backend.port}` : 'the port the server listens on';
  return (
    <Dialog
      title={server ? `Update Backend Server ${server.name}` : 'Add Backend Server'}
      onClose={onClose}
      footer={
        <FormFooter
          formId="server-form"
          submitLabel={server ? 'Update' : several ? `Add ${picked.length} Servers` : 'Add Server'}
          busy={busy || batchBusy}
          onCancel={onClose}
        />
      }
    >
      <form id="server-form" noValidate onSubmit={submit} className="grid-form">
        <FormError message={form.formError} />
        {conflict ? (
          <div className="form-error wide-field" role="alert" data-conflict>
            <p>
              {server?.name} changed while this dialog was open
              {conflict.current ? ` (now version ${conflict.current.version ?? '?'})` : ''}:
            </p>
            <ul>
              {conflict.changes.length ? conflict.changes.map((c) => <li key={c}>{c}</li>) : <li>its status only</li>}
            </ul>
            {conflict.current ? (
              <button type="button" onClick={() => void reapply()} disabled={reapplying}>
                Reapply my changes
              </button>
            ) : null}
          </div>
        ) : null}
        <p className="muted wide-field">
          Backend <strong>{backend.name}</strong> ({backend.mode}, {backend.algorithm})
        </p>
        {several ? (
          <p className="muted wide-field" data-several>
            {picked.length} servers, each named after its instance; the fields below apply to each.
          </p>
        ) : (
          <TextField form={form} path="name" label="Name" hint="unique within the backend" />
        )}
        <SelectField
          form={form}
          path="serverType"
          label="Server Type"
          options={ServerTypes.map((t) => ({ value: t, label: ServerTypePresets[t].label }))}
          hint={typeHint(values.serverType as ServerType)}
          onChange={onType}
        />
        <fieldset className="wide-field address-source">
          <legend>Address</legend>
          <label>
            <input
              type="radio"
              name="source"
              value="instance"
              checked={byInstance}
              onChange={() => form.set('source', 'instance')}
            />{' '}
            From the inventory
          </label>
          <label>
            <input
              type="radio"
              name="source"
              value="custom"
              checked={!byInstance}
              onChange={() => form.set('source', 'custom')}
            />{' '}
            Custom IP address
          </label>
        </fieldset>
        {byInstance && !server ? (
          <fieldset className="wide-field instance-picks" aria-label="Backend Server">
            <legend>Backend Servers (pick one or several)</legend>
            {instances.length === 0 ? <p className="muted">The inventory is empty</p> : null}
            {instances.map((i) => (
              <label key={i.id}>
                <input type="checkbox" checked={picked.includes(i.id)} onChange={(e) => pick(i.id, e.target.checked)} />{' '}
                {`${i.name} — ${i.privateIp}${i.zone ? ` (${i.zone})` : ''}${i.os ? `, ${i.os}` : ''}`}
              </label>
            ))}
            {form.errors.instanceId ? (
              <p className="field-error" role="alert">
                {form.errors.instanceId}
              </p>
            ) : null}
          </fieldset>
        ) : byInstance ? (
          <SelectField
            form={form}
            path="instanceId"
            label="Backend Server"
            options={[
              { value: '', label: instances.length ? 'Choose an instance…' : 'The inventory is empty' },
              ...instances.map((i) => ({
                value: i.id,
                label: `${i.name} — ${i.privateIp}${i.zone ? ` (${i.zone})` : ''}${i.os ? `, ${i.os}` : ''}`,
              })),
            ]}
            onChange={onInstance}
          />
        ) : (
          <TextField
            form={form}
            path="address"
            label="Custom IP"
            placeholder="10.0.0.12"
            hint="an IPv4 address inside the load balancer's allowed networks (any IPv4 address when IP as backend is on), or a host name such as api-1.internal: resolved by DNS, each address it resolves to checked the same way"
          />
        )}
        <TextField form={form} path="port" label="Port" type="number" hint={`1–65535; ${backendPort}`} />
        <TextField
          form={form}
          path="weight"
          label="Weight"
          type="number"
          hint="0–100, default 1; 0 = no new requests"
        />
        <TextField
          form={form}
          path="maxConnections"
          label="Max connections"
          type="number"
          placeholder="unlimited"
          hint="requests (tcp: connections) at once on this node; at the limit new ones wait in the backend's queue; empty or 0 = unlimited"
        />
        <TextField form={form} path="zone" label="Zone" list="zone-list" placeholder="az1" hint="optional" />
        <datalist id="zone-list">
          {zones.map((z) => (
            <option key={z} value={z} />
          ))}
        </datalist>
        <SelectField
          form={form}
          path="caCertificateId"
          label="Server Certificate (CA)"
          hint="CA bundle that verifies the server's certificate when the backend uses TLS"
          options={[{ value: '', label: 'None' }, ...cas.map((c) => ({ value: c.id, label: c.name }))]}
        />
        <CheckField
          form={form}
          path="passive"
          label="Passive"
          hint="standby: traffic only when no active server is available"
        />
        <CheckField
          form={form}
          path="sslOffload"
          label="SSL Offload"
          hint="TLS ends at the load balancer; the server gets plain traffic"
        />
        <TextField
          form={form}
          path="description"
          label="Description"
          hint="optional, for people (at most 1024 characters)"
        />
        <TextField
          form={form}
          path="tags"
          label="Tags"
          placeholder="env=prod, canary"
          hint="key or key=value, separated by commas; at most 32"
        />
        <TextField
          form={form}
          path="healthCheck.port"
          label="Check Port"
          type="number"
          hint="empty = the backend check's port, else the server's"
        />
        <CheckField
          form={form}
          path="healthCheck.enabled"
          label="Health Checks"
          hint="off: this server is never checked and counts as healthy"
        />
        {moving ? (
          <p className="muted wide-field" data-moving>
            The server is checked at once at its new address; traffic resumes when the check passes.
          </p>
        ) : null}
      </form>
    </Dialog>
  );
}
