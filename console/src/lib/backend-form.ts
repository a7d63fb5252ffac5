/**
 * The backend dialog's logic (SPEC F2, F3, H1–H5, H7, P1–P2, SS1–SS6, T2–T3, S3, U1; seed 003):
 * every field with its default, the slow-start rules, form values ↔ payload.
 */
import { defaultBackend, defaultBackendQueue } from '../../../src/config/defaults.ts';
import {
  changedOnly,
  type FieldErrors,
  type FieldSpec,
  type FormValues,
  getPath,
  toPayload,
  valuesFrom,
} from './form.ts';
import { ServerTypePresets, usualPort } from './server-form.ts';
import type { Algorithm, HealthCheckType, Mode, Protocol, ServerType, StoredBackend } from './types.ts';

const SPECS: readonly FieldSpec[] = [
  { path: 'name', kind: 'text' },
  { path: 'mode', kind: 'text' },
  { path: 'algorithm', kind: 'text' },
  { path: 'port', kind: 'optInt' },
  { path: 'drainTimeoutSeconds', kind: 'int' },
  { path: 'persistence.type', kind: 'text' },
  { path: 'persistence.cookieName', kind: 'omitText' },
  { path: 'persistence.timeoutSeconds', kind: 'int' },
  { path: 'healthCheck.enabled', kind: 'bool' },
  { path: 'healthCheck.type', kind: 'text' },
  { path: 'healthCheck.port', kind: 'optInt' },
  { path: 'healthCheck.intervalSeconds', kind: 'int' },
  { path: 'healthCheck.timeoutSeconds', kind: 'int' },
  { path: 'healthCheck.rise', kind: 'int' },
  { path: 'healthCheck.fall', kind: 'int' },
  { path: 'healthCheck.http.method', kind: 'text' },
  { path: 'healthCheck.http.path', kind: 'text' },
  { path: 'healthCheck.http.host', kind: 'omitText' },
  { path: 'healthCheck.http.expectedCodes', kind: 'text' },
  { path: 'healthCheck.mysql.user', kind: 'text' },
  { path: 'healthCheck.postgres.user', kind: 'text' },
  { path: 'healthCheck.postgres.database', kind: 'text' },
  { path: 'healthCheck.udp.send', kind: 'text' },
  { path: 'healthCheck.udp.expect', kind: 'omitText' },
  { path: 'slowStart.enabled', kind: 'bool' },
  { path: 'slowStart.durationSeconds', kind: 'int' },
  { path: 'tls.enabled', kind: 'bool' },
  { path: 'tls.caCertificateId', kind: 'optText' },
  { path: 'tls.sni', kind: 'optText' },
  { path: 'tls.verify', kind: 'bool' },
  { path: 'timeouts.connectSeconds', kind: 'int' },
  { path: 'timeouts.responseSeconds', kind: 'int' },
  { path: 'udpTimeoutSeconds', kind: 'int' },
  { path: 'maxFlows', kind: 'int' },
  { path: 'outlierDetection.enabled', kind: 'bool' },
  { path: 'outlierDetection.consecutiveFailures', kind: 'int' },
  { path: 'outlierDetection.baseEjectionSeconds', kind: 'int' },
  { path: 'outlierDetection.maxEjectionSeconds', kind: 'int' },
  { path: 'outlierDetection.maxEjectionPercent', kind: 'int' },
  { path: 'queue.maxLength', kind: 'int' },
  { path: 'queue.timeoutSeconds', kind: 'int' },
  { path: 'proxyProtocol', kind: 'optText' },
  { path: 'healthCheck.proxyProtocol', kind: 'bool' },
  { path: 'discovery.name', kind: 'omitText' },
  { path: 'discovery.resolver', kind: 'omitText' },
];

/**
 * The form's `discovery` (name, resolver) as the API takes it (issue 15 point 2): null without
 * a name, else `{ type: "dns-srv", name, resolver? }` keeping the stored `overrides`.
 */
