/**
 * Lookup (S8), the global events timeline (H6), the inventory of instances, and certificates
 * (T1, T3: upload PEM, subjects, expiry and its warnings).
 */
import { useId, useState } from 'react';
import { ServerTypes } from '../../../src/config/model.ts';
import { Timeline } from '../components/timeline.tsx';
import {
  applyApiError,
  Badge,
  Confirm,
  DataTable,
  Dialog,
  FormError,
  FormFooter,
  LoadState,
  RowActions,
  SelectField,
  TextField,
} from '../components/ui.tsx';
import { useForm, useLoad, useNow, useServices } from '../hooks.ts';
import { ApiError, query } from '../lib/api.ts';
import { changedOnly, toPayload, valuesFrom } from '../lib/form.ts';
import { certificateExpiry, endpoint, healthLabel, stateLabel } from '../lib/format.ts';
import { href, lookupQueries } from '../lib/route.ts';
import { ServerTypePresets } from '../lib/server-form.ts';
import type { Certificate, Instance, LookupHit } from '../lib/types.ts';
import { namesOf, useLbData } from './data.ts';

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
        Finds every load balancer and backend a server address, server id or instance id belongs to (S8).
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

export function EventsPage() {
  const data = useLbData(undefined);
  const d = data.data;
  const servers = d ? [...d.servers.values()].flat() : [];
  return (
    <main className="page" aria-labelledby="page-title">
      <h1 id="page-title">Events</h1>
      <Timeline names={namesOf(d)} backends={d?.backends ?? []} servers={servers} />
    </main>
  );
}

const INSTANCE_SPECS = [
  { path: 'name', kind: 'text' },
  { path: 'privateIp', kind: 'text' },
  { path: 'zone', kind: 'optText' },
  { path: 'os', kind: 'optText' },
  { path: 'serverType', kind: 'text' },
] as const;

function InstanceDialog({
  instance,
  onClose,
  onSaved,
}: {
  instance?: Instance;
  onClose: () => void;
  onSaved: () => void;
}) {
  const { api, notify } = useServices();
  const form = useForm(() =>
    instance ? valuesFrom(INSTANCE_SPECS, instance) : { name: '', privateIp: '', zone: '', os: '', serverType: 'web' },
  );
  const [busy, setBusy] = useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const { payload } = toPayload(INSTANCE_SPECS, form.values);
    const body = instance
      ? changedOnly(payload, toPayload(INSTANCE_SPECS, valuesFrom(INSTANCE_SPECS, instance)).payload)
      : payload;
    setBusy(true);
    try {
      const r = instance
        ? await api.change<Instance>('PATCH', `/instances/${encodeURIComponent(instance.id)}`, body)
        : await api.change<Instance>('POST', '/instances', body);
      notify(
        `Instance ${r.resource.name ?? ''} saved.${r.configVersion !== null ? ` Configuration version ${r.configVersion}.` : ''}`,
      );
      onSaved();
    } catch (err) {
      if (err instanceof ApiError)
        applyApiError(
          form,
          err,
          INSTANCE_SPECS.map((s) => s.path),
        );
      else form.setFormError(String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={instance ? `Edit instance ${instance.name}` : 'Add instance'}
      onClose={onClose}
      footer={
        <FormFooter
          formId="instance-form"
          submitLabel={instance ? 'Save instance' : 'Add instance'}
          busy={busy}
          onCancel={onClose}
        />
      }
    >
      <form id="instance-form" noValidate onSubmit={submit} className="grid-form">
        <FormError message={form.formError} />
        <TextField form={form} path="name" label="Name" />
        <TextField form={form} path="privateIp" label="Private IP" placeholder="10.0.0.12" />
        <TextField form={form} path="zone" label="Zone" hint="optional" />
        <TextField form={form} path="os" label="OS" hint="servers of one backend should run the same OS (S10)" />
        <SelectField
          form={form}
          path="serverType"
          label="Server Type"
          options={ServerTypes.map((t) => ({ value: t, label: ServerTypePresets[t].label }))}
        />
      </form>
    </Dialog>
  );
}

export function InstancesPage() {
  const { api, notify, can } = useServices();
  const list = useLoad((a, s) => a.list<Instance>('/instances', s), [], { refreshOn: (e) => e.kind === 'config' });
  const [editing, setEditing] = useState<Instance | 'new' | null>(null);
  const [deleting, setDeleting] = useState<Instance | null>(null);
  const [err, setErr] = useState<string | null>(null);
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
                        { label: 'Delete', danger: true, onClick: () => setDeleting(i) },
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
      {deleting ? (
        <Confirm
          title={`Delete instance ${deleting.name}?`}
          danger
          message={<p>It leaves the inventory. An instance used by a server cannot be deleted.</p>}
          confirmLabel="Delete"
          error={err}
          onCancel={() => {
            setDeleting(null);
            setErr(null);
          }}
          onConfirm={async () => {
            try {
              await api.change('DELETE', `/instances/${encodeURIComponent(deleting.id)}`);
              notify(`Instance ${deleting.name} deleted.`);
              setDeleting(null);
              list.reload();
            } catch (e) {
              setErr((e as Error).message);
            }
          }}
        />
      ) : null}
    </main>
  );
}

