import type { Backend, ConfigState, Frontend, Instance, LoadBalancer, Server } from '../config/model.ts';
import {
  buildBackend,
  buildFrontend,
  buildInstance,
  buildLoadBalancer,
  buildServer,
  mergeBackend,
  mergePatch,
  mergeServer,
} from '../config/resources.ts';
import { checkBackend, checkFrontend, checkInstance, checkLoadBalancer, checkServer } from '../config/validate.ts';
import type { DeclarativeFile, Fields } from './parse.ts';
import { DeclarativeFileError } from './parse.ts';

/**
 * The plan of a declarative apply (SPEC C4): what to create, update (only the fields that
 * differ, before → after) and delete (only with `prune`) so the configuration matches the
 * file. Pure: compares the file with a ConfigState (read through the API by the CLI, or the
 * control plane's own state at `serve --config`).
 *
 * Semantics: a resource named in the file is wanted exactly as the API would build it from
 * the file's fields (omitted fields take their defaults, config/defaults.ts), so applying a
 * file to an empty configuration and re-applying it to its result plan nothing. Optional keys
 * the API cannot unset through PATCH (e.g. `healthCheck.http.host`) are kept when the file
 * leaves them out. Load balancers and instances are never deleted; `prune` deletes only
 * frontends, backends (with their servers) and servers under the file's load balancers.
 */

/** Resource kinds a file manages (certificates are only referred to by name). */
export type PlanKind = 'loadBalancer' | 'instance' | 'backend' | 'server' | 'frontend';

/** One field's change: `field` is a dotted path (`healthCheck.intervalSeconds`). */
export interface FieldChange {
  field: string;
  before: unknown;
  after: unknown;
}

/** One call of the plan. Ids of resources the plan creates are placeholders (`new:…`) until applied. */
export interface PlanStep {
  op: 'create' | 'update' | 'delete';
  kind: PlanKind;
  /** Human name: `shop`, `shop/web`, `shop/web/web-1`. */
  name: string;
  /** The resource's id, or a placeholder for a create. */
  id: string;
  /** Servers: the parent backend's id (or placeholder). */
  backendId?: string;
  /** create: the POST body; update: the PATCH body (only what differs); delete: `{}`. */
  body: Fields;
  /** create: the fields given; update: before → after; delete: empty. */
  changes: FieldChange[];
  /** Extra words for the diff (e.g. a backend deleted with its servers). */
  note?: string;
}

export interface Plan {
  steps: PlanStep[];
  /** id or placeholder → name, to show references by name. */
  names: Map<string, string>;
}

/** Options of `planApply`. */
export interface PlanOptions {
  /** Delete frontends, backends and servers under the file's load balancers that the file does not name. */
  prune: boolean;
}

/** Human label of a kind. */
export const KindLabel: Record<PlanKind, string> = {
  loadBalancer: 'load balancer',
  instance: 'instance',
  backend: 'backend',
  server: 'server',
  frontend: 'frontend',
};

/** Placeholder prefix of ids the plan creates. */
export const NEW = 'new:';

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural equality of JSON values (key order ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isPlain(a) && isPlain(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/**
 * Fields of `want` that differ from `cur`, as a nested PATCH body and a list of changes.
 * Plain objects compare key by key (a PATCH merges them); arrays and scalars replace. Keys
 * only in `cur` are kept (the API merges, it cannot unset them).
 */
export function diffDocs(
  cur: Record<string, unknown>,
  want: Record<string, unknown>,
  skip: readonly string[] = [],
  prefix = '',
): { patch: Fields; changes: FieldChange[] } {
  const patch: Fields = {};
  const changes: FieldChange[] = [];
  for (const [k, b] of Object.entries(want)) {
    if (b === undefined || skip.includes(k)) continue;
    const a = cur[k];
    if (isPlain(a) && isPlain(b)) {
      const sub = diffDocs(a, b, [], `${prefix}${k}.`);
      if (sub.changes.length > 0) {
        patch[k] = sub.patch;
        changes.push(...sub.changes);
      }
    } else if (!deepEqual(a, b)) {
      patch[k] = b;
      changes.push({ field: `${prefix}${k}`, before: a, after: b });
    }
  }
  return { patch, changes };
}

function omit(f: Fields, keys: readonly string[]): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(f)) if (!keys.includes(k)) out[k] = v;
  return out;
}

