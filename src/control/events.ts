import type { Logger } from '../core/log.ts';
import type { EventSink, FulcrumEvent } from '../runtime/events.ts';
import type { ConfigStore, StoredEvent } from '../store/types.ts';

/** Most events held in memory while waiting for the store; beyond it the oldest are dropped (and counted). */
const MAX_PENDING = 50_000;

/**
 * Stores events in batches and fans them out to live subscribers (the SSE stream, H6).
 * `sink` never blocks or throws: it queues the event and schedules one flush on the next
 * turn of the event loop; the flush writes the batch in one transaction, then hands each
 * stored event (with its id) to every subscriber.
 */
export class EventHub {
  #store: ConfigStore;
  #log: Logger;
  #pending: FulcrumEvent[] = [];
  #flushing: Promise<void> | undefined;
  #scheduled = false;
  #subscribers = new Set<(e: StoredEvent) => void>();
  #closed = false;
  /** Events dropped because the queue was full or the store failed. */
  dropped = 0;

  constructor(store: ConfigStore, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  /** The sink to give `runtime.setEventSink`. */
  readonly sink: EventSink = (e) => this.publish(e);

  /** Queues an event for storage and fan-out. */
  publish(e: FulcrumEvent): void {
    if (this.#closed) return;
    if (this.#pending.length >= MAX_PENDING) {
      this.#pending.shift();
      this.dropped++;
    }
    this.#pending.push(e);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        void this.flush();
      });
    }
  }

  /** Subscribes to stored events; returns the unsubscribe function. */
  subscribe(fn: (e: StoredEvent) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  /** Number of live subscribers (SSE clients). */
  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Writes everything queued so far; resolves when it is stored and fanned out. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#flushing = (async () => {
      try {
        const stored = await this.#store.appendEvents(batch);
        for (const e of stored) {
          for (const fn of this.#subscribers) {
            try {
              fn(e);
            } catch (err) {
              this.#log.warn({ err }, 'event subscriber failed');
            }
          }
        }
      } catch (err) {
        this.dropped += batch.length;
        this.#log.error({ err, code: 'events_store_failed', count: batch.length }, 'could not store events');
      }
    })();
    try {
      await this.#flushing;
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Flushes what is queued and stops accepting events. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    this.#subscribers.clear();
  }
}
