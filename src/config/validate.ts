import { FulcrumError, invalid } from '../core/errors.ts';
import { compileLinearRegex, splitSlashPattern } from '../core/linear-regex.ts';
import { cidrContains, isIpAddress, parseCidr4 } from '../core/net.ts';
import { type AddressGuard, backendAddressProblem, frontendBindProblem, parseIPv4Strict } from './address-guard.ts';
import {
  Algorithms,
  type Backend,
  type ConfigState,
  type Frontend,
  HealthCheckTypes,
  type Instance,
  type LoadBalancer,
  Modes,
  PersistenceTypes,
  Protocols,
  type Server,
  ServerTypes,
} from './model.ts';
import { CertificateNameMaxLength, NameMaxLength, nameProblem, normalizeName } from './names.ts';
import { httpsTwin } from './snapshot.ts';

/**
 * Semantic validation of a whole configuration (DESIGN.md "validate (JSON Schema, then
 * semantic rules)"). The API checks shapes with the JSON Schemas first; this module checks
 * everything again (so a YAML file or the CLI gets the same rules) plus the rules that
 * involve several resources: references, uniqueness, F2, F4, F5, S6, S7, SS2, persistence.
 *
 * Every refusal is a FulcrumError whose message starts with the field (`field: rule`):
 * `invalid` (400) for a value that is wrong on its own, `conflict`/`rule`/`quota`/
 * `port_in_use` (409) for a value that clashes with the rest of the configuration.
 */

/** H3 expected codes: `200`, `200,204`, `200-299,302`; each code 100–599, ranges ascending. */
export function parseExpectedCodes(text: string): [number, number][] | undefined {
  const out: [number, number][] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 100 || hi > 599 || hi < lo) return undefined;
    out.push([lo, hi]);
  }
  return out;
}

function isInt(v: unknown, min: number, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}
function checkInt(v: unknown, min: number, max: number, field: string): void {
  if (!isInt(v, min, max)) throw invalid(field, `${field}: must be an integer from ${min} to ${max}`);
}
function checkBool(v: unknown, field: string): void {
  if (typeof v !== 'boolean') throw invalid(field, `${field}: must be true or false`);
}
function checkEnum(v: unknown, values: readonly string[], field: string): void {
  if (typeof v !== 'string' || !values.includes(v))
    throw invalid(field, `${field}: must be one of ${values.join(', ')}`);
}
/** Shape only; the name rule itself (whitespace, control, bidi, zero-width, `/`, NFC) is a write rule (names.ts). */
function checkName(v: unknown, field = 'name'): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > 64) {
    throw invalid(field, `${field}: must be a string of 1 to 64 characters`);
  }
}
function checkOptString(v: unknown, field: string, max = 64): void {
  if (v === null) return;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw invalid(field, `${field}: must be a string of 1 to ${max} characters or null`);
  }
}
function rule(field: string, message: string): FulcrumError {
  return new FulcrumError('rule', `${field}: ${message}`, field);
}
function conflict(field: string, message: string): FulcrumError {
  return new FulcrumError('conflict', `${field}: ${message}`, field);
}

/** Field rules of a load balancer on its own (S6, S7). */
export function checkLoadBalancer(lb: LoadBalancer): void {
  checkName(lb.name);
  if (typeof lb.description !== 'string' || lb.description.length > 1024) {
    throw invalid('description', 'description: must be a string of at most 1024 characters');
  }
  if (!Array.isArray(lb.allowedNetworks))
    throw invalid('allowedNetworks', 'allowedNetworks: must be an array of IPv4 CIDRs');
  lb.allowedNetworks.forEach((c, i) => {
    if (typeof c !== 'string' || !parseCidr4(c)) {
      throw invalid(`allowedNetworks[${i}]`, `allowedNetworks[${i}]: must be an IPv4 CIDR such as 10.0.0.0/8 (S7)`);
    }
  });
  checkBool(lb.ipAsBackend, 'ipAsBackend');
  checkInt(lb.maxServers, 1, 100_000, 'maxServers');
}

