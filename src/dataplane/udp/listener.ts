import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { FrontendSpec } from '../../config/snapshot.ts';
import type { Clock } from '../../core/clock.ts';
import type { Logger } from '../../core/log.ts';
import { PersistenceManager } from '../../persistence/choose.ts';
import type { BackendRuntime, Runtime } from '../../runtime/runtime.ts';
import type { Closeable, ServerRuntime } from '../../runtime/server-runtime.ts';
import type { AccessLog } from '../access-log.ts';
import type { FrontendRuntime, ListenerContext, ListenerFactory, ProtocolListener } from '../types.ts';
import { type FlowNode, FlowTable } from './flow-table.ts';

/**
 * Socket buffer sizes in bytes. The frontend socket carries every flow, so it gets a deep
 * receive queue (Linux caps it at net.core.rmem_max); flow sockets carry one client each.
 * Both hold several datagrams of the largest UDP payload over IPv4 (65,507 bytes).
 */
const FRONTEND_BUFFER_BYTES = 4 * 1024 * 1024;
const FLOW_BUFFER_BYTES = 256 * 1024;
/** Datagrams held per flow while its socket connects; more are dropped and counted as refused. */
const MAX_PENDING = 64;
/** Idle sweep period bounds (ms): a quarter of the UDP timeout, at least 10 ms, at most 1 s. */
const MIN_SWEEP_MS = 10;
const MAX_SWEEP_MS = 1000;

/** Why a flow ended (for debugging and tests). */
type EndReason = 'idle' | 'evicted' | 'moved' | 'drain' | 'closed' | 'connect-failed';

/**
 * One client flow (U1): a client source address and port bound to one server, with its own
 * connected UDP socket so the server's replies can be matched to the client. Registered with
 * the server's runtime as an open connection while it lives (least-connections counts it,
 * a drain's deadline calls `destroy()`).
 */
class UdpFlow implements FlowNode, Closeable {
  readonly clientAddress: string;
  readonly clientPort: number;
  lastSeen = 0;
  prev: FlowNode | null = null;
  next: FlowNode | null = null;
  readonly server: ServerRuntime;
  readonly backend: BackendRuntime;
  /** The server endpoint the socket is connected to; a changed address or port moves the flow (S2). */
  readonly endpoint: string;
  /** The listener's backend generation when the flow was made; a new default backend moves it. */
  readonly generation: number;
  readonly socket: dgram.Socket;
  /** Datagrams waiting for the socket to connect; null once connected or closed. */
  pending: Buffer[] | null = [];
  /** Set when the server answered with ICMP port unreachable: the next datagram moves the flow. */
  failed = false;
  /** Set at the first reply (passive health records one success per flow). */
  answered = false;
  closed = false;
  /** Access log (O2): when the flow started (performance.now ms) and bytes each way. */
  startedAt = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly #end: (flow: UdpFlow, reason: EndReason) => void;

  constructor(
    address: string,
    port: number,
    server: ServerRuntime,
    backend: BackendRuntime,
    generation: number,
    socket: dgram.Socket,
    end: (flow: UdpFlow, reason: EndReason) => void,
  ) {
    this.clientAddress = address;
    this.clientPort = port;
    this.server = server;
    this.backend = backend;
    this.endpoint = server.spec.endpoint;
    this.generation = generation;
    this.socket = socket;
    this.#end = end;
  }

  /** Closes the flow now (a drain's deadline, S3). The client's next datagram starts a new flow. */
  destroy(): void {
    this.#end(this, 'drain');
  }
}

/**
 * A UDP frontend (U1, F1): one socket bound to the frontend's address and port receives
 * every client's datagrams; each client flow is bound to one server of the default backend
 * and forwarded through a connected socket of its own. Replies go back to the client from
 * the frontend's socket, so the client sees them come from the address it sent to.
 */
class UdpListener implements ProtocolListener {
  #spec: FrontendSpec;
  readonly #runtime: Runtime;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #counters: FrontendRuntime;
  readonly #persistence: PersistenceManager;
  readonly #table = new FlowTable<UdpFlow>();
  #socket: dgram.Socket | undefined;
  #bound = false;
  #generation = 0;
  #timeoutMs: number;
  #maxFlows: number;
  #cancelSweep: (() => void) | undefined;
  /** No new flows (graceful close in progress). */
  #closing = false;
  /** Resolves the graceful close's wait once the last flow has ended. */
  #drained: (() => void) | undefined;
  #stopped: Promise<void> | undefined;
  readonly #accessLog: AccessLog | undefined;

