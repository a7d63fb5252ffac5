import { editableCopy } from '../core/layered-map.ts';
import type { Touched } from './changes.ts';
import type { Backend, ConfigState, Server } from './model.ts';
import { handOn, placeOf } from './server-places.ts';
import {
  type BackendSpec,
  type CompiledRule,
  compile,
  type FrontendSpec,
  type ServerSpec,
  type Snapshot,
} from './snapshot.ts';

/**
 * Incremental compile (issue 13 point 4): the snapshot of a change built from the previous
 * one, equal to `compile(after)` but with every backend, frontend and server the change did
 * not feed reused by reference. A server is compiled again when its document changed; a
 * backend when its document or its server list changed (its unchanged servers' specs are
 * kept); a frontend when its document changed or a backend it routes to was compiled again.
 * The pieces are compiled by `compile()` itself on a small configuration holding only what
 * feeds them, so the rules of compile stay in one place.
 *
 * Answers undefined when the change is not one this handles (instances or certificates
 * changed, a server moved to another backend or inserted other than at the end, resources
 * reordered): the caller compiles the whole configuration.
 */
export function compileChange(
  before: ConfigState,
  previous: Snapshot,
  after: ConfigState,
  t: Touched,
): Snapshot | undefined {
  if (previous.version !== before.version) return undefined;
  if (t.before.instance.length + t.after.instance.length > 0) return undefined;
  if (t.before.certificate.length + t.after.certificate.length > 0) return undefined;

  // Servers: the ones written again, in place or appended; the backends whose lists change.
  const beforeServers = t.before.server as Server[];
  const afterServers = t.after.server as Server[];
  const oldById = new Map(beforeServers.map((s) => [s.id, s]));
  const newIds = new Set(afterServers.map((s) => s.id));
  const kept = afterServers.filter((s) => oldById.has(s.id));
  const added = afterServers.filter((s) => !oldById.has(s.id));
  const removed = beforeServers.filter((s) => !newIds.has(s.id));
  const stayed = beforeServers.filter((s) => newIds.has(s.id));
  if (kept.length !== stayed.length || kept.some((s, i) => s.id !== stayed[i]?.id)) return undefined; // reordered
  if (kept.some((s) => s.backendId !== oldById.get(s.id)?.backendId)) return undefined; // moved
  // Created servers only at the end, after the ones kept (state order = snapshot order).
  const end = t.start.server + afterServers.length === after.servers.length;
  if (
    added.length > 0 &&
    (!end || afterServers.slice(afterServers.length - added.length).some((s) => oldById.has(s.id)))
  )
    return undefined;

  const backendChanged = new Set<string>([...t.before.backend, ...t.after.backend].map((b) => b.id));
  const listChanged = new Set<string>([...afterServers, ...beforeServers].map((s) => s.backendId));
  // Backends in the same order as before (created ones may come anywhere: they are new ids).
  const afterBackendIds = new Set(after.backends.map((b) => b.id));
  const prevOrder = [...previous.backends.keys()].filter((id) => afterBackendIds.has(id));
  const nextOrder = after.backends.map((b) => b.id).filter((id) => previous.backends.has(id));
  if (prevOrder.length !== nextOrder.length || prevOrder.some((id, i) => id !== nextOrder[i])) return undefined;

  // Compile what changed, by compile() on a configuration holding only what feeds it.
  const redo = after.backends.filter((b) => backendChanged.has(b.id));
  const listOnly = after.backends.filter((b) => !backendChanged.has(b.id) && listChanged.has(b.id));
  const whole =
    redo.length > 0 ? compile({ ...after, frontends: [], backends: redo, servers: serversOf(after, redo) }) : undefined;
  const part =
    listOnly.length > 0 || added.length + kept.length > 0
      ? compile({
          ...after,
          frontends: [],
          backends: listOnly,
          servers: [...kept, ...added].filter((s) => !backendChanged.has(s.backendId)),
        })
      : undefined;

  // Layered over the previous map, not copied (a 10,000-entry copy cost about 3 ms).
  const servers = editableCopy(previous.servers);
  for (const s of removed) servers.delete(s.id);
  for (const b of redo) {
    const prev = previous.backends.get(b.id);
    for (const s of prev?.servers ?? []) servers.delete(s.id);
  }
  const backends = new Map<string, BackendSpec>();
  const created = new Map<string, ServerSpec>();
  for (const b of after.backends) {
    if (backendChanged.has(b.id)) {
      const spec = whole?.backends.get(b.id) as BackendSpec;
      for (const s of spec.servers) servers.set(s.id, s);
      backends.set(b.id, spec);
    } else if (listChanged.has(b.id)) {
      const prev = previous.backends.get(b.id) as BackendSpec;
      const fresh = part?.backends.get(b.id)?.servers ?? [];
      const list =
        (removed.length === 0 ? replaced(prev.servers, fresh, previous.servers, oldById) : undefined) ??
        merged(prev.servers, fresh, newIds, oldById);
      for (const s of fresh) {
        if (oldById.has(s.id)) servers.set(s.id, s);
        else created.set(s.id, s);
      }
      backends.set(b.id, Object.freeze({ ...prev, servers: Object.freeze(list) }));
    } else {
      backends.set(b.id, previous.backends.get(b.id) as BackendSpec);
    }
  }
  for (const s of added) {
    const spec = created.get(s.id);
    if (spec) servers.set(s.id, spec);
  }
  // The servers map follows the state's order: rebuilt when a backend was compiled again.
  const orderedServers =
    redo.length > 0
      ? new Map(after.servers.flatMap((s) => (servers.has(s.id) ? [[s.id, servers.get(s.id) as ServerSpec]] : [])))
      : servers;

  // Frontends: compiled again when touched (every one: a redirect names its https twin) or
  // when a backend they route to is a new spec.
  const frontendsTouched = t.before.frontend.length + t.after.frontend.length > 0;
  const stale = (f: FrontendSpec | undefined): boolean =>
    !f ||
    frontendsTouched ||
    [f.defaultBackend, ...f.rules.map((r) => r.backend), ...f.sniRules.map((r) => r.backend)].some(
      (b) => b !== undefined && backends.get(b.id) !== b,
    );
  const frontends = new Map<string, FrontendSpec>();
  const need = after.frontends.filter((f) => stale(previous.frontends.get(f.id)));
  const fresh =
    need.length > 0
      ? compile({ ...after, servers: [], backends: usedBackends(after, need) }).frontends
      : new Map<string, FrontendSpec>();
  for (const f of after.frontends) {
    const spec = fresh.get(f.id);
    frontends.set(f.id, spec ? relink(spec, backends) : (previous.frontends.get(f.id) as FrontendSpec));
  }
  return Object.freeze({
    version: after.version,
    frontends,
    backends,
    servers: orderedServers,
    certificates: previous.certificates,
  });
}