/** Field rules of a frontend on its own (F1, F5). */
export function checkFrontend(f: Frontend): void {
  checkName(f.name);
  checkEnum(f.protocol, Protocols, 'protocol');
  if (typeof f.bindAddress !== 'string' || !isIpAddress(f.bindAddress)) {
    throw invalid('bindAddress', 'bindAddress: must be an IPv4 or IPv6 address');
  }
  checkInt(f.port, 1, 65535, 'port');
  checkBool(f.enabled, 'enabled');
  checkInt(f.timeouts?.requestHeaderSeconds, 1, 3600, 'timeouts.requestHeaderSeconds');
  checkInt(f.timeouts?.clientIdleSeconds, 1, 86400, 'timeouts.clientIdleSeconds');
  checkInt(f.maxConnections, 0, 10_000_000, 'maxConnections');
  checkBool(f.tlsPassthrough, 'tlsPassthrough');
  if (f.rules.length > 0 && f.protocol !== 'http' && f.protocol !== 'https') {
    throw rule('rules', `routing rules need an http or https frontend, this one is ${f.protocol} (F4)`);
  }
  f.rules.forEach((r, i) => {
    const m = r.match ?? {};
    if (m.path !== undefined && !m.path.startsWith('/'))
      throw invalid(`rules[${i}].match.path`, `rules[${i}].match.path: must start with /`);
    if (m.pathPrefix !== undefined && !m.pathPrefix.startsWith('/')) {
      throw invalid(`rules[${i}].match.pathPrefix`, `rules[${i}].match.pathPrefix: must start with /`);
    }
    if (!m.host && !m.path && !m.pathPrefix && !m.header && !m.method) {
      throw invalid(
        `rules[${i}].match`,
        `rules[${i}].match: must give at least one of host, path, pathPrefix, header, method`,
      );
    }
  });
  if (f.tlsPassthrough && f.protocol !== 'tcp') {
    throw rule('tlsPassthrough', `TLS passthrough needs a tcp frontend, this one is ${f.protocol} (T4)`);
  }
  if (f.sniRules.length > 0 && !f.tlsPassthrough) {
    throw rule('sniRules', 'sniRules need tlsPassthrough on a tcp frontend (T4)');
  }
  checkBool(f.redirectToHttps, 'redirectToHttps');
  if (f.redirectToHttps && f.protocol !== 'http') {
    throw rule('redirectToHttps', `applies to http frontends, this one is ${f.protocol} (T1)`);
  }
  if (f.certificateIds.length > 0 && f.protocol !== 'https') {
    throw rule('certificateIds', `certificates apply to https frontends, this one is ${f.protocol} (T1)`);
  }
}