function discoveryPayload(payload: Record<string, unknown>, original?: StoredBackend): void {
  const d = payload.discovery as { name?: string; resolver?: string } | undefined;
  if (!d?.name) {
    payload.discovery = null;
    return;
  }
  const overrides = (original as { discovery?: { overrides?: unknown } | null } | undefined)?.discovery?.overrides;
  payload.discovery = {
    type: 'dns-srv',
    name: d.name,
    ...(d.resolver ? { resolver: d.resolver } : {}),
    ...(overrides ? { overrides } : {}),
  };
}

/** The dialog's field paths (API error `field`s shown beside these inputs). */
export const BackendFields: readonly string[] = SPECS.map((s) => s.path);

/** Sub-settings per health check type; values for other types are kept in the form but not sent. */
const CHECK_SETTINGS: Record<string, HealthCheckType[]> = {
  'healthCheck.http.': ['http', 'https'],
  'healthCheck.mysql.': ['mysql'],
  'healthCheck.postgres.': ['postgres'],
  'healthCheck.udp.': ['udp'],
};

/** Default values of every field for a mode (from src/config/defaults.ts, the one source). */
export function backendDefaults(mode: Mode): FormValues {
  const b = { ...defaultBackend('', '', '', mode), queue: defaultBackendQueue() };
  const v = valuesFrom(SPECS, b);
  // Settings of the other check types, so switching the type shows sensible values.
  v['healthCheck.http.method'] ||= 'GET';
  v['healthCheck.http.path'] ||= '/';
  v['healthCheck.http.expectedCodes'] ||= '200-399';
  v['healthCheck.mysql.user'] ||= 'fulcrum';
  v['healthCheck.postgres.user'] ||= 'fulcrum';
  v['healthCheck.postgres.database'] ||= 'postgres';
  v['healthCheck.udp.send'] ||= 'ping';
  v['persistence.cookieName'] ||= '';
  return v;
}

/** The default shown beside a field ("default 5"); undefined when the field has none. */
export function defaultHint(path: string, mode: Mode = 'http'): string | undefined {
  const v = getPath({ ...defaultBackend('', '', '', mode), queue: defaultBackendQueue() }, path);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return String(v);
}

/** Values for a new backend, optionally shaped by what a server type suggests (issue point 6). */
export function newBackendValues(mode: Mode = 'http', serverType?: ServerType): FormValues {
  if (serverType) {
    const preset = ServerTypePresets[serverType];
    const v = backendDefaults(preset.mode);
    v['healthCheck.type'] = preset.healthCheck;
    v.port = preset.port === null ? '' : String(preset.port);
    return v;
  }
  return backendDefaults(mode);
}

/** Values for editing an existing backend: its values over the defaults of its mode. */
export function backendValues(backend: StoredBackend): FormValues {
  const v = backendDefaults(backend.mode);
  const own = valuesFrom(SPECS, backend);
  for (const [k, val] of Object.entries(own)) {
    const sub = Object.keys(CHECK_SETTINGS).find((p) => k.startsWith(p));
    // keep the defaults for sub-settings the backend does not have
    if (sub && getPath(backend, sub.slice(0, -1)) === undefined) continue;
    if (k === 'persistence.cookieName' && val === '') continue;
    if (k.startsWith('queue.') && val === '') continue; // absent: the queue's defaults
    v[k] = val;
  }
  return v;
}

/**
 * Why slow start is not allowed for this mode and algorithm (SS2); empty when it is.
 * Each entry is a sentence for the operator.
 */
export function slowStartBlockers(mode: string, algorithm: string): string[] {
  const out: string[] = [];
  if (mode !== 'http') out.push(`Slow start needs an http backend; this backend's mode is ${mode}.`);
  if (algorithm !== 'weighted-round-robin') {
    out.push(`Slow start needs the weighted-round-robin method; this backend uses ${algorithm}.`);
  }
  return out;
}