function UploadDialog({ onClose, onSaved }: { onClose: () => void; onSaved: () => void }) {
  const { api, notify } = useServices();
  const form = useForm(() => ({ name: '', kind: 'server', pem: '', keyPem: '' }));
  const [busy, setBusy] = useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const v = form.values;
    const pem = joinedPem(v, v.kind === 'server');
    setBusy(true);
    try {
      const r = await api.change<Certificate>('POST', '/certificates', {
        name: String(v.name).trim(),
        kind: v.kind,
        pem,
      });
      notify(`Certificate ${r.resource.name ?? ''} uploaded.`);
      onSaved();
    } catch (err) {
      if (err instanceof ApiError)
        applyApiError(form, err, ['name', 'kind', 'pem', 'keyPem'], { key: 'keyPem', keyPem: 'keyPem' });
      else form.setFormError(String(err));
    } finally {
      setBusy(false);
    }
  };
  const isServer = form.values.kind === 'server';
  return (
    <Dialog
      wide
      title="Upload certificate"
      onClose={onClose}
      footer={<FormFooter formId="cert-form" submitLabel="Upload" busy={busy} onCancel={onClose} />}
    >
      <form id="cert-form" noValidate onSubmit={submit} className="grid-form">
        <FormError message={form.formError} />
        <TextField form={form} path="name" label="Name" />
        <SelectField
          form={form}
          path="kind"
          label="Kind"
          options={[
            { value: 'server', label: 'Server certificate and key (https frontends)' },
            { value: 'ca', label: 'CA bundle (verifies backend servers)' },
          ]}
        />
        <PemFields
          form={form}
          pemLabel={isServer ? 'Certificate chain (PEM)' : 'CA bundle (PEM)'}
          keyLabel={isServer ? 'Private key (PEM)' : null}
        />
      </form>
    </Dialog>
  );
}

/**
 * Replaces a certificate's PEM in place (`PUT /api/v1/certificates/{id}` `{ pem }`, T1
 * rotation): same id and kind, so every frontend or backend using it keeps using it. New TLS
 * handshakes use the new certificate at once; open connections keep theirs.
 */
function ReplaceDialog({
  certificate,
  onClose,
  onSaved,
}: {
  certificate: Certificate;
  onClose: () => void;
  onSaved: () => void;
}) {
  const { api, notify } = useServices();
  const form = useForm(() => ({ pem: '', keyPem: '' }));
  const [busy, setBusy] = useState(false);
  const isServer = certificate.kind === 'server';
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const v = form.values;
    const pem = joinedPem(v, isServer);
    if (!String(v.pem).trim()) {
      form.setErrors({ pem: 'paste or read the new PEM' });
      return;
    }
    setBusy(true);
    try {
      const r = await api.change<Certificate>('PUT', `/certificates/${encodeURIComponent(certificate.id)}`, { pem });
      notify(
        `Certificate ${certificate.name} replaced${r.configVersion === null ? '' : ` (version ${r.configVersion})`}: new TLS handshakes use it now; open connections keep the old one.`,
      );
      onSaved();
    } catch (err) {
      if (err instanceof ApiError) applyApiError(form, err, ['pem', 'keyPem'], { key: 'keyPem', keyPem: 'keyPem' });
      else form.setFormError(String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      wide
      title={`Replace certificate ${certificate.name}`}
      onClose={onClose}
      footer={<FormFooter formId="cert-replace-form" submitLabel="Replace" busy={busy} onCancel={onClose} />}
    >
      <form id="cert-replace-form" noValidate onSubmit={submit} className="grid-form">
        <FormError message={form.formError} />
        <p className="notice wide-field">
          Same name, id and kind ({isServer ? 'server certificate' : 'CA bundle'}): everything that uses it keeps using
          it. New TLS handshakes use the new certificate at once; connections already open keep the old one.
        </p>
        <PemFields
          form={form}
          pemLabel={isServer ? 'New certificate chain (PEM)' : 'New CA bundle (PEM)'}
          keyLabel={isServer ? 'New private key (PEM)' : null}
        />
      </form>
    </Dialog>
  );
}

/** The PEM text sent to the API: the certificate (chain), then the private key for a server certificate (T1). */
function joinedPem(v: Record<string, unknown>, isServer: boolean): string {
  return [String(v.pem).trim(), isServer ? String(v.keyPem).trim() : ''].filter(Boolean).join('\n');
}

/**
 * The PEM inputs of a certificate form: form field `pem` (chain or CA bundle) and, when
 * `keyLabel` is given, `keyPem` (private key); each can also be read from a file.
 */
function PemFields({
  form,
  pemLabel,
  keyLabel,
}: {
  form: ReturnType<typeof useForm>;
  pemLabel: string;
  keyLabel: string | null;
}) {
  const fileId = useId();
  const readFile = async (path: 'pem' | 'keyPem', file: File | undefined) => {
    if (file) form.set(path, await file.text());
  };
  return (
    <>
      <PemField
        form={form}
        path="pem"
        label={pemLabel}
        fileId={`${fileId}-c`}
        onFile={(f) => void readFile('pem', f)}
      />
      {keyLabel ? (
        <PemField
          form={form}
          path="keyPem"
          label={keyLabel}
          fileId={`${fileId}-k`}
          onFile={(f) => void readFile('keyPem', f)}
        />
      ) : null}
    </>
  );
}

function PemField({
  form,
  path,
  label,
  fileId,
  onFile,
}: {
  form: ReturnType<typeof useForm>;
  path: string;
  label: string;
  fileId: string;
  onFile: (f: File | undefined) => void;
}) {
  const id = useId();
  const error = form.errors[path];
  return (
    <div className={error ? 'field wide-field has-error' : 'field wide-field'} data-field={path}>
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        rows={6}
        className="mono"
        value={String(form.values[path] ?? '')}
        placeholder="-----BEGIN …-----"
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(e) => form.set(path, e.target.value)}
      />
      <label htmlFor={fileId} className="small">
        or read from a file
      </label>
      <input
        id={fileId}
        type="file"
        accept=".pem,.crt,.cer,.key,text/plain"
        onChange={(e) => onFile(e.target.files?.[0])}
      />
      {error ? (
        <small id={`${id}-error`} className="field-error" role="alert">
          {error}
        </small>
      ) : null}
    </div>
  );
}

