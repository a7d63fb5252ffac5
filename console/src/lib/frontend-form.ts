/**
 * Frontend and load balancer dialogs' logic (SPEC F1, F2, F4, F5, T1, T4, S6, S7).
 */
import { Defaults, defaultFrontendTimeouts } from '../../../src/config/defaults.ts';
import type { RoutingRule } from '../../../src/config/model.ts';
import { modeForProtocol } from './backend-form.ts';
import {
  changedOnly,
  type FieldErrors,
  type FieldSpec,
  type FormValues,
  fieldFor,
  toPayload,
  valuesFrom,
} from './form.ts';
import type { LoadBalancer, Protocol, StoredBackend, StoredFrontend } from './types.ts';

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
  { path: 'redirectToHttps', kind: 'bool' },
  { path: 'tlsPassthrough', kind: 'bool' },
  { path: 'trustedProxies', kind: 'list' },
  { path: 'acceptProxyProtocol', kind: 'bool' },
];

/**
 * A routing rule row as edited (F4): every match condition of the API (host, exact path, path
 * prefix, one header name + value, method) → backend. Rule keys and match keys the console
 * does not know are carried in `extra` / `extraMatch` and sent back unchanged.
 */
export interface RuleRow {
  host: string;
  path: string;
  pathPrefix: string;
  headerName: string;
  headerValue: string;
  method: string;
  backendId: string;
  /** Match keys this console does not edit, sent back as they came. */
  extraMatch?: Record<string, unknown>;
  /** Rule keys besides `match` and `backendId`, sent back as they came. */
  extra?: Record<string, unknown>;
}

/** A routing rule as the API has it (F4; API.md frontends `rules`). */
export interface RulePayload {
  match: {
    host?: string;
    path?: string;
    pathPrefix?: string;
    header?: { name: string; value: string };
    method?: string;
    [key: string]: unknown;
  };
  backendId: string;
  [key: string]: unknown;
}

/** A TLS passthrough rule row (T4): ClientHello server name → backend. */
export interface SniRow {
  serverName: string;
  backendId: string;
}

/** The editable columns of a rule row; row errors are keyed `rules.{i}.{column}` or `rules.{i}`. */
export const RuleColumns = ['host', 'path', 'pathPrefix', 'header', 'method', 'backendId'] as const;

/** The frontend dialog's field paths (API error `field`s shown beside these inputs). */
export const FrontendFields: readonly string[] = [
  ...FRONTEND_SPECS.map((s) => s.path),
  'certificateIds',
  'rules',
  'sniRules',
];

/** An empty rule row (the dialog's "Add rule"). */
export function emptyRuleRow(): RuleRow {
  return { host: '', path: '', pathPrefix: '', headerName: '', headerValue: '', method: '', backendId: '' };
}

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
    redirectToHttps: false,
    tlsPassthrough: false,
    trustedProxies: '',
    acceptProxyProtocol: false,
  };
}

/** Values of an existing frontend. */
export function frontendValues(f: StoredFrontend): FormValues {
  const v = { ...newFrontendValues(), ...valuesFrom(FRONTEND_SPECS, f) };
  if (v.maxConnections === '') v.maxConnections = '0';
  return v;
}

const KNOWN_MATCH = new Set(['host', 'path', 'pathPrefix', 'header', 'method']);

/** The rule rows of an existing frontend: every condition, in order (F4: order matters). */
export function ruleRows(f: { rules?: readonly RoutingRule[] | null }): RuleRow[] {
  return (f.rules ?? []).map((rule) => {
    const r = rule as RulePayload;
    const m = r.match ?? {};
    const row: RuleRow = {
      host: m.host ?? '',
      path: m.path ?? '',
      pathPrefix: m.pathPrefix ?? '',
      headerName: m.header?.name ?? '',
      headerValue: m.header?.value ?? '',
      method: m.method ?? '',
      backendId: r.backendId ?? '',
    };
    const extraMatch = Object.fromEntries(Object.entries(m).filter(([k]) => !KNOWN_MATCH.has(k)));
    if (Object.keys(extraMatch).length) row.extraMatch = extraMatch;
    const extra = Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'match' && k !== 'backendId'));
    if (Object.keys(extra).length) row.extra = extra;
    return row;
  });
}

function rowIsEmpty(r: RuleRow): boolean {
  return (
    !r.host.trim() &&
    !r.path.trim() &&
    !r.pathPrefix.trim() &&
    !r.headerName.trim() &&
    !r.headerValue &&
    !r.method.trim() &&
    !r.backendId &&
    !r.extraMatch
  );
}

/**
 * Rule rows → API rules, in the rows' order (F4). Wholly empty rows are dropped; text is
 * trimmed except a header value (sent as typed; an empty value is allowed). Unknown keys are
 * sent back as they came.
 */
export function rulesPayload(rows: readonly RuleRow[]): RulePayload[] {
  const out: RulePayload[] = [];
  for (const r of rows) {
    if (rowIsEmpty(r)) continue;
    const match: RulePayload['match'] = { ...(r.extraMatch ?? {}) };
    const host = r.host.trim();
    const path = r.path.trim();
    const pathPrefix = r.pathPrefix.trim();
    const headerName = r.headerName.trim();
    const method = r.method.trim();
    if (host) match.host = host;
    if (path) match.path = path;
    if (pathPrefix) match.pathPrefix = pathPrefix;
    if (headerName) match.header = { name: headerName, value: r.headerValue };
    if (method) match.method = method;
    out.push({ ...(r.extra ?? {}), match, backendId: r.backendId });
  }
  return out;
}

/**
 * Client-side checks of rule rows (F4), keyed `rules.{i}.{column}` or `rules.{i}`: a backend
 * for every rule, at least one condition, a header name when a header value is given, paths
 * starting with "/".
 */
