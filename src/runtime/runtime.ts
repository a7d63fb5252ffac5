import type { BackendSpec, ServerSpec, Snapshot } from '../config/snapshot.ts';
import { type Clock, realClock } from '../core/clock.ts';
import type { Balancer, BalancerFactory } from './balancer.ts';
import type { EventSink, FulcrumEvent } from './events.ts';
import { ServerQueue } from './queue.ts';
import { type Closeable, ServerRuntime } from './server-runtime.ts';
import { type SharedCells, Ticket } from './shared-cells.ts';

/** Live state of one backend: its current spec, its servers' runtimes and its balancer. Stable across swaps. */
export class BackendRuntime {
  readonly id: string;
  spec: BackendSpec;
  servers: ServerRuntime[] = [];
  balancer: Balancer;
  requests = 0;
  /** Requests or connections refused because no server was available (503 / closed). */
  noServer = 0;
  /** Requests (tcp: connections) waiting for a server slot (issue 15 point 4). */
  readonly queue: ServerQueue;
  /** The round-robin position, shared by every worker and kept when the balancer is rebuilt. */
  readonly ticket: Ticket;
  constructor(spec: BackendSpec, balancer: Balancer, clock: Clock = realClock, ticket: Ticket = new Ticket()) {
    this.id = spec.id;
    this.spec = spec;
    this.balancer = balancer;
    this.ticket = ticket;
    this.queue = new ServerQueue(clock, () => pumpQueue(this));
  }

  /**
   * True when a request that found no server is one for the queue: some available server of
   * the backend is only at its limit (none available → `no-server`). The queue then takes it
   * or refuses it (`queue-full`, also when the queue is off).
   */
  queueable(now: number): boolean {
    for (const s of this.servers) if (s.isAvailable(now) && s.atLimit(now)) return true;
    return false;
  }
}

/** Serves waiters of `brt`'s queue from servers the balancer finds room on. */
function pumpQueue(brt: BackendRuntime): void {
  const q = brt.queue;
  for (let w = q.peek(); w !== undefined; w = q.peek()) {
    const rt = brt.balancer.pick(w.pick);
    if (rt === undefined) return;
    q.shift();
    w.serve(rt);
  }
}

/**
 * All live state keyed by stable ids (DESIGN.md "runtime state … survives every swap").
 * `reconcile(snapshot)` carries health, counters, drains and slow-start clocks of unchanged
 * servers over to a new snapshot, resets health when a server's address or port changed
 * (issue 3 point 3), starts drains for removed or disabled servers (S3), and rebuilds
 * balancers only for backends whose spec or server list changed.
 */
export class Runtime {
  readonly clock: Clock;
  readonly servers = new Map<string, ServerRuntime>();
  readonly backends = new Map<string, BackendRuntime>();
  /** Servers removed from the configuration that are still draining. */
  readonly drainingRemoved = new Map<string, ServerRuntime>();
  #factory: BalancerFactory;
  #sink: EventSink;
  #drainTimers = new Map<string, () => void>();
  /** Per-action drain timeouts (issue 15 point 5, `POST …/drain { timeoutSeconds }`), by server id. */
  #drainTimeouts = new Map<string, number>();
  #now: () => number;
  /** Cells shared with worker threads (issue 13 point 1); undefined = counts stay private. */
  readonly #shared: SharedCells | undefined;
  /** False in a worker thread: the primary decides when a drain's deadline cuts (`cutDrain`). */
  readonly #drainDeadlines: boolean;
  snapshot: Snapshot | undefined;

  /**
   * `options.shared`: the cells every worker thread sees (open connections per server, the
   * round-robin ticket per backend). The primary's allocate; a worker's are adopted from the
   * primary before each snapshot is reconciled.
   */
  constructor(
    factory: BalancerFactory,
    options: { clock?: Clock; events?: EventSink; shared?: SharedCells; drainDeadlines?: boolean } = {},
  ) {
    this.clock = options.clock ?? realClock;
    this.#factory = factory;
    this.#shared = options.shared;
    this.#drainDeadlines = options.drainDeadlines ?? true;
    this.#sink = options.events ?? (() => {});
    const clock = this.clock;
    this.#now = () => clock.now();
  }

  /** Replaces the event sink (the control plane wires the store and the stream here). */
  setEventSink(sink: EventSink): void {
    this.#sink = sink;
  }