  /** SO_REUSEPORT (`--reuse-port`): several nodes on one machine share the port, the kernel spreading flows (C5). */
  readonly #reusePort: boolean;

  constructor(spec: FrontendSpec, ctx: ListenerContext, persistence: PersistenceManager, reusePort = false) {
    this.#spec = spec;
    this.#reusePort = reusePort;
    this.#persistence = persistence;
    this.#runtime = ctx.runtime;
    this.#clock = ctx.clock;
    this.#log = ctx.log;
    this.#counters = ctx.counters;
    this.#accessLog = ctx.accessLog;
    this.#timeoutMs = timeoutOf(spec);
    this.#maxFlows = maxFlowsOf(spec);
  }

  /** Binds `bindAddress:port` (IPv4 or IPv6). Rejects with the system error (EADDRINUSE, EADDRNOTAVAIL, …). */
  open(): Promise<void> {
    const spec = this.#spec;
    const socket = dgram.createSocket({
      type: isIPv6(spec.bindAddress) ? 'udp6' : 'udp4',
      recvBufferSize: FRONTEND_BUFFER_BYTES,
      sendBufferSize: FRONTEND_BUFFER_BYTES,
      ...(this.#reusePort ? { reusePort: true } : {}),
    });
    this.#socket = socket;
    return new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        this.#socket = undefined;
        reject(err);
      };
      socket.once('error', fail);
      socket.bind({ address: spec.bindAddress, port: spec.port, exclusive: true }, () => {
        socket.off('error', fail);
        this.#bound = true;
        socket.on('error', (err) => this.#log.warn({ err, frontendId: this.#spec.id }, 'udp frontend socket error'));
        socket.on('message', this.#onDatagram);
        resolve();
      });
    });
  }