/** Field rules of a backend on its own (F3, H1–H3, P1–P2, SS1–SS2, H7). */
export function checkBackend(b: Backend): void {
  checkName(b.name);
  checkEnum(b.mode, Modes, 'mode');
  checkEnum(b.algorithm, Algorithms, 'algorithm');
  if (b.port !== null) checkInt(b.port, 1, 65535, 'port');
  const p = b.persistence;
  checkEnum(p.type, PersistenceTypes, 'persistence.type');
  checkInt(p.timeoutSeconds, 0, 31_536_000, 'persistence.timeoutSeconds');
  if ((p.type === 'cookie' || p.type === 'app-cookie') && b.mode !== 'http') {
    throw rule('persistence.type', `${p.type} persistence needs an http backend, this one is ${b.mode} (P2)`);
  }
  if (p.type === 'app-cookie' && !p.cookieName) {
    throw invalid('persistence.cookieName', 'persistence.cookieName: is required with app-cookie persistence (P2)');
  }
  if (p.cookieName !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/.test(p.cookieName)) {
    throw invalid(
      'persistence.cookieName',
      'persistence.cookieName: must be a cookie name (RFC 6265 token characters)',
    );
  }
  const hc = b.healthCheck;
  checkBool(hc.enabled, 'healthCheck.enabled');
  checkEnum(hc.type, HealthCheckTypes, 'healthCheck.type');
  if (hc.port !== null) checkInt(hc.port, 1, 65535, 'healthCheck.port');
  checkInt(hc.intervalSeconds, 1, 300, 'healthCheck.intervalSeconds');
  if (!isInt(hc.timeoutSeconds, 1, hc.intervalSeconds)) {
    throw invalid(
      'healthCheck.timeoutSeconds',
      `healthCheck.timeoutSeconds: must be an integer from 1 to intervalSeconds (${hc.intervalSeconds})`,
    );
  }
  checkInt(hc.rise, 1, 100, 'healthCheck.rise');
  checkInt(hc.fall, 1, 100, 'healthCheck.fall');
  if (hc.http) {
    if (!hc.http.path?.startsWith('/'))
      throw invalid('healthCheck.http.path', 'healthCheck.http.path: must start with /');
    if (typeof hc.http.expectedCodes !== 'string' || !parseExpectedCodes(hc.http.expectedCodes)) {
      throw invalid(
        'healthCheck.http.expectedCodes',
        'healthCheck.http.expectedCodes: must be a list of status codes and ranges such as "200", "200,204" or "200-299,302"',
      );
    }
    if (
      hc.http.expectBody !== undefined &&
      (typeof hc.http.expectBody !== 'string' || hc.http.expectBody.length > 1024)
    ) {
      throw invalid(
        'healthCheck.http.expectBody',
        'healthCheck.http.expectBody: must be a text of at most 1024 characters',
      );
    }
  }
  if ((hc.type === 'http' || hc.type === 'https') && !hc.http) {
    throw invalid('healthCheck.http', `healthCheck.http: is required with a ${hc.type} check (H1)`);
  }
  if (hc.type === 'mysql' && !hc.mysql)
    throw invalid('healthCheck.mysql', 'healthCheck.mysql: is required with a mysql check (H1)');
  if (hc.type === 'postgres' && !hc.postgres) {
    throw invalid('healthCheck.postgres', 'healthCheck.postgres: is required with a postgres check (H1)');
  }
  if (hc.type === 'udp' && b.mode !== 'udp') {
    throw rule('healthCheck.type', `a udp health check needs a udp backend, this one is ${b.mode} (H1)`);
  }
  const ss = b.slowStart;
  checkBool(ss.enabled, 'slowStart.enabled');
  checkInt(ss.durationSeconds, 30, 1200, 'slowStart.durationSeconds');
  if (ss.enabled && (b.mode !== 'http' || b.algorithm !== 'weighted-round-robin')) {
    throw rule(
      'slowStart.enabled',
      `slow start needs an http backend with weighted-round-robin, this one is ${b.mode} with ${b.algorithm} (SS2)`,
    );
  }
  checkBool(b.tls.enabled, 'tls.enabled');
  checkBool(b.tls.verify, 'tls.verify');
  checkOptString(b.tls.sni, 'tls.sni', 253);
  if (b.tls.enabled && b.mode === 'udp') throw rule('tls.enabled', 'backend TLS needs an http or tcp backend (T2)');
  checkInt(b.drainTimeoutSeconds, 0, 3600, 'drainTimeoutSeconds');
  checkInt(b.timeouts.connectSeconds, 1, 300, 'timeouts.connectSeconds');
  checkInt(b.timeouts.responseSeconds, 1, 86400, 'timeouts.responseSeconds');
  checkInt(b.udpTimeoutSeconds, 1, 3600, 'udpTimeoutSeconds');
  checkInt(b.maxFlows, 1, 10_000_000, 'maxFlows');
  const od = b.outlierDetection;
  checkBool(od.enabled, 'outlierDetection.enabled');
  checkInt(od.consecutiveFailures, 1, 1000, 'outlierDetection.consecutiveFailures');
  checkInt(od.baseEjectionSeconds, 1, 3600, 'outlierDetection.baseEjectionSeconds');
  checkInt(od.maxEjectionSeconds, od.baseEjectionSeconds, 86400, 'outlierDetection.maxEjectionSeconds');
  checkInt(od.maxEjectionPercent, 0, 100, 'outlierDetection.maxEjectionPercent');
}