  /** Records an event with the current time. */
  emit(e: Omit<FulcrumEvent, 'at'>): void {
    this.#sink({ at: new Date(this.clock.now()).toISOString(), ...e });
  }

  /** Tells the server's backend balancer that availability or weight may have changed. */
  invalidate(s: ServerRuntime): void {
    this.backends.get(s.spec.backendId)?.balancer.invalidate();
    this.stateListener?.(s);
  }

  /**
   * Called after every change of a server's health, drain, ejection, slow start or address
   * problem (each such change calls `invalidate`): the worker pool forwards the primary's state
   * to the workers from here (issue 13 point 1). Undefined in a single process.
   */
  stateListener: ((s: ServerRuntime) => void) | undefined;

  /**
   * Ends the drains whose connections have all closed, and the ones past their deadline. In a
   * single process `connectionClosed` does it; a primary whose connections live in worker
   * threads sees only the shared counts, so it calls this a few times a second.
   */
  settleDrains(): void {
    const now = this.clock.now();
    // No copy of the maps: this runs ten times a second over every server, and ending a drain
    // only deletes from `drainingRemoved`, which a Map's iteration allows.
    for (const rt of this.servers.values()) if (rt.draining) this.#settleDrain(rt, now);
    for (const rt of this.drainingRemoved.values()) if (rt.draining) this.#settleDrain(rt, now);
  }

