import type { TSchema } from 'typebox';
import { combineErrors, FulcrumError, invalid } from '../core/errors.ts';
import { compileLinearRegex, splitSlashPattern } from '../core/linear-regex.ts';
import { cidrContains, isIpAddress, parseCidr4 } from '../core/net.ts';
import { type AddressGuard, backendAddressProblem, frontendBindProblem, parseIPv4Strict } from './address-guard.ts';
import { expectedCodesProblem } from './expected-codes.ts';
import type { Backend, ConfigState, Frontend, Instance, LoadBalancer, Mode, Persistence, Server } from './model.ts';
import { CertificateNameMaxLength, NameMaxLength, nameProblem, normalizeName } from './names.ts';
import { checkSchema } from './schema-errors.ts';
import { PersistenceSchema, StoredSchemas } from './schemas.ts';
import { httpsTwin } from './snapshot.ts';

/**
 * Semantic validation of a whole configuration (DESIGN.md "validate (JSON Schema, then
 * semantic rules)"), the one place for the rules that involve more than one field. The
 * per-field rules (types, ranges, enums, patterns) are schemas.ts's (`StoredSchemas`), applied
 * here too so a YAML file or the CLI gets the same rules as the API. This module adds the
 * value formats a parser judges (CIDRs, IP addresses, expected codes), the rules across the
 * fields of one resource (a timeout within its interval, cookie persistence on http…) and
 * across resources: references, uniqueness, mode matches, quotas, port conflicts, the
 * allowed networks, slow start, the write rules (names, address guard, duplicate servers).
 *
 * Every problem is reported, not only the first: the thrown FulcrumError is the first one
 * (`field: rule` message) with `details` listing them all. Codes: `invalid` (400) for a
 * value that is wrong on its own, `conflict`/`rule`/`quota`/`port_in_use` (409) for one that
 * clashes with the rest of the configuration. Messages say the rule in words; the SPEC ids
 * (P2, S7, SS2…) are in the comments.
 */

export { parseExpectedCodes } from './expected-codes.ts';

/** Collects the problems of a validation run. */
type Report = (err: FulcrumError) => void;

function rule(field: string, message: string): FulcrumError {
  return new FulcrumError('rule', `${field}: ${message}`, field);
}
function conflict(field: string, message: string): FulcrumError {
  return new FulcrumError('conflict', `${field}: ${message}`, field);
}

/** The per-field rules of schemas.ts on one stored resource. */
function checkFields(schema: TSchema, doc: unknown, report: Report): boolean {
  const problems = checkSchema(schema, doc);
  for (const p of problems) report(p);
  return problems.length === 0;
}

/** Rules of a load balancer on its own beyond its fields' schemas: allowed networks are IPv4 CIDRs (S7). */
function loadBalancerRules(lb: LoadBalancer, report: Report): void {
  if (!Array.isArray(lb.allowedNetworks)) return;
  lb.allowedNetworks.forEach((c, i) => {
    if (typeof c !== 'string' || !parseCidr4(c)) {
      report(invalid(`allowedNetworks[${i}]`, `allowedNetworks[${i}]: must be an IPv4 CIDR such as 10.0.0.0/8`));
    }
  });
}

