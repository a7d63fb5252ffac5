import net from 'node:net';
import type tls from 'node:tls';
import type { Clock } from '../../core/clock.ts';
import type { ServerRuntime } from '../../runtime/server-runtime.ts';
import { ReusedReadBuffer } from './read-buffers.ts';

/** Receives the events of the upstream connection it currently owns (one exchange at a time). */
export interface UpstreamOwner {
  onUpstreamConnect(u: UpstreamConn): void;
  onUpstreamData(u: UpstreamConn, chunk: Buffer): void;
  onUpstreamEnd(u: UpstreamConn): void;
  onUpstreamClose(u: UpstreamConn): void;
  onUpstreamDrain(u: UpstreamConn): void;
  /**
   * Asked after each `onUpstreamData` on a plain connection: true when bytes of that chunk may
   * still be referenced (kept, or queued in a socket write), so the next read needs a new buffer.
   */
  retainsChunk(u: UpstreamConn): boolean;
}

/**
 * One keep-alive connection to a server. Its socket handlers are installed once and
 * forward to the current `owner`; while idle in the pool (owner null) any data or close
 * takes it out of the pool and destroys it (a server must not talk on an idle connection).
 */
export class UpstreamConn extends ReusedReadBuffer {
  readonly socket: net.Socket;
  readonly rt: ServerRuntime;
  /** The server's `address:port` when connected: a changed endpoint (S2) makes it unusable. */
  readonly endpoint: string;
  owner: UpstreamOwner | null;
  readonly pool: UpstreamPool;
  connected = false;
  dead = false;
  idle = false;
  /** Requests sent on this connection (0 = fresh). */
  served = 0;
  /** ms epoch when it went idle. */
  idleSince = 0;
  /** Error code of the last socket error (`ECONNREFUSED`, `ECONNRESET`, …). */
  errorCode = '';
  /** Opened over TLS (T2): not reused once the server's TLS mode differs (sslOffload / tls.enabled changed). */
  readonly secure: boolean;

  /**
   * PROXY protocol (issue 15 point 3): the version and client connection its header described,
   * or null. Such a connection is reused only for requests of that same client connection.
   */
  readonly proxyKey: string | null;

  constructor(
    rt: ServerRuntime,
    pool: UpstreamPool,
    owner: UpstreamOwner,
    proxyHeader: Buffer | null = null,
    proxyKey: string | null = null,
  ) {
    super();
    this.rt = rt;
    this.pool = pool;
    this.owner = owner;
    this.endpoint = rt.spec.endpoint;
    this.proxyKey = proxyKey;
    // Backend TLS (T2): the pool's hook opens a TLS socket, or null for plain TCP.
    const secure = pool.connectTls === null ? null : pool.connectTls(rt, proxyHeader);
    this.secure = secure !== null;
    let s: net.Socket;
    if (secure !== null) {
      s = secure;
      s.on('data', (chunk: Buffer) => {
        const o = this.owner;
        if (o !== null) o.onUpstreamData(this, chunk);
        else this.destroy();
      });
    } else {
      // Reads go into a buffer of our own, reused from read to read (no allocation, no GC
      // churn per chunk on large bodies) unless the owner still references the last chunk.
      s = net.connect({
        host: rt.spec.address,
        port: rt.spec.port,
        noDelay: true,
        onread: { buffer: () => this.readBuffer(), callback: (n: number) => this.#onRead(n) },
      });
      if (proxyHeader !== null) s.write(proxyHeader); // first, before any request
    }
    this.socket = s;
    s.on(secure === null ? 'connect' : 'secureConnect', () => {
      this.connected = true;
      this.owner?.onUpstreamConnect(this);
    });
    s.on('end', () => {
      const o = this.owner;
      if (o !== null) o.onUpstreamEnd(this);
      else this.destroy();
    });
    s.on('drain', () => this.owner?.onUpstreamDrain(this));
    s.on('error', (err: NodeJS.ErrnoException) => {
      this.errorCode = err.code ?? 'ERROR';
    });
    s.on('close', () => {
      this.dead = true;
      this.releaseReadBuffer();
      if (this.idle) this.pool.remove(this);
      this.owner?.onUpstreamClose(this);
    });
  }

  #onRead(n: number): boolean {
    const chunk = this.chunk(n);
    const o = this.owner;
    if (o === null) {
      this.destroy();
      return false;
    }
    o.onUpstreamData(this, chunk);
    this.retained = o.retainsChunk(this);
    // the exchange completed on this chunk and let the connection go: its answer counts now
    if (this.owner !== o) this.handOver();
    return true;
  }

  /** Closes at once; the owner is detached first when `detach` so it hears nothing more. */
  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }
}

