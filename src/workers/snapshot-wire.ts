import type { Certificate } from '../config/model.ts';
import { handOn, placeOf } from '../config/server-places.ts';
import type { BackendSpec, CompiledRule, FrontendSpec, ServerSpec, Snapshot } from '../config/snapshot.ts';
import { editableCopy, LayeredMap } from '../core/layered-map.ts';

/**
 * A snapshot as it crosses to a worker thread (issue 13 points 1 and 4): only what differs
 * from the snapshot the worker holds, found by reference as the incremental compile leaves
 * unchanged specs the same objects. References become ids on the wire (a backend's servers,
 * a frontend's backends and certificates) and the worker links them back to its own objects,
 * so everything the change did not touch stays the worker's same object and its runtime
 * reconciles only what changed: a one-server change in a backend of 10,000 servers sends
 * that server and the backend's list of ids, not 10,000 server specs.
 */
export interface SnapshotDelta {
  readonly version: number;
  /** The version the delta applies to; -1: a whole snapshot (a new worker). */
  readonly base: number;
  readonly servers: readonly ServerSpec[];
  readonly removedServers: readonly string[];
  readonly backends: readonly WireBackend[];
  readonly removedBackends: readonly string[];
  readonly frontends: readonly WireFrontend[];
  readonly removedFrontends: readonly string[];
  readonly certificates: readonly Certificate[];
  readonly removedCertificates: readonly string[];
}

/**
 * A BackendSpec with its servers as ids; `serverIds` null when they are the previous spec's
 * ids in the same order (a server changed in place: 10,000 ids are not cloned for it).
 * `same`: fields left out because they are the previous spec's own objects (the raw
 * document, persistence, health check…): the worker reuses its own, so its runtime sees an
 * unchanged backend's settings as unchanged.
 */
export type WireBackend = Partial<Omit<BackendSpec, 'servers'>> & {
  readonly id: string;
  readonly serverIds: readonly string[] | null;
  readonly same: readonly string[];
};

/** A FrontendSpec with its backends and certificates as ids. */
export type WireFrontend = Omit<FrontendSpec, 'defaultBackend' | 'rules' | 'sniRules' | 'certificates'> & {
  readonly defaultBackendId: string | null;
  readonly rules: readonly (Omit<CompiledRule, 'backend'> & { readonly backendId: string })[];
  readonly sniRules: readonly { readonly serverName: string; readonly backendId: string }[];
  readonly certificateIds: readonly string[];
};

function changed<T>(
  prev: ReadonlyMap<string, T> | undefined,
  next: ReadonlyMap<string, T>,
): { now: T[]; removed: string[] } {
  const now: T[] = [];
  const removed: string[] = [];
  // Two layered maps over one base differ only where their layers do (in next's order).
  const edited = prev && next instanceof LayeredMap ? next.editedSince(prev) : undefined;
  if (edited !== undefined && prev !== undefined) {
    for (const id of edited) {
      const v = next.get(id);
      if (v === undefined) {
        if (prev.has(id)) removed.push(id);
      } else if (prev.get(id) !== v) now.push(v);
    }
    return { now, removed };
  }
  for (const [id, v] of next) if (prev?.get(id) !== v) now.push(v);
  if (prev) for (const id of prev.keys()) if (!next.has(id)) removed.push(id);
  return { now, removed };
}

/** True when `b` lists the servers of `a`, by id, in the same order. */
function sameIds(b: readonly ServerSpec[], a: readonly ServerSpec[] | undefined): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i] && a[i]!.id !== b[i]!.id) return false;
  return true;
}

function wireBackend(b: BackendSpec, prev: BackendSpec | undefined): WireBackend {
  const { servers, ...rest } = b;
  const out: Record<string, unknown> = { serverIds: sameIds(servers, prev?.servers) ? null : servers.map((s) => s.id) };
  const same: string[] = [];
  for (const [k, v] of Object.entries(rest)) {
    if (
      prev !== undefined &&
      v !== null &&
      typeof v === 'object' &&
      (prev as unknown as Record<string, unknown>)[k] === v
    ) {
      same.push(k);
    } else out[k] = v;
  }
  out.same = same;
  return out as WireBackend;
}

function wireFrontend(f: FrontendSpec): WireFrontend {
  const { defaultBackend, rules, sniRules, certificates, ...rest } = f;
  return {
    ...rest,
    defaultBackendId: defaultBackend?.id ?? null,
    rules: rules.map(({ backend, ...r }) => ({ ...r, backendId: backend.id })),
    sniRules: sniRules.map((r) => ({ serverName: r.serverName, backendId: r.backend.id })),
    certificateIds: certificates.map((c) => c.id),
  };
}

