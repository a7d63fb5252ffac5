/**
 * Create / edit a backend (issue point 4; SPEC F3, H1–H5, H7, P1–P2, SS1–SS6, T2–T3, S3, U1; seed 003):
 * every health-check field with its default shown, slow-start rules explained inline.
 */
import { useState } from 'react';
import { Algorithms, Modes, ServerTypes } from '../../../src/config/model.ts';
import { useForm } from '../hooks.ts';
import {
  AlgorithmLabels,
  BackendFields,
  backendPayload,
  backendValues,
  checkSettingsPrefix,
  defaultHint,
  healthCheckTypes,
  newBackendValues,
  persistenceTypes,
  portForCheck,
  SlowStartRules,
  slowStartBlockers,
} from '../lib/backend-form.ts';
import { ServerTypePresets } from '../lib/server-form.ts';
import type { Backend, Certificate, HealthCheckType, Mode, ServerType } from '../lib/types.ts';
import { CheckField, Dialog, FormError, FormFooter, SelectField, TextField, useSave } from './ui.tsx';

export interface BackendDialogProps {
  loadBalancerId: string;
  backend?: Backend;
  certificates: readonly Certificate[];
  onClose: () => void;
  onSaved: (b: Backend, configVersion: number | null, created: boolean) => void;
  /** The mode a new backend starts with (the frontend dialog passes its protocol's). */
  initialMode?: Mode;
}

const d = (path: string, mode: Mode) => {
  const v = defaultHint(path, mode);
  return v === undefined ? undefined : `default ${v}`;
};

