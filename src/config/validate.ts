import type { TSchema } from 'typebox';
import { combineErrors, type FulcrumError, invalid } from '../core/errors.ts';
import { type AddressGuard, backendAddressProblem, frontendBindProblem } from './address-guard.ts';
import type { ConfigState, Server } from './model.ts';
import { CertificateNameMaxLength, NameMaxLength, nameProblem, normalizeName } from './names.ts';
import { StoredSchemas } from './schemas.ts';
import { backendChangeProblems, backendRefs, backendRules, expectBodyProblem } from './validate-backend.ts';
import { checkFields, conflict, indexes, type Report, resourceCheck, type Violation } from './validate-common.ts';
import { frontendRefs, frontendRules } from './validate-frontend.ts';
import { loadBalancerChangeProblems, loadBalancerQuota, loadBalancerRules } from './validate-load-balancer.ts';
import { duplicateServers, instanceRules, serverRefs, serverRules } from './validate-server.ts';

/**
 * Semantic validation of a whole configuration (DESIGN.md "validate (JSON Schema, then
 * semantic rules)"): the rules that involve more than one field, one module per resource
(validate-load-balancer.ts, validate-frontend.ts, validate-backend.ts, validate-server.ts)
run from here in one order. The
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
export { checkPersistence, persistenceProblem } from './validate-backend.ts';

// The rules of each resource live in validate-<resource>.ts; this module runs them in order
// and keeps the rules that span every kind (unique names, the write rules).

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
export function configProblems(
  c: ConfigState,
  ctx: ValidationContext = {},
  serversPerLb?: ReadonlyMap<string, number>,
): FulcrumError[] {
  const out: FulcrumError[] = [];
  const report: Report = (e) => {
    out.push(e);
  };
  const ix = indexes(c);

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

  backendRefs(c, ix, report);
  frontendRefs(c, ix, report);
  const counted = serverRefs(c, ix, report);
  loadBalancerQuota(ix.lbs, serversPerLb ?? counted, report);

  const violations = writeViolations(c, ctx.guard);
  if (violations.length > 0) {
    const kept = new Set(ctx.before ? writeViolations(ctx.before, ctx.guard).map((v) => v.key) : []);
    for (const v of violations) if (!kept.has(v.key)) report(v.error);
  }
  return out;
}

/** Above this many touched servers, a change is validated whole. */
const IncrementalMaxServers = 256;

/** A name as uniqueness compares it (NFC; ASCII is its own NFC form). */
function nameKey(name: unknown): string {
  if (typeof name !== 'string') return '';
  return /^[\x00-\x7f]*$/.test(name) ? name : normalizeName(name);
}

/**
 * The problems of a change, validated incrementally (issue 13 point 4): the same list, in
 * the same order, as `configProblems(after, { guard, before })`, provided `before` itself has
 * none (it passed validation) — at the cost of the touched resources, not of the whole
 * configuration. Every resource except servers is judged whole (they are few); of the
 * servers, only those `touched` holds plus those they could clash with (same backend and
 * name, or same backend and endpoint) are judged, and the per-load-balancer quota counts
 * every server. Answers undefined when the change touches load balancers, backends,
 * instances or certificates (servers depend on them: the caller validates the whole
 * configuration) or too many servers.
 */
export function changeConfigProblems(
  before: ConfigState,
  after: ConfigState,
  touched: TouchedDocs,
  guard: AddressGuard | undefined,
): FulcrumError[] | undefined {
  for (const kind of ['loadBalancer', 'backend', 'instance', 'certificate']) {
    if ((touched.before[kind]?.length ?? 0) > 0 || (touched.after[kind]?.length ?? 0) > 0) return undefined;
  }
  const tb = (touched.before.server ?? []) as readonly Server[];
  const ta = (touched.after.server ?? []) as readonly Server[];
  if (tb.length + ta.length > IncrementalMaxServers) return undefined;
  if ([...tb, ...ta].some((s) => s === null || typeof s !== 'object')) return undefined;
  const ix = serverIndex(before);
  // The servers a touched one could clash with: same backend and name, same backend and endpoint.
  const clash = new Set<Server>(tb);
  for (const s of [...tb, ...ta]) {
    for (const x of ix.names.get(nameKeyOf(s)) ?? []) clash.add(x);
    const e = ix.endpointKeyOf(s);
    if (e !== undefined) for (const x of ix.endpoints.get(e) ?? []) clash.add(x);
  }
  const gone = new Set<Server>(tb);
  const inOrder = (docs: Iterable<Server>, list: readonly Server[]): Server[] =>
    [...docs]
      .map((d) => [list.indexOf(d), d] as const)
      .sort((x, y) => x[0] - y[0])
      .map(([, d]) => d);
  const beforeRelated = inOrder(clash, before.servers);
  const afterRelated = inOrder(new Set([...[...clash].filter((d) => !gone.has(d)), ...ta]), after.servers);
  // S6: the quota counts every server whose backend and load balancer exist (serverRefs).
  const perBackend = new Map(ix.perBackend);
  for (const s of tb) perBackend.set(s.backendId, (perBackend.get(s.backendId) ?? 0) - 1);
  for (const s of ta) perBackend.set(s.backendId, (perBackend.get(s.backendId) ?? 0) + 1);
  const lbOf = new Map(after.backends.map((b) => [b.id, b.loadBalancerId]));
  const lbs = new Map(after.loadBalancers.map((l) => [l.id, l]));
  const serversPerLb = new Map<string, number>();
  for (const [backendId, n] of perBackend) {
    const lb = lbOf.get(backendId);
    if (lb !== undefined && lbs.has(lb)) serversPerLb.set(lb, (serversPerLb.get(lb) ?? 0) + n);
  }
  // The quota is reported in the order serverRefs meets the load balancers: with one over
  // its quota (the state before had none), that order does not matter.
  if ([...serversPerLb].filter(([id, n]) => n > (lbs.get(id)?.maxServers ?? Infinity)).length > 1) return undefined;
  return configProblems(
    { ...after, servers: afterRelated },
    { guard, before: { ...before, servers: beforeRelated } },
    serversPerLb,
  );
}

