import type { Logger } from '../core/log.ts';
import type { ConfigStore, NodeRecord, StoreChange } from '../store/types.ts';

/** A node as `GET /api/v1/nodes` shows it (API.md "More of the contract", C5). */
export interface NodeView {
  name: string;
  /** The configVersion this node's data plane applied last. */
  appliedVersion: number;
  /** ISO 8601 time of its last heartbeat. */
  lastSeen: string;
  /** `live`, or `stale` when its heartbeat is older than 3 intervals. */
  status: 'live' | 'stale';
}

/** Default heartbeat and catch-up interval (ms): a node is `stale` after 3 of them without a heartbeat. */
export const HEARTBEAT_INTERVAL_MS = 2_000;

/** How often `waitForAll` reads the `nodes` table (ms). */
const WAIT_POLL_MS = 25;

/**
 * One node among several sharing a store (C5, issue 14). It
 * - hears every commit of any node (`store.watch`: PostgreSQL NOTIFY) and applies it at once
 *   through the control plane's own path (`sync`: load → compile → `plane.apply`);
 * - every `intervalMs`, compares the stored configVersion with the applied one and catches up
 *   (a missed notification, a lost connection), and records its heartbeat and applied version
 *   in the `nodes` table;
 * - after the notification channel came back (`reconnected`), catches up at once;
 * - calls `onTokens` when the tokens changed anywhere (and on every tick), so a token revoked
 *   on one node stops working on every node.
 * A store fault is logged once per outage and retried on the next tick; the data plane keeps
 * the last applied configuration meanwhile.
 */
export class NodeSync {
  readonly name: string;
  readonly intervalMs: number;
  readonly #store: ConfigStore;
  readonly #sync: () => Promise<number>;
  readonly #applied: () => number;
  readonly #onTokens: () => Promise<void>;
  readonly #log: Logger;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #unwatch: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #failing = false;
  #closed = false;

  constructor(options: {
    name: string;
    store: ConfigStore;
    /** Catches up with the store; answers the applied version (ControlPlane.sync). */
    sync: () => Promise<number>;
    /** The version applied now (ControlPlane.version). */
    applied: () => number;
    /** Reloads the tokens from the store (AuthService.reload). */
    onTokens?: () => Promise<void>;
    log: Logger;
    intervalMs?: number;
    now?: () => number;
  }) {
    this.name = options.name;
    this.#store = options.store;
    this.#sync = options.sync;
    this.#applied = options.applied;
    this.#onTokens = options.onTokens ?? (async () => {});
    this.#log = options.log;
    this.intervalMs = options.intervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Starts listening and the periodic catch-up; resolves after the first heartbeat attempt. */
  async start(): Promise<void> {
    this.#unwatch = this.#store.watch((c) => this.#heard(c));
    await this.#tick();
    this.#timer = setInterval(() => void this.#tick(), this.intervalMs);
    this.#timer.unref();
  }

  #heard(c: StoreChange): void {
    if (c.kind === 'tokens') {
      this.#onTokens().catch((err) => this.#log.warn({ err }, 'could not reload the tokens'));
      return;
    }
    if (c.kind === 'config' && c.version <= this.#applied()) return;
    if (c.kind === 'reconnected') this.#log.info('store notifications back: catching up');
    void this.#tick();
  }

  /** One catch-up: sync, tokens, heartbeat. Ticks asked while one runs coalesce into one more. */
  #tick(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        try {
          await this.#sync();
          await this.#onTokens();
          await this.#store.heartbeat({
            name: this.name,
            appliedVersion: this.#applied(),
            lastSeen: new Date(this.#now()).toISOString(),
          });
          if (this.#failing) this.#log.info({ node: this.name }, 'store reachable again; caught up');
          this.#failing = false;
        } catch (err) {
          if (!this.#failing) {
            this.#log.error(
              { err, node: this.name, configVersion: this.#applied() },
              'cannot sync with the store; serving the last applied configuration',
            );
          }
          this.#failing = true;
        }
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Catches up now (tests, `?wait`); resolves when done (faults are logged, not thrown). */
  catchUp(): Promise<void> {
    return this.#tick();
  }

  /** Every node of the store with its status; this node as it is now when the store cannot answer. */
  async nodes(): Promise<NodeView[]> {
    let rows: NodeRecord[];
    try {
      rows = await this.#store.listNodes();
    } catch {
      rows = [];
    }
    const now = this.#now();
    const self: NodeRecord = {
      name: this.name,
      appliedVersion: this.#applied(),
      lastSeen: new Date(now).toISOString(),
    };
    if (!rows.some((r) => r.name === this.name)) rows = [...rows, self].sort((a, b) => a.name.localeCompare(b.name));
    return rows.map((r) => viewOf(r.name === this.name ? self : r, now, this.intervalMs));
  }

  /**
   * Waits until every live node (this one included) applied `version` (`?wait=all`, issue
   * 14): polls the `nodes` table, where a node records its applied version right after it
   * applied a change. Answers the live nodes still behind after `timeoutMs` (empty when all
   * caught up); a `stale` node (no heartbeat for 3 intervals) is not waited for. When the
   * store cannot answer until the deadline, `unreachable` says why.
   */
  async waitForAll(version: number, timeoutMs: number): Promise<{ lagging: NodeView[]; unreachable?: string }> {
    const deadline = Date.now() + timeoutMs;
    let lagging: NodeView[] = [];
    for (;;) {
      let unreachable: string | undefined;
      try {
        const now = this.#now();
        const rows = (await this.#store.listNodes()).filter((r) => r.name !== this.name);
        const self: NodeRecord = {
          name: this.name,
          appliedVersion: this.#applied(),
          lastSeen: new Date(now).toISOString(),
        };
        lagging = [self, ...rows]
          .map((r) => viewOf(r, now, this.intervalMs))
          .filter((n) => n.status === 'live' && n.appliedVersion < version)
          .sort((a, b) => a.name.localeCompare(b.name));
        if (lagging.length === 0) return { lagging };
      } catch (err) {
        unreachable = (err as Error).message;
      }
      const left = deadline - Date.now();
      if (left <= 0) return unreachable === undefined ? { lagging } : { lagging, unreachable };
      await new Promise((r) => setTimeout(r, Math.min(WAIT_POLL_MS, left)));
    }
  }

  /** Stops the timer and the notifications. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#unwatch?.();
    await this.#running;
  }
}

/** A node row as the API shows it: `stale` when its heartbeat is older than 3 intervals. */
export function viewOf(r: NodeRecord, now: number, intervalMs: number): NodeView {
  const age = now - Date.parse(r.lastSeen);
  return { ...r, status: Number.isFinite(age) && age <= 3 * intervalMs ? 'live' : 'stale' };
}