/** Runs a field check of config/validate.ts on a built resource; a refusal names the path in the file. */
function checked(source: string, path: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    const e = err as Error & { field?: string };
    throw new DeclarativeFileError(`${source}: ${path}.${e.message}`, e.field ? `${path}.${e.field}` : path);
  }
}

function createChanges(body: Fields, skip: readonly string[]): FieldChange[] {
  return Object.entries(body)
    .filter(([k]) => k !== 'name' && !skip.includes(k))
    .map(([field, after]) => ({ field, before: undefined, after }));
}

/**
 * Computes the plan that makes `current` match `file` (SPEC C4). Order: load balancers →
 * instances → backends → servers → frontends, then deletions (frontends → servers →
 * backends). Throws DeclarativeFileError (with the path in the file) for a reference to a
 * backend, instance or certificate that is neither in the file nor in `current`, and for a
 * value that breaks a field rule of config/validate.ts. Rules that involve several resources
 * (F2, F5, S6, S7…) are left to the control plane (or `preflight`).
 */
export function planApply(file: DeclarativeFile, current: ConfigState, options: PlanOptions): Plan {
  const src = file.source;
  const names = new Map<string, string>();
  for (const x of current.loadBalancers) names.set(x.id, x.name);
  for (const x of current.instances) names.set(x.id, x.name);
  for (const x of current.backends) names.set(x.id, x.name);
  for (const x of current.servers) names.set(x.id, x.name);
  for (const x of current.frontends) names.set(x.id, x.name);
  for (const x of current.certificates) names.set(x.id, x.name);
  const groups: Record<'lb' | 'inst' | 'be' | 'srv' | 'fe' | 'delFe' | 'delSrv' | 'delBe', PlanStep[]> = {
    lb: [],
    inst: [],
    be: [],
    srv: [],
    fe: [],
    delFe: [],
    delSrv: [],
    delBe: [],
  };
  const placeholder = (kind: PlanKind, name: string): string => {
    const id = `${NEW}${kind}:${name}`;
    names.set(id, name.slice(name.lastIndexOf('/') + 1));
    return id;
  };
  const certId = (name: string, path: string): string => {
    const c = current.certificates.find((x) => x.name === name);
    if (!c) throw new DeclarativeFileError(`${src}: ${path}: no certificate named "${name}" on the server`, path);
    return c.id;
  };
  const upsert = (
    into: PlanStep[],
    kind: PlanKind,
    name: string,
    cur: object | undefined,
    want: object,
    body: Fields,
    skip: readonly string[],
    extra: Partial<PlanStep> = {},
  ): void => {
    const id = (want as { id: string }).id;
    if (!cur) {
      into.push({ op: 'create', kind, name, id, body, changes: createChanges(body, skip), ...extra });
      return;
    }
    // `version` is the store's (ETag), never the file's: it is not a difference.
    const d = diffDocs(cur as Fields, want as Fields, ['id', 'version', ...skip]);
    if (d.changes.length > 0) into.push({ op: 'update', kind, name, id, body: d.patch, changes: d.changes, ...extra });
  };

  // ---------- instances (by name, global) ----------
  const instances = new Map<string, Instance>(current.instances.map((i) => [i.name, i]));
  for (const e of file.instances) {
    const cur = current.instances.find((x) => x.name === e.name);
    const want = buildInstance(e.fields, cur?.id ?? placeholder('instance', e.name));
    checked(src, e.path, () => checkInstance(want));
    instances.set(e.name, want);
    upsert(groups.inst, 'instance', e.name, cur, want, e.fields, []);
  }
  const instanceState = { instances: [...instances.values()] } as ConfigState;

  for (const lbE of file.loadBalancers) {
    const curLb = current.loadBalancers.find((x) => x.name === lbE.name);
    const lbBody = omit(lbE.fields, ['backends', 'frontends']);
    const lb: LoadBalancer = buildLoadBalancer(lbBody, curLb?.id ?? placeholder('loadBalancer', lbE.name));
    checked(src, lbE.path, () => checkLoadBalancer(lb));
    upsert(groups.lb, 'loadBalancer', lbE.name, curLb, lb, lbBody, []);

    // ---------- backends and their servers ----------
    const curBackends = curLb ? current.backends.filter((b) => b.loadBalancerId === lb.id) : [];
    const backendIds = new Map<string, string>();
    for (const bE of lbE.backends) {
      const bName = `${lbE.name}/${bE.name}`;
      const curB = curBackends.find((b) => b.name === bE.name);
      const body: Fields = { loadBalancerId: lb.id, ...omit(bE.fields, ['servers']) };
      const tls = body.tls as Fields | undefined;
      if (tls && tls.caCertificate !== undefined) {
        const ca = tls.caCertificate as string | null;
        body.tls = {
          ...omit(tls, ['caCertificate']),
          caCertificateId: ca === null ? null : certId(ca, `${bE.path}.tls.caCertificate`),
        };
      }
      const want: Backend = buildBackend(body, curB?.id ?? placeholder('backend', bName));
      checked(src, bE.path, () => checkBackend(want));
      backendIds.set(bE.name, want.id);
      upsert(groups.be, 'backend', bName, curB, want, body, ['loadBalancerId']);

      const curServers = curB ? current.servers.filter((s) => s.backendId === want.id) : [];
      for (const sE of bE.servers) {
        const sName = `${bName}/${sE.name}`;
        const curS = curServers.find((s) => s.name === sE.name);
        const sBody = omit(sE.fields, ['instance', 'caCertificate']);
        if (sE.fields.instance !== undefined) {
          const inst = instances.get(String(sE.fields.instance));
          if (!inst) {
            throw new DeclarativeFileError(
              `${src}: ${sE.path}.instance: no instance named "${String(sE.fields.instance)}" in the file or on the server`,
              `${sE.path}.instance`,
            );
          }
          sBody.instanceId = inst.id;
        }
        if (sE.fields.caCertificate !== undefined) {
          const ca = sE.fields.caCertificate as string | null;
          sBody.caCertificateId = ca === null ? null : certId(ca, `${sE.path}.caCertificate`);
        }
        const wantS: Server = buildServer(sBody, want.id, instanceState, curS?.id ?? placeholder('server', sName));
        checked(src, sE.path, () => checkServer(wantS));
        // The address of an instance-bound server follows its instance (the API keeps it so).
        const skip = wantS.instanceId === null ? ['backendId'] : ['backendId', 'address'];
        upsert(groups.srv, 'server', sName, curS, wantS, sBody, skip, { backendId: want.id });
      }
      if (options.prune) {
        for (const s of curServers) {
          if (!bE.servers.some((x) => x.name === s.name)) {
            groups.delSrv.push({
              op: 'delete',
              kind: 'server',
              name: `${bName}/${s.name}`,
              id: s.id,
              backendId: want.id,
              body: {},
              changes: [],
            });
          }
        }
      }
    }
    if (options.prune) {
      for (const b of curBackends) {
        if (lbE.backends.some((x) => x.name === b.name)) continue;
        const n = current.servers.filter((s) => s.backendId === b.id).length;
        groups.delBe.push({
          op: 'delete',
          kind: 'backend',
          name: `${lbE.name}/${b.name}`,
          id: b.id,
          body: {},
          changes: [],
          note: n > 0 ? `with its ${n} server${n === 1 ? '' : 's'}` : undefined,
        });
      }
    }

    // ---------- frontends ----------
    const backendRef = (name: string, path: string): string => {
      const id = backendIds.get(name) ?? (options.prune ? undefined : curBackends.find((b) => b.name === name)?.id);
      if (id === undefined) {
        throw new DeclarativeFileError(
          `${src}: ${path}: no backend named "${name}" in load balancer "${lbE.name}" ${options.prune ? 'in the file (--prune deletes the others)' : 'in the file or on the server'}`,
          path,
        );
      }
      return id;
    };
    const curFrontends = curLb ? current.frontends.filter((f) => f.loadBalancerId === lb.id) : [];
    for (const fE of lbE.frontends) {
      const fName = `${lbE.name}/${fE.name}`;
      const curF = curFrontends.find((f) => f.name === fE.name);
      const body: Fields = { loadBalancerId: lb.id, ...omit(fE.fields, ['backend', 'certificates']) };
      if (fE.fields.backend !== undefined) {
        const b = fE.fields.backend as string | null;
        body.defaultBackendId = b === null ? null : backendRef(b, `${fE.path}.backend`);
      }
      for (const list of ['rules', 'sniRules'] as const) {
        const rules = fE.fields[list] as Fields[] | undefined;
        if (!rules) continue;
        body[list] = rules.map((r, i) => {
          if (r.backend === undefined) return r;
          const { backend, ...rest } = r;
          return { ...rest, backendId: backendRef(String(backend), `${fE.path}.${list}[${i}].backend`) };
        });
      }
      const certs = fE.fields.certificates as string[] | undefined;
      if (certs) body.certificateIds = certs.map((c, i) => certId(c, `${fE.path}.certificates[${i}]`));
      const want: Frontend = buildFrontend(body, curF?.id ?? placeholder('frontend', fName));
      checked(src, fE.path, () => checkFrontend(want));
      upsert(groups.fe, 'frontend', fName, curF, want, body, ['loadBalancerId']);
    }
    if (options.prune) {
      for (const f of curFrontends) {
        if (lbE.frontends.some((x) => x.name === f.name)) continue;
        groups.delFe.push({
          op: 'delete',
          kind: 'frontend',
          name: `${lbE.name}/${f.name}`,
          id: f.id,
          body: {},
          changes: [],
        });
      }
    }
  }
  // Servers of a backend being deleted go with it.
  const deletedBackends = new Set(groups.delBe.map((s) => s.id));
  const delSrv = groups.delSrv.filter((s) => !deletedBackends.has(s.backendId ?? ''));
  return {
    steps: [
      ...groups.lb,
      ...groups.inst,
      ...groups.be,
      ...groups.srv,
      ...groups.fe,
      ...groups.delFe,
      ...delSrv,
      ...groups.delBe,
    ],
    names,
  };
}

