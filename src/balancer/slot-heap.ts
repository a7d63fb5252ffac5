/**
 * An indexed binary min-heap over slots 0 … capacity−1 (a backend's eligible servers), keyed by
 * a fraction `num[slot] / den[slot]` compared by cross-multiplication (no division), ties
 * broken by `order[slot]` (smaller first). Any subset of the slots may be in the heap; a slot's
 * key changes in place with `set` in O(log n). The load indexes (load-index.ts) are built on it
 * (issue 13 point 5). No allocation after `reset`, which allocates only to grow.
 */
export class SlotHeap {
  /** Key numerator per slot (meaningful while the slot is in the heap). */
  num = new Float64Array(0);
  /** Key denominator per slot (> 0). */
  den = new Float64Array(0);
  /** Tie-breaker per slot: the smaller goes first. */
  order = new Float64Array(0);
  /** Heap position → slot. */
  #heap = new Int32Array(0);
  /** Slot → heap position, -1 when the slot is not in the heap. */
  #pos = new Int32Array(0);
  #n = 0;

  /** Slots in the heap. */
  get size(): number {
    return this.#n;
  }

  /** Empties the heap and makes room for slots 0 … capacity−1. */
  reset(capacity: number): void {
    if (this.#pos.length < capacity) {
      const cap = Math.max(capacity, this.#pos.length * 2);
      this.num = new Float64Array(cap);
      this.den = new Float64Array(cap);
      this.order = new Float64Array(cap);
      this.#heap = new Int32Array(cap);
      this.#pos = new Int32Array(cap);
    }
    this.#pos.fill(-1);
    this.#n = 0;
  }

  /** True when `slot` is in the heap. */
  has(slot: number): boolean {
    return this.#pos[slot]! >= 0;
  }

  /** The slot with the least key (then the least order), or -1 when empty. */
  top(): number {
    return this.#n > 0 ? this.#heap[0]! : -1;
  }

  /** Adds `slot` without ordering (call `heapify` after a batch of them). */
  push(slot: number, num: number, den: number, order: number): void {
    this.num[slot] = num;
    this.den[slot] = den;
    this.order[slot] = order;
    this.#heap[this.#n] = slot;
    this.#pos[slot] = this.#n++;
  }

  /** Restores the heap order after `push`es or changes of many keys. */
  heapify(): void {
    for (let p = (this.#n >> 1) - 1; p >= 0; p--) this.#down(p);
  }

  /** Sets `slot`'s key, adding it when absent; re-orders in O(log n). */
  set(slot: number, num: number, den: number): void {
    const p = this.#pos[slot]!;
    if (p < 0) {
      this.push(slot, num, den, this.order[slot]!);
      this.#up(this.#n - 1);
      return;
    }
    this.num[slot] = num;
    this.den[slot] = den;
    this.#up(p);
    this.#down(this.#pos[slot]!);
  }

  /** Sets `slot`'s tie-breaker (it must be in the heap) and re-orders. */
  reorder(slot: number, order: number): void {
    this.order[slot] = order;
    const p = this.#pos[slot]!;
    this.#up(p);
    this.#down(this.#pos[slot]!);
  }

  /** Takes `slot` out of the heap (nothing when absent). */
  remove(slot: number): void {
    const p = this.#pos[slot]!;
    if (p < 0) return;
    this.#pos[slot] = -1;
    const last = this.#heap[--this.#n]!;
    if (p === this.#n) return;
    this.#heap[p] = last;
    this.#pos[last] = p;
    this.#up(p);
    this.#down(this.#pos[last]!);
  }

  /** True when slot `a` goes before slot `b`. */
  #less(a: number, b: number): boolean {
    const la = this.num[a]! * this.den[b]!;
    const lb = this.num[b]! * this.den[a]!;
    return la < lb || (la === lb && this.order[a]! < this.order[b]!);
  }

  #up(p: number): void {
    const heap = this.#heap;
    const i = heap[p]!;
    while (p > 0) {
      const parent = (p - 1) >> 1;
      const j = heap[parent]!;
      if (!this.#less(i, j)) break;
      heap[p] = j;
      this.#pos[j] = p;
      p = parent;
    }
    heap[p] = i;
    this.#pos[i] = p;
  }

  #down(p: number): void {
    const heap = this.#heap;
    const n = this.#n;
    const i = heap[p]!;
    for (;;) {
      let c = 2 * p + 1;
      if (c >= n) break;
      if (c + 1 < n && this.#less(heap[c + 1]!, heap[c]!)) c++;
      const j = heap[c]!;
      if (!this.#less(j, i)) break;
      heap[p] = j;
      this.#pos[j] = p;
      p = c;
    }
    heap[p] = i;
    this.#pos[i] = p;
  }
}