  /**
   * New settings for new flows. A different default backend moves every flow on its next
   * datagram (a UDP flow has no end of its own, so it follows the change like new traffic);
   * a smaller `maxFlows` evicts the oldest idle flows at once; a new UDP timeout applies to
   * every flow.
   */
  replace(spec: FrontendSpec): void {
    if (spec.defaultBackend?.id !== this.#spec.defaultBackend?.id) this.#generation++;
    this.#spec = spec;
    this.#timeoutMs = timeoutOf(spec);
    this.#maxFlows = maxFlowsOf(spec);
    while (this.#table.size > this.#maxFlows) this.#evictOldest();
    if (this.#cancelSweep) {
      this.#cancelSweep();
      this.#cancelSweep = undefined;
      this.#scheduleSweep();
    }
  }

  /**
   * Closes the frontend's socket (the port is free when this resolves) and ends every flow:
   * without the socket their replies could not reach the clients.
   */
  stopAccepting(): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      this.#closing = true;
      for (const flow of this.#table.toArray()) this.#endFlow(flow, 'closed');
      this.#cancelSweep?.();
      this.#cancelSweep = undefined;
      const socket = this.#socket;
      if (!socket || !this.#bound) return resolve();
      this.#bound = false;
      socket.close(() => resolve());
    });
    return this.#stopped;
  }

  /**
   * Graceful close: no new flows; existing flows keep forwarding until they idle out or
   * `drainMs` (ms, on the injected clock) has passed, then everything is closed.
   */
  async close(drainMs: number): Promise<void> {
    this.#closing = true;
    if (this.#table.size > 0 && drainMs > 0 && this.#bound) {
      await new Promise<void>((resolve) => {
        const cancel = this.#clock.setTimeout(() => {
          this.#drained = undefined;
          resolve();
        }, drainMs);
        this.#drained = () => {
          this.#drained = undefined;
          cancel();
          resolve();
        };
      });
    }
    await this.stopAccepting();
  }

  /** A datagram from a client: find or make its flow, forward it (hot path). */
  readonly #onDatagram = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const counters = this.#counters;
    const n = msg.length;
    counters.requests++;
    counters.bytesIn += n;
    const now = this.#clock.now();
    let flow = this.#table.get(rinfo.address, rinfo.port);
    let exclude: ServerRuntime | undefined;
    if (flow !== undefined && !this.#keeps(flow, now)) {
      if (flow.failed) exclude = flow.server;
      this.#endFlow(flow, 'moved');
      flow = undefined;
    }
    if (flow === undefined) {
      flow = this.#newFlow(rinfo.address, rinfo.port, now, exclude);
      if (flow === undefined) {
        counters.refused++;
        return;
      }
    } else {
      this.#table.touch(flow, now);
    }
    const server = flow.server;
    server.requests++;
    server.bytesOut += n;
    flow.bytesIn += n;
    flow.backend.requests++;
    const pending = flow.pending;
    if (pending === null) {
      flow.socket.send(msg);
    } else if (pending.length < MAX_PENDING) {
      pending.push(msg);
    } else {
      counters.refused++;
    }
  };

  /**
   * May the flow stay on its server? Not when the server refused (ICMP port unreachable),
   * the frontend's backend changed, the server's address or port changed (S2), or the server
   * is unhealthy, ejected or disabled without draining (P3, H6, H7). A draining server keeps
   * its flows until they idle out or the drain's deadline destroys them (S3); weight 0 keeps
   * them too (S4).
   */
  #keeps(flow: UdpFlow, now: number): boolean {
    const s = flow.server;
    return (
      !flow.failed &&
      flow.generation === this.#generation &&
      flow.endpoint === s.spec.endpoint &&
      s.healthOk &&
      !(s.ejectedUntil > now) &&
      (s.draining || s.spec.enabled)
    );
  }

  #newFlow(address: string, port: number, now: number, exclude: ServerRuntime | undefined): UdpFlow | undefined {
    if (this.#closing) return undefined;
    const backendSpec = this.#spec.defaultBackend;
    const backend = backendSpec ? this.#runtime.backends.get(backendSpec.id) : undefined;
    if (!backend) return undefined;
    let server: ServerRuntime | undefined;
    if (backend.spec.persistence.type === 'source-ip') {
      // P1, P3: the client address stays on its server across flows while the session lives
      server = this.#persistence.choose(backend, { clientAddress: address, exclude }, now).server;
    } else {
      server = backend.balancer.pick({ clientAddress: address, exclude });
      if (!server && exclude) server = backend.balancer.pick({ clientAddress: address });
    }
    if (!server) {
      backend.noServer++;
      this.#counters.terminations['no-server']++;
      return undefined;
    }
    while (this.#table.size >= this.#maxFlows && this.#table.size > 0) this.#evictOldest();
    const target = server.spec;
    const socket = dgram.createSocket({
      type: isIPv6(target.address) ? 'udp6' : 'udp4',
      recvBufferSize: FLOW_BUFFER_BYTES,
      sendBufferSize: FLOW_BUFFER_BYTES,
    });
    const flow = new UdpFlow(address, port, server, backend, this.#generation, socket, this.#endFlow);
    if (this.#accessLog !== undefined) flow.startedAt = performance.now();
    socket.on('message', (reply: Buffer) => this.#onReply(flow, reply));
    socket.on('error', (err: NodeJS.ErrnoException) => this.#onFlowError(flow, err));
    socket.connect(target.port, target.address, (err?: Error) => {
      if (flow.closed) return;
      if (err) {
        this.#onFlowError(flow, err as NodeJS.ErrnoException);
        this.#endFlow(flow, 'connect-failed');
        return;
      }
      const queued = flow.pending;
      flow.pending = null;
      if (queued) for (const m of queued) socket.send(m);
    });
    this.#table.add(flow, now);
    this.#runtime.connectionOpened(server, flow);
    this.#counters.opened();
    this.#counters.totalConnections++;
    if (!this.#cancelSweep) this.#scheduleSweep();
    return flow;
  }

  /** A reply from the flow's server: back to the client from the frontend's socket (hot path). */
  #onReply(flow: UdpFlow, reply: Buffer): void {
    const socket = this.#socket;
    if (flow.closed || !socket || !this.#bound) return;
    const n = reply.length;
    this.#table.touch(flow, this.#clock.now());
    this.#counters.bytesOut += n;
    flow.server.bytesIn += n;
    flow.bytesOut += n;
    if (!flow.answered) {
      flow.answered = true;
      this.#runtime.recordOutcome(flow.server, true);
    }
    socket.send(reply, flow.clientPort, flow.clientAddress);
  }

  /** ECONNREFUSED (ICMP port unreachable) marks the flow failed once and tells passive health (H7). */
  #onFlowError(flow: UdpFlow, err: NodeJS.ErrnoException): void {
    if (flow.closed) return;
    if (!flow.failed) {
      flow.failed = true;
      flow.server.failures++;
      this.#runtime.recordOutcome(flow.server, false);
    }
    if (err.code !== 'ECONNREFUSED') {
      this.#log.debug({ err, frontendId: this.#spec.id, serverId: flow.server.id }, 'udp flow socket error');
    }
  }

  #evictOldest(): void {
    const oldest = this.#table.oldest();
    if (!oldest) return;
    this.#counters.flowsEvicted++;
    this.#endFlow(oldest, 'evicted');
  }

  /** Ends a flow: closes its socket, forgets it, releases its server connection slot. Idempotent. */
  readonly #endFlow = (flow: UdpFlow, reason: EndReason): void => {
    if (flow.closed) return;
    flow.closed = true;
    // issue 12: a flow whose server refused it (ICMP port unreachable, connect error) ends as connect-refused
    const termination = flow.failed || reason === 'connect-failed' ? 'connect-refused' : null;
    if (termination !== null) {
      this.#counters.terminations[termination]++;
      flow.server.terminations[termination]++;
    }
    const log = this.#accessLog;
    if (log !== undefined) {
      log.write({
        at: new Date().toISOString(),
        kind: 'udp',
        frontend: this.#spec.name,
        client: flow.clientAddress,
        backend: flow.backend.spec.name,
        server: flow.server.spec.name,
        bytesIn: flow.bytesIn,
        bytesOut: flow.bytesOut,
        durationMs: Math.round((performance.now() - flow.startedAt) * 10) / 10,
        ...(termination !== null ? { termination } : {}),
      });
    }
    flow.pending = null;
    this.#table.remove(flow);
    try {
      flow.socket.close();
    } catch {
      // already closed by Node after an error
    }
    this.#counters.closed();
    this.#runtime.connectionClosed(flow.server, flow);
    if (this.#drained && this.#table.size === 0) this.#drained();
  };

  #scheduleSweep(): void {
    const period = Math.min(MAX_SWEEP_MS, Math.max(MIN_SWEEP_MS, this.#timeoutMs / 4));
    this.#cancelSweep = this.#clock.setTimeout(this.#sweep, period);
  }

  /** Ends flows idle for the backend's UDP timeout, oldest first; stops when none is left. */
  readonly #sweep = (): void => {
    this.#cancelSweep = undefined;
    const now = this.#clock.now();
    const timeout = this.#timeoutMs;
    for (let f = this.#table.oldest(); f !== undefined && now - f.lastSeen >= timeout; f = this.#table.oldest()) {
      this.#endFlow(f, 'idle');
    }
    if (this.#table.size > 0 && !this.#stopped) this.#scheduleSweep();
  };
}

/** The flow idle timeout in ms: the default backend's `udpTimeoutMs` (U1, default 30 s). */
function timeoutOf(spec: FrontendSpec): number {
  return spec.defaultBackend?.udpTimeoutMs ?? 30_000;
}

/** The flow bound: the backend's `maxFlows`, and the frontend's `maxConnections` when set (at least 1). */
function maxFlowsOf(spec: FrontendSpec): number {
  const backendMax = spec.defaultBackend?.maxFlows ?? 100_000;
  const m = spec.maxConnections > 0 ? Math.min(backendMax, spec.maxConnections) : backendMax;
  return Math.max(1, m);
}

/**
 * Builds the listener factory for `udp` frontends (U1). `persistence` chooses the server of a
 * new flow when the backend has `source-ip` persistence (P1, P3); a manager of its own is made
 * when none is given (UDP needs no cookie keys). Wire it into the plane as
 * `new Plane(runtime, { udp: udpListenerFactory({ persistence }), … }, log)`, or use
 * `createUdpListener`.
 *
 * - A client flow (source address and port) is bound to the server the default backend's
 *   balancer picks (`pick({ clientAddress })`) and counted as an open connection of that
 *   server until it has been idle for the backend's `udpTimeoutMs` (datagrams either way).
 * - The table holds at most `maxFlows` flows (backend; and frontend `maxConnections` when
 *   set); when full the oldest idle flow is evicted and counted in `counters.flowsEvicted`.
 * - Counters: frontend `requests` (datagrams in), `bytesIn` (from clients), `bytesOut` (to
 *   clients), `activeConnections`/`totalConnections` (flows), `refused` (datagrams dropped:
 *   no server, closing, queue full); server `requests` (datagrams forwarded), `bytesOut` (to
 *   the server), `bytesIn` (from the server), `failures` (ICMP port unreachable); backend
 *   `requests`, `noServer`.
 */
export function udpListenerFactory(
  options: {
    persistence?: PersistenceManager;
    /** SO_REUSEPORT (`--reuse-port`, C5): several nodes on one machine share the port. */
    reusePort?: boolean;
  } = {},
): ListenerFactory {
  const persistence = options.persistence ?? new PersistenceManager();
  return (spec, ctx) => new UdpListener(spec, ctx, persistence, options.reusePort === true);
}

/** The udp ListenerFactory with a persistence manager of its own (see `udpListenerFactory`). */
export const createUdpListener: ListenerFactory = udpListenerFactory();
