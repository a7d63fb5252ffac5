/**
 * The UDP flow table (U1): client flows keyed by source address and port, kept in
 * least-recently-used order so that idle expiry and eviction of the oldest idle flow are
 * O(1) per flow, with no timer per flow and no allocation per datagram.
 *
 * Pure data structure: no sockets, no clock. The listener decides when a flow is idle
 * (`now - oldest.lastSeen >= udpTimeoutMs`) and what closing one means.
 */

/** What the table needs from a flow: its key and its place in the LRU list (intrusive links). */
export interface FlowNode {
  /** Client source address as the socket reports it (`127.0.0.1`, `::1`, `::ffff:10.0.0.1`). */
  readonly clientAddress: string;
  /** Client source port (1–65535). */
  readonly clientPort: number;
  /** ms epoch of the last datagram in either direction. */
  lastSeen: number;
  /** Previous (older) flow in LRU order; managed by the table. */
  prev: FlowNode | null;
  /** Next (more recent) flow in LRU order; managed by the table. */
  next: FlowNode | null;
}

/**
 * Flows by (address, port). Lookups use a map of maps (address → port → flow) so that no
 * key string is built per datagram. The LRU list runs from `oldest()` (least recently
 * seen) to the most recently touched flow.
 */
export class FlowTable<T extends FlowNode> {
  #byAddress = new Map<string, Map<number, T>>();
  #head: T | null = null;
  #tail: T | null = null;
  #size = 0;

  /** Number of flows in the table. */
  get size(): number {
    return this.#size;
  }

  /** The flow of a client source address and port, or undefined. */
  get(address: string, port: number): T | undefined {
    return this.#byAddress.get(address)?.get(port);
  }

  /** The least recently seen flow (first to expire or be evicted), or undefined when empty. */
  oldest(): T | undefined {
    return this.#head ?? undefined;
  }

  /**
   * Adds a flow as the most recent, with `lastSeen = now` (ms epoch). Throws Error when a
   * flow with the same address and port is already in the table (the caller must remove it
   * first). Does not bound the size: the caller evicts `oldest()` first when full.
   */
  add(flow: T, now: number): void {
    let ports = this.#byAddress.get(flow.clientAddress);
    if (!ports) this.#byAddress.set(flow.clientAddress, (ports = new Map()));
    if (ports.has(flow.clientPort)) {
      throw new Error(`flow table: a flow for ${flow.clientAddress} port ${flow.clientPort} is already present`);
    }
    ports.set(flow.clientPort, flow);
    flow.lastSeen = now;
    flow.prev = this.#tail;
    flow.next = null;
    if (this.#tail) this.#tail.next = flow;
    else this.#head = flow;
    this.#tail = flow;
    this.#size++;
  }

  /** Marks a flow as seen at `now` (ms epoch) and moves it to the most recent end. O(1). */
  touch(flow: T, now: number): void {
    flow.lastSeen = now;
    if (this.#tail === flow) return;
    this.#unlink(flow);
    flow.prev = this.#tail;
    flow.next = null;
    if (this.#tail) this.#tail.next = flow;
    else this.#head = flow;
    this.#tail = flow;
  }

  /** Removes a flow; returns false when it was not in the table (idempotent). */
  remove(flow: T): boolean {
    const ports = this.#byAddress.get(flow.clientAddress);
    if (!ports || ports.get(flow.clientPort) !== flow) return false;
    ports.delete(flow.clientPort);
    if (ports.size === 0) this.#byAddress.delete(flow.clientAddress);
    this.#unlink(flow);
    flow.prev = null;
    flow.next = null;
    this.#size--;
    return true;
  }

  /** Every flow, oldest first (a copy, safe to remove while iterating it). */
  toArray(): T[] {
    const out: T[] = [];
    for (let f = this.#head as FlowNode | null; f; f = f.next) out.push(f as T);
    return out;
  }

  #unlink(flow: T): void {
    if (flow.prev) flow.prev.next = flow.next;
    else if (this.#head === flow) this.#head = flow.next as T | null;
    if (flow.next) flow.next.prev = flow.prev;
    else if (this.#tail === flow) this.#tail = flow.prev as T | null;
  }
}
