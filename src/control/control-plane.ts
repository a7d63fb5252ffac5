import { type AddressGuard, type ApiEndpoint, addressGuard, parseNetworkList } from '../config/address-guard.ts';
import { listOf as list } from '../config/diff.ts';
import type {
  Backend,
  ConfigState,
  Frontend,
  Instance,
  LoadBalancer,
  ResourceKind,
  ResourceOf,
  Server,
} from '../config/model.ts';
import { normalizeNewNames } from '../config/names.ts';
import {
  buildBackend,
  buildFrontend,
  buildInstance,
  buildLoadBalancer,
  buildServer,
  followInstances,
  mergeBackend,
  mergePatch,
  mergeServer,
} from '../config/resources.ts';
import { compile } from '../config/snapshot.ts';
import { validateChange, validateConfig } from '../config/validate.ts';
import { FulcrumError, invalid } from '../core/errors.ts';
import { type Logger, silentLogger } from '../core/log.ts';
import { type ConfigStore, staleVersionError } from '../store/types.ts';
import { applyServerBatch, checkServerInput, type ServerBatch, type ServerBatchResult } from './batch.ts';
import { NodeSync, type NodeView } from './cluster.ts';
import { EventHub } from './events.ts';
import { type Actor, type Changed, type ChangeFn, ChangePipeline } from './pipeline.ts';
import type { DataPlanePort } from './ports.ts';
import { hasTags } from './views.ts';

export type { Actor, Changed } from './pipeline.ts';

/** How the API names each kind in its messages. */
const KindLabel: Record<ResourceKind, string> = {
  loadBalancer: 'load balancer',
  frontend: 'frontend',
  backend: 'backend',
  server: 'server',
  instance: 'instance',
  certificate: 'certificate',
};

/** S8 lookup answer row (API.md `/servers`). */
export interface ServerLookup {
  loadBalancerId: string;
  loadBalancerName: string;
  backendId: string;
  backendName: string;
  server: Server;
}

type Body = Record<string, unknown>;

/**
 * `If-Match` of a PATCH, PUT or DELETE (issue 15 point 6): the versions (ETags) the caller
 * last saw; the change goes through only when the resource is still at one of them.
 * Undefined (no header, or `*`) checks nothing.
 */
export type IfMatch = readonly number[] | undefined;

/**
 * Checks `If-Match` against the resource as the change sees it (the draft: the stored state,
 * reloaded when another node committed first). Answers the store's expectation, checked again
 * inside the commit's transaction.
 */
export function checkIfMatch(
  kind: ResourceKind,
  cur: { id: string; version?: number },
  ifMatch: IfMatch,
): { kind: ResourceKind; id: string; version: number }[] | undefined {
  if (ifMatch === undefined) return undefined;
  const version = cur.version ?? 1;
  if (!ifMatch.includes(version)) throw staleVersionError(kind, cur.id, version, ifMatch[0] ?? 0);
  return [{ kind, id: cur.id, version }];
}

/**
 * The control plane service (DESIGN.md "The one flow"): the per-resource commands (create,
 * update, delete of each kind, with their own refusals), reads and the S8 lookup. Every
 * change goes through the one change pipeline (pipeline.ts): clone → apply the change →
 * validate the whole new configuration → compile → store in one transaction (configVersion
 * + 1, audit row) → `plane.apply(snapshot)` → answer. A change that fails anywhere before
 * the store changes nothing.
 */
export class ControlPlane {
  readonly store: ConfigStore;
  readonly plane: DataPlanePort;
  readonly events: EventHub;
  readonly log: Logger;
  readonly #pipeline: ChangePipeline;
  readonly #guard: AddressGuard;
  #cluster: NodeSync | undefined;

  private constructor(store: ConfigStore, plane: DataPlanePort, log: Logger, state: ConfigState, guard: AddressGuard) {
    this.store = store;
    this.plane = plane;
    this.log = log;
    this.events = new EventHub(store, log);
    this.#guard = guard;
    this.#pipeline = new ChangePipeline({ store, plane, events: this.events, log, guard, state });
  }

