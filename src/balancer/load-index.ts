import type { LoadWatcher, ServerRuntime } from '../runtime/server-runtime.ts';
import { SlotHeap } from './slot-heap.ts';

/**
 * How often (ms) an index re-reads every server's count and re-orders itself: the bound on
 * how long a count that another worker thread lowered can go unseen (issue 13 point 5).
 * Counts this thread changes, and counts raised anywhere, are seen at once (see ServerIndex).
 */
export const LOAD_INDEX_RESYNC_MS = 100;

/**
 * A backend's eligible servers kept in order for an algorithm that would otherwise scan them
 * on every pick (issue 13 point 5; HAProxy keeps leastconn servers in a tree for the same
 * reason). It copies the eligible list at `build` into slots and becomes each server's
 * `loadWatcher`, so the runtime tells it of every count this thread changes and its keys stay
 * exact with one worker. Counts are shared by every worker thread (SharedArrayBuffer) and
 * another thread's change is not announced: a pick compares the best slot's key with the
 * live values and re-orders until they agree (a count raised elsewhere is seen at once), and
 * `resync` re-reads every count at most LOAD_INDEX_RESYNC_MS apart (a count lowered
 * elsewhere). Subclasses keep the heaps (`index`, `changed`). No allocation per pick or
 * change; `build` allocates only when the list outgrows it.
 */
export class ServerIndex implements LoadWatcher {
  /** The indexed servers, by slot. */
  servers: ServerRuntime[] = [];
  /** The count each slot was last seen with. */
  seen = new Int32Array(0);
  /** Weight per slot (> 0). */
  weight = new Float64Array(0);
  /** Sum of `seen`: the open connections over the indexed servers (source-ip's bounded load). */
  total = 0;
  /** Tie-breaker clock: a picked slot takes the next value and goes behind its equals. */
  tick = 0;
  /**
   * True when some indexed server has a connection limit: a slot at its limit (`full`) is
   * kept out of the pick heaps until its count drops (issue 15 point 4), so the best slot
   * is always one that can take the pick.
   */
  limited = false;
  /** ms epoch of the last build, resync or pick: the time `full` reads the limits at (slow start scales them). */
  now = 0;
  #n = 0;
  #nextResync = 0;

  /** Number of indexed servers. */
  get size(): number {
    return this.#n;
  }

  /**
   * Indexes `list[0 … count)` with weights `weights` (all > 0) at time `now` (ms), reading
   * every live count, and becomes their `loadWatcher`; servers indexed before and not now are
   * let go. Equal servers start in list order. `limited`: some server has a connection limit.
   */
  build(list: readonly ServerRuntime[], weights: readonly number[], count: number, now: number, limited = false): void {
    this.release();
    this.limited = limited;
    this.now = now;
    if (this.seen.length < count) {
      const cap = Math.max(count, this.seen.length * 2);
      this.seen = new Int32Array(cap);
      this.weight = new Float64Array(cap);
    }
    this.servers.length = count;
    for (let i = 0; i < count; i++) {
      const s = list[i]!;
      this.servers[i] = s;
      this.weight[i] = weights[i]!;
      s.loadWatcher = this;
      s.loadSlot = i;
    }
    this.#n = count;
    this.tick = count;
    this.#read();
    this.index(true);
    this.#nextResync = now + LOAD_INDEX_RESYNC_MS;
  }

  /** Stops watching every indexed server (the balancer is replaced or rebuilt). */
  release(): void {
    for (let i = 0; i < this.#n; i++) {
      const s = this.servers[i]!;
      if (s.loadWatcher === this) {
        s.loadWatcher = undefined;
        s.loadSlot = -1;
      }
    }
    this.#n = 0;
    this.total = 0;
    this.servers.length = 0;
  }

  /** Re-reads every server when LOAD_INDEX_RESYNC_MS passed since the last time (`now` in ms). */
  resync(now: number): void {
    this.now = now;
    if (now < this.#nextResync) return;
    this.#nextResync = now + LOAD_INDEX_RESYNC_MS;
    this.#read();
    this.index(false);
  }

  #read(): void {
    let total = 0;
    for (let i = 0; i < this.#n; i++) {
      this.seen[i] = this.servers[i]!.activeConnections;
      total += this.seen[i]!;
    }
    this.total = total;
  }

  /** LoadWatcher: something `s`'s order depends on changed on this thread (a count, a latency). */
  loadChanged(s: ServerRuntime): void {
    const i = s.loadSlot;
    if (i < 0 || i >= this.#n || this.servers[i] !== s) return;
    this.changed(i);
  }

  /** LoadWatcher: a latency average changed; only the latency order depends on it (`LatencyIndex`). */
  latencyChanged(_s: ServerRuntime): void {}

  /** Reads slot `i`'s live count into `seen` and `total`; the subclass re-keys it. */
  changed(i: number): void {
    const count = this.servers[i]!.activeConnections;
    this.total += count - this.seen[i]!;
    this.seen[i] = count;
  }

  /** True when slot `i`'s server is at its connection limit (at `now`): no pick may take it. */
  full(i: number): boolean {
    return this.limited && this.servers[i]!.atLimit(this.now);
  }

  /** True when slot `i`'s key no longer matches what the server holds now. */
  stale(i: number): boolean {
    return this.servers[i]!.activeConnections !== this.seen[i];
  }

  /** Fills the heaps from `seen` and `weight` (`fresh`: tie-breakers restart in slot order). */
  index(_fresh: boolean): void {
    throw new Error('ServerIndex.index must be overridden');
  }

  /**
   * Re-keys `heap`'s top until it is not stale; answers it (-1 when empty). Each correction
   * fixes a key another worker's change made stale, so over time they cost O(log n) per such
   * change; one pick makes at most as many as there are servers.
   */
  settled(heap: SlotHeap): number {
    for (let k = 0; k < this.#n; k++) {
      const i = heap.top();
      if (i < 0 || !this.stale(i)) return i;
      this.changed(i);
    }
    return heap.top();
  }
}

/**
 * Least-connections order (A1, S4): one heap by `(connections + 1) / weight`, with the running
 * total; ties go to the server picked longest ago (`touch`).
 */
export class LoadIndex extends ServerIndex {
  readonly heap = new SlotHeap();

