/**
 * A map built from a previous, never-changed map by a few edits, without copying it (issue 13
 * point 4): the snapshot's 10,000-entry server map cost about 3 ms to copy for each change,
 * in the primary and again in every worker. A LayeredMap keeps the shared `base` and three
 * small layers: new values of base keys (`over`), base keys removed (`gone`), keys added
 * after the base (`tail`). Deriving the next map copies only the layers; when they hold more
 * than `limit` entries it is flattened into a plain Map instead (one copy every `limit`
 * changes).
 *
 * It behaves as a Map that was copied and edited: `get`, `has`, `size` and iteration in the
 * same order (base order with new values in place, removed keys skipped, added keys at the
 * end in the order they were added; a removed base key added again goes to the end). Lookups
 * cost up to three hash lookups instead of one; no consumer of the snapshot reads it per
 * request. Values must not be `undefined`.
 */
export class LayeredMap<K, V> implements ReadonlyMap<K, V> {
  readonly base: ReadonlyMap<K, V>;
  readonly #over: Map<K, V>;
  readonly #gone: Set<K>;
  readonly #tail: Map<K, V>;

  constructor(base: ReadonlyMap<K, V>, over = new Map<K, V>(), gone = new Set<K>(), tail = new Map<K, V>()) {
    this.base = base;
    this.#over = over;
    this.#gone = gone;
    this.#tail = tail;
  }

  /** Entries the layers hold: the edits since `base`. */
  get edits(): number {
    return this.#over.size + this.#gone.size + this.#tail.size;
  }

  /** The keys whose value may differ from `base`'s (its layers' keys, each once). */
  *layerKeys(): IterableIterator<K> {
    yield* this.#over.keys();
    for (const k of this.#gone) if (!this.#tail.has(k)) yield k;
    yield* this.#tail.keys();
  }

  /** A copy sharing `base`, whose layers can be edited without touching this one. */
  derive(): LayeredMap<K, V> {
    return new LayeredMap(this.base, new Map(this.#over), new Set(this.#gone), new Map(this.#tail));
  }

  get size(): number {
    return this.base.size - this.#gone.size + this.#tail.size;
  }

  get(key: K): V | undefined {
    const t = this.#tail.get(key);
    if (t !== undefined) return t;
    if (this.#gone.has(key)) return undefined;
    return this.#over.get(key) ?? this.base.get(key);
  }

  has(key: K): boolean {
    return this.#tail.has(key) || (!this.#gone.has(key) && this.base.has(key));
  }

  /** Sets `key` as `Map.set` would on a copy: in place when present, else at the end. */
  set(key: K, value: V): this {
    if (this.#tail.has(key) || this.#gone.has(key) || !this.base.has(key)) this.#tail.set(key, value);
    else this.#over.set(key, value);
    return this;
  }

  /** Removes `key` as `Map.delete` would on a copy; true when it was there. */
  delete(key: K): boolean {
    if (this.#tail.delete(key)) return true;
    if (this.#gone.has(key) || !this.base.has(key)) return false;
    this.#over.delete(key);
    this.#gone.add(key);
    return true;
  }

  *entries(): MapIterator<[K, V]> {
    const over = this.#over;
    const gone = this.#gone;
    for (const [k, v] of this.base) {
      if (gone.has(k)) continue;
      const o = over.get(k);
      yield [k, o === undefined ? v : o];
    }
    yield* this.#tail;
  }

  *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
  }

  /**
   * The keys whose value may differ between `this` and `other` when both share `base` (their
   * layers' keys); undefined when they do not, and the caller compares every entry.
   */
  editedSince(other: ReadonlyMap<K, V>): Set<K> | undefined {
    if (!(other instanceof LayeredMap) || other.base !== this.base) return undefined;
    const keys = new Set<K>();
    for (const m of [this, other] as LayeredMap<K, V>[]) {
      for (const k of m.#over.keys()) keys.add(k);
      for (const k of m.#gone) keys.add(k);
      for (const k of m.#tail.keys()) keys.add(k);
    }
    return keys;
  }
}

/** Maps smaller than this are copied whole: layers would not pay for themselves. */
export const LAYER_FROM = 512;

/**
 * A map to edit into the next snapshot's, starting as `prev` (not changed): a LayeredMap over
 * `prev`'s base while its edits stay within `limit` (default 64 + size / 64), else a plain
 * copy (which the next change layers over). A small map is always a plain copy.
 */
export function editableCopy<K, V>(
  prev: ReadonlyMap<K, V> | undefined,
  limit = 64 + ((prev?.size ?? 0) >> 6),
): Map<K, V> | LayeredMap<K, V> {
  if (prev === undefined) return new Map();
  if (prev instanceof LayeredMap) return prev.edits < limit ? prev.derive() : new Map(prev);
  if (prev.size < LAYER_FROM) return new Map(prev);
  return new LayeredMap(prev);
}
