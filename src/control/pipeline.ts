import type { AddressGuard } from '../config/address-guard.ts';
import { diffTouched, shallowDraft, type Touched, touched } from '../config/changes.ts';
import { compileChange } from '../config/compile-incremental.ts';
import type { ConfigState, ResourceKind } from '../config/model.ts';
import { normalizeName } from '../config/names.ts';
import { followInstances } from '../config/resources.ts';
import { compile, type Snapshot } from '../config/snapshot.ts';
import { advanceServerIndex, changeConfigProblems, validateChange, validateConfig } from '../config/validate.ts';
import { combineErrors, FulcrumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { type ConfigStore, nextResourceVersion, type Upsert } from '../store/types.ts';
import type { EventHub } from './events.ts';
import type { DataPlanePort } from './ports.ts';

/** What a successful change answers: the resource and the configVersion in which it is live (API.md). */
export interface Changed<T> {
  resource: T;
  configVersion: number;
}

/** Who asks for a change (C6 audit `actor`: the token name). */
export type Actor = string;

/** What a change function answers: its result and the audit facts (resource kind, id, before, after). */
export interface ChangeFacts<T> {
  result: T;
  kind: ResourceKind | 'config';
  id: string;
  before: unknown;
  after: unknown;
  /**
   * `If-Match` (issue 15 point 6): the versions the change was asked against. The change
   * function checks them on the draft (the state the change is computed from, reloaded from
   * the store when another node moved on) and the store checks them again in its transaction.
   */
  expect?: { kind: ResourceKind; id: string; version: number }[];
}

/** Edits a draft copy of the configuration; throws FulcrumError to refuse. */
export type ChangeFn<T> = (draft: ConfigState) => ChangeFacts<T>;

/** How the audit log and the config events name each kind (`server/<id>`). */
const AuditPath: Record<ResourceKind, string> = {
  loadBalancer: 'load-balancer',
  frontend: 'frontend',
  backend: 'backend',
  server: 'server',
  instance: 'instance',
  certificate: 'certificate',
};

/** Strips secrets from a document before it goes to the audit log. */
function auditDoc(kind: ResourceKind, doc: unknown): unknown {
  if (doc === null || doc === undefined) return null;
  if (kind === 'certificate') return { ...(doc as Record<string, unknown>), keyEncrypted: undefined };
  return doc;
}

/**
 * Gives each resource a change touched its own version as the store keeps it (issue 15
 * point 6): written ones (`upserts`) 1 when created, the previous + 1 when changed; the others
 * keep the previous one (a document rebuilt whole, e.g. by a declarative plan, comes without
 * it). Untouched documents are the state's own and keep theirs.
 */
function stampVersions(t: Touched, upserts: readonly Upsert[]): void {
  const written = new Set(upserts.map((u) => u.doc as unknown));
  for (const kind of Object.keys(t.after) as (keyof Touched['after'])[]) {
    const prev = new Map((t.before[kind] as { id: string; version?: number }[]).map((d) => [d.id, d.version]));
    for (const d of t.after[kind] as { id: string; version?: number }[]) {
      const had = prev.has(d.id) ? (prev.get(d.id) ?? 1) : undefined;
      if (written.has(d)) d.version = nextResourceVersion(had ?? 0);
      else if (had !== undefined && d.version !== had) d.version = had;
    }
  }
}

/** New names are stored in NFC (config/names.ts): only documents a change touched can be new. */
function normalizeTouchedNames(t: Touched): void {
  for (const kind of Object.keys(t.after) as (keyof Touched['after'])[]) {
    const old = new Map((t.before[kind] as { id: string; name?: unknown }[]).map((d) => [d.id, d.name]));
    for (const d of t.after[kind] as { id: string; name?: unknown }[]) {
      if (typeof d.name === 'string' && old.get(d.id) !== d.name) d.name = normalizeName(d.name);
    }
  }
}

/**
 * The change pipeline (DESIGN.md "The one flow"), apart from the per-resource commands of
 * control-plane.ts. Holds the current ConfigState (always equal to the store's) and runs one
 * change at a time: serialise → draft → apply the change → follow instances, normalise new
 * names → validate (`validateChange`, `validateConfig` with the address guard) → diff →
 * compile → commit (one transaction, configVersion + 1, audit row) → `plane.apply(snapshot)`
 * → publish a config event. A change that fails anywhere before the commit changes nothing;
 * a change that changes nothing is answered at the current version.
 *
 * Incremental (issue 13 point 4): the draft copies the state's arrays but shares its
 * documents, which a change replaces and never edits; what it touched is found by reference
 * (config/changes.ts) and only that is validated (`changeConfigProblems`, the whole
 * validation for the first change, after a sync and for changes of load balancers, backends,
 * instances or certificates), diffed and compiled (config/compile-incremental.ts: unchanged
 * specs reused by reference, so the runtime reconciles only the changed backend).
 */
export class ChangePipeline {
  readonly #store: ConfigStore;
  readonly #plane: DataPlanePort;
  readonly #events: EventHub;
  readonly #log: Logger;
  readonly #guard: AddressGuard;
  #state: ConfigState;
  /** The state last validated whole or change by change: it has no problem, so the next change may be validated incrementally. */
  #validated: ConfigState | undefined;
  /** The snapshot compiled from `#state`, reused in part by the next change's (incremental compile). */
  #snapshot: Snapshot | undefined;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(options: {
    store: ConfigStore;
    plane: DataPlanePort;
    events: EventHub;
    log: Logger;
    guard: AddressGuard;
    state: ConfigState;
  }) {
    this.#store = options.store;
    this.#plane = options.plane;
    this.#events = options.events;
    this.#log = options.log;
    this.#guard = options.guard;
    this.#state = options.state;
  }

  /** The current configuration. Treat as read-only. */
  get state(): Readonly<ConfigState> {
    return this.#state;
  }

  /** Runs `fn` as one change, after every change asked before it (serialised). */
  run<T>(actor: Actor, action: string, fn: ChangeFn<T>): Promise<Changed<T>> {
    const run = this.#chain.then(() => this.#change(actor, action, fn));
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Waits for the changes under way. */
  async settle(): Promise<void> {
    await this.#chain.catch(() => {});
  }

  /**
   * Catches up with the store (C5): when the stored configVersion is newer than the one held
   * (another node committed), loads it, compiles it and applies it to the data plane, in turn
   * with the changes of this node. Answers the version now applied. Throws FulcrumError
   * (`store_unavailable` when the store cannot be read; `internal` when the data plane refused
   * the snapshot, the previous one staying live).
   */
  sync(): Promise<number> {
    const run = this.#chain.then(() => this.#syncNow());
    this.#chain = run.catch(() => {});
    return run;
  }

  async #syncNow(): Promise<number> {
    const current = this.#state.version;
    if ((await this.#store.currentVersion()) <= current) return current;
    const next = await this.#store.load();
    if (next.version <= current) return current;
    const snapshot = compile(next);
    try {
      await this.#plane.apply(snapshot);
    } catch (err) {
      this.#log.error({ err, configVersion: next.version }, 'data plane failed to apply a configuration of the store');
      throw new FulcrumError(
        'internal',
        `the configuration ${next.version} of the store could not be applied: ${(err as Error).message}`,
      );
    }
    this.#state = next;
    this.#snapshot = snapshot;
    this.#log.info({ configVersion: next.version, from: current }, 'configuration of the store applied');
    return next.version;
  }

  /** The snapshot of `after`: from the previous one when it can (incremental compile), else whole. */
  #compile(before: ConfigState, after: ConfigState, t: Touched): Snapshot {
    const previous = this.#snapshot;
    return (previous && compileChange(before, previous, after, t)) ?? compile(after);
  }

  /** How many times a change is recomputed when other nodes committed first (C5); then `conflict`. */
  static readonly MAX_REBASES = 20;

  async #change<T>(actor: Actor, action: string, fn: ChangeFn<T>): Promise<Changed<T>> {
    // Another node may have committed since this one last synced: the store refuses the stale
    // base with `conflict`; catch up and compute the change again on the new configuration,
    // so concurrent writes from several nodes never lose an update.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#changeOnce(actor, action, fn);
      } catch (err) {
        const stale = err instanceof FulcrumError && err.code === 'conflict' && err.field === 'configVersion';
        // A resource another node created that this one has not heard of yet (its store
        // notification still on the way): catch up once and look again before answering 404.
        if (!stale && attempt === 1 && err instanceof FulcrumError && err.code === 'not_found') {
          const known = this.#state.version;
          if ((await this.#store.currentVersion().catch(() => known)) > known) {
            await this.#syncNow().catch(() => {
              throw err;
            });
            continue;
          }
        }
        if (!stale || attempt >= ChangePipeline.MAX_REBASES) throw err;
        // Under contention, a short random pause lets the other node's burst through.
        if (attempt > 2) await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
        await this.#syncNow();
      }
    }
  }

  async #changeOnce<T>(actor: Actor, action: string, fn: ChangeFn<T>): Promise<Changed<T>> {
    const before = this.#state;
    // Issue 13 point 4: the draft shares the state's documents (a change replaces them), so
    // what the change touched is found by reference and only that is validated, diffed and
    // compiled again.
    const draft = shallowDraft(before);
    const facts = fn(draft);
    followInstances(draft);
    let t = touched(before, draft);
    normalizeTouchedNames(t);
    validateChange(before, draft);
    const problems = this.#validated === before ? changeConfigProblems(before, draft, t, this.#guard) : undefined;
    if (problems) {
      const err = combineErrors(problems);
      if (err) throw err;
    } else {
      validateConfig(draft, { guard: this.#guard, before });
    }
    const { upserts, deletes } = diffTouched(t);
    // A change that changes nothing (an empty PATCH, a re-apply) is answered at the current version.
    if (upserts.length === 0 && deletes.length === 0) return { resource: facts.result, configVersion: before.version };
    draft.version = before.version + 1;
    stampVersions(t, upserts);
    t = touched(before, draft);
    const snapshot = this.#compile(before, draft, t);
    const at = new Date(this.#plane.runtime.clock.now()).toISOString();
    const resource = `${facts.kind === 'config' ? 'config' : AuditPath[facts.kind]}/${facts.id}`;
    const version = await this.#store.commit({
      baseVersion: before.version,
      upserts,
      deletes,
      ...(facts.expect ? { expect: facts.expect } : {}),
      audit: {
        at,
        actor,
        action,
        resource,
        before: facts.kind === 'config' ? facts.before : auditDoc(facts.kind, facts.before),
        after: facts.kind === 'config' ? facts.after : auditDoc(facts.kind, facts.after),
      },
    });
    draft.version = version;
    this.#state = draft;
    this.#validated = draft;
    this.#snapshot = snapshot;
    if (problems) advanceServerIndex(before, draft, t);
    try {
      await this.#plane.apply(snapshot);
    } catch (err) {
      this.#log.error({ err, configVersion: version }, 'data plane failed to apply a stored configuration');
      throw new FulcrumError(
        'internal',
        `the configuration ${version} is stored but the data plane failed to apply it: ${(err as Error).message}`,
      );
    }
    const ids = this.#owners(draft, facts.kind, facts.id, facts.before, facts.after);
    this.#events.publish({
      at,
      kind: 'config',
      loadBalancerId: ids.loadBalancerId,
      backendId: ids.backendId,
      serverId: ids.serverId,
      from: null,
      to: null,
      reason: action,
      detail: { configVersion: version, resource, actor, action },
    });
    this.#log.info({ actor, action, resource, configVersion: version }, 'configuration changed');
    return { resource: facts.result, configVersion: version };
  }

  #owners(
    state: ConfigState,
    kind: ResourceKind | 'config',
    id: string,
    before: unknown,
    after: unknown,
  ): { loadBalancerId: string | null; backendId: string | null; serverId: string | null } {
    const doc = (after ?? before ?? {}) as Record<string, unknown>;
    if (kind === 'loadBalancer') return { loadBalancerId: id, backendId: null, serverId: null };
    if (kind === 'frontend') return { loadBalancerId: String(doc.loadBalancerId), backendId: null, serverId: null };
    if (kind === 'backend') return { loadBalancerId: String(doc.loadBalancerId), backendId: id, serverId: null };
    if (kind === 'server') {
      const backendId = String(doc.backendId);
      const lb =
        state.backends.find((b) => b.id === backendId)?.loadBalancerId ??
        this.#state.backends.find((b) => b.id === backendId)?.loadBalancerId;
      return { loadBalancerId: lb ?? null, backendId, serverId: id };
    }
    return { loadBalancerId: null, backendId: null, serverId: null };
  }
}