  override index(fresh: boolean): void {
    const heap = this.heap;
    const n = this.size;
    heap.reset(n); // keeps `order` unless it grows, which only a fresh build does
    const order = heap.order;
    for (let i = 0; i < n; i++) {
      if (fresh) order[i] = i;
      if (!this.full(i)) heap.push(i, this.seen[i]! + 1, this.weight[i]!, order[i]!);
    }
    heap.heapify();
  }

  override changed(i: number): void {
    super.changed(i);
    if (this.full(i)) this.heap.remove(i);
    else this.heap.set(i, this.seen[i]! + 1, this.weight[i]!);
  }

  /**
   * The slot of a least-loaded server below its limit, its key checked against its live
   * count; -1 when none (empty, or every server at its limit).
   */
  best(): number {
    return this.settled(this.heap);
  }

  /** Slot `i` was picked: it goes behind the servers it ties with (rotation among equals). */
  touch(i: number): void {
    this.heap.reorder(i, ++this.tick);
  }
}

/**
 * Least-response-time order (A2): the score `ewma × (connections + 1) / weight`, where a
 * server without a measurement (`ewmaTtfbMs` 0) takes a stand-in EWMA, a fraction of the
 * least measured one. Three heaps: measured servers by score, unmeasured ones by
 * `(connections + 1) / weight` (the stand-in multiplies them all alike), and measured ones by
 * EWMA alone (the least, for the stand-in). `recordTtfb` tells the index of a new EWMA.
 */
export class LatencyIndex extends ServerIndex {
  /** The EWMA each slot was last seen with (ms; 0 = unmeasured). */
  ewma = new Float64Array(0);
  readonly measured = new SlotHeap();
  readonly unmeasured = new SlotHeap();
  readonly fastest = new SlotHeap();

  override index(fresh: boolean): void {
    const n = this.size;
    if (this.ewma.length < n) this.ewma = new Float64Array(this.seen.length);
    const { measured, unmeasured, fastest } = this;
    measured.reset(n); // each keeps `order` unless it grows, which only a fresh build does
    unmeasured.reset(n);
    fastest.reset(n);
    const mo = measured.order;
    const uo = unmeasured.order;
    for (let i = 0; i < n; i++) {
      const e = this.servers[i]!.ewmaTtfbMs;
      this.ewma[i] = e;
      const c = this.seen[i]! + 1;
      const w = this.weight[i]!;
      if (fresh) mo[i] = uo[i] = i;
      // A server at its limit still tells what a fast server looks like (the stand-in), but is not picked.
      if (e > 0) fastest.push(i, e, 1, i);
      if (this.full(i)) continue;
      if (e > 0) measured.push(i, e * c, w, mo[i]!);
      else unmeasured.push(i, c, w, uo[i]!);
    }
    measured.heapify();
    unmeasured.heapify();
    fastest.heapify();
  }

  override stale(i: number): boolean {
    return super.stale(i) || this.servers[i]!.ewmaTtfbMs !== this.ewma[i];
  }

  override latencyChanged(s: ServerRuntime): void {
    this.loadChanged(s);
  }

  override changed(i: number): void {
    super.changed(i);
    const e = this.servers[i]!.ewmaTtfbMs;
    this.ewma[i] = e;
    const c = this.seen[i]! + 1;
    const w = this.weight[i]!;
    if (e > 0) this.fastest.set(i, e, 1);
    else this.fastest.remove(i);
    if (this.full(i)) {
      this.measured.remove(i);
      this.unmeasured.remove(i);
    } else if (e > 0) {
      this.unmeasured.remove(i);
      this.measured.set(i, e * c, w);
    } else {
      this.measured.remove(i);
      this.unmeasured.set(i, c, w);
    }
  }

  /**
   * The slot with the least score, the stand-in EWMA being `factor` × the least measured one
   * (1 ms when nothing is measured); -1 when none (empty, or every server at its limit). Keys
   * are checked against live values.
   */
  best(factor: number): number {
    let m = -1;
    let u = -1;
    for (let k = 0; k < 3; k++) {
      m = this.settled(this.measured);
      u = this.settled(this.unmeasured);
      this.settled(this.fastest);
      if ((m < 0 || !this.stale(m)) && (u < 0 || !this.stale(u))) break;
    }
    if (u < 0) return m;
    if (m < 0) return u;
    const standIn = this.standIn(factor);
    const scoreM = this.measured.num[m]! / this.measured.den[m]!;
    const scoreU = (standIn * this.unmeasured.num[u]!) / this.unmeasured.den[u]!;
    return scoreM < scoreU ? m : u;
  }

  /** The stand-in EWMA `best` used for unmeasured servers (ms). */
  standIn(factor: number): number {
    const f = this.fastest.top();
    return f >= 0 ? this.ewma[f]! * factor : 1;
  }

  /** Slot `i` was picked: it goes behind the servers it ties with. */
  touch(i: number): void {
    if (this.measured.has(i)) this.measured.reorder(i, ++this.tick);
    else if (this.unmeasured.has(i)) this.unmeasured.reorder(i, ++this.tick);
  }
}
