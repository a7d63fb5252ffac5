/**
 * Create / edit a frontend (issue point 3; SPEC F1, F2, F4, T1, T4): every
 * routing-rule condition, redirect to https, TLS passthrough with SNI rules, limits and timeouts.
 */
import { useState } from 'react';
import { useForm } from '../hooks.ts';
import {
  backendsFor,
  emptyRuleRow,
  frontendErrorTarget,
  frontendPayload,
  frontendValues,
  moveItem,
  newFrontendValues,
  protocolsFor,
  type RuleRow,
  ruleRows,
  type SniRow,
  sniRows,
} from '../lib/frontend-form.ts';
import type { Backend, Certificate, Frontend, LoadBalancer } from '../lib/types.ts';
import { BackendDialog } from './backend-dialog.tsx';
import { CheckField, Dialog, FormError, FormFooter, SelectField, TextField, useSave } from './ui.tsx';

export interface FrontendDialogProps {
  loadBalancer: LoadBalancer;
  frontend?: Frontend;
  backends: readonly Backend[];
  certificates: readonly Certificate[];
  onClose: () => void;
  onSaved: (f: Frontend, configVersion: number | null, created: boolean) => void;
}

export function FrontendDialog({
  loadBalancer,
  frontend,
  backends,
  certificates,
  onClose,
  onSaved,
}: FrontendDialogProps) {
  const form = useForm(() => (frontend ? frontendValues(frontend) : newFrontendValues()));
  // "Create or select a backend" (issue 16): a backend created from here is chosen at once.
  const [creatingBackend, setCreatingBackend] = useState(false);
  const [created, setCreated] = useState<Backend[]>([]);
  backends = [...backends, ...created.filter((c) => !backends.some((b) => b.id === c.id))];
  const [certIds, setCertIds] = useState<string[]>(() => [...(frontend?.certificateIds ?? [])]);
  const [rules, setRules] = useState<RuleRow[]>(() => (frontend ? ruleRows(frontend) : []));
  const [sni, setSni] = useState<SniRow[]>(() => (frontend ? sniRows(frontend) : []));
  const v = form.values;
  const protocol = String(v.protocol);
  const usable = backendsFor(protocol, backends);
  const serverCerts = certificates.filter((c) => c.kind === 'server');

  const onProtocol = (p: string) => {
    const ok = backendsFor(p, backends);
    if (!ok.some((b) => b.id === v.defaultBackendId)) form.setMany({ defaultBackendId: ok[0]?.id ?? '' });
  };

  // The dialog scrolls: bring the first message (beside its field, or at the top) into view.
  const revealError = () =>
    requestAnimationFrame(() =>
      document
        .querySelector('#frontend-form .field-error, #frontend-form .form-error')
        ?.scrollIntoView({ block: 'center' }),
    );
  const { busy, upsert } = useSave(form, (err) => {
    const target = frontendErrorTarget(err.field) ?? (err.field === 'backendId' ? 'defaultBackendId' : null);
    form.setErrors(target ? { [target]: err.message } : {});
    form.setFormError(target ? null : err.message);
    revealError();
  });

  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    void upsert<Frontend>({
      prepared: frontendPayload(v, certIds, rules, frontend, sni),
      editing: !!frontend,
      path: frontend ? `/frontends/${encodeURIComponent(frontend.id)}` : '/frontends',
      create: { loadBalancerId: loadBalancer.id },
      onSaved,
      onUnchanged: onClose,
      onInvalid: revealError,
      // If-Match (issue 15): a frontend changed meanwhile answers 412 instead of being overwritten.
      ...(frontend?.version !== undefined ? { ifMatch: frontend.version } : {}),
    });
  };

  const setRule = (i: number, patch: Partial<RuleRow>) =>
    setRules((rs) => rs.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  /** One text condition of routing rule `i` (F4): a labelled input and its error (`errPath`). */
  const ruleText = (
    i: number,
    r: RuleRow,
    key: 'host' | 'pathPrefix' | 'path' | 'method' | 'headerName' | 'headerValue',
    label: string,
    placeholder: string,
    errPath: string | null,
    list?: string,
  ) => (
    <label>
      {label}
      <input
        value={r[key]}
        placeholder={placeholder}
        list={list}
        onChange={(e) => setRule(i, { [key]: e.target.value })}
      />
      {errPath ? err(errPath) : null}
    </label>
  );
  /** The Backend select of a routing rule or an SNI rule: the backends this frontend may use, and its error. */
  const backendSelect = (value: string, onChange: (backendId: string) => void, errPath: string) => (
    <label>
      Backend
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">Choose…</option>
        {usable.map((b) => (
          <option key={b.id} value={b.id}>
            {b.name}
          </option>
        ))}
      </select>
      {err(errPath)}
    </label>
  );
  const setSniRow = (i: number, patch: Partial<SniRow>) =>
    setSni((rs) => rs.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const err = (key: string) =>
    form.errors[key] ? (
      <small className="field-error" role="alert">
        {form.errors[key]}
      </small>
    ) : null;

  if (creatingBackend) {
    return (
      <BackendDialog
        loadBalancerId={loadBalancer.id}
        certificates={certificates}
        initialMode={protocol === 'tcp' || protocol === 'udp' ? protocol : 'http'}
        onClose={() => setCreatingBackend(false)}
        onSaved={(b) => {
          setCreated((list) => [...list, b]);
          form.setMany({ defaultBackendId: b.id });
          setCreatingBackend(false);
        }}
      />
    );
  }
  return (
    <Dialog
      wide
      title={frontend ? `Edit frontend ${frontend.name}` : 'Create frontend'}
      onClose={onClose}
      footer={
        <FormFooter
          formId="frontend-form"
          submitLabel={frontend ? 'Save frontend' : 'Create frontend'}
          busy={busy}
          onCancel={onClose}
        />
      }
    >
      <form id="frontend-form" noValidate onSubmit={submit}>
        <FormError message={form.formError} />
        <fieldset className="grid-form">
          <legend>Listener</legend>
          <TextField form={form} path="name" label="Name" />
          <SelectField
            form={form}
            path="protocol"
            label="Protocol"
            options={protocolsFor(loadBalancer).map((p) => ({ value: p, label: p.toUpperCase() }))}
            hint={
              loadBalancer.ipAsBackend
                ? 'IP as backend is on: only tcp, http and https frontends are allowed'
                : undefined
            }
            onChange={onProtocol}
          />
          <TextField
            form={form}
            path="bindAddress"
            label="Bind address"
            hint="default 127.0.0.1; 0.0.0.0 for every interface"
          />
          <TextField form={form} path="port" label="Port" type="number" hint="1–65535" />
          <SelectField
            form={form}
            path="defaultBackendId"
            label="Default backend"
            hint={
              usable.length
                ? `${protocol} frontends use ${protocol === 'https' ? 'http' : protocol} backends`
                : `no ${protocol === 'https' ? 'http' : protocol} backend yet: create one first`
            }
            options={[
              { value: '', label: 'None (not listening)' },
              ...usable.map((b) => ({ value: b.id, label: b.name })),
            ]}
          />
          <div className="field">
            <button type="button" onClick={() => setCreatingBackend(true)}>
              Create backend…
            </button>
          </div>
          <CheckField form={form} path="enabled" label="Enabled" />
          <TextField form={form} path="maxConnections" label="Max connections" type="number" hint="0 = unlimited" />
          <TextField
            form={form}
            path="timeouts.requestHeaderSeconds"
            label="Request header timeout (seconds)"
            type="number"
            hint="default 10"
          />
          <TextField
            form={form}
            path="timeouts.clientIdleSeconds"
            label="Client idle timeout (seconds)"
            type="number"
            hint="default 60"
          />
        </fieldset>
        {protocol === 'https' ? (
          <fieldset className="checks" data-field="certificateIds">
            <legend>Certificates (chosen by SNI)</legend>
            {serverCerts.length === 0 ? (
              <p className="muted">No server certificates yet: upload one on the Certificates page.</p>
            ) : null}
            {serverCerts.map((c) => (
              <label key={c.id}>
                <input
                  type="checkbox"
                  checked={certIds.includes(c.id)}
                  onChange={(e) =>
                    setCertIds((ids) => (e.target.checked ? [...ids, c.id] : ids.filter((x) => x !== c.id)))
                  }
                />{' '}
                {c.name} <span className="muted">({c.subjects.join(', ')})</span>
              </label>
            ))}
            {form.errors.certificateIds ? (
              <small className="field-error" role="alert">
                {form.errors.certificateIds}
              </small>
            ) : null}
          </fieldset>
        ) : null}
        {protocol === 'http' ? (
          <fieldset className="grid-form">
            <legend>Redirect</legend>
            <CheckField
              form={form}
              path="redirectToHttps"
              label="Redirect every request to https (308)"
              hint="answers 308 to the same host and path on this load balancer's https frontend instead of forwarding; needs an enabled https frontend"
            />
          </fieldset>
        ) : null}
        {protocol !== 'udp' ? (
          <fieldset className="grid-form">
            <legend>Behind another proxy</legend>
            <TextField
              form={form}
              path="trustedProxies"
              label="Trusted proxies (CIDRs)"
              hint="comma-separated, e.g. 10.0.0.0/8, ::1/128; http: their X-Forwarded-For is kept. Default none"
            />
            <CheckField
              form={form}
              path="acceptProxyProtocol"
              label="Require a PROXY header (v1 or v2) from the trusted proxies"
              hint="its address becomes the client address; other sources and bad headers are closed. Default off"
            />
          </fieldset>
        ) : null}
        {protocol === 'tcp' ? (
          <fieldset data-field="sniRules">
            <legend>TLS passthrough</legend>
            <CheckField
              form={form}
              path="tlsPassthrough"
              label="TLS passthrough: route by the ClientHello server name (SNI)"
              hint="the TLS stream is forwarded untouched; names without a rule go to the default backend"
            />
            {v.tlsPassthrough === true ? (
              <>
                {sni.map((r, i) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their position.
                  <div className="rule-row" key={i} data-sni-row={i}>
                    <label>
                      Server name
                      <input
                        value={r.serverName}
                        placeholder="db.example.com"
                        onChange={(e) => setSniRow(i, { serverName: e.target.value })}
                      />
                      {err(`sniRules.${i}.serverName`)}
                    </label>
                    {backendSelect(r.backendId, (backendId) => setSniRow(i, { backendId }), `sniRules.${i}.backendId`)}
                    <button
                      type="button"
                      aria-label={`Remove SNI rule ${i + 1}`}
                      onClick={() => setSni((rs) => rs.filter((_, j) => j !== i))}
                    >
                      Remove
                    </button>
                  </div>
                ))}
                <button type="button" onClick={() => setSni((rs) => [...rs, { serverName: '', backendId: '' }])}>
                  Add SNI rule
                </button>
              </>
            ) : null}
            {err('sniRules')}
          </fieldset>
        ) : null}
        {protocol === 'http' || protocol === 'https' ? (
          <fieldset data-field="rules">
            <legend>Routing rules (in order, the first match wins; the default backend last)</legend>
            <p className="muted small">Every condition given in a rule must match; empty conditions are ignored.</p>
            {rules.map((r, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their position.
              <fieldset className="rule-card" key={i} data-rule-row={i}>
                <legend>Rule {i + 1}</legend>
                <div className="rule-head">
                  <span className="rule-buttons">
                    <button
                      type="button"
                      aria-label={`Move rule ${i + 1} up`}
                      disabled={i === 0}
                      onClick={() => setRules((rs) => moveItem(rs, i, -1))}
                    >
                      ↑
                    </button>
                    <button
                      type="button"
                      aria-label={`Move rule ${i + 1} down`}
                      disabled={i === rules.length - 1}
                      onClick={() => setRules((rs) => moveItem(rs, i, 1))}
                    >
                      ↓
                    </button>
                    <button
                      type="button"
                      aria-label={`Remove rule ${i + 1}`}
                      onClick={() => setRules((rs) => rs.filter((_, j) => j !== i))}
                    >
                      Remove rule
                    </button>
                  </span>
                </div>
                <div className="rule-grid">
                  {ruleText(i, r, 'host', 'Host', 'api.example.com', `rules.${i}.host`)}
                  {ruleText(i, r, 'pathPrefix', 'Path prefix', '/api', `rules.${i}.pathPrefix`)}
                  {ruleText(i, r, 'path', 'Exact path', '/login', `rules.${i}.path`)}
                  {ruleText(i, r, 'method', 'Method', 'any', `rules.${i}.method`, 'http-methods')}
                  {ruleText(i, r, 'headerName', 'Header name', 'X-Canary', `rules.${i}.header`)}
                  {ruleText(i, r, 'headerValue', 'Header value', 'exact value', null)}
                  {backendSelect(r.backendId, (backendId) => setRule(i, { backendId }), `rules.${i}.backendId`)}
                </div>
                {r.extraMatch ? (
                  <p className="muted small">
                    Also matches on {Object.keys(r.extraMatch).join(', ')} (kept as is; edit through the API).
                  </p>
                ) : null}
                {err(`rules.${i}`)}
              </fieldset>
            ))}
            <datalist id="http-methods">
              {['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => (
                <option key={m} value={m} />
              ))}
            </datalist>
            <button type="button" onClick={() => setRules((rs) => [...rs, emptyRuleRow()])}>
              Add rule
            </button>
            {err('rules')}
          </fieldset>
        ) : null}
      </form>
    </Dialog>
  );
}