export function CertificatesPage() {
  const { api, notify, can } = useServices();
  const now = useNow(60_000);
  const list = useLoad(async (a, s) => {
    try {
      return { certs: await a.list<Certificate>('/certificates', s), available: true };
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return { certs: [] as Certificate[], available: false };
      throw e;
    }
  }, []);
  const [uploading, setUploading] = useState(false);
  const [deleting, setDeleting] = useState<Certificate | null>(null);
  const [replacing, setReplacing] = useState<Certificate | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const data = list.data;
  return (
    <main className="page" aria-labelledby="page-title">
      <div className="page-head">
        <h1 id="page-title">Certificates</h1>
        {can.changeConfig ? (
          <button
            type="button"
            className="primary"
            disabled={data?.available === false}
            onClick={() => setUploading(true)}
          >
            Upload certificate
          </button>
        ) : null}
      </div>
      <LoadState loading={list.loading && !data} error={list.error} what="certificates" />
      {data?.available === false ? (
        <p className="notice" role="status">
          Certificates are not available from this API yet (GET /api/v1/certificates answered 404).
        </p>
      ) : null}
      {data?.available && data.certs.length === 0 ? <p className="muted">No certificates yet.</p> : null}
      {data?.available && data.certs.length > 0 ? (
        <DataTable
          columns={['Name', 'Kind', 'Subjects', 'Issuer', 'Expiry', can.changeConfig && 'Actions']}
          rows={data.certs}
          row={(c) => {
            const x = certificateExpiry(c, now);
            return (
              <tr key={c.id}>
                <th scope="row">{c.name}</th>
                <td>{c.kind === 'ca' ? 'CA bundle' : 'server'}</td>
                <td>{c.subjects.join(', ') || '—'}</td>
                <td>{c.issuer || '—'}</td>
                <td>
                  <Badge tone={x.level === 'ok' ? 'ok' : x.level === 'warning' ? 'warn' : 'bad'} title={c.notAfter}>
                    {x.text}
                  </Badge>
                  {c.warnings.length ? (
                    <ul className="cert-warnings">
                      {c.warnings.map((w) => (
                        <li key={w}>⚠ {w}</li>
                      ))}
                    </ul>
                  ) : null}
                </td>
                {can.changeConfig ? (
                  <RowActions
                    name={c.name}
                    actions={[
                      { label: 'Replace', onClick: () => setReplacing(c) },
                      { label: 'Delete', danger: true, onClick: () => setDeleting(c) },
                    ]}
                  />
                ) : null}
              </tr>
            );
          }}
        />
      ) : null}
      {uploading ? (
        <UploadDialog
          onClose={() => setUploading(false)}
          onSaved={() => {
            setUploading(false);
            list.reload();
          }}
        />
      ) : null}
      {replacing ? (
        <ReplaceDialog
          certificate={replacing}
          onClose={() => setReplacing(null)}
          onSaved={() => {
            setReplacing(null);
            list.reload();
          }}
        />
      ) : null}
      {deleting ? (
        <Confirm
          title={`Delete certificate ${deleting.name}?`}
          danger
          message={<p>A certificate used by a frontend or a backend cannot be deleted.</p>}
          confirmLabel="Delete"
          error={err}
          onCancel={() => {
            setDeleting(null);
            setErr(null);
          }}
          onConfirm={async () => {
            try {
              await api.change('DELETE', `/certificates/${encodeURIComponent(deleting.id)}`);
              notify(`Certificate ${deleting.name} deleted.`);
              setDeleting(null);
              list.reload();
            } catch (e) {
              setErr((e as Error).message);
            }
          }}
        />
      ) : null}
    </main>
  );
}
