import { combineErrors, type FulcrumError, invalid } from '../core/errors.ts';
import { compileLinearRegex, splitSlashPattern } from '../core/linear-regex.ts';
import { expectedCodesProblem } from './expected-codes.ts';
import { isSrvName, parseResolverAddress } from './host-name.ts';
import type { Backend, ConfigState, Mode, Persistence } from './model.ts';
import { checkSchema } from './schema-errors.ts';
import { PersistenceSchema } from './schemas.ts';
import { type Indexes, isInt, type Report, rule } from './validate-common.ts';

/** Backends: their own rules (health check, persistence, slow start, TLS), references, and changes (SS2). */

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
export function backendRules(b: Backend, report: Report): void {
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
  if (b.proxyProtocol != null && b.mode === 'udp') {
    report(rule('proxyProtocol', 'applies to tcp and http backends, this one is udp'));
  }
  if (b.discovery) {
    if (!isSrvName(b.discovery.name))
      report(invalid('discovery.name', 'discovery.name: must be an SRV name such as _http._tcp.api.internal'));
    if (b.discovery.resolver != null) {
      try {
        parseResolverAddress(b.discovery.resolver);
      } catch {
        report(invalid('discovery.resolver', 'discovery.resolver: must be IP:port such as 10.0.0.2:53'));
      }
    }
    if (b.mode === 'udp') report(rule('discovery', 'discovery: applies to http and tcp backends, this one is udp'));
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

/** A backend's references: its load balancer and its CA bundle (T3). */
export function backendRefs(c: ConfigState, ix: Indexes, report: Report): void {
  const { lbs, certs } = ix;
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
}

/** Rules about a change of backends (SS2): the algorithm stays while slow start is on. */
export function backendChangeProblems(before: ConfigState, after: ConfigState, out: FulcrumError[]): void {
  const oldBackends = new Map(before.backends.map((x) => [x.id, x]));
  for (const b of after.backends) {
    const old = oldBackends.get(b.id);
    if (old?.slowStart.enabled && b.slowStart.enabled && old.algorithm !== b.algorithm) {
      out.push(rule('algorithm', `the algorithm cannot change while slow start is on; turn slow start off first`));
    }
  }
}

/** Verdicts of `expectBodyProblem` by text: compiling is cheap but every change re-checks every backend. */
const expectBodyVerdicts = new Map<string, FulcrumError | null>();

/**
 * Issue 10: an `expectBody` written as `/regex/flags` must compile on the linear-time engine
 * (core/linear-regex.ts: RE2 syntax, no backreferences, no lookaround, at most 1024
 * characters). Answers the refusal (400 naming `healthCheck.http.expectBody`), or null.
 */
export function expectBodyProblem(text: string): FulcrumError | null {
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