/** Field rules of a server on its own (S1). The address rules need the load balancer (checkConfig). */
export function checkServer(s: Server): void {
  checkName(s.name);
  checkEnum(s.serverType, ServerTypes, 'serverType');
  if (s.port !== null) checkInt(s.port, 1, 65535, 'port');
  checkInt(s.weight, 0, 100, 'weight');
  checkOptString(s.zone, 'zone');
  checkBool(s.passive, 'passive');
  checkBool(s.sslOffload, 'sslOffload');
  checkBool(s.enabled, 'enabled');
  if (s.instanceId === null && (typeof s.address !== 'string' || parseIPv4Strict(s.address) === undefined)) {
    throw invalid(
      'address',
      `address: must be an IPv4 address in dotted-quad form such as 10.0.0.11 (four decimal numbers 0–255 without leading zeros; custom IPs are IPv4 only, S7), got "${s.address}"`,
    );
  }
}

/** Field rules of an inventory instance on its own. */
export function checkInstance(i: Instance): void {
  checkName(i.name);
  if (typeof i.privateIp !== 'string' || !isIpAddress(i.privateIp)) {
    throw invalid('privateIp', 'privateIp: must be an IPv4 or IPv6 address');
  }
  checkOptString(i.zone, 'zone');
  checkOptString(i.os, 'os');
  checkEnum(i.serverType, ServerTypes, 'serverType');
}

function uniqueNames<T extends { id: string; name: string }>(
  items: readonly T[],
  scope: (t: T) => string,
  what: string,
): void {
  const seen = new Map<string, string>();
  for (const it of items) {
    // Uniqueness compares NFC forms: two spellings of one text are one name.
    const key = `${scope(it)}\u0000${normalizeName(it.name)}`;
    if (seen.has(key) && seen.get(key) !== it.id) {
      throw conflict('name', `a ${what} named "${it.name}" already exists (S1: names are unique)`);
    }
    seen.set(key, it.id);
  }
}

const ANY = new Set(['0.0.0.0', '::']);

/** F5: same port and transport, and equal addresses or one of them a wildcard. */
function bindsClash(a: Frontend, b: Frontend): boolean {
  if (a.port !== b.port) return false;
  if ((a.protocol === 'udp') !== (b.protocol === 'udp')) return false;
  return a.bindAddress === b.bindAddress || ANY.has(a.bindAddress) || ANY.has(b.bindAddress);
}

/** What `validateConfig` needs besides the configuration. */
export interface ValidationContext {
  /**
   * The address guard (config/address-guard.ts: never-a-backend ranges, the API's own
   * address, `--allow-backend-networks`). Off when absent: the CLI's preflight leaves it to the
   * server, which knows its flags and its address.
   */
  guard?: AddressGuard;
  /**
   * The configuration before the change. The write rules (names, address guard) then refuse
   * only what the change brings in: restored data that predates a rule is kept as it is.
   */
  before?: ConfigState;
}

/** Verdicts of `expectBodyProblem` by text: compiling is cheap but every change re-checks every backend. */
const expectBodyVerdicts = new Map<string, FulcrumError | null>();

/**
 * Issue 10: an `expectBody` written as `/regex/flags` must compile on the linear-time engine
 * (core/linear-regex.ts: RE2 syntax, no backreferences, no lookaround, at most 1024
 * characters). Answers the refusal (400 naming `healthCheck.http.expectBody`), or null.
 */
function expectBodyProblem(text: string): FulcrumError | null {
  let verdict = expectBodyVerdicts.get(text);
  if (verdict !== undefined) return verdict;
  verdict = null;
  const slash = splitSlashPattern(text);
  if (slash) {
    try {
      compileLinearRegex(slash.pattern, slash.flags, 'healthCheck.http.expectBody');
    } catch (err) {
      verdict = err as FulcrumError;
    }
  }
  if (expectBodyVerdicts.size >= 256) expectBodyVerdicts.delete(expectBodyVerdicts.keys().next().value as string);
  expectBodyVerdicts.set(text, verdict);
  return verdict;
}

/** A refusal of a write rule, keyed by resource and message so a change can be told from the state before it. */
interface Violation {
  key: string;
  error: FulcrumError;
}