  #settleDrain(rt: ServerRuntime, now: number): void {
    if (rt.activeConnections <= 0) this.#endDrain(rt, false);
    else if (rt.drainDeadline > 0 && now >= rt.drainDeadline) this.#endDrain(rt, true);
  }

  /**
   * Serves waiters of every backend queue from servers with room. A slot freed in another
   * worker thread is seen only through the shared counts, so a worker calls this on a short
   * timer while a queue holds waiters (issue 13 point 1).
   * Returns the number of requests still waiting.
   */
  pumpQueues(): number {
    let waiting = 0;
    for (const brt of this.backends.values()) {
      if (brt.queue.length === 0) continue;
      pumpQueue(brt);
      waiting += brt.queue.length;
    }
    return waiting;
  }

  /**
   * Applies a new snapshot to the live state. Idempotent for the same snapshot. Issue 13
   * point 4: a backend whose spec is the previous snapshot's own object (incremental compile,
   * config/compile-incremental.ts) did not change, nor did its servers: only the backends
   * that changed are visited, so a one-server change costs the size of its backend, not of
   * the whole configuration.
   */
  reconcile(snapshot: Snapshot): void {
    const now = this.clock.now();
    const previous = this.snapshot;
    this.snapshot = snapshot;
    const changed = previous ? changedBackends(previous, snapshot) : undefined;
    // A backend whose settings are the same object and whose list did not get shorter: the
    // servers at the same place with the same spec only need the new backend spec.
    const aligned = new Map<string, (ServerRuntime | undefined)[]>();
    if (changed && previous) {
      for (const b of changed.now) {
        const was = previous.backends.get(b.id);
        const brt = this.backends.get(b.id);
        if (!was || !brt || brt.spec !== was || was.config !== b.config) continue;
        if (was.servers.length > b.servers.length || brt.servers.length !== was.servers.length) continue;
        const rts: (ServerRuntime | undefined)[] = new Array(b.servers.length);
        for (let i = 0; i < was.servers.length; i++) {
          const rt = brt.servers[i];
          if (b.servers[i] === was.servers[i] && rt && rt.spec === b.servers[i]) {
            rt.backend = b;
            rts[i] = rt;
          }
        }
        aligned.set(b.id, rts);
      }
    }
    // Indexed loops over servers lists: filter, map and forEach on a frozen array take a slow
    // path in V8 (about 0.5 ms each at 10,000 servers).
    const serverSpecs = changed
      ? changed.now.flatMap((b) => {
          const rts = aligned.get(b.id);
          if (!rts) return b.servers;
          const out: ServerSpec[] = [];
          for (let i = 0; i < b.servers.length; i++) if (rts[i] === undefined) out.push(b.servers[i]!);
          return out;
        })
      : snapshot.servers.values();
    for (const spec of serverSpecs) {
      const backend = snapshot.backends.get(spec.backendId);
      if (!backend) continue;
      let rt = this.servers.get(spec.id);
      if (!rt) {
        rt = this.drainingRemoved.get(spec.id);
        if (rt) {
          // Back in the configuration while draining after a removal: no longer removed; an
          // enabled server's drain ends below (#update) without cutting anything.
          this.drainingRemoved.delete(spec.id);
          rt.removed = false;
        }
      }
      if (!rt) {
        rt = new ServerRuntime(spec, backend);
        this.#shared?.bindCount(rt.active, `s:${spec.id}`);
        this.servers.set(spec.id, rt);
        this.#startSlowStartIfNew(rt, previous, backend, now);
      } else {
        this.servers.set(spec.id, rt);
        this.#update(rt, spec, backend, now);
      }
    }
    const removedIds = changed ? changed.removed : [...this.servers.keys()];
    for (const id of removedIds) {
      const rt = this.servers.get(id);
      if (!rt || snapshot.servers.has(id)) continue;
      this.servers.delete(id);
      rt.removed = true;
      this.drainingRemoved.set(id, rt);
      this.#startDrain(rt, now);
    }
    for (const backend of changed ? changed.now : snapshot.backends.values()) {
      const rts = aligned.get(backend.id);
      const servers: ServerRuntime[] = new Array(backend.servers.length);
      for (let i = 0; i < servers.length; i++)
        servers[i] = rts?.[i] ?? (this.servers.get(backend.servers[i]!.id) as ServerRuntime);
      let brt = this.backends.get(backend.id);
      if (!brt) {
        const ticket = new Ticket();
        if (this.#shared) ticket.bind(this.#shared.tickets, this.#shared.slot(`b:${backend.id}`));
        brt = new BackendRuntime(backend, this.#factory(backend, servers, this.#now, ticket), this.clock, ticket);
        this.backends.set(backend.id, brt);
      } else if (!sameBalancing(brt.spec, backend)) {
        brt.balancer.dispose?.();
        brt.balancer = this.#factory(backend, servers, this.#now, brt.ticket);
      }
      brt.spec = backend;
      brt.servers = servers;
    }
    for (const [id, brt] of this.backends) {
      if (snapshot.backends.has(id)) continue;
      this.backends.delete(id);
      brt.balancer.dispose?.();
      this.#shared?.release(`b:${id}`);
      brt.queue.clear();
    }
  }

  #startSlowStartIfNew(rt: ServerRuntime, previous: Snapshot | undefined, backend: BackendSpec, now: number): void {
    // SS3: only for servers added to a backend that already had servers.
    const prevBackend = previous?.backends.get(backend.id);
    const hadServers = (prevBackend?.servers.length ?? 0) > 0;
    if (!backend.slowStart.enabled || !hadServers) {
      rt.slowStartDone = true;
      return;
    }
    // SS5: with checks disabled the ramp starts now; SS4: otherwise at the first healthy declaration.
    if (!rt.checked) rt.slowStartFrom = now;
  }

  #update(rt: ServerRuntime, spec: ServerSpec, backend: BackendSpec, now: number): void {
    const old = rt.spec;
    const wasChecked = rt.checked;
    rt.spec = spec;
    rt.backend = backend;
    if (!backend.slowStart.enabled) {
      // Slow start turned off: a ramp in progress (or waiting for its first healthy
      // declaration) ends here; turning it on again never ramps this server (SS6).
      rt.slowStartDone = true;
    }
    if (!rt.checked) {
      // Checks off for the backend or for this server (issue 15 point 7): healthy (H5).
      rt.health = 'healthy';
      rt.healthReason = null;
      // SS5: checks turned off while the ramp waited for the first healthy declaration (SS4):
      // the server is healthy at once (H5), so its ramp starts now.
      if (!rt.slowStartDone && rt.slowStartFrom === 0) rt.slowStartFrom = now;
    } else if (old.endpoint !== spec.endpoint || !wasChecked) {
      // issue 3 point 3: a new address or port, or checks just turned on, must prove itself again.
      if (old.endpoint !== spec.endpoint || rt.health !== 'healthy') {
        rt.health = 'unknown';
        rt.healthReason = 'initial-check';
        rt.lastCheck = null;
      }
    }
    if (old.enabled && !spec.enabled) this.#startDrain(rt, now);
    else if (spec.enabled && rt.draining) this.#endDrain(rt, false); // re-enabled, or back after a removal
  }

  /** S3: no new traffic; open connections may finish until the backend's drain timeout. */
  #startDrain(rt: ServerRuntime, now: number): void {
    if (rt.draining) return;
    rt.draining = true;
    rt.drainStartedAt = now;
    const timeoutMs = this.#drainTimeouts.get(rt.id) ?? rt.backend.drainTimeoutMs;
    this.#drainTimeouts.delete(rt.id);
    rt.drainDeadline = now + timeoutMs;
    this.emit({
      kind: 'drain-start',
      loadBalancerId: rt.spec.loadBalancerId,
      backendId: rt.spec.backendId,
      serverId: rt.id,
      from: rt.removed ? 'configured' : 'enabled',
      to: 'draining',
      reason: rt.removed ? 'removed' : 'disabled',
      detail: { activeConnections: rt.activeConnections, drainTimeoutSeconds: timeoutMs / 1000 },
    });
    this.invalidate(rt);
    if (rt.activeConnections === 0) {
      this.#endDrain(rt, true);
      return;
    }
    if (!this.#drainDeadlines) return;
    const cancel = this.clock.setTimeout(() => this.#endDrain(rt, true), timeoutMs);
    this.#drainTimers.set(rt.id, cancel);
  }

  /**
   * Ends `rt`'s drain now, closing what is still open: how a worker thread follows the
   * primary, which owns every drain's deadline (issue 13 point 1).
   */
  cutDrain(rt: ServerRuntime): void {
    this.#endDrain(rt, true);
  }

  /**
   * A drain timeout for one action (issue 15 point 5): the server's next drain (or the one
   * under way, from now) cuts what is still open after `timeoutMs` instead of the backend's
   * `drainTimeoutSeconds`; 0 cuts at once. `undefined` forgets a timeout no drain used.
   */
  setDrainTimeout(id: string, timeoutMs: number | undefined): void {
    if (timeoutMs === undefined) {
      this.#drainTimeouts.delete(id);
      return;
    }
    const rt = this.server(id);
    if (!rt?.draining) {
      this.#drainTimeouts.set(id, timeoutMs);
      return;
    }
    this.#drainTimers.get(id)?.();
    rt.drainDeadline = this.clock.now() + timeoutMs;
    if (!this.#drainDeadlines) return;
    if (timeoutMs === 0 || rt.activeConnections === 0) {
      this.#endDrain(rt, true);
      return;
    }
    this.#drainTimers.set(
      id,
      this.clock.setTimeout(() => this.#endDrain(rt, true), timeoutMs),
    );
  }

  /** Ends a drain: closes what is left (when `cut`), forgets a removed server. */
  #endDrain(rt: ServerRuntime, cut: boolean): void {
    if (!rt.draining) return;
    this.#drainTimers.get(rt.id)?.();
    this.#drainTimers.delete(rt.id);
    let closed = 0;
    // Open now across every worker thread (shared count): what a cut ends, also where the
    // connections live in other threads (a primary holds none itself; each worker cuts its own
    // when the primary's server state shows the drain over: workers/worker.ts applyStates).
    const open = rt.activeConnections;
    // Not draining any more before cutting: a destroy() that calls connectionClosed synchronously
    // (a UDP flow) must not end this drain a second time.
    rt.draining = false;
    rt.drainStartedAt = 0;
    rt.drainDeadline = 0;
    if (cut) {
      for (const c of [...rt.connections]) {
        closed++;
        c.destroy();
      }
      // Connections whose close is asynchronous (TCP) are forgotten here; their later
      // connectionClosed finds nothing to remove, so the count must drop now.
      rt.addConnections(-rt.connections.size);
      rt.connections.clear();
    }
    if (rt.removed) {
      this.drainingRemoved.delete(rt.id);
      this.#shared?.release(`s:${rt.id}`);
    }
    this.emit({
      kind: 'drain-end',
      loadBalancerId: rt.spec.loadBalancerId,
      backendId: rt.spec.backendId,
      serverId: rt.id,
      from: 'draining',
      to: rt.removed ? 'removed' : rt.spec.enabled ? 'enabled' : 'disabled',
      reason: cut && Math.max(closed, open) > 0 ? 'drain-timeout' : 'connections-finished',
      detail: { connectionsCut: cut ? Math.max(closed, open) : 0 },
    });
    this.invalidate(rt);
  }

  /** Data plane: a connection to `rt` opened. */
  connectionOpened(rt: ServerRuntime, c: Closeable): void {
    rt.addConnections(1);
    rt.totalConnections++;
    rt.connections.add(c);
    // A server reaching its limit stays eligible; the balancers skip it while it is full
    // (issue 15 point 4, balancer/eligibility.ts), so nothing is rebuilt here.
  }

  /** Data plane: a connection to `rt` closed; ends a drain when it was the last one. */
  connectionClosed(rt: ServerRuntime, c: Closeable): void {
    if (!rt.connections.delete(c)) return;
    const left = rt.addConnections(-1);
    if (rt.draining && left === 0) this.#endDrain(rt, false);
    else if (rt.spec.maxConnections > 0) this.#slotFreed(rt);
  }

  /**
   * A server with a limit has one request less: the oldest waiter of its backend's queue
   * takes the slot at once (FIFO, no pick). The balancers see the room on their next pick
   * (a server at its limit is skipped, never removed), so nothing is invalidated.
   */
  #slotFreed(rt: ServerRuntime): void {
    const brt = this.backends.get(rt.spec.backendId);
    if (brt === undefined) return;
    const now = this.clock.now();
    if (brt.queue.length > 0 && !rt.spec.passive && rt.isAvailable(now) && !rt.atLimit(now)) {
      const w = brt.queue.shift();
      if (w !== undefined) {
        w.serve(rt);
        return;
      }
    }
    if (brt.queue.length > 0) pumpQueue(brt);
  }

  /**
   * Data plane: the outcome of one real request or connection to `rt` (H7 passive health).
   * `ok` false for connect errors, resets, timeouts and (http backends) 5xx answers.
   * The outlier detector replaces `outcomeListener`; the default does nothing.
   */
  recordOutcome(rt: ServerRuntime, ok: boolean): void {
    this.outcomeListener(rt, ok);
  }

  /** Set by the outlier detector (H7). */
  outcomeListener: (rt: ServerRuntime, ok: boolean) => void = () => {};

  /** Live runtime of a server id, including one that is draining after removal. */
  server(id: string): ServerRuntime | undefined {
    return this.servers.get(id) ?? this.drainingRemoved.get(id);
  }

  /** Cuts every drain now (graceful stop's deadline). */
  endAllDrains(): void {
    for (const rt of [...this.servers.values(), ...this.drainingRemoved.values()]) this.#endDrain(rt, true);
  }
}

