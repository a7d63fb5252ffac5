/**
 * Live updates for the whole console (issue point 5, 9; O1, H6): one Server-Sent Events
 * connection to `/api/v1/events/stream` and one `/api/v1/stats` poll, shared by every page.
 * Pages subscribe; nothing is refreshed by hand.
 */
import type { Api } from './api.ts';
import { parseStreamEvent } from './events.ts';
import { readStats, StatsHistory } from './stats.ts';
import type { FulcrumEvent } from './types.ts';

/** Connection state of the event stream, shown in the header. */
export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'off';

/** Event names the stream may use besides the default `message`. */
const NAMED = ['event', 'health', 'config', 'drain-start', 'drain-end', 'ejection', 'change'];

/** Stats poll period (ms): 2 s, the charts' resolution. */
export const STATS_PERIOD_MS = 2000;

export class Live {
  readonly history = new StatsHistory(300);
  #api: Api;
  #source: EventSource | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  #eventFns = new Set<(e: FulcrumEvent) => void>();
  #statsFns = new Set<() => void>();
  #stateFns = new Set<(s: StreamState) => void>();
  #state: StreamState = 'off';
  #polling = false;

  constructor(api: Api) {
    this.#api = api;
  }

  get state(): StreamState {
    return this.#state;
  }

  /** Opens the stream and starts polling stats (idempotent). */
  start(): void {
    if (this.#source || typeof EventSource === 'undefined') return;
    this.#setState('connecting');
    const src = new EventSource(`${this.#api.base}/events/stream`, { withCredentials: true });
    this.#source = src;
    const onData = (m: MessageEvent): void => {
      const e = typeof m.data === 'string' ? parseStreamEvent(m.data) : null;
      if (!e) return;
      for (const fn of this.#eventFns) fn(e);
    };
    src.onmessage = onData;
    for (const name of NAMED) src.addEventListener(name, onData as EventListener);
    src.onopen = () => this.#setState('live');
    src.onerror = () => this.#setState(src.readyState === EventSource.CLOSED ? 'off' : 'reconnecting');
    void this.#poll();
    this.#timer = setInterval(() => void this.#poll(), STATS_PERIOD_MS);
  }

  /** Closes the stream and stops polling (sign-out). */
  stop(): void {
    this.#source?.close();
    this.#source = null;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#setState('off');
  }

  /** Calls `fn` for each event as it arrives; returns the unsubscribe function. */
  onEvent(fn: (e: FulcrumEvent) => void): () => void {
    this.#eventFns.add(fn);
    return () => this.#eventFns.delete(fn);
  }

  /** Calls `fn` after each stats sample; returns the unsubscribe function. */
  onStats(fn: () => void): () => void {
    this.#statsFns.add(fn);
    return () => this.#statsFns.delete(fn);
  }

  onState(fn: (s: StreamState) => void): () => void {
    this.#stateFns.add(fn);
    return () => this.#stateFns.delete(fn);
  }

  #setState(s: StreamState): void {
    if (s === this.#state) return;
    this.#state = s;
    for (const fn of this.#stateFns) fn(s);
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const body = await this.#api.get<unknown>('/stats', AbortSignal.timeout(STATS_PERIOD_MS * 2));
      this.history.push(readStats(body, Date.now()));
      for (const fn of this.#statsFns) fn();
    } catch {
      // A failed poll leaves a gap in the charts; the next one retries. 401 signs out via the Api.
    } finally {
      this.#polling = false;
    }
  }
}