/**
 * The write rules (issue 10): names (config/names.ts: NFC, no control, bidi or zero-width
 * characters, no `/`), health-check `expectBody` regexes (linear-time engine), then, with a
 * guard, instance and server addresses and frontend binds (config/address-guard.ts). In
 * report order.
 */
function writeViolations(c: ConfigState, guard: AddressGuard | undefined): Violation[] {
  const out: Violation[] = [];
  const named: [string, readonly { id: string; name: string }[], number][] = [
    ['loadBalancer', c.loadBalancers, NameMaxLength],
    ['instance', c.instances, NameMaxLength],
    ['backend', c.backends, NameMaxLength],
    ['server', c.servers, NameMaxLength],
    ['frontend', c.frontends, NameMaxLength],
    ['certificate', c.certificates, CertificateNameMaxLength],
  ];
  for (const [kind, items, max] of named) {
    for (const x of items) {
      const problem =
        typeof x.name !== 'string'
          ? `must be a string of 1 to ${max} characters`
          : x.name !== normalizeName(x.name)
            ? 'must be in Unicode normalisation form C (NFC)'
            : nameProblem(x.name, max);
      if (problem) {
        out.push({ key: `${kind}:${x.id}:name:${JSON.stringify(x.name)}`, error: invalid('name', `name: ${problem}`) });
      }
    }
  }
  for (const b of c.backends) {
    const text = b.healthCheck?.http?.expectBody;
    const problem = typeof text === 'string' ? expectBodyProblem(text) : null;
    if (problem) out.push({ key: `backend:${b.id}:expectBody:${text}`, error: problem });
  }
  if (!guard) return out;
  for (const i of c.instances) {
    const problem = backendAddressProblem(i.privateIp, null, guard);
    if (problem) out.push({ key: `instance:${i.id}:privateIp:${problem}`, error: conflict('privateIp', problem) });
  }
  const backendPorts = new Map(c.backends.map((b) => [b.id, b.port]));
  for (const s of c.servers) {
    const problem = backendAddressProblem(s.address, s.port ?? backendPorts.get(s.backendId) ?? null, guard);
    if (problem) out.push({ key: `server:${s.id}:address:${problem}`, error: conflict('address', problem) });
  }
  for (const f of c.frontends) {
    const problem = frontendBindProblem(f.bindAddress, f.port, f.protocol, guard);
    if (problem) out.push({ key: `frontend:${f.id}:port:${problem}`, error: conflict('port', problem) });
  }
  return out;
}

/**
 * Checks a whole configuration; throws the first FulcrumError found. Resources are checked
 * on their own, then references and cross-resource rules (F2, F4, F5, S1, S6, S7, T1, T3),
 * then the write rules (names, expectBody regexes; with `ctx.guard`, the address guard) —
 * only those the change brings in when `ctx.before` is given. A name refusal is `invalid`
 * (400) naming `name`, a regex one `invalid` naming `healthCheck.http.expectBody`; a guard
 * refusal is `conflict` (409) naming `privateIp`, `address` or `port`.
 */
