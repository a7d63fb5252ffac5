/**
 * Frontend and load balancer dialogs' logic (SPEC F1, F2, F4, F5, T1, S6, S7).
 */
import { Defaults, defaultFrontendTimeouts } from '../../../src/config/defaults.ts';
import { modeForProtocol } from './backend-form.ts';
import { changedOnly, type FieldErrors, type FieldSpec, type FormValues, toPayload, valuesFrom } from './form.ts';
import type { Backend, Frontend, LoadBalancer, Protocol } from './types.ts';

const FRONTEND_SPECS: readonly FieldSpec[] = [
  { path: 'name', kind: 'text' },
  { path: 'protocol', kind: 'text' },
  { path: 'bindAddress', kind: 'text' },
  { path: 'port', kind: 'int' },
  { path: 'defaultBackendId', kind: 'optText' },
  { path: 'enabled', kind: 'bool' },
  { path: 'maxConnections', kind: 'int' },
  { path: 'timeouts.requestHeaderSeconds', kind: 'int' },
  { path: 'timeouts.clientIdleSeconds', kind: 'int' },
];

/** A routing rule row as edited (F4): host and/or path prefix → backend. */
export interface RuleRow {
  host: string;
  pathPrefix: string;
  backendId: string;
}

/** The frontend dialog's field paths (API error `field`s shown beside these inputs). */
export const FrontendFields: readonly string[] = [...FRONTEND_SPECS.map((s) => s.path), 'certificateIds', 'rules'];

/** Values of a new frontend (defaults from src/config/defaults.ts). */
export function newFrontendValues(): FormValues {
  const t = defaultFrontendTimeouts();
  return {
    name: '',
    protocol: 'http',
    bindAddress: Defaults.bindAddress,
    port: '',
    defaultBackendId: '',
    enabled: true,
    maxConnections: '0',
    'timeouts.requestHeaderSeconds': String(t.requestHeaderSeconds),
    'timeouts.clientIdleSeconds': String(t.clientIdleSeconds),
  };
}

/** Values of an existing frontend. */
export function frontendValues(f: Frontend): FormValues {
  const v = { ...newFrontendValues(), ...valuesFrom(FRONTEND_SPECS, f) };
  if (v.maxConnections === '') v.maxConnections = '0';
  return v;
}

/** The rule rows of an existing frontend (only host / path prefix rules are editable here). */
export function ruleRows(f: Pick<Frontend, 'rules'>): RuleRow[] {
  return (f.rules ?? []).map((r) => ({
    host: r.match.host ?? '',
    pathPrefix: r.match.pathPrefix ?? r.match.path ?? '',
    backendId: r.backendId,
  }));
}

/** Rule rows → API rules; empty rows are dropped. */
export function rulesPayload(
  rows: readonly RuleRow[],
): { match: { host?: string; pathPrefix?: string }; backendId: string }[] {
  const out: { match: { host?: string; pathPrefix?: string }; backendId: string }[] = [];
  for (const r of rows) {
    const host = r.host.trim();
    const pathPrefix = r.pathPrefix.trim();
    if (!host && !pathPrefix && !r.backendId) continue;
    const match: { host?: string; pathPrefix?: string } = {};
    if (host) match.host = host;
    if (pathPrefix) match.pathPrefix = pathPrefix;
    out.push({ match, backendId: r.backendId });
  }
  return out;
}

/**
 * Dialog values → payload (F1, F4, T1). Certificates go only with `https`, rules only with
 * http/https. With `original`, only what changed (a PATCH).
 */
export function frontendPayload(
  values: FormValues,
  certificateIds: readonly string[],
  rules: readonly RuleRow[],
  original?: Frontend,
): { payload: Record<string, unknown>; errors: FieldErrors } {
  const { payload, errors } = toPayload(FRONTEND_SPECS, values);
  const protocol = payload.protocol as Protocol;
  payload.certificateIds = protocol === 'https' ? [...certificateIds] : [];
  payload.rules = protocol === 'http' || protocol === 'https' ? rulesPayload(rules) : [];
  rules.forEach((r, i) => {
    if ((r.host.trim() || r.pathPrefix.trim()) && !r.backendId) errors[`rules.${i}.backendId`] = 'choose a backend';
  });
  if (!original) return { payload, errors };
  const before = toPayload(FRONTEND_SPECS, frontendValues(original)).payload;
  before.certificateIds = original.certificateIds ?? [];
  before.rules = rulesPayload(ruleRows(original));
  return { payload: changedOnly(payload, before), errors };
}

/** The backends a frontend of this protocol may use (F2: modes must match). */
export function backendsFor(protocol: string, backends: readonly Backend[]): Backend[] {
  const mode = modeForProtocol(protocol as Protocol);
  return backends.filter((b) => b.mode === mode);
}

/** The protocols a load balancer allows: with ipAsBackend, no udp (S7). */
export function protocolsFor(lb: Pick<LoadBalancer, 'ipAsBackend'> | null | undefined): Protocol[] {
  return lb?.ipAsBackend ? ['http', 'https', 'tcp'] : ['http', 'https', 'tcp', 'udp'];
}

const LB_SPECS: readonly FieldSpec[] = [
  { path: 'name', kind: 'text' },
  { path: 'description', kind: 'text' },
  { path: 'allowedNetworks', kind: 'list' },
  { path: 'ipAsBackend', kind: 'bool' },
  { path: 'maxServers', kind: 'int' },
];

/** The load balancer dialog's field paths. */
export const LoadBalancerFields: readonly string[] = LB_SPECS.map((s) => s.path);

/** Values of a new load balancer (S6 quota 492 by default). */
export function newLoadBalancerValues(): FormValues {
  return {
    name: '',
    description: '',
    allowedNetworks: '',
    ipAsBackend: false,
    maxServers: String(Defaults.maxServers),
  };
}

/** Values of an existing load balancer. */
export function loadBalancerValues(lb: LoadBalancer): FormValues {
  return valuesFrom(LB_SPECS, lb);
}

/** Dialog values → payload; with `original`, only what changed. */
export function loadBalancerPayload(
  values: FormValues,
  original?: LoadBalancer,
): { payload: Record<string, unknown>; errors: FieldErrors } {
  const { payload, errors } = toPayload(LB_SPECS, values);
  if (!original) return { payload, errors };
  return { payload: changedOnly(payload, toPayload(LB_SPECS, loadBalancerValues(original)).payload), errors };
}