/**
 * Keep-alive connections to servers, per server id: a bounded LIFO stack of idle
 * connections (the most recently used is reused first, so the oldest age out), an idle
 * timeout, and no reuse of a connection to a server that is draining, removed or whose
 * endpoint changed since it was opened (S2, S3). One pool per Runtime, shared by every
 * HTTP frontend.
 */
export class UpstreamPool {
  /** Idle connections kept per server. */
  maxIdlePerServer: number;
  /** Idle time after which a pooled connection is closed (ms). */
  idleTimeoutMs: number;
  /**
   * Backend TLS hook (T2, T3): opens a TLS connection to a server (emitting `secureConnect`),
   * or returns null to connect in plain TCP. Null hook = always plain.
   */
  connectTls: ((rt: ServerRuntime, proxyHeader: Buffer | null) => tls.TLSSocket | null) | null = null;
  /** Whether new connections to `rt` use TLS now (pairs with `connectTls`); a pooled connection of the other mode is closed. */
  wantsTls: ((rt: ServerRuntime) => boolean) | null = null;
  readonly #idle = new Map<string, UpstreamConn[]>();
  readonly #clock: Clock;
  #size = 0;
  #cancelSweep: (() => void) | null = null;

  constructor(clock: Clock, options: { maxIdlePerServer?: number; idleTimeoutMs?: number } = {}) {
    this.#clock = clock;
    this.maxIdlePerServer = options.maxIdlePerServer ?? 256;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
  }

  /** Idle connections held now (all servers). */
  get size(): number {
    return this.#size;
  }

  /**
   * A live idle connection to `rt` at its current endpoint whose `proxyKey` is `proxyKey`
   * (PROXY protocol: the same client connection; null = none sent), or undefined. Stale ones
   * are closed on the way.
   */
  acquire(rt: ServerRuntime, proxyKey: string | null = null): UpstreamConn | undefined {
    const list = this.#idle.get(rt.id);
    if (list === undefined) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const c = list[i] as UpstreamConn;
      const stale =
        c.dead ||
        rt.draining ||
        rt.removed ||
        c.endpoint !== rt.spec.endpoint ||
        (this.wantsTls !== null && c.secure !== this.wantsTls(rt));
      if (!stale && c.proxyKey !== proxyKey) continue;
      list.splice(i, 1);
      this.#size--;
      c.idle = false;
      if (stale) {
        c.destroy();
        continue;
      }
      return c;
    }
    return undefined;
  }

  /** Takes back a connection after a complete exchange; closes it instead when it may not be reused. */
  release(c: UpstreamConn, now: number): void {
    c.owner = null;
    // the next owner cannot tell when the last one's client takes the bytes it still holds
    c.handOver();
    const rt = c.rt;
    if (c.dead || rt.draining || rt.removed || c.endpoint !== rt.spec.endpoint) {
      c.destroy();
      return;
    }
    let list = this.#idle.get(rt.id);
    if (list === undefined) this.#idle.set(rt.id, (list = []));
    if (list.length >= this.maxIdlePerServer) {
      c.destroy();
      return;
    }
    c.idle = true;
    c.idleSince = now;
    list.push(c);
    this.#size++;
    if (this.#cancelSweep === null) this.#scheduleSweep();
  }

  /** Forgets an idle connection that closed. */
  remove(c: UpstreamConn): void {
    if (!c.idle) return;
    c.idle = false;
    const list = this.#idle.get(c.rt.id);
    const i = list ? list.indexOf(c) : -1;
    if (list && i >= 0) {
      list.splice(i, 1);
      this.#size--;
    }
  }

  /** Closes idle connections past the idle timeout or to servers that may not be reused. */
  sweep(now: number): void {
    for (const [id, list] of this.#idle) {
      let w = 0;
      for (let r = 0; r < list.length; r++) {
        const c = list[r] as UpstreamConn;
        const rt = c.rt;
        if (
          c.dead ||
          rt.draining ||
          rt.removed ||
          c.endpoint !== rt.spec.endpoint ||
          now - c.idleSince >= this.idleTimeoutMs
        ) {
          c.idle = false;
          this.#size--;
          c.destroy();
        } else list[w++] = c;
      }
      list.length = w;
      if (w === 0) this.#idle.delete(id);
    }
  }

  /** Closes every idle connection. */
  clear(): void {
    for (const list of this.#idle.values()) {
      for (const c of list) {
        c.idle = false;
        c.destroy();
      }
    }
    this.#idle.clear();
    this.#size = 0;
    this.#cancelSweep?.();
    this.#cancelSweep = null;
  }

  #scheduleSweep(): void {
    this.#cancelSweep = this.#clock.setTimeout(() => {
      this.#cancelSweep = null;
      this.sweep(this.#clock.now());
      if (this.#size > 0) this.#scheduleSweep();
    }, 1000);
  }
}