export function ruleErrors(rows: readonly RuleRow[]): FieldErrors {
  const errors: FieldErrors = {};
  rows.forEach((r, i) => {
    if (rowIsEmpty(r)) return;
    const hasCondition =
      r.host.trim() || r.path.trim() || r.pathPrefix.trim() || r.headerName.trim() || r.method.trim() || r.extraMatch;
    if (!hasCondition) errors[`rules.${i}`] = 'give at least one condition: host, path, path prefix, header or method';
    if (!r.backendId) errors[`rules.${i}.backendId`] = 'choose a backend';
    if (!r.headerName.trim() && r.headerValue) errors[`rules.${i}.header`] = 'header name is required with a value';
    if (r.path.trim() && !r.path.trim().startsWith('/')) errors[`rules.${i}.path`] = 'path must start with /';
    if (r.pathPrefix.trim() && !r.pathPrefix.trim().startsWith('/'))
      errors[`rules.${i}.pathPrefix`] = 'path prefix must start with /';
  });
  return errors;
}

/** Moves item `i` of a list by `delta` places (rule order, F4); out-of-range moves change nothing. */
export function moveItem<T>(list: readonly T[], i: number, delta: number): T[] {
  const j = i + delta;
  const out = [...list];
  if (i < 0 || i >= list.length || j < 0 || j >= list.length) return out;
  [out[i], out[j]] = [out[j] as T, out[i] as T];
  return out;
}

/** SNI rows of an existing frontend (T4). */
export function sniRows(f: Pick<StoredFrontend, 'sniRules'>): SniRow[] {
  return (f.sniRules ?? []).map((r) => ({ serverName: r.serverName, backendId: r.backendId }));
}

/** SNI rows → API sniRules; empty rows dropped, names trimmed and lower-cased (DNS names). */
export function sniPayload(rows: readonly SniRow[]): SniRow[] {
  return rows
    .filter((r) => r.serverName.trim() || r.backendId)
    .map((r) => ({ serverName: r.serverName.trim().toLowerCase(), backendId: r.backendId }));
}

/**
 * Where an API error about a frontend goes: `rules[2].match.header.name` or
 * `rules.2.match.header` → `rules.2.header`, `rules[0].match` → `rules.0`,
 * `sniRules[1].backendId` → `sniRules.1.backendId`; other fields as `fieldFor` finds them
 * in `FrontendFields`; null = the top of the dialog.
 */
export function frontendErrorTarget(field: string | null): string | null {
  if (!field) return null;
  const f = field.replace(/\[(\d+)\]/g, '.$1');
  const rule = /^rules\.(\d+)(?:\.match)?(?:\.(host|path|pathPrefix|header|method|backendId))?/.exec(f);
  if (rule) return rule[2] ? `rules.${rule[1]}.${rule[2]}` : `rules.${rule[1]}`;
  const sni = /^sniRules\.(\d+)(?:\.(serverName|backendId))?/.exec(f);
  if (sni) return sni[2] ? `sniRules.${sni[1]}.${sni[2]}` : 'sniRules';
  return fieldFor(f, FrontendFields);
}

/**
 * Dialog values → payload (F1, F4, T1, T4). Certificates go only with `https`, rules only
 * with http/https, `redirectToHttps` only with http, TLS passthrough and SNI rules only with
 * tcp. With `original`, only what changed (a PATCH).
 */
export function frontendPayload(
  values: FormValues,
  certificateIds: readonly string[],
  rules: readonly RuleRow[],
  original?: StoredFrontend,
  sni: readonly SniRow[] = original ? sniRows(original) : [],
): { payload: Record<string, unknown>; errors: FieldErrors } {
  const { payload, errors } = toPayload(FRONTEND_SPECS, values);
  const protocol = payload.protocol as Protocol;
  payload.certificateIds = protocol === 'https' ? [...certificateIds] : [];
  const http = protocol === 'http' || protocol === 'https';
  payload.rules = http ? rulesPayload(rules) : [];
  if (http) Object.assign(errors, ruleErrors(rules));
  payload.redirectToHttps = protocol === 'http' && payload.redirectToHttps === true;
  payload.tlsPassthrough = protocol === 'tcp' && payload.tlsPassthrough === true;
  payload.sniRules = payload.tlsPassthrough ? sniPayload(sni) : [];
  // issue 15 point 3: PROXY protocol from the trusted proxies (not udp); left out of a new frontend while unset
  if (protocol === 'udp') payload.acceptProxyProtocol = false;
  if (!original) {
    if ((payload.trustedProxies as unknown[] | undefined)?.length === 0) delete payload.trustedProxies;
    if (payload.acceptProxyProtocol === false) delete payload.acceptProxyProtocol;
  }
  if (payload.tlsPassthrough) {
    sni.forEach((r, i) => {
      if (!r.serverName.trim() && !r.backendId) return;
      if (!r.serverName.trim()) errors[`sniRules.${i}.serverName`] = 'server name is required';
      if (!r.backendId) errors[`sniRules.${i}.backendId`] = 'choose a backend';
    });
  }
  if (!original) return { payload, errors };
  const before = toPayload(FRONTEND_SPECS, frontendValues(original)).payload;
  before.certificateIds = original.certificateIds ?? [];
  before.rules = rulesPayload(ruleRows(original));
  before.redirectToHttps = original.redirectToHttps === true;
  before.tlsPassthrough = original.tlsPassthrough === true;
  before.sniRules = sniPayload(sniRows(original));
  return { payload: changedOnly(payload, before), errors };
}

/** The backends a frontend of this protocol may use (F2: modes must match). */
export function backendsFor<B extends Pick<StoredBackend, 'mode'>>(protocol: string, backends: readonly B[]): B[] {
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