export function validateConfig(c: ConfigState, ctx: ValidationContext = {}): void {
  const lbs = new Map(c.loadBalancers.map((x) => [x.id, x]));
  const backends = new Map(c.backends.map((x) => [x.id, x]));
  const instances = new Map(c.instances.map((x) => [x.id, x]));
  const certs = new Map(c.certificates.map((x) => [x.id, x]));

  for (const lb of c.loadBalancers) checkLoadBalancer(lb);
  for (const i of c.instances) checkInstance(i);
  for (const b of c.backends) checkBackend(b);
  for (const f of c.frontends) checkFrontend(f);
  for (const s of c.servers) checkServer(s);

  uniqueNames(c.loadBalancers, () => '', 'load balancer');
  uniqueNames(c.frontends, (f) => f.loadBalancerId, 'frontend in this load balancer');
  uniqueNames(c.backends, (b) => b.loadBalancerId, 'backend in this load balancer');
  uniqueNames(c.servers, (s) => s.backendId, 'server in this backend');
  uniqueNames(c.instances, () => '', 'instance');
  uniqueNames(c.certificates, () => '', 'certificate');

  for (const f of c.frontends) {
    if (f.redirectToHttps && !httpsTwin(c.frontends, f)) {
      throw rule('redirectToHttps', 'this load balancer has no enabled https frontend to redirect to (T1)');
    }
  }
  for (const b of c.backends) {
    if (!lbs.has(b.loadBalancerId))
      throw invalid('loadBalancerId', `loadBalancerId: no load balancer with id "${b.loadBalancerId}"`);
    const ca = b.tls.caCertificateId;
    if (ca !== null) {
      const cert = certs.get(ca);
      if (!cert) throw invalid('tls.caCertificateId', `tls.caCertificateId: no certificate with id "${ca}" (T3)`);
      if (cert.kind !== 'ca')
        throw invalid('tls.caCertificateId', `tls.caCertificateId: certificate "${cert.name}" is not a CA bundle (T3)`);
    }
  }

  const udpFrontendLbs = new Set<string>();
  for (const f of c.frontends) {
    const lb = lbs.get(f.loadBalancerId);
    if (!lb) throw invalid('loadBalancerId', `loadBalancerId: no load balancer with id "${f.loadBalancerId}"`);
    if (f.protocol === 'udp') udpFrontendLbs.add(lb.id);
    if (f.protocol === 'udp' && lb.ipAsBackend) {
      throw rule(
        'protocol',
        `load balancer "${lb.name}" has ipAsBackend on and accepts only tcp, http and https frontends (S7)`,
      );
    }
    const wantMode = f.protocol === 'https' ? 'http' : f.protocol;
    const checkRef = (id: string, field: string): void => {
      const b = backends.get(id);
      if (!b) throw invalid(field, `${field}: no backend with id "${id}"`);
      if (b.loadBalancerId !== f.loadBalancerId) {
        throw rule(field, `backend "${b.name}" belongs to another load balancer than frontend "${f.name}" (F4)`);
      }
      if (b.mode !== wantMode) {
        throw rule(
          field,
          `a ${f.protocol} frontend needs a ${wantMode} backend, backend "${b.name}" has mode ${b.mode} (F2)`,
        );
      }
    };
    if (f.defaultBackendId !== null) checkRef(f.defaultBackendId, 'defaultBackendId');
    f.rules.forEach((r, i) => {
      checkRef(r.backendId, `rules[${i}].backendId`);
    });
    f.sniRules.forEach((r, i) => {
      checkRef(r.backendId, `sniRules[${i}].backendId`);
    });
    f.certificateIds.forEach((id, i) => {
      const cert = certs.get(id);
      if (!cert) throw invalid(`certificateIds[${i}]`, `certificateIds[${i}]: no certificate with id "${id}" (T1)`);
      if (cert.kind !== 'server') {
        throw invalid(
          `certificateIds[${i}]`,
          `certificateIds[${i}]: certificate "${cert.name}" is a CA bundle, not a server certificate (T1)`,
        );
      }
    });
    if (f.protocol === 'https' && f.certificateIds.length === 0) {
      throw invalid('certificateIds', 'certificateIds: an https frontend needs at least one server certificate (T1)');
    }
  }
  for (let i = 0; i < c.frontends.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = c.frontends[i]!;
      const b = c.frontends[j]!;
      if (bindsClash(a, b)) {
        throw new FulcrumError(
          'port_in_use',
          `port: ${a.bindAddress}:${a.port} (${a.protocol === 'udp' ? 'udp' : 'tcp'}) is already bound by frontend "${b.name}" (${b.bindAddress}:${b.port}) (F5)`,
          'port',
        );
      }
    }
  }

  const serversPerLb = new Map<string, number>();
  for (const s of c.servers) {
    const b = backends.get(s.backendId);
    if (!b) throw invalid('backendId', `backendId: no backend with id "${s.backendId}"`);
    const lb = lbs.get(b.loadBalancerId)!;
    serversPerLb.set(lb.id, (serversPerLb.get(lb.id) ?? 0) + 1);
    if (s.port === null && b.port === null) {
      throw invalid('port', `port: server "${s.name}" has no port and backend "${b.name}" has no default port (F3)`);
    }
    if (s.caCertificateId !== null) {
      const cert = certs.get(s.caCertificateId);
      if (!cert)
        throw invalid('caCertificateId', `caCertificateId: no certificate with id "${s.caCertificateId}" (S1)`);
      if (cert.kind !== 'ca')
        throw invalid('caCertificateId', `caCertificateId: certificate "${cert.name}" is not a CA bundle (T3)`);
    }
    if (s.instanceId !== null) {
      const inst = instances.get(s.instanceId);
      if (!inst) throw invalid('instanceId', `instanceId: no instance with id "${s.instanceId}"`);
      if (s.address !== inst.privateIp) {
        throw invalid(
          'address',
          `address: server "${s.name}" follows instance "${inst.name}" whose IP is ${inst.privateIp}`,
        );
      }
      continue;
    }
    if (lb.ipAsBackend) continue;
    const known = c.instances.some((i) => i.privateIp === s.address);
    if (known) continue;
    const inNetwork = lb.allowedNetworks.some((n) => {
      const cidr = parseCidr4(n);
      return cidr !== undefined && cidrContains(cidr, s.address);
    });
    if (!inNetwork) {
      throw rule(
        'address',
        `${s.address} is neither an inventory instance's IP nor inside the allowed networks of load balancer "${lb.name}" (${lb.allowedNetworks.join(', ') || 'none'}); enable ipAsBackend to add any IPv4 address (S7)`,
      );
    }
  }
  for (const [lbId, n] of serversPerLb) {
    const lb = lbs.get(lbId)!;
    if (n > lb.maxServers) {
      throw new FulcrumError(
        'quota',
        `maxServers: load balancer "${lb.name}" holds at most ${lb.maxServers} servers (S6 quota)`,
        'maxServers',
      );
    }
  }

  const violations = writeViolations(c, ctx.guard);
  if (violations.length === 0) return;
  const kept = new Set(ctx.before ? writeViolations(ctx.before, ctx.guard).map((v) => v.key) : []);
  const fresh = violations.find((v) => !kept.has(v.key));
  if (fresh) throw fresh.error;
}