/** The servers of `backends`, in state order. */
function serversOf(state: ConfigState, backends: readonly Backend[]): Server[] {
  const ids = new Set(backends.map((b) => b.id));
  return state.servers.filter((s) => ids.has(s.backendId));
}

/** The backends the frontends route to (without their servers: relink puts the real specs). */
function usedBackends(state: ConfigState, frontends: ConfigState['frontends']): Backend[] {
  const ids = new Set<string>();
  for (const f of frontends) {
    if (f.defaultBackendId) ids.add(f.defaultBackendId);
    for (const r of f.rules) ids.add(r.backendId);
    for (const r of f.sniRules) ids.add(r.backendId);
  }
  return state.backends.filter((b) => ids.has(b.id));
}

/** A frontend spec compiled apart, pointed at the snapshot's own backend specs. */
function relink(f: FrontendSpec, backends: ReadonlyMap<string, BackendSpec>): FrontendSpec {
  const real = (b: BackendSpec): BackendSpec => backends.get(b.id) ?? b;
  return Object.freeze({
    ...f,
    defaultBackend: f.defaultBackend ? real(f.defaultBackend) : undefined,
    rules: Object.freeze(f.rules.map((r): CompiledRule => Object.freeze({ ...r, backend: real(r.backend) }))),
    sniRules: Object.freeze(f.sniRules.map((r) => Object.freeze({ ...r, backend: real(r.backend) }))),
  });
}

/**
 * A backend's list with `fresh` specs in the places of the previous ones of the same ids and
 * the created ones appended, for a change that removed no server (the usual one-server PATCH
 * or POST: no map lookup per server); undefined when a previous spec is not found.
 */
function replaced(
  list: readonly ServerSpec[],
  fresh: readonly ServerSpec[],
  previous: ReadonlyMap<string, ServerSpec>,
  oldById: ReadonlyMap<string, Server>,
): ServerSpec[] | undefined {
  // Spread, not slice(): V8's slice of a frozen array takes a slow path (500 µs at 10,000).
  const out = [...list];
  for (const s of fresh) {
    if (!oldById.has(s.id)) {
      out.push(s); // created: at the end of the state, so at the end of its backend
      continue;
    }
    const old = previous.get(s.id);
    const i = old ? placeOf(list, s.id) : -1;
    if (i < 0 || out[i] !== old) return undefined;
    out[i] = s;
  }
  handOn(list, out);
  return out;
}

/** A backend's list after removals, replacements and appends (by id). */
function merged(
  list: readonly ServerSpec[],
  fresh: readonly ServerSpec[],
  newIds: ReadonlySet<string>,
  oldById: ReadonlyMap<string, Server>,
): ServerSpec[] {
  const byId = new Map(fresh.map((s) => [s.id, s]));
  const out: ServerSpec[] = [];
  for (const s of list) {
    if (!newIds.has(s.id) && oldById.has(s.id)) continue; // removed
    out.push(byId.get(s.id) ?? s);
  }
  for (const s of fresh) if (!oldById.has(s.id)) out.push(s);
  return out;
}
