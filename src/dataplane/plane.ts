import type { FrontendSpec, Snapshot } from '../config/snapshot.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { SharedCells } from '../runtime/shared-cells.ts';
import type { AccessLog } from './access-log.ts';
import {
  FrontendRuntime,
  type ListenerContext,
  type ListenerFactory,
  type ListenerStatus,
  type ProtocolListener,
} from './types.ts';

interface Slot {
  spec: FrontendSpec;
  listener: ProtocolListener | undefined;
  status: ListenerStatus;
  /** Retry timer for an address that was in use (F5). */
  cancelRetry?: () => void;
}

/** How often a frontend whose address was in use tries to bind again (ms). */
const RETRY_BIND_MS = 5000;

/**
 * The data plane: applies snapshots (S2) and keeps one listener per enabled frontend.
 * `apply` reconciles the runtime, then opens, replaces or closes listeners so that a change
 * to one frontend never disturbs another; it resolves once every new listener has bound or
 * failed (its status then says why, F5), so the API can answer after the swap.
 */
export class Plane {
  readonly runtime: Runtime;
  readonly counters = new Map<string, FrontendRuntime>();
  #factories: Partial<Record<FrontendSpec['protocol'], ListenerFactory>>;
  #slots = new Map<string, Slot>();
  #log: Logger;
  #clock: Clock;
  #applied = 0;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #accessLog: AccessLog | undefined;
  readonly #shared: SharedCells | undefined;

  /**
   * `options.accessLog`: where listeners write access-log records (O2); off when undefined.
   * `options.shared`: cells shared with other worker threads, where each frontend's open
   * connection count lives (issue 13 point 1); private counts when undefined.
   */
  constructor(
    runtime: Runtime,
    factories: Partial<Record<FrontendSpec['protocol'], ListenerFactory>>,
    log: Logger,
    options: { accessLog?: AccessLog; shared?: SharedCells } = {},
  ) {
    this.runtime = runtime;
    this.#factories = factories;
    this.#log = log;
    this.#clock = runtime.clock;
    this.#accessLog = options.accessLog;
    this.#shared = options.shared;
  }

  /** Statuses of every frontend of the applied snapshot, by id (worker threads report them to the primary). */
  statuses(): [string, ListenerStatus][] {
    return [...this.#slots].map(([id, slot]) => [id, slot.status]);
  }

  /** The configVersion currently applied. */
  get appliedVersion(): number {
    return this.#applied;
  }

  /** Applies a snapshot; calls are serialised in order. */
  apply(snapshot: Snapshot): Promise<void> {
    const run = this.#chain.then(() => this.#apply(snapshot));
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Listening status of a frontend (F5); undefined for an unknown id. */
  status(frontendId: string): ListenerStatus | undefined {
    return this.#slots.get(frontendId)?.status;
  }

  async #apply(snapshot: Snapshot): Promise<void> {
    if (this.#closed) return;
    this.runtime.reconcile(snapshot);
    const work: Promise<void>[] = [];
    for (const [id, slot] of this.#slots) {
      const next = snapshot.frontends.get(id);
      if (!next || !this.#wanted(next) || next.bindKey !== slot.spec.bindKey) {
        this.#slots.delete(id);
        work.push(this.#retire(slot));
      }
    }
    await Promise.all(work);
    const opens: Promise<void>[] = [];
    for (const spec of snapshot.frontends.values()) {
      let counters = this.counters.get(spec.id);
      if (!counters) {
        this.counters.set(spec.id, (counters = new FrontendRuntime(spec.id)));
        this.#shared?.bindCount(counters.active, `f:${spec.id}`);
      }
      const slot = this.#slots.get(spec.id);
      if (!this.#wanted(spec)) {
        this.#slots.set(spec.id, {
          spec,
          listener: undefined,
          status: { listening: false, reason: this.#whyNot(spec) },
        });
        continue;
      }
      if (slot?.listener) {
        slot.spec = spec;
        slot.listener.replace(spec);
        continue;
      }
      if (slot) slot.cancelRetry?.();
      opens.push(this.#open(spec, counters));
    }
    await Promise.all(opens);
    for (const id of this.counters.keys()) {
      if (snapshot.frontends.has(id)) continue;
      this.counters.delete(id);
      this.#shared?.release(`f:${id}`);
    }
    this.#applied = snapshot.version;
  }

  #wanted(spec: FrontendSpec): boolean {
    return spec.enabled && spec.defaultBackend !== undefined && this.#factories[spec.protocol] !== undefined;
  }

  #whyNot(spec: FrontendSpec): string {
    if (!spec.enabled) return 'disabled';
    if (!spec.defaultBackend) return 'no default backend';
    return `protocol ${spec.protocol} is not available in this build`;
  }

  #drainMs(spec: FrontendSpec): number {
    return spec.defaultBackend?.drainTimeoutMs ?? 30_000;
  }

  async #open(spec: FrontendSpec, counters: FrontendRuntime): Promise<void> {
    const factory = this.#factories[spec.protocol] as ListenerFactory;
    const ctx: ListenerContext = {
      runtime: this.runtime,
      log: this.#log,
      clock: this.#clock,
      counters,
      accessLog: this.#accessLog,
    };
    const listener = factory(spec, ctx);
    const slot: Slot = { spec, listener: undefined, status: { listening: false, reason: 'opening' } };
    this.#slots.set(spec.id, slot);
    try {
      await listener.open();
      if (this.#slots.get(spec.id) !== slot || this.#closed) {
        await listener.close(0);
        return;
      }
      slot.listener = listener;
      slot.status = { listening: true, reason: null };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const reason =
        e.code === 'EADDRINUSE'
          ? `address in use: ${spec.bindAddress}:${spec.port} is taken by another program (EADDRINUSE)`
          : e.code === 'EADDRNOTAVAIL'
            ? `address not available on this machine: ${spec.bindAddress} (EADDRNOTAVAIL)`
            : e.code === 'EACCES'
              ? `permission denied to bind port ${spec.port} (EACCES)`
              : `cannot listen: ${e.message}`;
      slot.status = { listening: false, reason };
      this.#log.warn({ frontendId: spec.id, code: e.code, reason }, 'frontend not listening');
      slot.cancelRetry = this.#clock.setTimeout(() => {
        if (this.#slots.get(spec.id) !== slot || this.#closed) return;
        this.#chain = this.#chain.then(() =>
          this.#slots.get(spec.id) === slot && !this.#closed ? this.#open(slot.spec, counters) : undefined,
        );
      }, RETRY_BIND_MS);
    }
  }

  /** Frees the port now; open connections finish in the background within the drain timeout. */
  async #retire(slot: Slot): Promise<void> {
    slot.cancelRetry?.();
    const listener = slot.listener;
    if (!listener) return;
    await listener.stopAccepting();
    listener.close(this.#drainMs(slot.spec)).catch((err) => this.#log.error({ err }, 'listener close failed'));
  }

  async #stop(slot: Slot, drainMs: number): Promise<void> {
    slot.cancelRetry?.();
    if (slot.listener) await slot.listener.close(drainMs);
  }

  /**
   * Graceful stop: stops accepting on every frontend, lets open connections finish for at
   * most `drainMs`, then closes the rest and ends every server drain.
   */
  async close(drainMs: number): Promise<void> {
    await this.#chain;
    this.#closed = true;
    const slots = [...this.#slots.values()];
    this.#slots.clear();
    await Promise.all(slots.map((s) => this.#stop(s, drainMs)));
    this.runtime.endAllDrains();
  }
}
