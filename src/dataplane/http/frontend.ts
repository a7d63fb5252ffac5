import type { FrontendSpec } from '../../config/snapshot.ts';
import { BackendTrust, backendTrust } from '../tls/backend.ts';
import type { ListenerContext } from '../types.ts';
import type { Exchange } from './exchange.ts';
import { UpstreamPool } from './pool.ts';
import { balancerChooser, type ServerChooser } from './route.ts';

/** How often deadlines are checked and the coarse clock refreshed (ms). */
const TICK_MS = 100;

const pools = new WeakMap<object, UpstreamPool>();

/** The upstream pool shared by every HTTP frontend of one Runtime. */
export function poolFor(ctx: ListenerContext): UpstreamPool {
  let p = pools.get(ctx.runtime);
  if (!p) {
    pools.set(ctx.runtime, (p = new UpstreamPool(ctx.clock)));
    const runtime = ctx.runtime;
    p.connectTls = (rt, proxyHeader) => backendTrust.connect(runtime, rt, proxyHeader); // T2, T3
    p.wantsTls = (rt) => BackendTrust.usesTls(rt.backend, rt.spec);
  }
  return p;
}

/** Something with a deadline on the frontend's coarse clock (`deadline` ms epoch, 0 = none). */
export interface Timed {
  readonly deadline: number;
  onTimeout(): void;
}

/** A client connection the frontend tracks (HTTP/1.1): timed, closeable when idle, destroyable. */
export interface FrontConnection extends Timed {
  closeIfIdle(): void;
  destroy(): void;
}

/**
 * The per-frontend state every HTTP exchange reads, for HTTP/1.1 and HTTP/2 clients: the
 * current spec (swapped by `replace`), the context, the upstream pool, the server chooser
 * (persistence seam), the open HTTP/1.1 connections, the HTTP/2 streams in flight, and a
 * coarse clock refreshed every 100 ms that drives every deadline (header, idle, body,
 * connect, response, tunnel timeouts) with one timer per frontend.
 */
export class HttpFrontend {
  spec: FrontendSpec;
  readonly ctx: ListenerContext;
  readonly pool: UpstreamPool;
  chooser: ServerChooser;
  readonly connections = new Set<FrontConnection>();
  /** HTTP/2 exchanges in flight (their deadlines are checked by the same tick). */
  readonly streams = new Set<Timed>();
  /**
   * Finished HTTP/1.1 exchanges, released by connections gone idle or closed and taken by the
   * next request (so an idle keep-alive connection holds no exchange; bounded).
   */
  readonly spareExchanges: Exchange[] = [];
  /** Set by `drain`: answers carry `Connection: close`, idle connections are closed. */
  closing = false;
  /** Coarse ms epoch (refreshed every tick). */
  now: number;
  #cancelTick: (() => void) | null = null;
  #onEmpty: (() => void) | null = null;

  constructor(
    spec: FrontendSpec,
    ctx: ListenerContext,
    options: { chooser?: ServerChooser; pool?: UpstreamPool } = {},
  ) {
    this.spec = spec;
    this.ctx = ctx;
    this.pool = options.pool ?? poolFor(ctx);
    this.chooser = options.chooser ?? balancerChooser;
    this.now = ctx.clock.now();
  }

  /** Starts the deadline ticker (idempotent). */
  start(): void {
    if (this.#cancelTick !== null) return;
    const tick = (): void => {
      const now = (this.now = this.ctx.clock.now());
      for (const c of this.connections) if (c.deadline !== 0 && now >= c.deadline) c.onTimeout();
      for (const s of this.streams) if (s.deadline !== 0 && now >= s.deadline) s.onTimeout();
      this.#cancelTick = this.ctx.clock.setTimeout(tick, TICK_MS);
    };
    this.#cancelTick = this.ctx.clock.setTimeout(tick, TICK_MS);
  }

  /** Stops the ticker. */
  stop(): void {
    this.#cancelTick?.();
    this.#cancelTick = null;
  }

  /**
   * Graceful end: idle keep-alive connections close now; in-flight exchanges finish (their
   * answers carry `Connection: close`) for at most `drainMs`, then whatever is left is
   * destroyed. Resolves when every connection is closed.
   */
  drain(drainMs: number): Promise<void> {
    this.closing = true;
    for (const c of this.connections) c.closeIfIdle();
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const cancel = this.ctx.clock.setTimeout(() => {
        for (const c of this.connections) c.destroy();
      }, drainMs);
      this.#onEmpty = () => {
        cancel();
        resolve();
      };
    });
  }

  /** @internal a connection closed. */
  forget(c: FrontConnection): void {
    if (!this.connections.delete(c)) return;
    this.ctx.counters.closed();
    if (this.connections.size === 0 && this.#onEmpty !== null) {
      const f = this.#onEmpty;
      this.#onEmpty = null;
      f();
    }
  }
}