/** The slow-start rules shown inline (SS1, SS3–SS6, SS2). */
export const SlowStartRules: readonly string[] = [
  'Only http backends using weighted round robin can use slow start; the method cannot change while it is on.',
  "A new server's share grows linearly from near 0 to its full weight over the duration (30–1200 s).",
  'Applies only to servers added to a backend that already has servers; the first server gets its full share at once.',
  'With health checks on, the ramp starts when the server is first healthy and runs to its end even if later checks fail; with checks off it starts when the server is added.',
  'A server never enters slow start again once its ramp has ended.',
];

/** The algorithms a mode offers; `udp` backends have no cookies but every algorithm applies. */
export const AlgorithmLabels: Readonly<Record<Algorithm, string>> = {
  'round-robin': 'Round robin',
  'weighted-round-robin': 'Weighted round robin',
  'least-connections': 'Least connections',
  'source-ip': 'Source IP hash',
  'random-two-choices': 'Random, two choices',
  'least-response-time': 'Least response time',
};

/** The persistence types a mode allows: cookies need http (P2). */
export function persistenceTypes(mode: string): string[] {
  return mode === 'http' ? ['none', 'source-ip', 'cookie', 'app-cookie'] : ['none', 'source-ip'];
}

/** The health check types a mode offers (H1). */
export function healthCheckTypes(mode: string): HealthCheckType[] {
  if (mode === 'udp') return ['udp', 'tcp'];
  if (mode === 'http') return ['http', 'https', 'tcp', 'tls'];
  return ['tcp', 'mysql', 'postgres', 'redis', 'tls', 'http', 'https'];
}

/** The backend mode a frontend protocol needs (F2). */
export function modeForProtocol(protocol: Protocol): Mode {
  return protocol === 'https' ? 'http' : protocol;
}

/** True when a check type carries its own settings group (shown under the type select). */
export function checkSettingsPrefix(type: string): string | null {
  for (const [prefix, types] of Object.entries(CHECK_SETTINGS)) if ((types as string[]).includes(type)) return prefix;
  return null;
}

/**
 * Dialog values → payload. Check settings of other types and the cookie name of non-cookie
 * persistence are left out. With `original`, only the changed top-level fields (a PATCH).
 */
export function backendPayload(
  values: FormValues,
  original?: StoredBackend,
): { payload: Record<string, unknown>; errors: FieldErrors } {
  const type = String(values['healthCheck.type']);
  const persistence = String(values['persistence.type']);
  const skip = (p: string): boolean => {
    for (const [prefix, types] of Object.entries(CHECK_SETTINGS)) {
      if (p.startsWith(prefix)) return !(types as string[]).includes(type);
    }
    if (p === 'persistence.cookieName') return persistence !== 'cookie' && persistence !== 'app-cookie';
    if (p === 'udpTimeoutSeconds' || p === 'maxFlows') return values.mode !== 'udp' && !original;
    if (p === 'proxyProtocol' || p === 'healthCheck.proxyProtocol') return values.mode === 'udp';
    return false;
  };
  const { payload, errors } = toPayload(SPECS, values, skip);
  discoveryPayload(payload, original);
  if (!original && payload.discovery === null) delete payload.discovery;
  // PROXY protocol (issue 15 point 3) stays out of a new backend's body while off.
  if (!original) {
    if (payload.proxyProtocol === null) delete payload.proxyProtocol;
    const hc = payload.healthCheck as Record<string, unknown> | undefined;
    if (hc?.proxyProtocol === false) delete hc.proxyProtocol;
  }
  // The queue (issue 15 point 4) stays out of a new backend's body while it is off and at its defaults.
  const q = payload.queue as { maxLength?: unknown; timeoutSeconds?: unknown } | undefined;
  const dq = defaultBackendQueue();
  if (!original && q && q.maxLength === dq.maxLength && q.timeoutSeconds === dq.timeoutSeconds) delete payload.queue;
  if (!original) return { payload, errors };
  const before = toPayload(SPECS, backendValues(original), skip).payload;
  discoveryPayload(before, original);
  return { payload: changedOnly(payload, before), errors };
}

/** The port to suggest when the operator switches the check type and has not typed a port. */
export function portForCheck(type: HealthCheckType): string {
  const p = usualPort(type);
  return p === null ? '' : String(p);
}
