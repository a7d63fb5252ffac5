import net from 'node:net';
import type { PickContext } from '../../balancer/types.ts';
import type { FrontendSpec } from '../../config/snapshot.ts';
import { PersistenceManager } from '../../persistence/choose.ts';
import type { QueueWaiter } from '../../runtime/queue.ts';
import type { BackendRuntime } from '../../runtime/runtime.ts';
import type { ServerRuntime } from '../../runtime/server-runtime.ts';
import type { Termination } from '../../runtime/terminations.ts';
import { isTrustedProxy } from '../http/forward-headers.ts';
import { ReusedReadBuffer } from '../http/read-buffers.ts';
import { listenFrontend } from '../listen.ts';
import { type ClientEndpoints, encodeProxyHeader, readProxyHeader, socketEndpoints } from '../proxy-protocol.ts';
import { backendTrust } from '../tls/backend.ts';
import { matchSniRule, readClientHello } from '../tls/passthrough.ts';
import type { ListenerContext, ListenerFactory, ProtocolListener } from '../types.ts';

/**
 * A proxied TCP connection: client socket ↔ server socket. Registered with the server's
 * runtime while open so least-connections counts it and a drain can cut it (S3).
 */
class TcpSession implements QueueWaiter {
  readonly client: net.Socket;
  server: net.Socket | undefined;
  rt: ServerRuntime | undefined;
  closed = false;
  /** TLS passthrough (T4): the ClientHello bytes read to route by SNI, replayed to the server first. */
  preamble: Buffer | null = null;
  /** Access log (O2): when the connection was accepted (performance.now ms); 0 when logs are off. */
  startedAt = 0;
  backendName: string | null = null;
  /** Why the connection ended other than normally (issue 12), first cause wins. */
  termination: Termination | null = null;
  /** Connect attempts on another server. */
  retries = 0;
  // QueueWaiter (issue 15 point 4): waiting in the backend's queue for a server slot
  readonly pick: PickContext;
  queuedAt = 0;
  queueDeadline = 0;
  queued = false;
  /** The backend whose queue it waits in. */
  queueBackend: BackendRuntime | undefined;
  serve: (rt: ServerRuntime) => void = () => {};
  expire: () => void = () => {};
  /** The client's address: the socket's peer, or the one a PROXY header gave (issue 15 point 3). */
  clientAddress: string;
  /** The client connection's endpoints as a PROXY header sent to servers describes them (undefined: not read yet). */
  endpoints: ClientEndpoints | null | undefined = undefined;
  constructor(client: net.Socket) {
    this.client = client;
    this.clientAddress = unmap(client.remoteAddress);
    this.pick = { clientAddress: this.clientAddress, exclude: undefined };
  }
  destroy(): void {
    this.client.destroy();
    this.server?.destroy();
  }
}

function unmap(addr: string | undefined): string {
  if (addr === undefined) return '';
  return addr.startsWith('::ffff:') && addr.indexOf('.') > 0 ? addr.slice(7) : addr;
}

/**
 * Pipes `from` into `to` with backpressure (pause until 'drain') and half-close: when `from`
 * ends, `to` is ended after its buffered data, and the other direction keeps flowing.
 * `count` receives each chunk's length (bytes).
 */
function relay(from: net.Socket, to: net.Socket, count: (n: number) => void): void {
  from.on('data', (chunk: Buffer) => {
    count(chunk.length);
    if (!to.write(chunk)) from.pause();
  });
  linkEnds(from, to);
}

