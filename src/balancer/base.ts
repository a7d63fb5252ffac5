import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { Ticket } from '../runtime/shared-cells.ts';
import { Eligibility } from './eligibility.ts';
import { hashClientKey } from './hash.ts';
import type { ServerIndex } from './load-index.ts';
import { MaglevTable } from './maglev.ts';
import type { Balancer, PickContext } from './types.ts';

/** From this many eligible servers on, least-connections, least-response-time and source-ip keep a load index instead of scanning. */
export const LOAD_INDEX_FROM = 64;

/** One possible next pick (explain): the server, its probability and the score `select` compares. */
export interface Candidate {
  readonly server: ServerRuntime;
  readonly probability: number;
  /** The algorithm's score (lower wins): load per weight, latency × load per weight; 0 when none. */
  readonly score: number;
}

/**
 * Common frame of every algorithm (DESIGN.md "balancer/"): keeps the shared eligible list
 * (Eligibility: available servers, actives before passives, S5), validates the chosen
 * server against live state, and offers consistent hashing (`pickHashed`, P1/P5) over the
 * same list. Subclasses implement `select`, which reads `this.el` (already refreshed, with
 * `count > 0`) and must honour `ctx.exclude` when another server is eligible.
 */
export class BaseBalancer implements Balancer {
  readonly el: Eligibility;
  readonly now: () => number;
  /** The backend's rotation position, shared by every worker thread (round robin, weighted round robin). */
  readonly ticket: Ticket;
  #maglev: MaglevTable | undefined;
  #maglevVersion = -1;
  #ids: string[] = [];
  #hashWeights: number[] = [];
  /** Eligible servers from which `loadIndex` is used by the algorithms that have one (tests lower it). */
  indexFrom = LOAD_INDEX_FROM;
  #index: ServerIndex | undefined;
  #indexed = -1;

  constructor(servers: readonly ServerRuntime[], now: () => number, ticket: Ticket = new Ticket()) {
    this.el = new Eligibility(servers);
    this.now = now;
    this.ticket = ticket;
  }

  invalidate(): void {
    this.el.invalidate();
  }

  /** The runtime replaced or removed this balancer (Balancer.dispose): its load index lets its servers go. */
  dispose(): void {
    this.#index?.release();
    this.#indexed = -1;
  }

  /**
   * The eligible servers (after a refresh at `t`, ms) in an index of kind `Kind` (load-index.ts)
   * with weights `weights` (parallel to `this.el.list`), rebuilt when the eligible set or a
   * weight changed, else resynchronised on its period (issue 13 point 5). The algorithm
   * decides when to use it (`indexFrom`).
   */
  loadIndex<T extends ServerIndex>(t: number, weights: readonly number[], Kind: new () => T): T {
    if (!(this.#index instanceof Kind)) {
      this.#index?.release();
      this.#index = new Kind();
      this.#indexed = -1;
    }
    const el = this.el;
    if (this.#indexed !== el.weightsVersion || this.#index.limited !== el.limited) {
      this.#index.build(el.list, weights, el.count, t, el.limited);
      this.#indexed = el.weightsVersion;
    } else {
      this.#index.resync(t);
    }
    return this.#index as T;
  }

  pick(ctx: PickContext): ServerRuntime | undefined {
    return this.#choose(ctx, true);
  }

  /**
   * What `pick(ctx)` would return now, without advancing the algorithm's state (rotation,
   * smooth-weight credits): the same `select` with `advance` false (explain, issue 16). For
   * random-two-choices it is one random draw, not a prediction (see `candidates`).
   */
  peek(ctx: PickContext): ServerRuntime | undefined {
    return this.#choose(ctx, false);
  }

  #choose(ctx: PickContext, advance: boolean): ServerRuntime | undefined {
    const t = this.now();
    if (this.el.refresh(t) === 0) return undefined;
    let s = this.select(ctx, t, advance);
    if (s && !s.isAvailable(t)) {
      // A change nobody told us about: rebuild now rather than send traffic to it.
      this.el.invalidate();
      if (this.el.refresh(t) === 0) return undefined;
      s = this.select(ctx, t, advance);
    }
    return s;
  }