/**
 * The backends of `next` that are not the previous snapshot's own objects, and the ids of the
 * servers the previous snapshot's changed or removed backends held that may have gone. Only
 * these need reconciling (the others are the same objects, so are their servers).
 * Undefined when the removed servers are several: they are then found in the order of the
 * live servers, as before (drain events keep their order).
 */
function changedBackends(previous: Snapshot, next: Snapshot): { now: BackendSpec[]; removed: string[] } | undefined {
  if (previous === next) return { now: [], removed: [] };
  const now: BackendSpec[] = [];
  for (const b of next.backends.values()) if (previous.backends.get(b.id) !== b) now.push(b);
  const removed: string[] = [];
  for (const b of previous.backends.values()) {
    const after = next.backends.get(b.id);
    if (after === b) continue;
    // No shorter: only a server whose place changed can have gone.
    const same = after !== undefined && after.servers.length >= b.servers.length;
    for (let i = 0; i < b.servers.length; i++) {
      const s = b.servers[i]!;
      if (same && after.servers[i] === s) continue;
      if (!next.servers.has(s.id)) removed.push(s.id);
    }
  }
  // Servers outside any backend's list (none after compile) would be missed: then visit all.
  if (removed.length > 1 || now.length > 1) return undefined;
  return { now, removed };
}

/** Whether a backend's balancer can stay: the same settings and the same servers (by content). */
function sameBalancing(a: BackendSpec, b: BackendSpec): boolean {
  if (a === b) return true;
  if (a.config !== b.config && JSON.stringify(a.config) !== JSON.stringify(b.config)) return false;
  if (a.servers.length !== b.servers.length) return false;
  for (let i = 0; i < a.servers.length; i++) {
    const x = a.servers[i];
    const y = b.servers[i];
    if (x !== y && JSON.stringify(x) !== JSON.stringify(y)) return false;
  }
  return true;
}