/** What both halves of a session share: `from` resumes when `to` drains, and its end ends `to` (half-close). */
function linkEnds(from: net.Socket, to: net.Socket): void {
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

/**
 * The server → client half of a plain TCP session, read with `onread` into a buffer of its
 * own: no Buffer allocated per chunk (and none of the GC work that follows on bulk
 * transfers). While a chunk's write to the client has not left (`writableLength` above 0:
 * queued, or partly written and referenced), the next read goes after it (`ReusedReadBuffer`).
 * Backpressure and half-close as `relay` (`linkEnds`).
 */
class BufferedReader extends ReusedReadBuffer {
  readonly #to: net.Socket;
  #from: net.Socket | null = null;
  #count: (n: number) => void = () => {};
  readonly onread: { buffer: () => Buffer; callback: (n: number) => boolean };

  constructor(to: net.Socket) {
    super();
    this.#to = to;
    this.onread = { buffer: () => this.readBuffer(), callback: (n) => this.#read(n) };
  }

  /** Starts relaying `from` (connected) into the client with backpressure; `count` gets each chunk's length. */
  start(from: net.Socket, count: (n: number) => void): void {
    this.#from = from;
    this.#count = count;
    linkEnds(from, this.#to);
  }

  #read(n: number): boolean {
    const from = this.#from;
    if (from === null) return false; // not relaying yet (cannot happen before 'connect')
    this.#count(n);
    const to = this.#to;
    const more = to.write(this.chunk(n));
    this.retained = to.writableLength > 0;
    if (!more) from.pause();
    return true;
  }
}

/**
 * Builds the listener factory for TCP frontends (F1): each accepted connection is bound to one server picked by the
 * backend's balancer, then bytes flow both ways with backpressure and half-close until
 * either side closes. Connect failures are retried once on another server; when no server
 * is available the connection is closed at once and counted (issue "Health checks" point 8).
 */
export function tcpListenerFactory(
  options: {
    persistence?: PersistenceManager;
    /** SO_REUSEPORT (`--reuse-port`, C5): several nodes on one machine share the port. */
    reusePort?: boolean;
  } = {},
): ListenerFactory {
  const persistence = options.persistence ?? new PersistenceManager();
  const reusePort = options.reusePort === true;
  return (spec, ctx) => tcpListener(spec, ctx, persistence, reusePort);
}

/** The tcp ListenerFactory with a persistence manager of its own (see `tcpListenerFactory`). */
export const createTcpListener: ListenerFactory = tcpListenerFactory();

function tcpListener(
  initial: FrontendSpec,
  ctx: ListenerContext,
  persistence: PersistenceManager,
  reusePort: boolean,
): ProtocolListener {
  let spec = initial;
  const sessions = new Set<TcpSession>();
  const { runtime, counters } = ctx;
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });

  /** Names why `session` ends (first cause wins) and counts it for the frontend and, when given, the server. */
  function terminate(session: TcpSession, reason: Termination, rt?: ServerRuntime): void {
    if (rt !== undefined) rt.terminations[reason]++;
    if (session.termination !== null) return;
    session.termination = reason;
    counters.terminations[reason]++;
  }

  function finish(session: TcpSession): void {
    if (session.closed) return;
    session.closed = true;
    sessions.delete(session);
    if (session.queued) session.queueBackend?.queue.cancel(session);
    counters.closed();
    if (session.rt) runtime.connectionClosed(session.rt, session);
    const log = ctx.accessLog;
    if (log !== undefined) {
      const c = session.client;
      log.write({
        at: new Date().toISOString(),
        kind: 'tcp',
        frontend: spec.name,
        client: session.clientAddress,
        backend: session.backendName,
        server: session.rt?.spec.name ?? null,
        bytesIn: c.bytesRead,
        bytesOut: c.bytesWritten,
        durationMs: Math.round((performance.now() - session.startedAt) * 10) / 10,
        ...(session.termination !== null ? { termination: session.termination } : {}),
        ...(session.retries > 0 ? { retries: session.retries } : {}),
      });
    }
  }

  /**
   * Connects the session to a server of `backend`. A retry (`attempt` 1) passes the server that
   * just failed as `exclude` and its failure as `failed`: when the balancer has no other
   * server to offer, the connection ends with that failure instead of trying the same server
   * again (issue 12: retries go to other servers).
   */
  function connect(
    session: TcpSession,
    backend: BackendRuntime,
    attempt: number,
    exclude?: ServerRuntime,
    failed?: Termination,
  ): void {
    session.backendName = backend.spec.name;
    const clientAddress = session.clientAddress;
    // P1: source-ip persistence keeps a client on its server; otherwise the balancer decides.
    const rt =
      backend.spec.persistence.type === 'source-ip'
        ? persistence.choose(backend, { clientAddress, exclude }, ctx.clock.now()).server
        : backend.balancer.pick({ clientAddress, exclude });
    if (!rt) {
      // every available server at its maxConnections: wait in the backend's queue (issue 15 point 4)
      const q = backend.spec.queue;
      if (exclude === undefined && backend.queueable(runtime.clock.now())) {
        session.queueBackend = backend;
        session.serve = (next) => connectTo(session, backend, next, attempt);
        session.expire = () => refuse(session, 'queue-timeout');
        if (backend.queue.offer(session, q.maxLength, q.timeoutMs)) return;
        refuse(session, 'queue-full');
        return;
      }
      backend.noServer++;
      refuse(session, 'no-server');
      return;
    }
    if (exclude !== undefined && rt === exclude && failed !== undefined) {
      backend.noServer++;
      terminate(session, failed);
      session.client.destroy();
      finish(session);
      return;
    }
    connectTo(session, backend, rt, attempt);
  }

  /** Ends `session` before it reached a server (no server, queue full or timed out). */
  function refuse(session: TcpSession, reason: Termination): void {
    counters.refused++;
    terminate(session, reason);
    session.client.destroy();
    finish(session);
  }

  /** Connects the session to `rt` (chosen by the balancer, or a slot freed for the queue). */
  function connectTo(session: TcpSession, backend: BackendRuntime, rt: ServerRuntime, attempt: number): void {
    if (session.closed) return;
    if (attempt > 0) session.retries++;
    const s = rt.spec;
    // T2: a tcp backend with TLS enabled re-encrypts to servers without SSL offload.
    // issue 15 point 3: a PROXY header first, so the server sees the client's address
    const pp = backend.spec.proxyProtocol;
    // the socket's own endpoints are read only when a header needs them (no getsockname per connection)
    const header = pp === null ? null : encodeProxyHeader(pp, (session.endpoints ??= socketEndpoints(session.client)));
    const secure = backendTrust.connect(runtime, rt, header);
    let upstream: net.Socket;
    let reader: BufferedReader | null = null;
    if (secure !== null) upstream = secure;
    else {
      // server → client bytes are read into a buffer of our own, reused while no write holds it
      reader = new BufferedReader(session.client);
      upstream = net.connect({
        host: s.address,
        port: s.port,
        allowHalfOpen: true,
        noDelay: true,
        onread: reader.onread,
      });
      if (header !== null) upstream.write(header);
      // no more reads: the buffer is recycled unless a client write still references it
      const r = reader;
      upstream.on('close', () => r.releaseReadBuffer());
    }
    session.server = upstream;
    session.rt = rt;
    runtime.connectionOpened(rt, session);
    let timedOut = false;
    const connectTimer = setTimeout(() => {
      timedOut = true;
      upstream.destroy(new Error('connect timeout'));
    }, backend.spec.connectTimeoutMs);
    let connected = false;
    upstream.once(secure === null ? 'connect' : 'secureConnect', () => {
      connected = true;
      clearTimeout(connectTimer);
      runtime.recordOutcome(rt, true);
      if (session.closed || session.client.destroyed) {
        upstream.destroy();
        return;
      }
      rt.requests++;
      backend.requests++;
      counters.requests++;
      if (session.retries > 0) {
        counters.terminations.retried++;
        session.termination ??= 'retried';
      }
      if (session.preamble !== null) {
        counters.bytesIn += session.preamble.length;
        rt.bytesOut += session.preamble.length;
        upstream.write(session.preamble);
        session.preamble = null;
      }
      const idle = spec.clientIdleTimeoutMs;
      if (idle > 0) {
        const idleOut = (): void => {
          terminate(session, 'client-timeout');
          session.destroy();
        };
        session.client.setTimeout(idle, idleOut);
        upstream.setTimeout(idle, idleOut);
      }
      relay(session.client, upstream, (n) => {
        counters.bytesIn += n;
        rt.bytesOut += n;
      });
      const countOut = (n: number): void => {
        counters.bytesOut += n;
        rt.bytesIn += n;
      };
      if (reader !== null) reader.start(upstream, countOut);
      else relay(upstream, session.client, countOut);
      session.client.resume();
    });
    upstream.on('error', () => {
      clearTimeout(connectTimer);
      if (!connected) {
        const reason = timedOut ? 'connect-timeout' : 'connect-refused';
        rt.failures++;
        rt.terminations[reason]++;
        runtime.recordOutcome(rt, false);
        runtime.connectionClosed(rt, session);
        session.rt = undefined;
        session.server = undefined;
        if (attempt === 0 && !session.client.destroyed) {
          connect(session, backend, 1, rt, reason);
          return;
        }
        backend.noServer++;
        terminate(session, reason);
        session.client.destroy();
        finish(session);
        return;
      }
      if (!session.closed) terminate(session, 'server-reset', rt);
      session.client.destroy();
    });
  }

  server.on('connection', (client: net.Socket) => {
    const current = spec;
    if (current.maxConnections > 0 && counters.activeConnections >= current.maxConnections) {
      counters.refused++;
      client.destroy();
      return;
    }
    counters.opened();
    counters.totalConnections++;
    const session = new TcpSession(client);
    if (ctx.accessLog !== undefined) session.startedAt = performance.now();
    sessions.add(session);
    client.on('error', () => {
      counters.clientErrors++;
      terminate(session, 'client-aborted');
      session.server?.destroy();
    });
    client.on('close', () => {
      session.server?.destroy();
      finish(session);
    });
    if (current.acceptProxyProtocol) {
      // issue 15 point 3: only trusted proxies, and each must open with a valid PROXY header
      const badHeader = (): void => {
        counters.refused++;
        counters.proxyProtocolRefused++;
        terminate(session, 'bad-request');
        client.destroy();
      };
      if (!isTrustedProxy(current, session.clientAddress)) {
        badHeader();
        return;
      }
      readProxyHeader(client, current.requestHeaderTimeoutMs, (info) => {
        if (info === null) {
          badHeader();
          return;
        }
        if (info.source !== null) {
          const src = info.source;
          session.clientAddress = unmap(src.sourceAddress);
          session.pick.clientAddress = session.clientAddress;
          session.endpoints = {
            sourceAddress: src.sourceAddress,
            sourcePort: src.sourcePort,
            destinationAddress: src.destinationAddress,
            destinationPort: src.destinationPort,
          };
        }
        route(current, session);
      });
      return;
    }
    route(current, session);
  });

  /** Picks the session's backend (by SNI with TLS passthrough) and connects it. */
  function route(current: FrontendSpec, session: TcpSession): void {
    const client = session.client;
    if (current.tlsPassthrough) {
      // T4: route by the ClientHello's SNI without decrypting; the bytes read are replayed.
      readClientHello(client, current.requestHeaderTimeoutMs, (hello, serverName) => {
        if (hello === null) {
          counters.refused++;
          terminate(session, 'bad-request');
          client.destroy();
          return;
        }
        session.preamble = hello;
        const target = matchSniRule(current.sniRules, serverName)?.backend ?? current.defaultBackend;
        const backend = target ? runtime.backends.get(target.id) : undefined;
        if (!backend) {
          counters.refused++;
          client.destroy();
          return;
        }
        connect(session, backend, 0);
      });
      return;
    }
    const backendSpec = current.defaultBackend;
    const backend = backendSpec ? runtime.backends.get(backendSpec.id) : undefined;
    if (!backend) {
      counters.refused++;
      client.destroy();
      return;
    }
    connect(session, backend, 0);
  }

  let stopped: Promise<void> | undefined;
  const stopAccepting = (): Promise<void> =>
    (stopped ??= new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      // close() frees the port at once but calls back only when every connection is gone.
      server.close();
      setImmediate(resolve);
    }));

  return {
    open: () =>
      listenFrontend(
        server,
        { host: spec.bindAddress, port: spec.port, frontendId: spec.id, reusePort },
        ctx.log,
        'tcp',
      ),
    replace(next) {
      spec = next;
    },
    stopAccepting,
    async close(drainMs) {
      const closing = stopAccepting();
      if (sessions.size > 0) {
        await new Promise<void>((resolve) => {
          const deadline = setTimeout(() => {
            clearInterval(check);
            for (const s of sessions) s.destroy();
            resolve();
          }, drainMs);
          const check = setInterval(() => {
            if (sessions.size === 0) {
              clearTimeout(deadline);
              clearInterval(check);
              resolve();
            }
          }, 50);
          deadline.unref();
          check.unref();
        });
      }
      await closing;
    },
  };
}
