/**
 * A bounded map with least-recently-used eviction and idle expiry (P1, P2 session timeout):
 * an entry not touched for `idleMs` milliseconds is gone, and beyond `maxEntries` the least
 * recently used entry is evicted. `idleMs` 0 = no idle expiry (size bound only).
 *
 * Backed by a Map kept in last-use order (a hit is moved to the end), so expired entries
 * are always at the front and are swept there in O(1) amortised on every write. Entry
 * objects are reused on update: a hit or an update allocates nothing.
 *
 * Times are ms epoch from an injected clock. Throws RangeError for a `maxEntries` below 1 or a
 * negative `idleMs`.
 */
export class IdleLru<V> {
  readonly #map = new Map<string, { value: V; lastUsed: number }>();
  #maxEntries: number;
  #idleMs: number;
  /** Entries dropped because the table was full (not because they expired). */
  evictions = 0;

  constructor(maxEntries: number, idleMs: number) {
    IdleLru.#check(maxEntries, idleMs);
    this.#maxEntries = maxEntries;
    this.#idleMs = idleMs;
  }

  static #check(maxEntries: number, idleMs: number): void {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be an integer ≥ 1 (got ${maxEntries})`);
    }
    if (!(idleMs >= 0)) throw new RangeError(`idleMs must be ≥ 0 (got ${idleMs})`);
  }

  /** Changes the bounds (a new session timeout); applied lazily to existing entries. */
  configure(maxEntries: number, idleMs: number): void {
    IdleLru.#check(maxEntries, idleMs);
    this.#maxEntries = maxEntries;
    this.#idleMs = idleMs;
  }

  get size(): number {
    return this.#map.size;
  }

  /** The value of a live entry, marking it used at `now`; undefined when absent or idle too long. */
  get(key: string, now: number): V | undefined {
    const e = this.#map.get(key);
    if (!e) return undefined;
    this.#map.delete(key);
    if (this.#expired(e.lastUsed, now)) return undefined;
    e.lastUsed = now;
    this.#map.set(key, e);
    return e.value;
  }

  /** The value without touching recency or expiry (for tests and status). */
  peek(key: string): V | undefined {
    return this.#map.get(key)?.value;
  }

  /**
   * Read-only look at an entry (explain): its value, when it was last used and whether `get`
   * would find it expired at `now`. Neither refreshes nor removes it.
   */
  inspect(key: string, now: number): { value: V; lastUsed: number; expired: boolean } | undefined {
    const e = this.#map.get(key);
    return e ? { value: e.value, lastUsed: e.lastUsed, expired: this.#expired(e.lastUsed, now) } : undefined;
  }

  /** Idle expiry ms (0 = none). */
  get idleMs(): number {
    return this.#idleMs;
  }

  #expired(lastUsed: number, now: number): boolean {
    return this.#idleMs > 0 && now - lastUsed > this.#idleMs;
  }

  /** Stores `value` for `key` as used at `now`; sweeps expired entries and evicts beyond the bound. */
  set(key: string, value: V, now: number): void {
    let e = this.#map.get(key);
    if (e) {
      this.#map.delete(key);
      e.value = value;
      e.lastUsed = now;
    } else {
      e = { value, lastUsed: now };
    }
    this.#map.set(key, e);
    this.#sweep(now);
  }

  delete(key: string): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  #sweep(now: number): void {
    const idle = this.#idleMs;
    for (const [key, e] of this.#map) {
      if (!(idle > 0 && now - e.lastUsed > idle)) {
        if (this.#map.size <= this.#maxEntries) break;
        this.evictions++;
      }
      this.#map.delete(key);
    }
  }
}
