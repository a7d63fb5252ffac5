/**
 * Integer cells that every worker thread and the primary read and change at once (issue 13
 * point 1): per-server and per-frontend open connection counts (least-connections,
 * random-two-choices, `maxConnections`) and a round-robin ticket per backend. Each cell is
 * one 32-bit word of a SharedArrayBuffer changed with `Atomics`, so counts are exact across
 * workers without messages.
 *
 * The primary allocates (`slot(key)`); workers receive the primary's key → index table with
 * each snapshot (`adopt`) and never allocate. A freed index is reused only once every other
 * index has been handed out, so a worker still holding a freed key (a drain ending a few
 * milliseconds later than the primary's) does not touch a new owner's cell in practice.
 *
 * Keys: `s:<serverId>` (open connections), `f:<frontendId>` (open client connections),
 * `b:<backendId>` (round-robin ticket).
 */
export class SharedCells {
  /** The memory every thread maps; pass it to workers in `workerData`. */
  readonly buffer: SharedArrayBuffer;
  /** Signed view (counts). */
  readonly counts: Int32Array;
  /** Unsigned view of the same words (tickets wrap at 2^32 without going negative). */
  readonly tickets: Uint32Array;
  /**
   * A worker's own share of every count (its net adds, same indexes as `counts`), in memory
   * the primary keeps: when the worker dies, the primary takes its share back out of the
   * counts (`WorkerPool`), so the connections it held stop counting. Null in the primary.
   */
  readonly ledger: Int32Array | null;
  readonly #slots = new Map<string, number>();
  readonly #free: number[] = [];
  readonly #allocates: boolean;
  #next = 0;

  /**
   * `buffer`: an existing buffer (a worker's view of the primary's cells); otherwise a new one
   * of `capacity` cells (default 2^20, 4 MiB). `allocates` false: the table comes only from
   * `adopt` (workers).
   */
  constructor(
    options: { buffer?: SharedArrayBuffer; capacity?: number; allocates?: boolean; ledger?: SharedArrayBuffer } = {},
  ) {
    this.buffer = options.buffer ?? new SharedArrayBuffer(4 * (options.capacity ?? 1 << 20));
    this.counts = new Int32Array(this.buffer);
    this.tickets = new Uint32Array(this.buffer);
    this.ledger = options.ledger ? new Int32Array(options.ledger) : null;
    this.#allocates = options.allocates ?? true;
  }

  /** A ledger for one worker: as many cells as `counts`, zeroed (see `ledger`). */
  newLedger(): SharedArrayBuffer {
    return new SharedArrayBuffer(this.buffer.byteLength);
  }

  /**
   * A worker died: takes its share (`ledger`, from `newLedger`) back out of every count and
   * zeroes it. Only its own thread wrote the ledger, and that thread has ended.
   */
  settleLedger(ledger: SharedArrayBuffer): void {
    const own = new Int32Array(ledger);
    for (let i = 0; i < own.length; i++) {
      const n = own[i] as number;
      if (n === 0) continue;
      Atomics.sub(this.counts, i, n);
      own[i] = 0;
    }
  }

  /** Binds `count` to `key`'s cell (and, in a worker, to its ledger cell). */
  bindCount(count: ConnectionCount, key: string): void {
    count.bind(this.counts, this.slot(key), this.ledger);
  }

  /**
   * The index of `key`'s cell, or -1 when a worker was not told of it. The primary allocates
   * a zeroed cell on first use; throws RangeError when every cell is taken.
   */
  slot(key: string): number {
    const known = this.#slots.get(key);
    if (known !== undefined || !this.#allocates) return known ?? -1;
    let i: number;
    if (this.#next < this.counts.length) i = this.#next++;
    else if (this.#free.length > 0) i = this.#free.shift() as number;
    else throw new RangeError(`shared cells: all ${this.counts.length} cells are in use`);
    Atomics.store(this.counts, i, 0);
    this.#slots.set(key, i);
    return i;
  }

  /** Forgets `key` (its server, frontend or backend is gone); its index is reused last. */
  release(key: string): void {
    const i = this.#slots.get(key);
    if (i === undefined) return;
    this.#slots.delete(key);
    if (this.#allocates) this.#free.push(i);
  }

  /** The whole key → index table (sent to workers with each snapshot). */
  table(): [string, number][] {
    return [...this.#slots];
  }

  /** The table's entries for `keys` (those it holds): what a worker needs for a change. */
  entriesFor(keys: Iterable<string>): [string, number][] {
    const out: [string, number][] = [];
    for (const k of keys) {
      const i = this.#slots.get(k);
      if (i !== undefined) out.push([k, i]);
    }
    return out;
  }

  /** Workers: takes the primary's entries (`whole`: the whole table, replacing this one). */
  adopt(table: readonly (readonly [string, number])[], whole = true): void {
    if (whole) this.#slots.clear();
    for (const [k, i] of table) this.#slots.set(k, i);
  }
}

/**
 * One counter of open connections: a private word by default, or a shared cell once bound
 * (`bind`). Changed only with `add` (atomic), so increments from several threads never get lost.
 */
export class ConnectionCount {
  #cells: Int32Array = new Int32Array(1);
  #i = 0;
  /** This thread's share of the cell (a worker's ledger), or null. */
  #own: Int32Array | null = null;

  /** The current count. */
  get value(): number {
    return this.#cells[this.#i] as number;
  }

  /** Sets the count (tests, a drain cutting what is left); atomic. */
  set value(v: number) {
    Atomics.store(this.#cells, this.#i, v);
  }

  /** Adds `delta` atomically; returns the new count. */
  add(delta: number): number {
    const own = this.#own;
    if (own !== null) own[this.#i] = (own[this.#i] as number) + delta;
    return Atomics.add(this.#cells, this.#i, delta) + delta;
  }

  /**
   * Moves the count to `cells[index]` (keeping nothing of the private word: the shared cell is
   * the truth); `own`: the thread's ledger, which records its adds at the same index.
   */
  bind(cells: Int32Array, index: number, own: Int32Array | null = null): void {
    if (index < 0) return;
    this.#cells = cells;
    this.#i = index;
    this.#own = own;
  }
}

/** A round-robin position shared by every worker: `take()` returns the next ticket. */
export class Ticket {
  #cells: Uint32Array = new Uint32Array(1);
  #i = 0;

  /** The next ticket, advancing it (atomic). */
  take(): number {
    return Atomics.add(this.#cells, this.#i, 1);
  }

  /**
   * Moves the ticket `n` (≥ 0) further (atomic): a pick that walked past `n` entries it could
   * not take (excluded, at their limit) consumes their turns in one step, as if each had been
   * taken, so the rotation stays fair without an atomic per skipped entry.
   */
  advance(n: number): void {
    if (n > 0) Atomics.add(this.#cells, this.#i, n);
  }

  /** The next ticket without advancing. */
  peek(): number {
    return Atomics.load(this.#cells, this.#i);
  }

  /** Moves the ticket to a shared cell; -1 keeps the private word. */
  bind(cells: Uint32Array, index: number): void {
    if (index < 0) return;
    this.#cells = cells;
    this.#i = index;
  }
}