/** What `changeConfigProblems` reads of config/changes.ts's Touched. */
interface TouchedDocs {
  before: Readonly<Record<string, readonly { id: string }[]>>;
  after: Readonly<Record<string, readonly { id: string }[]>>;
}

/** The servers of a state by backend and name, by backend and endpoint, and counted by backend. */
interface ServerIndex {
  readonly ports: ReadonlyMap<string, number | null>;
  readonly names: Map<string, Set<Server>>;
  readonly endpoints: Map<string, Set<Server>>;
  readonly perBackend: Map<string, number>;
  endpointKeyOf(s: Server): string | undefined;
}

/** One index per servers array (a state's, kept as the next state's by `advanceServerIndex`). */
const serverIndexes = new WeakMap<readonly Server[], ServerIndex>();

function nameKeyOf(s: Server): string {
  return `${s.backendId}\u0000${nameKey(s.name)}`;
}

function addTo(map: Map<string, Set<Server>>, key: string | undefined, s: Server): void {
  if (key === undefined) return;
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(s);
}

function removeFrom(map: Map<string, Set<Server>>, key: string | undefined, s: Server): void {
  if (key === undefined) return;
  const set = map.get(key);
  set?.delete(s);
  if (set?.size === 0) map.delete(key);
}

/** The index of `state`'s servers: kept while the backends' ports are those it was built with. */
function serverIndex(state: ConfigState): ServerIndex {
  const kept = serverIndexes.get(state.servers);
  if (
    kept &&
    kept.ports.size === state.backends.length &&
    state.backends.every((b) => kept.ports.has(b.id) && kept.ports.get(b.id) === b.port)
  ) {
    return kept;
  }
  const ports = new Map(state.backends.map((b) => [b.id, b.port]));
  const ix: ServerIndex = {
    ports,
    names: new Map(),
    endpoints: new Map(),
    perBackend: new Map(),
    endpointKeyOf(s) {
      const port = s.port ?? ports.get(s.backendId) ?? null;
      return port === null ? undefined : `${s.backendId}\u0000${s.address}:${port}`;
    },
  };
  for (const s of state.servers) {
    addTo(ix.names, nameKeyOf(s), s);
    addTo(ix.endpoints, ix.endpointKeyOf(s), s);
    ix.perBackend.set(s.backendId, (ix.perBackend.get(s.backendId) ?? 0) + 1);
  }
  serverIndexes.set(state.servers, ix);
  return ix;
}

/**
 * Moves the index of `before`'s servers to `after`'s once a change validated by
 * `changeConfigProblems` is committed, so the next change finds it at the cost of this one.
 */
export function advanceServerIndex(before: ConfigState, after: ConfigState, touched: TouchedDocs): void {
  const ix = serverIndexes.get(before.servers);
  if (!ix) return;
  serverIndexes.delete(before.servers);
  for (const s of (touched.before.server ?? []) as Server[]) {
    removeFrom(ix.names, nameKeyOf(s), s);
    removeFrom(ix.endpoints, ix.endpointKeyOf(s), s);
    ix.perBackend.set(s.backendId, (ix.perBackend.get(s.backendId) ?? 0) - 1);
  }
  for (const s of (touched.after.server ?? []) as Server[]) {
    addTo(ix.names, nameKeyOf(s), s);
    addTo(ix.endpoints, ix.endpointKeyOf(s), s);
    ix.perBackend.set(s.backendId, (ix.perBackend.get(s.backendId) ?? 0) + 1);
  }
  serverIndexes.set(after.servers, ix);
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
  loadBalancerChangeProblems(before, after, out);
  backendChangeProblems(before, after, out);
  return out;
}
