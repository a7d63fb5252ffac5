import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Snapshot } from '../config/snapshot.ts';
import type { Logger } from '../core/log.ts';
import type { AccessLog } from '../dataplane/access-log.ts';
import { FrontendRuntime, type ListenerStatus } from '../runtime/frontend-runtime.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import type { SharedCells } from '../runtime/shared-cells.ts';
import { WorkerCounters, writeSums } from './counters.ts';
import {
  type FromWorker,
  type ServerState,
  type StickyEntry,
  serverState,
  type ToWorker,
  type WorkerInit,
} from './protocol.ts';
import { encodeDelta } from './snapshot-wire.ts';

/** Options of the WorkerPool. */
export interface WorkerPoolOptions {
  /** How many worker threads (≥ 1). */
  count: number;
  /** The primary's runtime: the one owner of health, drains, ejections and slow starts; built with `shared`. */
  runtime: Runtime;
  /** The cells shared with the workers (allocating: the primary's). */
  shared: SharedCells;
  /** Decrypts certificate private keys (T1). */
  secretKey: Buffer;
  /** The cookie-persistence HMAC key (P2). */
  cookieKey: string;
  /** The one access-log writer; workers send it their lines (O2). */
  accessLog?: AccessLog;
  log: Logger;
  logLevel?: string;
  /** The worker entry; default src/workers/worker.ts. */
  entry?: URL;
  /** Persistence entries a worker wrote, after they are relayed to the others (the primary's explain keeps them too). */
  onSticky?: (entries: readonly StickyEntry[]) => void;
}

interface Member {
  /** Its place 0 … N−1; -1 while it is the spare. */
  index: number;
  readonly worker: Worker;
  /** Its share of the shared counts (`SharedCells.ledger`), taken back out when it exits. */
  readonly ledger: SharedArrayBuffer;
  readonly startedAt: number;
  readonly waiting: Map<number, (m: FromWorker | undefined) => void>;
  readonly counters: WorkerCounters;
  statuses: Map<string, ListenerStatus>;
  /** Set once the worker has applied the current snapshot and takes part in every apply. */
  live: boolean;
  exited: boolean;
}

/** How often the primary ends drains whose connections (in the workers) have all closed (ms). */
const SETTLE_MS = 100;
/** How often counters are collected without a read asking (ms): the history samples each second. */
const COLLECT_MS = 1000;
/** A worker that dies sooner than this after its start is replaced after this delay (ms), not at once. */
const RESPAWN_BACKOFF_MS = 1000;

/**
 * The primary's side of `fulcrum serve --workers N` (issue 13 point 1). It is the data plane
 * port of the control plane (`apply`, `status`, `counters`, `runtime`):
 *
 * - `apply(snapshot)` reconciles the primary's runtime (health, drains, slow starts stay owned
 *   here), then sends the snapshot, the shared cells' table and every server's state to every
 *   worker and resolves only when every live worker has applied it, so the API answers a
 *   change once it is live in every worker (S2).
 * - Health, ejection, slow-start and address changes of the primary's runtime reach every
 *   worker in the same event-loop turn (`runtime.stateListener`).
 * - Open connection counts and round-robin tickets are shared memory (runtime/shared-cells.ts);
 *   every other counter is collected from the workers on read (`refresh`) and every second,
 *   and summed; a dead worker's last report is kept (at most one second of its counts is lost).
 * - Passive-health outcomes of every worker come back here in order; the outlier detector of
 *   the primary decides ejections and the workers get them like any state.
 * - A worker that exits is replaced (at once, or after a second when it died young); the
 *   replacement gets the current snapshot before it takes part in the next apply.
 */
export class WorkerPool {
  readonly runtime: Runtime;
  /** Per-frontend counters, summed over the workers on `refresh` (open connections are shared cells). */
  readonly counters = new Map<string, FrontendRuntime>();
  readonly #o: WorkerPoolOptions;
  readonly #members: (Member | undefined)[];
  readonly #retired: WorkerCounters[] = [];
  readonly #ticketKeys = randomBytes(48);
  /** The snapshot every live worker holds (deltas are encoded against it). */
  #snapshot: Snapshot | undefined;
  #seq = 0;
  #chain: Promise<void> = Promise.resolve();
  #closing = false;
  /** Servers whose state changed this turn (by id; the object, as a removed one is gone from the runtime). */
  #pendingStates = new Map<string, ServerRuntime>();
  #timers: NodeJS.Timeout[] = [];
  #replacements = new Set<Promise<void>>();
  /** A booted worker with no frontend yet, to replace one that dies without waiting for a boot. */
  #spare: Promise<Member | undefined> | undefined;