/** Rules of a frontend on its own beyond its fields' schemas (F1, F4, T1, T4). */
function frontendRules(f: Frontend, report: Report): void {
  if (typeof f.bindAddress !== 'string' || !isIpAddress(f.bindAddress)) {
    report(invalid('bindAddress', 'bindAddress: must be an IPv4 or IPv6 address'));
  }
  if (f.rules.length > 0 && f.protocol !== 'http' && f.protocol !== 'https') {
    // F4
    report(rule('rules', `routing rules need an http or https frontend, this one is ${f.protocol}`));
  }
  f.rules.forEach((r, i) => {
    const m = r.match ?? {};
    if (!m.host && !m.path && !m.pathPrefix && !m.header && !m.method) {
      report(
        invalid(
          `rules[${i}].match`,
          `rules[${i}].match: must give at least one of host, path, pathPrefix, header, method`,
        ),
      );
    }
  });
  if (f.tlsPassthrough && f.protocol !== 'tcp') {
    // T4
    report(rule('tlsPassthrough', `tlsPassthrough: TLS passthrough needs a tcp frontend, this one is ${f.protocol}`));
  }
  if (f.sniRules.length > 0 && !f.tlsPassthrough) {
    report(rule('sniRules', 'sniRules: SNI rules need tlsPassthrough on a tcp frontend'));
  }
  if (f.redirectToHttps && f.protocol !== 'http') {
    // T1
    report(rule('redirectToHttps', `redirectToHttps: applies to http frontends, this one is ${f.protocol}`));
  }
  if (f.certificateIds.length > 0 && f.protocol !== 'https') {
    report(rule('certificateIds', `certificateIds: certificates apply to https frontends, this one is ${f.protocol}`));
  }
}

/**
 * The persistence rule across fields (P2), the one copy (the API, files and the data plane's
 * persistence/choose.ts use it): cookie and app-cookie persistence need an http backend
 * (409 `rule`), app-cookie needs a `cookieName` (400). Undefined when the settings fit.
 */
export function persistenceProblem(p: Persistence, mode: Mode): FulcrumError | undefined {
  if ((p.type === 'cookie' || p.type === 'app-cookie') && mode !== 'http') {
    return rule('persistence.type', `${p.type} persistence needs an http backend, this one is ${mode}`);
  }
  if (p.type === 'app-cookie' && !p.cookieName) {
    return invalid('persistence.cookieName', 'persistence.cookieName: is required with app-cookie persistence');
  }
  return undefined;
}

/**
 * A backend's persistence settings on their own (P1, P2): the fields' rules of schemas.ts
 * and `persistenceProblem`. Throws every problem as one FulcrumError; the data plane
 * (persistence/choose.ts) runs it too and treats refused settings as `none`.
 */
export function checkPersistence(p: Persistence, mode: Mode): void {
  const problems = checkSchema(PersistenceSchema, p, ['persistence']);
  if (problems.length === 0) {
    const cross = persistenceProblem(p, mode);
    if (cross) problems.push(cross);
  }
  const err = combineErrors(problems);
  if (err) throw err;
}

/** Rules of a backend on its own beyond its fields' schemas (H1, H3, H7, P2, SS2, T2). */
function backendRules(b: Backend, report: Report): void {
  const p = persistenceProblem(b.persistence, b.mode);
  if (p) report(p);
  const hc = b.healthCheck;
  if (isInt(hc.intervalSeconds, 1, 300) && !isInt(hc.timeoutSeconds, 1, hc.intervalSeconds)) {
    report(
      invalid(
        'healthCheck.timeoutSeconds',
        `healthCheck.timeoutSeconds: must be an integer from 1 to intervalSeconds (${hc.intervalSeconds})`,
      ),
    );
  }
  if (hc.http) {
    const problem = expectedCodesProblem(hc.http.expectedCodes);
    if (problem) report(invalid('healthCheck.http.expectedCodes', `healthCheck.http.expectedCodes: ${problem}`));
  }
  // H1: the settings a check type needs.
  if ((hc.type === 'http' || hc.type === 'https') && !hc.http) {
    report(invalid('healthCheck.http', `healthCheck.http: is required with a ${hc.type} check`));
  }
  if (hc.type === 'mysql' && !hc.mysql)
    report(invalid('healthCheck.mysql', 'healthCheck.mysql: is required with a mysql check'));
  if (hc.type === 'postgres' && !hc.postgres) {
    report(invalid('healthCheck.postgres', 'healthCheck.postgres: is required with a postgres check'));
  }
  if (hc.type === 'udp' && b.mode !== 'udp') {
    report(rule('healthCheck.type', `a udp health check needs a udp backend, this one is ${b.mode}`));
  }
  if (b.slowStart.enabled && (b.mode !== 'http' || b.algorithm !== 'weighted-round-robin')) {
    // SS2
    report(
      rule(
        'slowStart.enabled',
        `slow start needs an http backend with weighted-round-robin, this one is ${b.mode} with ${b.algorithm}`,
      ),
    );
  }
  // T2
  if (b.tls.enabled && b.mode === 'udp') report(rule('tls.enabled', 'backend TLS needs an http or tcp backend'));
  const od = b.outlierDetection;
  if (isInt(od.baseEjectionSeconds, 1, 3600) && !isInt(od.maxEjectionSeconds, od.baseEjectionSeconds, 86400)) {
    report(
      invalid(
        'outlierDetection.maxEjectionSeconds',
        `outlierDetection.maxEjectionSeconds: must be an integer from baseEjectionSeconds (${od.baseEjectionSeconds}) to 86400`,
      ),
    );
  }
}

