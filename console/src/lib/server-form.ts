/**
 * The "Add Backend Server" / "Update" dialog's logic (SPEC S1, S2; seeds 000 and 004):
 * form values ↔ server payload, and the defaults a server type suggests.
 */
import { Defaults } from '../../../src/config/defaults.ts';
import { changedOnly, type FieldErrors, type FieldSpec, type FormValues, toPayload, valuesFrom } from './form.ts';
import type { HealthCheckType, Mode, ServerType, StoredBackend, StoredServer } from './types.ts';

/** What a server type suggests for a new backend and for a server's port. */
export interface ServerTypePreset {
  label: string;
  mode: Mode;
  healthCheck: HealthCheckType;
  /** The service's usual port; null = no usual port. */
  port: number | null;
  hint: string;
}

/**
 * Sensible defaults per server type (issue point 6): the operator can change every one.
 * A database server suggests a tcp backend with a postgres check on 5432 (mysql on 3306 is the
 * other choice); a cache suggests redis on 6379.
 */
export const ServerTypePresets: Readonly<Record<ServerType, ServerTypePreset>> = {
  web: {
    label: 'Web server',
    mode: 'http',
    healthCheck: 'http',
    port: 80,
    hint: 'HTTP on port 80, checked with GET /',
  },
  application: {
    label: 'Application server',
    mode: 'http',
    healthCheck: 'http',
    port: 8080,
    hint: 'HTTP on port 8080, checked with GET /',
  },
  database: {
    label: 'Database server',
    mode: 'tcp',
    healthCheck: 'postgres',
    port: 5432,
    hint: 'TCP; PostgreSQL on 5432 (postgres check) or MySQL on 3306 (mysql check)',
  },
  cache: {
    label: 'Cache server',
    mode: 'tcp',
    healthCheck: 'redis',
    port: 6379,
    hint: 'TCP; Redis on 6379 (PING check)',
  },
  other: { label: 'Other', mode: 'tcp', healthCheck: 'tcp', port: null, hint: 'TCP with a connect check' },
};

/** The usual port of a service checked by the given health check type; null when there is none. */
export function usualPort(check: HealthCheckType): number | null {
  switch (check) {
    case 'mysql':
      return 3306;
    case 'postgres':
      return 5432;
    case 'redis':
      return 6379;
    case 'http':
      return 80;
    case 'https':
    case 'tls':
      return 443;
    default:
      return null;
  }
}

/**
 * The port to suggest in the dialog for a server type: none when the backend has a default
 * port (F3: the field stays empty, so the server follows later changes of the backend's port;
 * issue 16), else the usual port of the backend's health check when it names a service
 * (mysql → 3306), else the type's usual port.
 */
export function suggestServerPort(
  type: ServerType,
  backend?: Pick<StoredBackend, 'port' | 'healthCheck'> | null,
): number | null {
  if (backend?.port) return null;
  const check = backend?.healthCheck?.type;
  if (check && check !== 'tcp' && check !== 'udp') {
    const p = usualPort(check);
    if (p !== null && (type === 'database' || type === 'cache' || check === 'http' || check === 'https')) return p;
  }
  return ServerTypePresets[type].port;
}

/** Where the address comes from (seed 000: "Backend Server" from the inventory, or "Custom IP"). */
export type AddressSource = 'instance' | 'custom';

const SPECS: readonly FieldSpec[] = [
  { path: 'name', kind: 'text' },
  { path: 'serverType', kind: 'text' },
  { path: 'instanceId', kind: 'optText' },
  { path: 'address', kind: 'text' },
  { path: 'port', kind: 'optInt' },
  { path: 'weight', kind: 'int' },
  { path: 'maxConnections', kind: 'optInt' },
  { path: 'zone', kind: 'optText' },
  { path: 'passive', kind: 'bool' },
  { path: 'sslOffload', kind: 'bool' },
  { path: 'caCertificateId', kind: 'optText' },
  { path: 'description', kind: 'text' },
  { path: 'tags', kind: 'list' },
  { path: 'healthCheck.port', kind: 'optInt' },
  { path: 'healthCheck.enabled', kind: 'bool' },
];

/** The dialog's field paths (API error `field`s shown beside these inputs). */
export const ServerFields: readonly string[] = [...SPECS.map((s) => s.path), 'source'];

