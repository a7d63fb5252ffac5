import { hashString } from './hash.ts';

/** Smallest prime ≥ n (trial division; n is at most a few hundred thousand). */
export function nextPrime(n: number): number {
  let p = Math.max(2, Math.ceil(n));
  for (;;) {
    let prime = true;
    for (let d = 2; d * d <= p; d++) {
      if (p % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) return p;
    p++;
  }
}

/**
 * Lookup-table size for `n` servers: a prime at least 100 × n and at least 4099, so each
 * server owns many slots (balance within ~1 %) and removing one of n servers moves close to
 * 1/n of the keys (Maglev paper, Eisenbud et al., NSDI 2016, §3.4). 492 servers → 49 201.
 */
export function maglevTableSize(n: number): number {
  return nextPrime(Math.max(4099, n * 100));
}

/**
 * A weighted Maglev lookup table (consistent hashing, A2): maps a 32-bit key hash to the
 * index of one of `ids` (the servers' stable ids, which seed their slot permutations, so
 * every worker and node that sees the same servers builds the same table, P5).
 *
 * Each server walks its own permutation of slots (offset = h1(id) mod M, skip = h2(id) mod
 * (M − 1) + 1) and claims the next free slot when it is its turn; turns are handed out in
 * proportion to `weights` (a server with the largest weight takes one each round, others
 * accumulate credit `w / maxWeight`). Removing a server only frees its slots, which the
 * other servers claim, so most keys keep their server.
 *
 * Build: O(M log M) time, one Int32Array of M entries. Lookup: O(1), no allocation.
 * Throws RangeError when `ids` and `weights` differ in length or a weight is not > 0.
 */
export class MaglevTable {
  readonly size: number;
  readonly slots: Int32Array;
  readonly count: number;

  constructor(ids: readonly string[], weights: readonly number[], size = maglevTableSize(ids.length)) {
    if (ids.length !== weights.length) throw new RangeError('maglev: ids and weights must have the same length');
    const n = ids.length;
    this.size = size;
    this.count = n;
    this.slots = new Int32Array(size).fill(-1);
    if (n === 0) return;
    let maxWeight = 0;
    for (const w of weights) {
      if (!(w > 0)) throw new RangeError('maglev: every weight must be > 0');
      if (w > maxWeight) maxWeight = w;
    }
    const pos = new Float64Array(n);
    const skip = new Float64Array(n);
    const credit = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      pos[i] = hashString(ids[i]!, 1) % size;
      skip[i] = (hashString(ids[i]!, 2) % (size - 1)) + 1;
    }
    let filled = 0;
    while (filled < size) {
      for (let i = 0; i < n && filled < size; i++) {
        credit[i]! += weights[i]! / maxWeight;
        while (credit[i]! >= 1 && filled < size) {
          credit[i]! -= 1;
          let c = pos[i]!;
          while (this.slots[c] !== -1) c = (c + skip[i]!) % size;
          this.slots[c] = i;
          pos[i] = (c + skip[i]!) % size;
          filled++;
        }
      }
    }
  }

  /** Slot index of a 32-bit hash. */
  slotOf(hash: number): number {
    return hash % this.size;
  }

  /** Server index for a 32-bit hash; -1 when the table is empty. */
  lookup(hash: number): number {
    return this.slots[hash % this.size]!;
  }
}