  /**
   * Loads the stored configuration, compiles it and applies it to the data plane (C2: a
   * restart restores everything), and wires the runtime's events into the store and stream.
   *
   * `allowBackendNetworks` (`--allow-backend-networks`, CIDRs) lets servers and instances use
   * addresses the address guard refuses otherwise (link-local, metadata…); `apiEndpoint`
   * answers where the admin API listens (its real bound port; undefined while unknown), so no
   * server or frontend may take it (config/address-guard.ts). Throws Error for a bad CIDR.
   * A restored configuration that breaks a rule is logged and applied anyway: only new writes
   * are judged by the write rules (names, address guard).
   */
  static async start(options: {
    store: ConfigStore;
    plane: DataPlanePort;
    log?: Logger;
    allowBackendNetworks?: readonly string[];
    apiEndpoint?: () => ApiEndpoint | undefined;
  }): Promise<ControlPlane> {
    const log = options.log ?? silentLogger;
    const guard = addressGuard(parseNetworkList(options.allowBackendNetworks ?? []), options.apiEndpoint);
    const state = await options.store.load();
    try {
      validateConfig(state, { guard });
    } catch (err) {
      log.warn(
        { err, code: (err as FulcrumError).code },
        'stored configuration breaks a validation rule; applying it anyway',
      );
    }
    const cp = new ControlPlane(options.store, options.plane, log, state, guard);
    options.plane.runtime.setEventSink(cp.events.sink);
    await options.plane.apply(compile(state));
    log.info({ configVersion: state.version }, 'configuration loaded and applied');
    return cp;
  }

  /** The current configuration. Treat as read-only. */
  get state(): Readonly<ConfigState> {
    return this.#pipeline.state;
  }

  /** The current configVersion. */
  get version(): number {
    return this.#pipeline.state.version;
  }

  /**
   * Catches up with the store (C5): when another node committed a newer configVersion, loads
   * it, compiles it and applies it through the one change path. Answers the applied version.
   * Throws FulcrumError (`store_unavailable` when the store cannot be read).
   */
  sync(): Promise<number> {
    return this.#pipeline.sync();
  }