/** Values of an empty Add Backend Server dialog for a backend. */
export function newServerValues(backend?: Pick<StoredBackend, 'port' | 'healthCheck' | 'mode'> | null): FormValues {
  const type: ServerType = backend?.mode === 'tcp' ? 'other' : 'web';
  const port = suggestServerPort(type, backend);
  return {
    name: '',
    serverType: type,
    source: 'custom',
    instanceId: '',
    address: '',
    port: port === null ? '' : String(port),
    weight: String(Defaults.weight),
    maxConnections: '',
    zone: '',
    passive: false,
    sslOffload: false,
    caCertificateId: '',
    description: '',
    tags: '',
    'healthCheck.port': '',
    'healthCheck.enabled': true,
  };
}

/** Values of the Update dialog, pre-filled from the server. */
export function serverValues(server: StoredServer): FormValues {
  const v = valuesFrom(SPECS, server);
  v.source = server.instanceId ? 'instance' : 'custom';
  return v;
}

/**
 * Dialog values → payload. For a new server: every field (the address or the instance, not
 * both). For an update (`original` given): only what changed, as a PATCH (S2).
 */
export function serverPayload(
  values: FormValues,
  original?: StoredServer,
): { payload: Record<string, unknown>; errors: FieldErrors } {
  const byInstance = values.source === 'instance';
  const { payload, errors } = toPayload(SPECS, values, (p) => (byInstance ? p === 'address' : p === 'instanceId'));
  if (payload.maxConnections === null) payload.maxConnections = 0; // empty = unlimited
  if (byInstance) {
    if (!payload.instanceId) errors.instanceId = 'choose a backend server from the inventory';
  } else {
    payload.instanceId = null;
    if (!payload.address) errors.address = 'address is required: enter the server IP';
  }
  if (!original) {
    if (payload.zone === null) delete payload.zone; // let the instance's zone apply
    if (payload.caCertificateId === null) delete payload.caCertificateId;
    if (!byInstance) delete payload.instanceId;
    // Defaults stay out of a new server's body (issue 15 fields).
    if (payload.description === '') delete payload.description;
    if (Array.isArray(payload.tags) && payload.tags.length === 0) delete payload.tags;
    if (payload.maxConnections === 0) delete payload.maxConnections;
    const hc = payload.healthCheck as { port?: unknown; enabled?: unknown } | undefined;
    if (hc && hc.port === null && hc.enabled === true) delete payload.healthCheck;
    return { payload, errors };
  }
  const before = toPayload(SPECS, serverValues(original)).payload;
  if (before.maxConnections === null) before.maxConnections = 0;
  if (original.instanceId) delete before.address;
  else before.instanceId = null;
  const diff = changedOnly(payload, before);
  // Switching to an inventory instance: the address follows the instance.
  if (byInstance) delete diff.address;
  return { payload: diff, errors };
}

/** An expected share (0–1, `status.expectedShare`) as the console shows it beside the weight: `33 %`. */
export function formatShare(share: number | undefined): string {
  return `${Math.round((share ?? 0) * 100)} %`;
}

/** How the console names a server field in a conflict (412) summary. */
const FieldLabels: Record<string, string> = {
  name: 'name',
  serverType: 'type',
  instanceId: 'backend server',
  address: 'address',
  port: 'port',
  weight: 'weight',
  maxConnections: 'max connections',
  zone: 'zone',
  passive: 'passive',
  sslOffload: 'SSL offload',
  caCertificateId: 'server certificate',
  description: 'description',
  tags: 'tags',
  'healthCheck.port': 'check port',
  'healthCheck.enabled': 'checks on',
  enabled: 'enabled',
};

function shown(v: unknown): string {
  if (v === null || v === undefined || v === '') return '—';
  if (Array.isArray(v)) return v.length ? v.join(', ') : '—';
  return String(v);
}

/**
 * What changed on a server between the version a dialog was opened on and the current one
 * (a 412 on save, issue 15 point 6), one `label: before → now` line per field that differs.
 */
export function serverChanges(before: StoredServer, now: StoredServer): string[] {
  const out: string[] = [];
  for (const path of Object.keys(FieldLabels)) {
    const a = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], before);
    const b = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], now);
    if (JSON.stringify(a ?? null) !== JSON.stringify(b ?? null))
      out.push(`${FieldLabels[path]}: ${shown(a)} → ${shown(b)}`);
  }
  return out;
}

/** True when an update moves the server (address or port): it is checked again at once before traffic resumes. */
export function movesServer(payload: Record<string, unknown>): boolean {
  return 'address' in payload || 'port' in payload || 'instanceId' in payload;
}