  constructor(options: WorkerPoolOptions) {
    if (!(options.count >= 1)) throw new RangeError(`workers: must be at least 1 (got ${options.count})`);
    this.#o = options;
    this.runtime = options.runtime;
    this.#members = new Array(options.count).fill(undefined);
    this.runtime.stateListener = (rt) => {
      if (this.#pendingStates.size === 0) queueMicrotask(() => this.#flushStates());
      this.#pendingStates.set(rt.id, rt);
    };
  }

  /** How many workers run now (a replacement counts once it has applied the current snapshot). */
  get liveCount(): number {
    return this.#members.filter((m) => m?.live).length;
  }

  /** Starts every worker; resolves when each has started (before any snapshot). Throws when one cannot start. */
  async start(): Promise<void> {
    try {
      await Promise.all(this.#members.map((_, i) => this.#spawn(i)));
    } catch (err) {
      this.#closing = true;
      await Promise.all(this.#members.map((m) => m?.worker.terminate()));
      throw err;
    }
    for (const m of this.#members) if (m) m.live = true;
    this.#prepareSpare();
    this.#timers.push(setInterval(() => this.runtime.settleDrains(), SETTLE_MS));
    this.#timers.push(
      setInterval(() => {
        this.refresh().catch((err) => this.#o.log.warn({ err }, 'collecting worker counters failed'));
      }, COLLECT_MS),
    );
    for (const t of this.#timers) t.unref();
  }

  #spawn(index: number): Promise<Member> {
    const o = this.#o;
    const ledger = o.shared.newLedger();
    const init: WorkerInit = {
      cells: o.shared.buffer,
      ledger,
      secretKey: new Uint8Array(o.secretKey),
      cookieKey: o.cookieKey,
      ticketKeys: new Uint8Array(this.#ticketKeys),
      accessLog: o.accessLog !== undefined,
      logLevel: o.logLevel,
    };
    const worker = new Worker(o.entry ?? new URL('./worker.ts', import.meta.url), { workerData: init });
    const m: Member = {
      index,
      worker,
      ledger,
      startedAt: Date.now(),
      waiting: new Map(),
      counters: new WorkerCounters(),
      statuses: new Map(),
      live: false,
      exited: false,
    };
    if (index >= 0) this.#members[index] = m;
    return new Promise<Member>((resolve, reject) => {
      worker.on('message', (msg: FromWorker) => {
        if (msg.t === 'ready') resolve(m);
        else this.#onMessage(m, msg);
      });
      worker.on('error', (err) => {
        o.log.error({ err, worker: index }, 'worker failed');
        reject(err);
      });
      worker.on('exit', (code) => {
        reject(new Error(`worker ${index} exited with code ${code} before it was ready`));
        this.#onExit(m, code);
      });
    });
  }

  #onMessage(m: Member, msg: FromWorker): void {
    switch (msg.t) {
      case 'applied':
      case 'counters':
        m.waiting.get(msg.seq)?.(msg);
        m.waiting.delete(msg.seq);
        return;
      case 'outcomes': {
        const listener = this.runtime.stateListener;
        for (let i = 0; i < msg.ids.length; i++) {
          const rt = this.runtime.server(msg.ids[i]!);
          if (!rt) continue;
          const wasFailing = rt.consecutiveFailures > 0;
          this.runtime.recordOutcome(rt, msg.ok[i]!);
          // A streak begins or ends: workers start or stop reporting this server's successes.
          if (wasFailing !== rt.consecutiveFailures > 0) listener?.(rt);
        }
        return;
      }
      case 'log':
        this.#o.accessLog?.writeLines(msg.text);
        return;
      case 'sticky': {
        const relay: ToWorker = { t: 'sticky', entries: msg.entries };
        for (const other of this.#members) if (other && other !== m && other.live) this.#send(other, relay);
        this.#o.onSticky?.(msg.entries);
        return;
      }
      default:
        return;
    }
  }

  #prepareSpare(): void {
    if (this.#closing || this.#spare) return;
    this.#spare = this.#spawn(-1).catch((err) => {
      this.#o.log.warn({ err }, 'spare worker did not start');
      return undefined;
    });
  }

  #onExit(m: Member, code: number): void {
    m.exited = true;
    m.live = false;
    // the connections it held are gone: they stop counting for least-connections and limits
    this.#o.shared.settleLedger(m.ledger);
    for (const done of m.waiting.values()) done(undefined);
    m.waiting.clear();
    if (m.index < 0 || this.#members[m.index] !== m) return;
    this.#retired.push(m.counters);
    if (this.#closing) return;
    const young = Date.now() - m.startedAt < RESPAWN_BACKOFF_MS;
    this.#o.log.error({ worker: m.index, code }, 'worker exited; replacing it');
    const replaced = this.#replace(m.index, young);
    this.#replacements.add(replaced);
    replaced.finally(() => this.#replacements.delete(replaced));
  }

  /** Puts the spare (or, without one, a new worker) in place `index`, with the current snapshot. */
  async #replace(index: number, young: boolean): Promise<void> {
    const spare = this.#spare;
    this.#spare = undefined;
    let m = spare ? await spare : undefined;
    if (m === undefined || m.exited) {
      // No spare ready: boot one now; after a death right at start, wait first (a crash loop).
      if (young) await new Promise((r) => setTimeout(r, RESPAWN_BACKOFF_MS));
      if (this.#closing) return;
      try {
        m = await this.#spawn(index);
      } catch (err) {
        this.#o.log.error({ err, worker: index }, 'replacement worker did not start');
        return;
      }
    }
    if (this.#closing) {
      await m.worker.terminate();
      return;
    }
    m.index = index;
    this.#members[index] = m;
    // On the apply chain: it gets the newest snapshot, then takes part in every later apply.
    const run = this.#chain.then(async () => {
      if (this.#snapshot && !m.exited) await this.#applyTo(m, this.#applyMessage(undefined, this.#snapshot));
      m.live = !m.exited;
    });
    this.#chain = run.catch(() => {});
    await run;
    this.#prepareSpare();
  }

  /**
   * Resolves once the spare worker has booted (true), or false without one (closing, or it
   * failed to start): from then on a worker that dies is replaced without waiting for a boot.
   */
  async spareReady(): Promise<boolean> {
    const m = await this.#spare;
    return m !== undefined && !m.exited;
  }

  /** Resolves once every worker replaced so far takes traffic again (tests). */
  async settled(): Promise<void> {
    while (this.#replacements.size > 0) await Promise.all([...this.#replacements]);
  }

  #send(m: Member, msg: ToWorker): void {
    if (!m.exited) m.worker.postMessage(msg);
  }

  #request(m: Member, msg: ToWorker & { seq: number }): Promise<FromWorker | undefined> {
    if (m.exited) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      m.waiting.set(msg.seq, resolve);
      this.#send(m, msg);
    });
  }

  /** The apply message from `prev` (what the workers hold; undefined: the whole snapshot) to `next`. */
  #applyMessage(prev: Snapshot | undefined, next: Snapshot): ToWorker & { t: 'apply' } {
    const delta = encodeDelta(prev, next);
    const states: ServerState[] = [];
    const shared = this.#o.shared;
    if (prev === undefined) {
      for (const rt of this.runtime.servers.values()) states.push(serverState(rt));
      for (const rt of this.runtime.drainingRemoved.values()) states.push(serverState(rt));
      return { t: 'apply', seq: ++this.#seq, index: -1, delta, cells: shared.table(), wholeCells: true, states };
    }
    // A change: the states and cells of what it touched; other states follow as they change.
    for (const id of [...delta.servers.map((s) => s.id), ...delta.removedServers]) {
      const rt = this.runtime.server(id);
      if (rt) states.push(serverState(rt));
    }
    const keys = [
      ...delta.servers.map((s) => `s:${s.id}`),
      ...delta.backends.map((b) => `b:${b.id}`),
      ...delta.frontends.map((f) => `f:${f.id}`),
    ];
    return {
      t: 'apply',
      seq: ++this.#seq,
      index: -1,
      delta,
      cells: shared.entriesFor(keys),
      wholeCells: false,
      states,
    };
  }

  async #applyTo(m: Member, msg: ToWorker & { t: 'apply' }, whole?: Snapshot): Promise<void> {
    let reply = await this.#request(m, { ...msg, index: m.index });
    if (reply?.t === 'applied' && reply.resync && whole) {
      reply = await this.#request(m, { ...this.#applyMessage(undefined, whole), index: m.index });
    }
    if (reply?.t === 'applied') m.statuses = new Map(reply.statuses);
  }