/**
 * What `next` changes from `prev` (the snapshot every worker holds; undefined: the whole of
 * `next`). Costs the size of what changed, plus the id lists of changed backends.
 */
export function encodeDelta(prev: Snapshot | undefined, next: Snapshot): SnapshotDelta {
  const servers = changed(prev?.servers, next.servers);
  const backends = changed(prev?.backends, next.backends);
  const frontends = changed(prev?.frontends, next.frontends);
  const certificates = changed(prev?.certificates, next.certificates);
  return {
    version: next.version,
    base: prev ? prev.version : -1,
    servers: servers.now,
    removedServers: servers.removed,
    backends: backends.now.map((b) => wireBackend(b, prev?.backends.get(b.id))),
    removedBackends: backends.removed,
    frontends: frontends.now.map(wireFrontend),
    removedFrontends: frontends.removed,
    certificates: certificates.now,
    removedCertificates: certificates.removed,
  };
}

function patched<T>(prev: ReadonlyMap<string, T> | undefined, add: Iterable<[string, T]>, removed: readonly string[]) {
  const m = editableCopy(prev);
  for (const id of removed) m.delete(id);
  for (const [id, v] of add) m.set(id, v);
  return m;
}

function need<T>(m: ReadonlyMap<string, T>, id: string, what: string): T {
  const v = m.get(id);
  if (v === undefined) throw new Error(`snapshot delta: ${what} ${id} is unknown`);
  return v;
}

/**
 * The snapshot `d` describes, built on `prev` (the worker's current snapshot; undefined for a
 * whole snapshot): unchanged specs are `prev`'s own objects. Throws Error when `d.base` is
 * not `prev`'s version or names an unknown id (the primary then sends a whole snapshot).
 */
export function decodeDelta(prev: Snapshot | undefined, d: SnapshotDelta): Snapshot {
  if (d.base !== -1 && d.base !== prev?.version) {
    throw new Error(`snapshot delta: built on version ${d.base}, this worker holds ${prev?.version ?? 'none'}`);
  }
  const base = d.base === -1 ? undefined : prev;
  const sent = new Map(d.servers.map((s) => [s.id, Object.freeze(s)]));
  const servers = patched(base?.servers, sent, d.removedServers);
  const backends = patched(
    base?.backends,
    d.backends.map(({ serverIds, same, ...b }) => {
      const was = base?.backends.get(b.id) as unknown as Record<string, unknown> | undefined;
      const kept: Record<string, unknown> = {};
      for (const k of same) {
        if (was === undefined) throw new Error(`snapshot delta: backend ${b.id} has no previous spec`);
        kept[k] = was[k];
      }
      // A server at the place it held in the previous list, and not sent, is that same object.
      const held = (was?.servers ?? []) as readonly ServerSpec[];
      if (serverIds === null && was === undefined)
        throw new Error(`snapshot delta: backend ${b.id} has no previous list`);
      let list: ServerSpec[];
      if (serverIds === null) {
        list = [...held];
        for (const [id, x] of sent) {
          const i = placeOf(held, id);
          if (i >= 0) list[i] = x;
        }
        handOn(held, list);
      } else {
        list = serverIds.map((id, i) => sent.get(id) ?? (held[i]?.id === id ? held[i]! : need(servers, id, 'server')));
      }
      Object.freeze(list);
      const spec = { ...b, ...kept, servers: list } as BackendSpec;
      return [b.id, Object.freeze(spec)];
    }),
    d.removedBackends,
  );
  const certificates = patched(
    base?.certificates,
    d.certificates.map((c) => [c.id, Object.freeze(c)]),
    d.removedCertificates,
  );
  const frontends = patched(
    base?.frontends,
    d.frontends.map(({ defaultBackendId, rules, sniRules, certificateIds, ...f }) => {
      const spec: FrontendSpec = {
        ...f,
        defaultBackend: defaultBackendId === null ? undefined : need(backends, defaultBackendId, 'backend'),
        rules: rules.map(({ backendId, ...r }) =>
          Object.freeze({ ...r, backend: need(backends, backendId, 'backend') }),
        ),
        sniRules: sniRules.map((r) =>
          Object.freeze({ serverName: r.serverName, backend: need(backends, r.backendId, 'backend') }),
        ),
        certificates: certificateIds.map((id) => need(certificates, id, 'certificate')),
      };
      return [f.id, Object.freeze(spec)];
    }),
    d.removedFrontends,
  );
  return Object.freeze({ version: d.version, servers, backends, frontends, certificates });
}