  /**
   * Joins the nodes sharing the store (C5, control/cluster.ts): applies every change any node
   * commits, catches up every `intervalMs` (default 2 s) and after a lost connection, records
   * this node's heartbeat and applied version, and calls `onTokens` when the tokens changed.
   * Resolves after the first heartbeat attempt; `close()` leaves.
   */
  async joinCluster(options: { name: string; onTokens?: () => Promise<void>; intervalMs?: number }): Promise<NodeSync> {
    if (this.#cluster) return this.#cluster;
    this.#cluster = new NodeSync({
      ...options,
      store: this.store,
      sync: () => this.sync(),
      applied: () => this.version,
      log: this.log,
    });
    await this.#cluster.start();
    return this.#cluster;
  }

  /** The node sync, once `joinCluster` ran. */
  get cluster(): NodeSync | undefined {
    return this.#cluster;
  }

  /**
   * `GET /nodes`: every node sharing the store with its applied version, last heartbeat and
   * status (`live`, `stale` after 3 missed heartbeats); this node alone when it never joined.
   */
  async nodes(selfName: string): Promise<NodeView[]> {
    if (this.#cluster) return this.#cluster.nodes();
    return [{ name: selfName, appliedVersion: this.version, lastSeen: new Date().toISOString(), status: 'live' }];
  }

  /** Lists resources of a kind, optionally filtered. */
  list<K extends ResourceKind>(kind: K, filter?: (d: ResourceOf[K]) => boolean): ResourceOf[K][] {
    const all = list(this.#pipeline.state, kind);
    return filter ? all.filter(filter) : [...all];
  }

  /** One resource; throws `not_found` (404) naming the id. */
  get<K extends ResourceKind>(kind: K, id: string): ResourceOf[K] {
    const found = list(this.#pipeline.state, kind).find((d) => d.id === id);
    if (!found) throw new FulcrumError('not_found', `id: no ${KindLabel[kind]} with id "${id}"`, 'id');
    return found;
  }

  /** One server of a backend; 404 when either is unknown or the server belongs elsewhere. */
  getServer(backendId: string, id: string): Server {
    this.get('backend', backendId);
    const s = this.get('server', id);
    if (s.backendId !== backendId)
      throw new FulcrumError('not_found', `id: backend "${backendId}" has no server "${id}"`, 'id');
    return s;
  }

  /**
   * The primitive every change goes through (also for other modules: certificates, the
   * declarative apply). `fn` edits a draft copy and returns the audit facts; it throws
   * FulcrumError to refuse. Serialised: one change at a time (pipeline.ts).
   */
  change<T>(actor: Actor, action: string, fn: ChangeFn<T>): Promise<Changed<T>> {
    return this.#pipeline.run(actor, action, fn);
  }

  /**
   * Runs `fn` like `change` but commits nothing (`POST /apply?dryRun=true`): the draft is
   * judged by the rules a change is judged by (instances followed, new names in NFC,
   * `validateChange`, `validateConfig` with the address guard), then dropped. Answers the
   * result at the current configVersion, or throws the refusal the change would get.
   */
  async preview<T>(actor: Actor, action: string, fn: ChangeFn<T>): Promise<Changed<T>> {
    const done = Symbol('preview');
    let result: { value: T } | undefined;
    try {
      await this.change(actor, action, (draft) => {
        const before = this.state as ConfigState;
        const facts = fn(draft);
        followInstances(draft);
        normalizeNewNames(before, draft);
        validateChange(before, draft);
        validateConfig(draft, { guard: this.#guard, before });
        result = { value: facts.result };
        throw done; // nothing is stored: the pipeline drops the draft
      });
    } catch (err) {
      if (err !== done || !result) throw err;
    }
    return { resource: result!.value, configVersion: this.version };
  }

  #create<K extends ResourceKind>(
    actor: Actor,
    kind: K,
    build: (draft: ConfigState) => ResourceOf[K],
  ): Promise<Changed<ResourceOf[K]>> {
    return this.change(actor, 'create', (draft) => {
      const doc = build(draft);
      list(draft, kind).push(doc);
      return { result: doc, kind, id: doc.id, before: null, after: doc };
    });
  }

  #update<K extends ResourceKind>(
    actor: Actor,
    kind: K,
    id: string,
    merge: (cur: ResourceOf[K], draft: ConfigState) => ResourceOf[K],
    ifMatch?: IfMatch,
    action = 'update',
  ): Promise<Changed<ResourceOf[K]>> {
    return this.change(actor, action, (draft) => {
      const all = list(draft, kind);
      const i = all.findIndex((d) => d.id === id);
      if (i < 0) throw new FulcrumError('not_found', `id: no ${KindLabel[kind]} with id "${id}"`, 'id');
      const cur = all[i]!;
      const next = merge(cur, draft);
      const expect = checkIfMatch(kind, cur, ifMatch);
      all[i] = next;
      return { result: next, kind, id, before: structuredClone(cur), after: next, ...(expect ? { expect } : {}) };
    });
  }

  #remove<K extends ResourceKind>(
    actor: Actor,
    kind: K,
    id: string,
    check: (cur: ResourceOf[K], draft: ConfigState) => void,
    ifMatch?: IfMatch,
  ): Promise<Changed<ResourceOf[K]>> {
    return this.change(actor, 'delete', (draft) => {
      const all = list(draft, kind);
      const i = all.findIndex((d) => d.id === id);
      if (i < 0) throw new FulcrumError('not_found', `id: no ${KindLabel[kind]} with id "${id}"`, 'id');
      const cur = all[i]!;
      check(cur, draft);
      const expect = checkIfMatch(kind, cur, ifMatch);
      all.splice(i, 1);
      return { result: cur, kind, id, before: cur, after: null, ...(expect ? { expect } : {}) };
    });
  }

  // ---------- load balancers ----------

  /** POST /load-balancers: defaults fill omitted fields. */
  createLoadBalancer(actor: Actor, body: Body): Promise<Changed<LoadBalancer>> {
    return this.#create(actor, 'loadBalancer', () => buildLoadBalancer(body));
  }
  /** PATCH /load-balancers/{id}. */
  updateLoadBalancer(actor: Actor, id: string, patch: Body, ifMatch?: IfMatch): Promise<Changed<LoadBalancer>> {
    return this.#update(actor, 'loadBalancer', id, (cur) => ({ ...mergePatch(cur, patch), id }), ifMatch);
  }
  /** DELETE /load-balancers/{id}: 409 while it has frontends or backends. */
  deleteLoadBalancer(actor: Actor, id: string, ifMatch?: IfMatch): Promise<Changed<LoadBalancer>> {
    return this.#remove(
      actor,
      'loadBalancer',
      id,
      (lb, draft) => {
        const f = draft.frontends.filter((x) => x.loadBalancerId === id).length;
        const b = draft.backends.filter((x) => x.loadBalancerId === id).length;
        if (f + b > 0) {
          throw new FulcrumError(
            'conflict',
            `id: load balancer "${lb.name}" still has ${f} frontend(s) and ${b} backend(s); delete them first`,
            'id',
          );
        }
      },
      ifMatch,
    );
  }

  // ---------- frontends ----------

  /** POST /frontends. */
  createFrontend(actor: Actor, body: Body): Promise<Changed<Frontend>> {
    return this.#create(actor, 'frontend', (draft) => {
      this.#needLoadBalancer(draft, body.loadBalancerId);
      return buildFrontend(body);
    });
  }
  /** PATCH /frontends/{id}. */
  updateFrontend(actor: Actor, id: string, patch: Body, ifMatch?: IfMatch): Promise<Changed<Frontend>> {
    return this.#update(
      actor,
      'frontend',
      id,
      (cur) => ({ ...mergePatch(cur, patch), id, loadBalancerId: cur.loadBalancerId }),
      ifMatch,
    );
  }
  /** DELETE /frontends/{id}: the listener closes, open connections drain. */
  deleteFrontend(actor: Actor, id: string, ifMatch?: IfMatch): Promise<Changed<Frontend>> {
    return this.#remove(actor, 'frontend', id, () => {}, ifMatch);
  }

  // ---------- backends ----------

  /** POST /backends. */
  createBackend(actor: Actor, body: Body): Promise<Changed<Backend>> {
    return this.#create(actor, 'backend', (draft) => {
      this.#needLoadBalancer(draft, body.loadBalancerId);
      return buildBackend(body);
    });
  }
  /** PATCH /backends/{id}: nested settings merge field by field (config/resources.ts mergeBackend). */
  updateBackend(actor: Actor, id: string, patch: Body, ifMatch?: IfMatch): Promise<Changed<Backend>> {
    return this.#update(actor, 'backend', id, (cur) => mergeBackend(cur, patch), ifMatch);
  }
  /** DELETE /backends/{id}: 409 while a frontend uses it; its servers go (and drain) with it. */
  deleteBackend(actor: Actor, id: string, ifMatch?: IfMatch): Promise<Changed<Backend>> {
    return this.#remove(
      actor,
      'backend',
      id,
      (b, draft) => {
        const user = draft.frontends.find(
          (f) =>
            f.defaultBackendId === id ||
            f.rules.some((r) => r.backendId === id) ||
            f.sniRules.some((r) => r.backendId === id),
        );
        if (user) {
          throw new FulcrumError(
            'conflict',
            `id: backend "${b.name}" is used by frontend "${user.name}"; change the frontend first`,
            'id',
          );
        }
        draft.servers = draft.servers.filter((s) => s.backendId !== id);
      },
      ifMatch,
    );
  }

  // ---------- servers ----------

  /** POST /backends/{id}/servers (S1); the address follows `instanceId` when given. */
  createServer(actor: Actor, backendId: string, body: Body): Promise<Changed<Server>> {
    return this.#create(actor, 'server', (draft) => {
      if (!draft.backends.some((b) => b.id === backendId)) {
        throw new FulcrumError('not_found', `id: no backend with id "${backendId}"`, 'id');
      }
      checkServerInput(draft, body, true);
      return buildServer(body, backendId, draft);
    });
  }
  /** PATCH /backends/{id}/servers/{serverId} (S2). */
  updateServer(actor: Actor, backendId: string, id: string, patch: Body, ifMatch?: IfMatch): Promise<Changed<Server>> {
    return this.#update(
      actor,
      'server',
      id,
      (cur, draft) => {
        if (cur.backendId !== backendId)
          throw new FulcrumError('not_found', `id: backend "${backendId}" has no server "${id}"`, 'id');
        checkServerInput(draft, patch, false);
        return { ...mergeServer(cur, patch), id, backendId };
      },
      ifMatch,
    );
  }
  /** True when `id` is a server backend `backendId`'s discovery source found (issue 15 point 2). */
  isDiscovered(backendId: string, id: string): boolean {
    return (this.plane.discovered?.(backendId) ?? []).some((s) => s.id === id);
  }

  /**
   * PATCH / drain of a discovered server (issue 15 point 2): only `weight` and `enabled` may be
   * set; they are kept in the backend's `discovery.overrides` (one change of the backend).
   */
  overrideDiscovered(
    actor: Actor,
    backendId: string,
    id: string,
    patch: Body,
    ifMatch?: IfMatch,
    action = 'update',
  ): Promise<Changed<Backend>> {
    const readOnly = Object.keys(patch).filter((k) => k !== 'weight' && k !== 'enabled');
    if (readOnly.length > 0) {
      throw invalid(
        readOnly[0]!,
        `${readOnly[0]}: a discovered server follows its SRV record; only weight and enabled may be set`,
      );
    }
    return this.#update(
      actor,
      'backend',
      backendId,
      (cur) => {
        if (!cur.discovery)
          throw new FulcrumError('not_found', `id: backend "${backendId}" has no server "${id}"`, 'id');
        const overrides = { ...(cur.discovery.overrides ?? {}) };
        const next = { ...(overrides[id] ?? {}) };
        if (patch.weight !== undefined) next.weight = patch.weight as number;
        if (patch.enabled !== undefined) next.enabled = patch.enabled as boolean;
        overrides[id] = next;
        return { ...cur, discovery: { ...cur.discovery, overrides } };
      },
      ifMatch,
      action,
    );
  }

  /** DELETE /backends/{id}/servers/{serverId}: the server drains (S3). */
  deleteServer(actor: Actor, backendId: string, id: string, ifMatch?: IfMatch): Promise<Changed<Server>> {
    return this.#remove(
      actor,
      'server',
      id,
      (cur) => {
        if (cur.backendId !== backendId)
          throw new FulcrumError('not_found', `id: backend "${backendId}" has no server "${id}"`, 'id');
      },
      ifMatch,
    );
  }

  /**
   * POST /backends/{id}/servers/{serverId}/drain (issue 15 point 5): the server is disabled
   * (stored, so it stays out of rotation) and drains: open connections may finish until
   * `timeoutSeconds` (default the backend's `drainTimeoutSeconds`; 0 cuts them at once), then
   * what is left is cut. On a server already draining, the timeout counts from now.
   */
  async drainServer(
    actor: Actor,
    backendId: string,
    id: string,
    timeoutSeconds?: number,
    ifMatch?: IfMatch,
  ): Promise<Changed<Server>> {
    this.getServer(backendId, id);
    const runtime = this.plane.runtime;
    if (timeoutSeconds !== undefined) runtime.setDrainTimeout(id, timeoutSeconds * 1000);
    try {
      return await this.#update(
        actor,
        'server',
        id,
        (cur) => {
          if (cur.backendId !== backendId)
            throw new FulcrumError('not_found', `id: backend "${backendId}" has no server "${id}"`, 'id');
          return { ...cur, enabled: false };
        },
        ifMatch,
        'drain',
      );
    } finally {
      // A timeout no drain used (the change was refused) is forgotten.
      if (timeoutSeconds !== undefined) runtime.setDrainTimeout(id, undefined);
    }
  }

  /**
   * POST /backends/{id}/servers/batch (issue 15 point 1): adds, updates, drains and removes
   * servers of one backend as ONE change (one configVersion, one snapshot, one audit row
   * `servers-batch backend/<id>`), or refuses it whole naming every failing item
   * (control/batch.ts). Drained servers are disabled and drain as with the drain action.
   */
  serversBatch(actor: Actor, backendId: string, batch: ServerBatch): Promise<Changed<ServerBatchResult>> {
    return this.change(actor, 'servers-batch', (draft) => applyServerBatch(draft, backendId, batch, this.#guard));
  }

  // ---------- instances ----------

  /** POST /instances. */
  createInstance(actor: Actor, body: Body): Promise<Changed<Instance>> {
    return this.#create(actor, 'instance', () => buildInstance(body));
  }
  /** PATCH /instances/{id}: a new privateIp moves every server naming the instance, in the same change. */
  updateInstance(actor: Actor, id: string, patch: Body, ifMatch?: IfMatch): Promise<Changed<Instance>> {
    return this.#update(actor, 'instance', id, (cur) => ({ ...mergePatch(cur, patch), id }), ifMatch);
  }
  /** DELETE /instances/{id}: 409 while a server uses it. */
  deleteInstance(actor: Actor, id: string, ifMatch?: IfMatch): Promise<Changed<Instance>> {
    return this.#remove(
      actor,
      'instance',
      id,
      (inst, draft) => {
        const user = draft.servers.find((s) => s.instanceId === id);
        if (user)
          throw new FulcrumError('conflict', `id: instance "${inst.name}" is used by server "${user.name}"`, 'id');
      },
      ifMatch,
    );
  }

  // ---------- certificates (the TLS module builds the documents) ----------

  /** Adds a certificate document built by the TLS module. */
  createCertificate(actor: Actor, doc: ResourceOf['certificate']): Promise<Changed<ResourceOf['certificate']>> {
    return this.#create(actor, 'certificate', () => doc);
  }
  /** DELETE /certificates/{id}: 409 while a frontend, backend or server uses it. */
  deleteCertificate(actor: Actor, id: string, ifMatch?: IfMatch): Promise<Changed<ResourceOf['certificate']>> {
    return this.#remove(
      actor,
      'certificate',
      id,
      (c, draft) => {
        const f = draft.frontends.find((x) => x.certificateIds.includes(id));
        const b = draft.backends.find((x) => x.tls.caCertificateId === id);
        const s = draft.servers.find((x) => x.caCertificateId === id);
        const user = f ? `frontend "${f.name}"` : b ? `backend "${b.name}"` : s ? `server "${s.name}"` : undefined;
        if (user) throw new FulcrumError('conflict', `id: certificate "${c.name}" is used by ${user}`, 'id');
      },
      ifMatch,
    );
  }

  // ---------- lookup ----------

  /**
   * S8: every load balancer, backend and server entry an address, server id or instance id
   * belongs to; `tags` (issue 15 point 5) keeps the servers carrying every one of them.
   */
  lookupServers(q: { address?: string; id?: string; instanceId?: string; tags?: readonly string[] }): ServerLookup[] {
    const backends = new Map(this.#pipeline.state.backends.map((b) => [b.id, b]));
    const lbs = new Map(this.#pipeline.state.loadBalancers.map((l) => [l.id, l]));
    const out: ServerLookup[] = [];
    for (const s of this.#pipeline.state.servers) {
      if (q.address !== undefined && s.address !== q.address) continue;
      if (q.id !== undefined && s.id !== q.id) continue;
      if (q.instanceId !== undefined && s.instanceId !== q.instanceId) continue;
      if (q.tags !== undefined && q.tags.length > 0 && !hasTags(s, q.tags)) continue;
      const b = backends.get(s.backendId);
      const lb = b ? lbs.get(b.loadBalancerId) : undefined;
      if (!b || !lb) continue;
      out.push({ loadBalancerId: lb.id, loadBalancerName: lb.name, backendId: b.id, backendName: b.name, server: s });
    }
    return out;
  }

  #needLoadBalancer(draft: ConfigState, id: unknown): void {
    if (typeof id !== 'string' || !draft.loadBalancers.some((l) => l.id === id)) {
      throw invalid('loadBalancerId', `loadBalancerId: no load balancer with id "${String(id)}"`);
    }
  }

  /** Flushes events; call before closing the store. */
  async close(): Promise<void> {
    await this.#cluster?.close();
    await this.#pipeline.settle();
    await this.events.close();
  }
}