/** Rules of a server on its own beyond its fields' schemas: a custom address is an IPv4 dotted quad (S1, S7). */
function serverRules(s: Server, report: Report): void {
  if (s.instanceId === null && (typeof s.address !== 'string' || parseIPv4Strict(s.address) === undefined)) {
    report(
      invalid(
        'address',
        `address: must be an IPv4 address in dotted-quad form such as 10.0.0.11 (four decimal numbers 0–255 without leading zeros; custom IPs are IPv4 only), got "${s.address}"`,
      ),
    );
  }
}

/** Rules of an inventory instance on its own beyond its fields' schemas. */
function instanceRules(i: Instance, report: Report): void {
  if (typeof i.privateIp !== 'string' || !isIpAddress(i.privateIp)) {
    report(invalid('privateIp', 'privateIp: must be an IPv4 or IPv6 address'));
  }
}

function isInt(v: unknown, min: number, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function resourceCheck<T>(schema: TSchema, rules: (doc: T, report: Report) => void): (doc: T) => void {
  return (doc) => {
    const out: FulcrumError[] = [];
    const report: Report = (e) => {
      out.push(e);
    };
    if (checkFields(schema, doc, report)) rules(doc, report);
    const err = combineErrors(out);
    if (err) throw err;
  };
}

/** One resource on its own (its fields' rules, then its cross-field rules); throws every problem as one FulcrumError. */
export const checkLoadBalancer = resourceCheck(StoredSchemas.loadBalancer, loadBalancerRules);
export const checkFrontend = resourceCheck(StoredSchemas.frontend, frontendRules);
export const checkBackend = resourceCheck(StoredSchemas.backend, backendRules);
export const checkServer = resourceCheck(StoredSchemas.server, serverRules);
export const checkInstance = resourceCheck(StoredSchemas.instance, instanceRules);

/** S1: names are unique in their scope. */
function uniqueNames<T extends { id: string; name: string }>(
  items: readonly T[],
  scope: (t: T) => string,
  what: string,
  report: Report,
): void {
  const seen = new Map<string, string>();
  for (const it of items) {
    if (typeof it.name !== 'string') continue;
    // Uniqueness compares NFC forms: two spellings of one text are one name.
    const key = `${scope(it)}\u0000${normalizeName(it.name)}`;
    if (seen.has(key) && seen.get(key) !== it.id) {
      report(conflict('name', `a ${what} named "${it.name}" already exists; names are unique`));
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
  out.push(...duplicateServers(c));
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
 * Duplicate servers (issue 11): two servers of one backend with the same address and
 * effective port (the backend's when the server has none; an instance-bound server's address
 * is its instance's privateIp). A write rule: stored data that predates it is kept.
 */
function duplicateServers(c: ConfigState): Violation[] {
  const out: Violation[] = [];
  const backendPorts = new Map(c.backends.map((b) => [b.id, b.port]));
  const seen = new Map<string, Server>();
  for (const s of c.servers) {
    const port = s.port ?? backendPorts.get(s.backendId) ?? null;
    if (port === null) continue;
    const endpoint = `${s.address}:${port}`;
    const key = `${s.backendId}\u0000${endpoint}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, s);
      continue;
    }
    out.push({
      key: `server:${s.id}:endpoint:${endpoint}`,
      error: conflict(
        'address',
        `server "${s.name}" has the same address and port (${endpoint}) as server "${first.name}" of this backend; each server of a backend needs its own address:port`,
      ),
    });
  }
  return out;
}

/**
 * Checks a whole configuration and throws when it breaks a rule: a FulcrumError naming the
 * first problem, with `details` listing every one. Resources are checked on their own (the
 * schemas of schemas.ts, then their cross-field rules), then references and cross-resource
 * rules (F2, F4, F5, S1, S6, S7, T1, T3), then the write rules (names, expectBody regexes,
 * duplicate servers; with `ctx.guard`, the address guard) — only those the change brings
 * in when `ctx.before` is given. A name refusal is `invalid` (400) naming `name`, a regex
 * one `invalid` naming `healthCheck.http.expectBody`; a guard refusal is `conflict` (409)
 * naming `privateIp`, `address` or `port`, a duplicate server `conflict` naming `address`.
 */
export function validateConfig(c: ConfigState, ctx: ValidationContext = {}): void {
  const problems = configProblems(c, ctx);
  const err = combineErrors(problems);
  if (err) throw err;
}

/** Every problem of a configuration, in report order (see validateConfig). */
export function configProblems(c: ConfigState, ctx: ValidationContext = {}): FulcrumError[] {
  const out: FulcrumError[] = [];
  const report: Report = (e) => {
    out.push(e);
  };
  const lbs = new Map(c.loadBalancers.map((x) => [x.id, x]));
  const backends = new Map(c.backends.map((x) => [x.id, x]));
  const instances = new Map(c.instances.map((x) => [x.id, x]));
  const certs = new Map(c.certificates.map((x) => [x.id, x]));

  // Per-field rules first; a resource whose fields break them is not judged further (its
  // values may not even have their types), nor is the rest (references would cascade).
  const judge = <T>(docs: readonly T[], schema: TSchema, rules: (doc: T, report: Report) => void): boolean =>
    docs
      .map((d) => {
        if (!checkFields(schema, d, report)) return false;
        rules(d, report);
        return true;
      })
      .every(Boolean);
  const shaped = [
    judge(c.loadBalancers, StoredSchemas.loadBalancer, loadBalancerRules),
    judge(c.instances, StoredSchemas.instance, instanceRules),
    judge(c.backends, StoredSchemas.backend, backendRules),
    judge(c.frontends, StoredSchemas.frontend, frontendRules),
    judge(c.servers, StoredSchemas.server, serverRules),
  ].every(Boolean);
  if (!shaped) return out;

  uniqueNames(c.loadBalancers, () => '', 'load balancer', report);
  uniqueNames(c.frontends, (f) => f.loadBalancerId, 'frontend in this load balancer', report);
  uniqueNames(c.backends, (b) => b.loadBalancerId, 'backend in this load balancer', report);
  uniqueNames(c.servers, (s) => s.backendId, 'server in this backend', report);
  uniqueNames(c.instances, () => '', 'instance', report);
  uniqueNames(c.certificates, () => '', 'certificate', report);

  for (const f of c.frontends) {
    if (f.redirectToHttps && !httpsTwin(c.frontends, f)) {
      // T1
      report(rule('redirectToHttps', 'this load balancer has no enabled https frontend to redirect to'));
    }
  }
  for (const b of c.backends) {
    if (!lbs.has(b.loadBalancerId))
      report(invalid('loadBalancerId', `loadBalancerId: no load balancer with id "${b.loadBalancerId}"`));
    const ca = b.tls.caCertificateId;
    if (ca !== null) {
      // T3
      const cert = certs.get(ca);
      if (!cert) report(invalid('tls.caCertificateId', `tls.caCertificateId: no certificate with id "${ca}"`));
      else if (cert.kind !== 'ca')
        report(invalid('tls.caCertificateId', `tls.caCertificateId: certificate "${cert.name}" is not a CA bundle`));
    }
  }

  for (const f of c.frontends) {
    const lb = lbs.get(f.loadBalancerId);
    if (!lb) {
      report(invalid('loadBalancerId', `loadBalancerId: no load balancer with id "${f.loadBalancerId}"`));
      continue;
    }
    if (f.protocol === 'udp' && lb.ipAsBackend) {
      // S7
      report(
        rule(
          'protocol',
          `load balancer "${lb.name}" has ipAsBackend on and accepts only tcp, http and https frontends`,
        ),
      );
    }
    const wantMode = f.protocol === 'https' ? 'http' : f.protocol;
    const checkRef = (id: string, field: string): void => {
      const b = backends.get(id);
      if (!b) {
        report(invalid(field, `${field}: no backend with id "${id}"`));
        return;
      }
      if (b.loadBalancerId !== f.loadBalancerId) {
        // F4
        report(rule(field, `backend "${b.name}" belongs to another load balancer than frontend "${f.name}"`));
      }
      if (b.mode !== wantMode) {
        // F2
        report(
          rule(field, `a ${f.protocol} frontend needs a ${wantMode} backend, backend "${b.name}" has mode ${b.mode}`),
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
    // T1
    f.certificateIds.forEach((id, i) => {
      const cert = certs.get(id);
      if (!cert) report(invalid(`certificateIds[${i}]`, `certificateIds[${i}]: no certificate with id "${id}"`));
      else if (cert.kind !== 'server') {
        report(
          invalid(
            `certificateIds[${i}]`,
            `certificateIds[${i}]: certificate "${cert.name}" is a CA bundle, not a server certificate`,
          ),
        );
      }
    });
    if (f.protocol === 'https' && f.certificateIds.length === 0) {
      report(invalid('certificateIds', 'certificateIds: an https frontend needs at least one server certificate'));
    }
  }
  // F5
  for (let i = 0; i < c.frontends.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = c.frontends[i]!;
      const b = c.frontends[j]!;
      if (bindsClash(a, b)) {
        report(
          new FulcrumError(
            'port_in_use',
            `port: ${a.bindAddress}:${a.port} (${a.protocol === 'udp' ? 'udp' : 'tcp'}) is already bound by frontend "${b.name}" (${b.bindAddress}:${b.port})`,
            'port',
          ),
        );
      }
    }
  }

  const serversPerLb = new Map<string, number>();
  for (const s of c.servers) {
    const b = backends.get(s.backendId);
    if (!b) {
      report(invalid('backendId', `backendId: no backend with id "${s.backendId}"`));
      continue;
    }
    const lb = lbs.get(b.loadBalancerId);
    if (!lb) continue;
    serversPerLb.set(lb.id, (serversPerLb.get(lb.id) ?? 0) + 1);
    if (s.port === null && b.port === null) {
      // F3
      report(invalid('port', `port: server "${s.name}" has no port and backend "${b.name}" has no default port`));
    }
    if (s.caCertificateId !== null) {
      const cert = certs.get(s.caCertificateId);
      if (!cert) report(invalid('caCertificateId', `caCertificateId: no certificate with id "${s.caCertificateId}"`));
      else if (cert.kind !== 'ca')
        report(invalid('caCertificateId', `caCertificateId: certificate "${cert.name}" is not a CA bundle`));
    }
    if (s.instanceId !== null) {
      const inst = instances.get(s.instanceId);
      if (!inst) report(invalid('instanceId', `instanceId: no instance with id "${s.instanceId}"`));
      else if (s.address !== inst.privateIp) {
        report(
          invalid(
            'address',
            `address: server "${s.name}" follows instance "${inst.name}" whose IP is ${inst.privateIp}`,
          ),
        );
      }
      continue;
    }
    // S7: a custom address is an instance's IP or inside the allowed networks, unless ipAsBackend.
    if (lb.ipAsBackend) continue;
    const known = c.instances.some((i) => i.privateIp === s.address);
    if (known) continue;
    const inNetwork = lb.allowedNetworks.some((n) => {
      const cidr = parseCidr4(n);
      return cidr !== undefined && cidrContains(cidr, s.address);
    });
    if (!inNetwork) {
      report(
        rule(
          'address',
          `${s.address} is neither an inventory instance's IP nor inside the allowed networks of load balancer "${lb.name}" (${lb.allowedNetworks.join(', ') || 'none'}); enable ipAsBackend to add any IPv4 address`,
        ),
      );
    }
  }
  // S6
  for (const [lbId, n] of serversPerLb) {
    const lb = lbs.get(lbId)!;
    if (n > lb.maxServers) {
      report(
        new FulcrumError(
          'quota',
          `maxServers: load balancer "${lb.name}" holds at most ${lb.maxServers} servers`,
          'maxServers',
        ),
      );
    }
  }

  const violations = writeViolations(c, ctx.guard);
  if (violations.length > 0) {
    const kept = new Set(ctx.before ? writeViolations(ctx.before, ctx.guard).map((v) => v.key) : []);
    for (const v of violations) if (!kept.has(v.key)) report(v.error);
  }
  return out;
}

/**
 * Rules about a change rather than a state (S6, S7, SS2), every problem reported: ipAsBackend cannot be turned off
 * or turned on while a udp frontend exists, maxServers cannot go below the current count,
 * and the algorithm of a backend with slow start on cannot change.
 */
export function validateChange(before: ConfigState, after: ConfigState): void {
  const err = combineErrors(changeProblems(before, after));
  if (err) throw err;
}

/** Every problem of a change (see validateChange). */
export function changeProblems(before: ConfigState, after: ConfigState): FulcrumError[] {
  const out: FulcrumError[] = [];
  const oldLbs = new Map(before.loadBalancers.map((x) => [x.id, x]));
  for (const lb of after.loadBalancers) {
    const old = oldLbs.get(lb.id);
    if (old?.ipAsBackend && !lb.ipAsBackend) {
      out.push(conflict('ipAsBackend', 'ipAsBackend cannot be turned off once it is on'));
    }
    if (!old?.ipAsBackend && lb.ipAsBackend) {
      const udp = after.frontends.find((f) => f.loadBalancerId === lb.id && f.protocol === 'udp');
      if (udp) {
        out.push(
          conflict(
            'ipAsBackend',
            `ipAsBackend cannot be turned on while udp frontend "${udp.name}" exists: such a load balancer accepts only tcp, http and https frontends`,
          ),
        );
      }
    }
    if (old && lb.maxServers < old.maxServers) {
      const backendIds = new Set(after.backends.filter((b) => b.loadBalancerId === lb.id).map((b) => b.id));
      const count = after.servers.filter((s) => backendIds.has(s.backendId)).length;
      if (count > lb.maxServers) {
        out.push(
          conflict('maxServers', `maxServers cannot be lower than the ${count} servers the load balancer holds`),
        );
      }
    }
  }
  const oldBackends = new Map(before.backends.map((x) => [x.id, x]));
  for (const b of after.backends) {
    const old = oldBackends.get(b.id);
    if (old?.slowStart.enabled && b.slowStart.enabled && old.algorithm !== b.algorithm) {
      out.push(rule('algorithm', `the algorithm cannot change while slow start is on; turn slow start off first`));
    }
  }
  return out;
}
