import type { Clock } from '../core/clock.ts';
import type { PickContext } from './balancer.ts';
import type { ServerRuntime } from './server-runtime.ts';

/** While requests wait, servers that gained room without a close (slow start, recovery) are looked for this often (ms). */
export const QUEUE_POLL_MS = 250;

/**
 * Something waiting for a server slot (an HTTP exchange, a TCP connection). The queue sets
 * `queuedAt`, `queueDeadline` and `queued`; the waiter implements `serve` and `expire`.
 */
export interface QueueWaiter {
  /** What the balancer may use when this waiter is served by a pick. */
  readonly pick: PickContext;
  /** ms epoch (runtime clock) when it entered the queue. */
  queuedAt: number;
  /** ms epoch after which it is expired with `queue-timeout`. */
  queueDeadline: number;
  /** True while in the queue. */
  queued: boolean;
  /** A slot of `rt` is this waiter's: it must register with `connectionOpened` synchronously. */
  serve(rt: ServerRuntime): void;
  /** Waited past the backend's `queue.timeoutSeconds` (or the backend went away). */
  expire(): void;
}

/**
 * A backend's FIFO queue (issue 15 point 4; HAProxy's backend queue and `timeout queue`,
 * NGINX Plus `queue`): when every eligible server is at its `maxConnections`, a new request
 * or TCP connection waits here and is served by the first server that frees a slot
 * (`Runtime.connectionClosed` hands the slot over directly, no pick) or, every 250 ms, by
 * a server that gained room otherwise. Past `maxLength` it is refused (`queue-full`), past
 * the timeout expired (`queue-timeout`). One timer per queue while it is not empty.
 *
 * Counters for `/stats` and `/metrics`: `length` now, `peakLength`, `queued` (entered),
 * `served`, `timeouts`, `full` (refused), `waitMsTotal` / `maxWaitMs` over served waiters.
 */
export class ServerQueue {
  #items: (QueueWaiter | null)[] = [];
  #head = 0;
  length = 0;
  peakLength = 0;
  queued = 0;
  served = 0;
  timeouts = 0;
  full = 0;
  waitMsTotal = 0;
  maxWaitMs = 0;
  readonly #clock: Clock;
  /** Called on each poll while not empty: serve waiters from servers that gained room. */
  readonly #pump: () => void;
  #cancelTimer: (() => void) | null = null;

  constructor(clock: Clock, pump: () => void) {
    this.#clock = clock;
    this.#pump = pump;
  }

  /**
   * Adds `w` at the tail, unless `maxLength` waiters are there already (counted in `full`).
   * True when queued.
   */
  offer(w: QueueWaiter, maxLength: number, timeoutMs: number): boolean {
    if (this.length >= maxLength) {
      this.full++;
      return false;
    }
    const now = this.#clock.now();
    w.queuedAt = now;
    w.queueDeadline = now + timeoutMs;
    w.queued = true;
    this.#items.push(w);
    this.length++;
    this.queued++;
    if (this.length > this.peakLength) this.peakLength = this.length;
    if (this.#cancelTimer === null) this.#arm();
    return true;
  }

  /** Removes `w` (its client went away); no-op when it is not queued. */
  cancel(w: QueueWaiter): void {
    if (!w.queued) return;
    w.queued = false;
    this.length--;
    const i = this.#items.indexOf(w, this.#head);
    if (i >= 0) this.#items[i] = null;
    this.#compact();
  }

  /** The oldest waiter, removed and its wait counted; undefined when empty. */
  shift(): QueueWaiter | undefined {
    const w = this.#peek();
    if (w === undefined) return undefined;
    this.#take(w);
    const waited = this.#clock.now() - w.queuedAt;
    this.served++;
    this.waitMsTotal += waited;
    if (waited > this.maxWaitMs) this.maxWaitMs = waited;
    return w;
  }

  /** Oldest waiter without removing it. */
  peek(): QueueWaiter | undefined {
    return this.#peek();
  }

  /** Expires every waiter now (the backend went away). */
  clear(): void {
    for (let w = this.#peek(); w !== undefined; w = this.#peek()) {
      this.#take(w);
      this.timeouts++;
      w.expire();
    }
  }

  #peek(): QueueWaiter | undefined {
    const items = this.#items;
    while (this.#head < items.length) {
      const w = items[this.#head];
      if (w?.queued) return w;
      this.#head++;
    }
    return undefined;
  }

  #take(w: QueueWaiter): void {
    w.queued = false;
    this.length--;
    this.#items[this.#head++] = null;
    this.#compact();
  }

  #compact(): void {
    if (this.length === 0) {
      this.#items.length = 0;
      this.#head = 0;
      if (this.#cancelTimer !== null) {
        this.#cancelTimer();
        this.#cancelTimer = null;
      }
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  #arm(): void {
    const head = this.#peek();
    if (head === undefined) {
      this.#cancelTimer = null;
      return;
    }
    const wait = Math.max(0, Math.min(QUEUE_POLL_MS, head.queueDeadline - this.#clock.now()));
    this.#cancelTimer = this.#clock.setTimeout(() => this.#tick(), wait);
  }

  #tick(): void {
    this.#cancelTimer = null;
    this.#pump();
    const now = this.#clock.now();
    for (let w = this.#peek(); w !== undefined && w.queueDeadline <= now; w = this.#peek()) {
      this.#take(w);
      this.timeouts++;
      w.expire();
    }
    if (this.length > 0 && this.#cancelTimer === null) this.#arm();
  }
}