/** Replaces every placeholder id found in `v` (deeply) by its real id from `ids`. */
export function resolveIds<T>(v: T, ids: ReadonlyMap<string, string>): T {
  if (typeof v === 'string') {
    if (!v.startsWith(NEW)) return v;
    const id = ids.get(v);
    if (id === undefined) throw new Error(`internal: ${v} is used before it is created`);
    return id as T;
  }
  if (Array.isArray(v)) return v.map((x) => resolveIds(x, ids)) as T;
  if (isPlain(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = resolveIds(x, ids);
    return out as T;
  }
  return v;
}

const ListOf = {
  loadBalancer: 'loadBalancers',
  instance: 'instances',
  backend: 'backends',
  server: 'servers',
  frontend: 'frontends',
} as const;

/**
 * Applies a plan to a configuration in memory, the way the control plane's create / update /
 * delete methods would (builders and merges of config/resources.ts; a deleted backend takes
 * its servers). Mutates `state`; answers placeholder → new id. Used at `serve --config`
 * inside one `ControlPlane.change` (one configVersion) and by the CLI's preflight check.
 */
export function applyPlanToState(state: ConfigState, plan: Plan): Map<string, string> {
  const ids = new Map<string, string>();
  for (const step of plan.steps) {
    const body = resolveIds(step.body, ids);
    const list = state[ListOf[step.kind]] as unknown as { id: string }[];
    if (step.op === 'create') {
      let doc: { id: string };
      if (step.kind === 'loadBalancer') doc = buildLoadBalancer(body);
      else if (step.kind === 'instance') doc = buildInstance(body);
      else if (step.kind === 'backend') doc = buildBackend(body);
      else if (step.kind === 'frontend') doc = buildFrontend(body);
      else doc = buildServer(body, resolveIds(step.backendId ?? '', ids), state);
      list.push(doc);
      ids.set(step.id, doc.id);
      continue;
    }
    const id = resolveIds(step.id, ids);
    const i = list.findIndex((d) => d.id === id);
    if (i < 0) throw new Error(`internal: no ${KindLabel[step.kind]} with id "${id}" to ${step.op}`);
    const cur = list[i]!;
    if (step.op === 'delete') {
      list.splice(i, 1);
      if (step.kind === 'backend') state.servers = state.servers.filter((s) => s.backendId !== id);
      continue;
    }
    if (step.kind === 'server') list[i] = { ...mergeServer(cur as Server, body), id };
    else if (step.kind === 'backend') list[i] = { ...mergeBackend(cur as Backend, body), id };
    else list[i] = { ...mergePatch(cur, body), id };
  }
  return ids;
}