export function BackendDialog({
  loadBalancerId,
  backend,
  certificates,
  onClose,
  onSaved,
  initialMode,
}: BackendDialogProps) {
  const form = useForm(() => (backend ? backendValues(backend) : newBackendValues(initialMode ?? 'http')));
  const { busy, upsert } = useSave(form, BackendFields);
  const [preset, setPreset] = useState('');
  const v = form.values;
  const mode = String(v.mode) as Mode;
  const checkType = String(v['healthCheck.type']) as HealthCheckType;
  const blockers = slowStartBlockers(mode, String(v.algorithm));
  const prefix = checkSettingsPrefix(checkType);
  const persistence = String(v['persistence.type']);
  const hcOn = v['healthCheck.enabled'] === true;
  const odOn = v['outlierDetection.enabled'] === true;

  const applyPreset = (t: string) => {
    setPreset(t);
    if (!t) return;
    const next = newBackendValues('http', t as ServerType);
    const keep = ['name', ...[...form.touched].filter((p) => p !== 'mode' && p !== 'port' && p !== 'healthCheck.type')];
    const patch = { ...next };
    for (const k of keep) if (k in v) patch[k] = v[k] as string | boolean;
    form.setMany(patch);
  };
  const onMode = (m: string) => {
    const types = healthCheckTypes(m);
    const patch: Record<string, string | boolean> = {};
    if (!types.includes(checkType)) patch['healthCheck.type'] = types[0] as string;
    if (!persistenceTypes(m).includes(persistence)) patch['persistence.type'] = 'none';
    if (m !== 'http' && v['slowStart.enabled'] === true) patch['slowStart.enabled'] = false;
    form.setMany(patch);
  };
  // A service check suggests its usual port (postgres 5432, mysql 3306, redis 6379) until the operator types one.
  const onCheckType = (t: string) => {
    const p = portForCheck(t as HealthCheckType);
    if (!form.touched.has('port') && !backend && p) form.setMany({ port: p });
  };

  /**
   * A number field whose hint names the default for this mode (`x`, e.g. "default 5");
   * `hint` wraps it with the range or the rule.
   */
  const numberField = (path: string, label: string, disabled = false, hint = (x: string | undefined) => x) => (
    <TextField
      form={form}
      path={path}
      label={label}
      type="number"
      disabled={disabled || undefined}
      hint={hint(d(path, mode))}
    />
  );

  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    void upsert<Backend>({
      prepared: backendPayload(v, backend),
      editing: !!backend,
      path: backend ? `/backends/${encodeURIComponent(backend.id)}` : '/backends',
      create: { loadBalancerId },
      onSaved,
      onUnchanged: onClose,
      // If-Match (issue 15): a backend changed meanwhile answers 412 instead of being overwritten.
      ...(backend?.version !== undefined ? { ifMatch: backend.version } : {}),
    });
  };

  const cas = certificates.filter((c) => c.kind === 'ca');
  return (
    <Dialog
      wide
      title={backend ? `Edit backend ${backend.name}` : 'Create backend'}
      onClose={onClose}
      footer={
        <FormFooter
          formId="backend-form"
          submitLabel={backend ? 'Save backend' : 'Create backend'}
          busy={busy}
          onCancel={onClose}
        />
      }
    >
      <form id="backend-form" noValidate onSubmit={submit}>
        <FormError message={form.formError} />
        <fieldset className="grid-form">
          <legend>Basic information</legend>
          {!backend ? (
            <div className="field wide-field">
              <label htmlFor="backend-preset">Suggest settings for a server type</label>
              <select id="backend-preset" value={preset} onChange={(e) => applyPreset(e.target.value)}>
                <option value="">No suggestion</option>
                {ServerTypes.map((t) => (
                  <option key={t} value={t}>
                    {ServerTypePresets[t].label} — {ServerTypePresets[t].hint}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
          <TextField form={form} path="name" label="Name" />
          <SelectField
            form={form}
            path="mode"
            label="Mode"
            disabled={!!backend}
            hint="frontends use backends of the same mode; http and https frontends use http backends"
            options={Modes.map((m) => ({ value: m, label: m.toUpperCase() }))}
            onChange={onMode}
          />
          <SelectField
            form={form}
            path="algorithm"
            label="Load balancing method"
            options={Algorithms.map((a) => ({ value: a, label: AlgorithmLabels[a] }))}
          />
          <TextField
            form={form}
            path="port"
            label="Default server port"
            type="number"
            hint="used by servers without their own port"
          />
          {numberField(
            'drainTimeoutSeconds',
            'Drain timeout (seconds)',
            false,
            (x) => `${x}; open connections of a removed or disabled server may finish this long`,
          )}
        </fieldset>

        <fieldset className="grid-form">
          <legend>Session persistence</legend>
          <SelectField
            form={form}
            path="persistence.type"
            label="Persistence"
            options={persistenceTypes(mode).map((t) => ({ value: t, label: t }))}
            hint={
              mode === 'http'
                ? 'cookie and app-cookie persistence work in http mode only'
                : `cookie and app-cookie persistence need an http backend; this one is ${mode}`
            }
          />
          {persistence === 'cookie' || persistence === 'app-cookie' ? (
            <TextField
              form={form}
              path="persistence.cookieName"
              label="Cookie name"
              placeholder={persistence === 'cookie' ? 'FULCRUM_SRV' : 'JSESSIONID'}
              hint={persistence === 'cookie' ? 'default FULCRUM_SRV' : "the application's cookie"}
            />
          ) : null}
          {persistence !== 'none' ? numberField('persistence.timeoutSeconds', 'Session timeout (seconds)') : null}
        </fieldset>

        <fieldset className="grid-form">
          <legend>Health check</legend>
          <CheckField
            form={form}
            path="healthCheck.enabled"
            label="Health check enabled"
            hint="with the health check off, servers count as healthy at once"
          />
          <SelectField
            form={form}
            path="healthCheck.type"
            label="Check type"
            disabled={!hcOn}
            options={healthCheckTypes(mode).map((t) => ({ value: t, label: t }))}
            onChange={onCheckType}
          />
          <TextField
            form={form}
            path="healthCheck.port"
            label="Check port"
            type="number"
            disabled={!hcOn}
            hint="empty: the check uses each server's own port"
          />
          {numberField('healthCheck.intervalSeconds', 'Interval (seconds)', !hcOn)}
          {numberField('healthCheck.timeoutSeconds', 'Timeout (seconds)', !hcOn)}
          {numberField('healthCheck.rise', 'Rise (successes to become healthy)', !hcOn)}
          {numberField('healthCheck.fall', 'Fall (failures to become unhealthy)', !hcOn)}
          {prefix === 'healthCheck.http.' ? (
            <>
              <TextField
                form={form}
                path="healthCheck.http.method"
                label="HTTP method"
                disabled={!hcOn}
                hint="default GET"
              />
              <TextField form={form} path="healthCheck.http.path" label="HTTP path" disabled={!hcOn} hint="default /" />
              <TextField
                form={form}
                path="healthCheck.http.host"
                label="Host header"
                disabled={!hcOn}
                hint="default: the server address"
              />
              <TextField
                form={form}
                path="healthCheck.http.expectedCodes"
                label="Expected status codes"
                disabled={!hcOn}
                hint="default 200-399 (any 2xx or 3xx); a list and ranges such as 200,204,300-399"
              />
            </>
          ) : null}
          {prefix === 'healthCheck.mysql.' ? (
            <TextField form={form} path="healthCheck.mysql.user" label="MySQL user" disabled={!hcOn} />
          ) : null}
          {prefix === 'healthCheck.postgres.' ? (
            <>
              <TextField form={form} path="healthCheck.postgres.user" label="PostgreSQL user" disabled={!hcOn} />
              <TextField
                form={form}
                path="healthCheck.postgres.database"
                label="PostgreSQL database"
                disabled={!hcOn}
              />
            </>
          ) : null}
          {prefix === 'healthCheck.udp.' ? (
            <>
              <TextField form={form} path="healthCheck.udp.send" label="Datagram to send" disabled={!hcOn} />
              <TextField
                form={form}
                path="healthCheck.udp.expect"
                label="Expected reply"
                disabled={!hcOn}
                hint="empty = any reply"
              />
            </>
          ) : null}
        </fieldset>

        <fieldset className="grid-form">
          <legend>Slow start</legend>
          <CheckField
            form={form}
            path="slowStart.enabled"
            label="Slow start enabled"
            disabled={blockers.length > 0 && v['slowStart.enabled'] !== true}
            hint={blockers.length ? blockers.join(' ') : undefined}
          />
          {numberField(
            'slowStart.durationSeconds',
            'Slow start duration (seconds)',
            v['slowStart.enabled'] !== true,
            (x) => `30–1200, ${x}`,
          )}
          <ul className="rules wide-field" aria-label="Slow start rules">
            {SlowStartRules.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        </fieldset>

        <fieldset className="grid-form">
          <legend>Backend TLS</legend>
          <CheckField
            form={form}
            path="tls.enabled"
            label="Encrypt to servers (TLS)"
            hint="servers with SSL Offload on still receive plain traffic"
          />
          <SelectField
            form={form}
            path="tls.caCertificateId"
            label="CA certificate"
            disabled={v['tls.enabled'] !== true}
            hint={
              cas.length
                ? 'the CA bundle that verifies the servers’ certificates'
                : 'upload a CA certificate on the Certificates page'
            }
            options={[{ value: '', label: 'System trust store' }, ...cas.map((c) => ({ value: c.id, label: c.name }))]}
          />
          <TextField
            form={form}
            path="tls.sni"
            label="SNI server name"
            disabled={v['tls.enabled'] !== true}
            hint="default: none"
          />
          <CheckField
            form={form}
            path="tls.verify"
            label="Verify server certificates"
            disabled={v['tls.enabled'] !== true}
            hint="default on"
          />
        </fieldset>

        {mode !== 'udp' ? (
          <fieldset className="grid-form">
            <legend>PROXY protocol to the servers</legend>
            <SelectField
              form={form}
              path="proxyProtocol"
              label="Send a PROXY header"
              options={[
                { value: '', label: 'Off' },
                { value: 'v1', label: 'Version 1 (text)' },
                { value: 'v2', label: 'Version 2 (binary)' },
              ]}
              hint="default off; servers see the client's address (nginx: listen … proxy_protocol). HTTP connections that sent one are reused only for the same client connection"
            />
            <CheckField
              form={form}
              path="healthCheck.proxyProtocol"
              label="Health checks send it too"
              disabled={v.proxyProtocol === '' || !hcOn}
              hint="default off; LOCAL (v2) or UNKNOWN (v1), for servers that require the header"
            />
          </fieldset>
        ) : null}

        {mode !== 'udp' ? (
          <fieldset className="grid-form">
            <legend>Discovery (DNS SRV)</legend>
            <TextField
              form={form}
              path="discovery.name"
              label="SRV name"
              placeholder="_http._tcp.api.internal"
              hint="optional: one server per SRV record (its target's address, port and weight), followed as the records change"
            />
            <TextField
              form={form}
              path="discovery.resolver"
              label="DNS server"
              placeholder="10.0.0.2:53"
              hint="IP:port; default the one Fulcrum was started with (--resolver) or the system's"
            />
          </fieldset>
        ) : null}

        <fieldset className="grid-form">
          <legend>Timeouts</legend>
          {numberField('timeouts.connectSeconds', 'Connect timeout (seconds)')}
          {numberField('timeouts.responseSeconds', 'Response timeout (seconds)')}
          {mode === 'udp' ? (
            <>
              {numberField(
                'udpTimeoutSeconds',
                'UDP flow idle timeout (seconds)',
                false,
                (x) => `1–3600, ${x}; a client flow keeps its server until idle this long`,
              )}
              {numberField('maxFlows', 'Max UDP flows', false, (x) => `client flows tracked at once, ${x}`)}
            </>
          ) : null}
        </fieldset>

        <fieldset className="grid-form">
          <legend>Outlier detection (passive health)</legend>
          <CheckField
            form={form}
            path="outlierDetection.enabled"
            label="Eject servers that keep failing"
            hint={`${d('outlierDetection.enabled', mode)}; failed real requests or connections count`}
          />
          {numberField(
            'outlierDetection.consecutiveFailures',
            'Consecutive failures to eject',
            !odOn,
            (x) => `1–1000, ${x}`,
          )}
          {numberField(
            'outlierDetection.baseEjectionSeconds',
            'Base ejection time (seconds)',
            !odOn,
            (x) => `doubles with each ejection, ${x}`,
          )}
          {numberField('outlierDetection.maxEjectionSeconds', 'Max ejection time (seconds)', !odOn)}
          {numberField('outlierDetection.maxEjectionPercent', 'Max ejected servers (%)', !odOn, (x) => `0–100, ${x}`)}
        </fieldset>

        <fieldset className="grid-form">
          <legend>Queue (servers at their max connections)</legend>
          {numberField(
            'queue.maxLength',
            'Queue length',
            false,
            (x) =>
              `${x} = off; when every server is at its max connections, this many requests (tcp: connections) wait, first come first served`,
          )}
          {numberField(
            'queue.timeoutSeconds',
            'Queue timeout (seconds)',
            false,
            (x) => `1–3600, ${x}; a request waiting longer gets 503 (tcp: closed)`,
          )}
        </fieldset>
      </form>
    </Dialog>
  );
}