  /**
   * The algorithm's choice among `this.el.list[0 … count)`. Overridden by every algorithm.
   * `advance` false: compute the same choice without changing any state (`peek`). It never
   * returns a server at its connection limit (`el.blocked`, issue 15 point 4), and returns
   * `ctx.exclude` only when no other server can take the pick (`fallback`); undefined when
   * every server is at its limit (the request is then one for the queue).
   */
  select(_ctx: PickContext, _t: number, _advance = true): ServerRuntime | undefined {
    throw new Error('BaseBalancer.select must be overridden');
  }

  /**
   * The last resort of a pick that found every server but `exclude` blocked (at `t`, ms):
   * `exclude` itself when it is eligible and below its limit, since a retry sits a server out
   * only while another one can take the request; else undefined (every server is at its limit).
   */
  fallback(exclude: ServerRuntime | undefined, t: number): ServerRuntime | undefined {
    if (exclude === undefined || this.el.blocked(exclude, undefined, t)) return undefined;
    return this.el.indexOf(exclude) >= 0 ? exclude : undefined;
  }

  /**
   * The servers the next `pick(ctx)` may return with their probability, from the same scores
   * `select` compares (explain, issue 16). Deterministic algorithms answer their `peek` with
   * probability 1; least-connections, least-response-time and random-two-choices override it.
   * Empty when no server is available.
   */
  candidates(ctx: PickContext): Candidate[] {
    const s = this.peek(ctx);
    return s ? [{ server: s, probability: 1, score: 0 }] : [];
  }

  /**
   * Expected long-run share of new requests per eligible server (`this.el.list` order, after
   * a refresh at `t`): effective weight over the total. Round robin and source-ip override it.
   */
  shares(t: number): number[] {
    this.el.refresh(t);
    const { weights, count, totalWeight } = this.el;
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(totalWeight > 0 ? weights[i]! / totalWeight : 0);
    return out;
  }

  pickHashed(key: string, exclude?: ServerRuntime): ServerRuntime | undefined {
    const t = this.now();
    if (this.el.refresh(t) === 0) return undefined;
    const table = this.maglev();
    const h = hashClientKey(key);
    let s = this.#hashWalk(table, h, exclude, t);
    if (s && !s.isAvailable(t)) {
      this.el.invalidate();
      if (this.el.refresh(t) === 0) return undefined;
      s = this.#hashWalk(this.maglev(), h, exclude, t);
    }
    return s;
  }

  /**
   * The server of key hash `h`'s slot, else of the next slots in table order (the same walk
   * Maglev's own fallback takes, so a key whose server is excluded or at its limit goes to
   * the same next server on every worker). After 16 × n slots it takes the first server of
   * the list that can take the pick (O(n); every server being blocked is the usual reason).
   */
  #hashWalk(table: MaglevTable, h: number, exclude: ServerRuntime | undefined, t: number): ServerRuntime | undefined {
    const el = this.el;
    const list = el.list;
    const size = table.size;
    let slot = table.slotOf(h);
    const limit = Math.min(size, 16 * el.count);
    for (let i = 0; i < limit; i++) {
      const s = list[table.slots[slot]!]!;
      if (!el.blocked(s, exclude, t)) return s;
      slot = slot + 1 === size ? 0 : slot + 1;
    }
    for (let i = 0; i < el.count; i++) if (!el.blocked(list[i]!, exclude, t)) return list[i];
    return this.fallback(exclude, t);
  }

  /**
   * The Maglev table over the current eligible list, built lazily and rebuilt only when the
   * membership changed. Hashing uses the configured weight (`spec.weight`), not the slow-start
   * weight, so a ramp does not reshuffle keys.
   */
  maglev(): MaglevTable {
    if (!this.#maglev || this.#maglevVersion !== this.el.membershipVersion) {
      const { list, count } = this.el;
      this.#ids.length = count;
      this.#hashWeights.length = count;
      for (let i = 0; i < count; i++) {
        this.#ids[i] = list[i]!.id;
        this.#hashWeights[i] = list[i]!.spec.weight;
      }
      this.#maglev = new MaglevTable(this.#ids, this.#hashWeights);
      this.#maglevVersion = this.el.membershipVersion;
    }
    return this.#maglev;
  }
}