  /**
   * Applies a snapshot in the primary's runtime and in every worker; resolves once every live
   * worker has applied it (a worker that dies meanwhile is replaced with this snapshot).
   * Calls are serialised in order.
   */
  apply(snapshot: Snapshot): Promise<void> {
    const run = this.#chain.then(async () => {
      this.runtime.reconcile(snapshot);
      this.#syncCounters(snapshot);
      const msg = this.#applyMessage(this.#snapshot, snapshot);
      this.#snapshot = snapshot;
      await Promise.all(this.#members.map((m) => (m?.live ? this.#applyTo(m, msg, snapshot) : undefined)));
    });
    this.#chain = run.catch(() => {});
    return run;
  }

  #syncCounters(snapshot: Snapshot): void {
    const shared = this.#o.shared;
    for (const id of snapshot.frontends.keys()) {
      if (this.counters.has(id)) continue;
      const c = new FrontendRuntime(id);
      shared.bindCount(c.active, `f:${id}`);
      this.counters.set(id, c);
    }
    for (const id of this.counters.keys()) {
      if (snapshot.frontends.has(id)) continue;
      this.counters.delete(id);
      shared.release(`f:${id}`);
    }
  }

  #flushStates(): void {
    if (this.#pendingStates.size === 0) return;
    const states: ServerState[] = [];
    for (const rt of this.#pendingStates.values()) states.push(serverState(rt));
    this.#pendingStates.clear();
    const msg: ToWorker = { t: 'state', states };
    for (const m of this.#members) if (m) this.#send(m, msg);
  }

  /**
   * Listening status of a frontend across the workers (F5): listening when every live worker
   * listens; otherwise the first worker's reason. Undefined for an unknown id.
   */
  status(frontendId: string): ListenerStatus | undefined {
    let seen: ListenerStatus | undefined;
    for (const m of this.#members) {
      if (!m?.live) continue;
      const s = m.statuses.get(frontendId);
      if (s === undefined) continue;
      if (!s.listening) return s;
      seen = s;
    }
    return seen;
  }

  /** A drain timeout for one action (issue 15 point 5), in the primary and in every worker. */
  setDrainTimeout(id: string, timeoutMs: number | undefined): void {
    this.runtime.setDrainTimeout(id, timeoutMs);
    for (const m of this.#members) if (m) this.#send(m, { t: 'drain-timeout', id, ms: timeoutMs });
  }

  /**
   * Collects every worker's counters and writes their sums into the primary's runtime and
   * `counters` (summed on read: the API calls it before answering a read).
   */
  async refresh(): Promise<void> {
    const seq = ++this.#seq;
    await Promise.all(
      this.#members.map(async (m) => {
        if (!m || m.exited) return;
        const reply = await this.#request(m, { t: 'collect', seq });
        if (reply?.t !== 'counters') return;
        m.counters.merge(reply.dump);
        m.statuses = new Map(reply.statuses);
      }),
    );
    const all = [...this.#retired];
    for (const m of this.#members) if (m && !m.exited) all.push(m.counters);
    writeSums(this.runtime, this.counters, all);
  }

  /** Test hook and operator action: ends worker `index` at once, as a crash would; it is replaced. */
  async kill(index: number): Promise<void> {
    const m = this.#members[index];
    if (m && !m.exited) await m.worker.terminate();
  }

  /**
   * Graceful stop: every worker stops accepting and lets open connections finish for at most
   * `drainMs`, then exits; resolves when every worker has exited.
   */
  async close(drainMs: number): Promise<void> {
    await this.#chain;
    this.#closing = true;
    for (const t of this.#timers) clearInterval(t);
    this.runtime.stateListener = undefined;
    // The members stop accepting first; a spare still booting (it can take longer than a
    // stop should wait to refuse connections) is ended beside them, never before them.
    const spare = this.#spare;
    this.#spare = undefined;
    await Promise.all([
      spare?.then((m) => m?.worker.terminate()),
      ...this.#members.map(async (m) => {
        if (!m || m.exited) return;
        const exited = new Promise<void>((resolve) => m.worker.once('exit', () => resolve()));
        this.#send(m, { t: 'close', drainMs });
        const force = setTimeout(() => void m.worker.terminate(), drainMs + 5000);
        await exited;
        clearTimeout(force);
      }),
    ]);
    this.runtime.endAllDrains();
  }
}