/**
 * Rules about a change rather than a state (S6, S7, SS2): ipAsBackend cannot be turned off
 * or turned on while a udp frontend exists, maxServers cannot go below the current count,
 * and the algorithm of a backend with slow start on cannot change.
 */
export function validateChange(before: ConfigState, after: ConfigState): void {
  const oldLbs = new Map(before.loadBalancers.map((x) => [x.id, x]));
  for (const lb of after.loadBalancers) {
    const old = oldLbs.get(lb.id);
    if (old?.ipAsBackend && !lb.ipAsBackend) {
      throw conflict('ipAsBackend', 'ipAsBackend cannot be turned off once it is on (S7)');
    }
    if (!old?.ipAsBackend && lb.ipAsBackend) {
      const udp = after.frontends.find((f) => f.loadBalancerId === lb.id && f.protocol === 'udp');
      if (udp) {
        throw conflict(
          'ipAsBackend',
          `ipAsBackend cannot be turned on while udp frontend "${udp.name}" exists: such a load balancer accepts only tcp, http and https frontends (S7)`,
        );
      }
    }
    if (old && lb.maxServers < old.maxServers) {
      const backendIds = new Set(after.backends.filter((b) => b.loadBalancerId === lb.id).map((b) => b.id));
      const count = after.servers.filter((s) => backendIds.has(s.backendId)).length;
      if (count > lb.maxServers) {
        throw conflict(
          'maxServers',
          `maxServers cannot be lower than the ${count} servers the load balancer holds (S6)`,
        );
      }
    }
  }
  const oldBackends = new Map(before.backends.map((x) => [x.id, x]));
  for (const b of after.backends) {
    const old = oldBackends.get(b.id);
    if (old?.slowStart.enabled && b.slowStart.enabled && old.algorithm !== b.algorithm) {
      throw rule('algorithm', `the algorithm cannot change while slow start is on; turn slow start off first (SS2)`);
    }
  }
}
