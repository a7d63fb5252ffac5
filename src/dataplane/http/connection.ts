import type net from 'node:net';
import type { PickContext } from '../../balancer/types.ts';
import type { BackendSpec, FrontendSpec } from '../../config/snapshot.ts';
import type { BackendRuntime } from '../../runtime/runtime.ts';
import type { ServerRuntime } from '../../runtime/server-runtime.ts';
import { BackendTrust, backendTrust } from '../tls/backend.ts';
import type { ListenerContext } from '../types.ts';
import {
  BodyFramer,
  Framing,
  findHeadEnd,
  type HttpHead,
  HttpParseError,
  isHopByHop,
  MAX_REQUEST_HEAD,
  MAX_RESPONSE_HEAD,
  parseHead,
} from './parser.ts';
import { UpstreamConn, type UpstreamOwner, UpstreamPool } from './pool.ts';
import { reply } from './replies.ts';
import { balancerChooser, type ChooseRequest, route, type ServerChooser } from './route.ts';
import { serverAnswered } from './server-answer.ts';

/** How often deadlines are checked and the coarse clock refreshed (ms). */
const TICK_MS = 100;
/** Client bytes buffered beyond the current request (pipelining) before reading pauses. */
const MAX_PIPELINE_BUFFER = 64 * 1024;
/** Request body bytes kept to replay on a fresh connection when a reused one turns out stale. */
const MAX_RETAINED_BODY = 64 * 1024;
/** Below this, a response head and its first body bytes are copied into one Buffer (one write). */
const COALESCE_BYTES = 16 * 1024;

const pools = new WeakMap<object, UpstreamPool>();

/** The upstream pool shared by every HTTP frontend of one Runtime. */
export function poolFor(ctx: ListenerContext): UpstreamPool {
  let p = pools.get(ctx.runtime);
  if (!p) {
    pools.set(ctx.runtime, (p = new UpstreamPool(ctx.clock)));
    const runtime = ctx.runtime;
    p.connectTls = (rt) => backendTrust.connect(runtime, rt); // T2, T3
    p.wantsTls = (rt) => BackendTrust.usesTls(rt.backend, rt.spec);
  }
  return p;
}

/**
 * The per-frontend state every HTTP connection reads (plain or, later, TLS-terminated):
 * the current spec (swapped by `replace`), the context, the upstream pool, the server
 * chooser (persistence seam), the open connections and a coarse clock refreshed every
 * 100 ms that drives every deadline (header, idle, connect, response timeouts).
 */
export class HttpFrontend {
  spec: FrontendSpec;
  readonly ctx: ListenerContext;
  readonly pool: UpstreamPool;
  chooser: ServerChooser;
  readonly connections = new Set<HttpConnection>();
  /** Set by `close`: answers carry `Connection: close`, idle connections are closed. */
  closing = false;
  /** Coarse ms epoch (refreshed every tick). */
  now: number;
  #cancelTick: (() => void) | null = null;
  #onEmpty: (() => void) | null = null;

  constructor(
    spec: FrontendSpec,
    ctx: ListenerContext,
    options: { chooser?: ServerChooser; pool?: UpstreamPool } = {},
  ) {
    this.spec = spec;
    this.ctx = ctx;
    this.pool = options.pool ?? poolFor(ctx);
    this.chooser = options.chooser ?? balancerChooser;
    this.now = ctx.clock.now();
  }

  /** Starts the deadline ticker (idempotent). */
  start(): void {
    if (this.#cancelTick !== null) return;
    const tick = (): void => {
      this.now = this.ctx.clock.now();
      for (const c of this.connections) if (c.deadline !== 0 && this.now >= c.deadline) c.onTimeout();
      this.#cancelTick = this.ctx.clock.setTimeout(tick, TICK_MS);
    };
    this.#cancelTick = this.ctx.clock.setTimeout(tick, TICK_MS);
  }

  /** Stops the ticker. */
  stop(): void {
    this.#cancelTick?.();
    this.#cancelTick = null;
  }

  /**
   * Graceful end: idle keep-alive connections close now; in-flight exchanges finish (their
   * answers carry `Connection: close`) for at most `drainMs`, then whatever is left is
   * destroyed. Resolves when every connection is closed.
   */
  drain(drainMs: number): Promise<void> {
    this.closing = true;
    for (const c of this.connections) c.closeIfIdle();
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const cancel = this.ctx.clock.setTimeout(() => {
        for (const c of this.connections) c.destroy();
      }, drainMs);
      this.#onEmpty = () => {
        cancel();
        resolve();
      };
    });
  }

  /** @internal a connection closed. */
  forget(c: HttpConnection): void {
    if (!this.connections.delete(c)) return;
    this.ctx.counters.activeConnections--;
    if (this.connections.size === 0 && this.#onEmpty !== null) {
      const f = this.#onEmpty;
      this.#onEmpty = null;
      f();
    }
  }
}

/** Options of one served connection. */
export interface ServeOptions {
  /** The client connection arrived over TLS: `X-Forwarded-Proto: https`. */
  https?: boolean;
}

/**
 * Serves one accepted client connection (plain `net.Socket`, or a `tls.TLSSocket` after
 * its handshake) as HTTP/1.1 on `frontend` until it closes (F1, F4). Each request reads
 * `frontend.spec` when its head is complete, so a `replace` affects new requests on open
 * keep-alive connections while in-flight exchanges finish on their own spec and server.
 */
export function serveHttpConnection(
  socket: net.Socket,
  frontend: HttpFrontend,
  options: ServeOptions = {},
): HttpConnection {
  return new HttpConnection(socket, frontend, options.https === true);
}

// connection states
const S_HEAD = 0; // waiting for a request head
const S_CONNECT = 1; // head parsed, connecting to the server
const S_EXCHANGE = 2; // request going up and/or response coming down
const S_TUNNEL = 3; // after 101: raw bytes both ways
const S_CLOSED = 4;

function unmapV4(addr: string | undefined): string {
  if (addr === undefined) return '';
  return addr.startsWith('::ffff:') && addr.indexOf('.') > 0 ? addr.slice(7) : addr;
}

/**
 * One client connection: parses requests, picks a server per request, forwards the
 * request with its body (streamed, backpressure both ways) over a pooled keep-alive
 * connection, then forwards the response; requests are handled one at a time in order
 * (pipelined requests wait in the buffer). Registered with the server runtime for the
 * duration of each exchange (least-connections, drain cut at its deadline, S3).
 */
export class HttpConnection implements UpstreamOwner, ChooseRequest {
  readonly socket: net.Socket;
  readonly frontend: HttpFrontend;
  readonly https: boolean;
  readonly clientAddress: string;
  readonly pick: PickContext;
  /** ms epoch at which `onTimeout` fires; 0 = none. */
  deadline = 0;
  state = S_HEAD;
  head!: HttpHead;

  #buf: Buffer | null = null;
  /** The buffer holding the head being started (its bytes at [0, head.length)). */
  #bufHead: Buffer | null = null;
  #served = 0;
  #readPaused = false;
  #clientEnded = false;
  // per exchange
  #spec!: FrontendSpec;
  #bspec: BackendSpec | undefined;
  #brt: BackendRuntime | undefined;
  #rt: ServerRuntime | null = null;
  #up: UpstreamConn | null = null;
  #upPaused = false;
  /** The head sent to the server: rebuilt text, or a Buffer copy of the client's head plus X-Forwarded-* (fast path). */
  #headOut: string | Buffer = '';
  /** `X-Forwarded-For/Proto/Port` lines and the final CRLF, built once per connection (latin1 bytes). */
  #forwardedTail: Buffer | null = null;
  #pendingBody: Buffer | null = null;
  /** The current upstream connection had served an earlier request (stale-connection retry allowed). */
  #reused = false;
  #retained: Buffer[] | null = null;
  #retainedBytes = 0;
  #bodyLost = false;
  #retried = false;
  #attempts = 0;
  #reqDone = true;
  #keepAlive = true;
  #closeAfter = false;
  #upgrade = false;
  #resHeadDone = false;
  #resBuf: Buffer | null = null;
  #resReusable = false;
  #timeoutMs = 0;
  #sentAt = 0;
  readonly #reqFramer = new BodyFramer();
  readonly #resFramer = new BodyFramer();
  readonly #routeOut = { index: 0 };
  // access log (O2): only touched when the frontend's context has one
  #logPending = false;
  #logHead: HttpHead | undefined;
  #logAt = 0;
  #logBytes0 = 0;
  #logStatus = 0;

  constructor(socket: net.Socket, frontend: HttpFrontend, https: boolean) {
    this.socket = socket;
    this.frontend = frontend;
    this.https = https;
    this.clientAddress = unmapV4(socket.remoteAddress);
    this.pick = { clientAddress: this.clientAddress, exclude: undefined };
    this.#spec = frontend.spec;
    const counters = frontend.ctx.counters;
    counters.activeConnections++;
    counters.totalConnections++;
    frontend.connections.add(this);
    this.deadline = frontend.now + this.#spec.requestHeaderTimeoutMs;
    socket.on('data', (chunk: Buffer) => this.#onClientData(chunk));
    socket.on('end', () => this.#onClientEnd());
    socket.on('drain', () => this.#onClientDrain());
    socket.on('error', () => {});
    socket.on('close', () => this.#onClientClose());
  }

  /** Closeable (S3): a drain deadline cuts the exchange and the client connection. */
  destroy(): void {
    this.socket.destroy();
    this.#up?.destroy();
  }

  /** Closes the connection when no request is in progress (graceful stop). */
  closeIfIdle(): void {
    if (this.state === S_HEAD && this.#buf === null) this.#close();
  }

  // ---------------------------------------------------------------- client side

  #onClientData(chunk: Buffer): void {
    const counters = this.frontend.ctx.counters;
    counters.bytesIn += chunk.length;
    switch (this.state) {
      case S_HEAD:
        if (this.#buf === null) {
          this.#buf = chunk;
          if (this.#served > 0) this.deadline = this.frontend.now + this.frontend.spec.requestHeaderTimeoutMs;
        } else this.#buf = Buffer.concat([this.#buf, chunk]);
        this.#processBuffer();
        return;
      case S_EXCHANGE:
        if (!this.#reqDone) {
          this.deadline = this.frontend.now + this.#timeoutMs;
          this.#forwardRequestBody(chunk);
        } else this.#bufferPipelined(chunk);
        return;
      case S_CONNECT:
        if (!this.#reqDone) this.#collectBodyWhileConnecting(chunk);
        else this.#bufferPipelined(chunk);
        return;
      case S_TUNNEL: {
        this.deadline = this.frontend.now + this.#timeoutMs;
        const up = this.#up as UpstreamConn;
        (this.#rt as ServerRuntime).bytesOut += chunk.length;
        if (!up.socket.write(chunk)) this.#pauseRead();
        return;
      }
    }
  }

  #bufferPipelined(chunk: Buffer): void {
    this.#buf = this.#buf === null ? chunk : Buffer.concat([this.#buf, chunk]);
    if (this.#buf.length > MAX_PIPELINE_BUFFER) this.#pauseRead();
  }

  #pauseRead(): void {
    if (!this.#readPaused) {
      this.#readPaused = true;
      this.socket.pause();
    }
  }

  #resumeRead(): void {
    if (this.#readPaused) {
      this.#readPaused = false;
      this.socket.resume();
    }
  }

  #onClientDrain(): void {
    if (this.#upPaused) {
      this.#upPaused = false;
      this.#up?.socket.resume();
    }
  }

  #onClientEnd(): void {
    this.#clientEnded = true;
    switch (this.state) {
      case S_HEAD:
        this.#close();
        return;
      case S_CONNECT:
      case S_EXCHANGE:
        if (!this.#reqDone) this.destroy();
        else this.#closeAfter = true;
        return;
      case S_TUNNEL:
        this.#up?.socket.end();
        return;
    }
  }

  #onClientClose(): void {
    if (this.#logPending) this.#logEnd(true);
    this.state = S_CLOSED;
    this.deadline = 0;
    const up = this.#up;
    if (up !== null) {
      this.#up = null;
      up.owner = null;
      up.destroy();
    }
    if (this.#rt !== null) {
      this.frontend.ctx.runtime.connectionClosed(this.#rt, this);
      this.#rt = null;
    }
    this.frontend.forget(this);
  }

  /** Ends the client connection after what was written (FIN), then it closes. */
  #close(): void {
    if (this.state === S_CLOSED) return;
    this.state = S_CLOSED;
    this.deadline = 0;
    this.socket.end();
    // a client that never closes its side must not hold the socket forever
    this.deadline = this.frontend.now + 5000;
  }

  /** Our own answer (400, 408, 431, 501, 502, 503, 504); closes after it when `close`. */
  #answer(status: number, close: boolean): void {
    const counters = this.frontend.ctx.counters;
    const minor = this.head === undefined ? 1 : this.head.minor;
    const buf = reply(status, close, minor);
    counters.responses[(status / 100) | 0]!++;
    counters.bytesOut += buf.length;
    if (status !== 502 && status !== 504) counters.refused++;
    const logging = this.frontend.ctx.accessLog !== undefined;
    if (logging && !this.#logPending) this.#logBegin(undefined);
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(buf);
    if (logging) {
      this.#logStatus = status;
      this.#logEnd(false);
    }
    if (close) this.#close();
    else this.#served++;
  }

  /**
   * `redirectToHttps` (T1): 308 to the same host and target on the https twin's port. The
   * request is not forwarded; a request with a body closes the connection (its body is not read).
   */
  #redirectToHttps(head: HttpHead, target: string, port: number): void {
    const host = head.host ?? '';
    // Host without its port (RFC 9110 §7.2); a bracketed IPv6 literal keeps its brackets.
    const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.lastIndexOf(':');
    const name = end > 0 ? host.slice(0, end) : host;
    if (name === '' || !/^[A-Za-z0-9.\-_[\]:]+$/.test(name)) {
      this.#answer(400, true);
      return;
    }
    const hasBody = head.chunked || head.contentLength > 0;
    const close = hasBody || !this.#keepAlive;
    const location = `https://${name}${port === 443 ? '' : `:${port}`}${target}`;
    const buf = Buffer.from(
      `HTTP/1.1 308 Permanent Redirect\r\nLocation: ${location}\r\nContent-Length: 0\r\n${close ? 'Connection: close\r\n' : head.minor === 0 ? 'Connection: keep-alive\r\n' : ''}\r\n`,
      'latin1',
    );
    const counters = this.frontend.ctx.counters;
    counters.responses[3]!++;
    counters.bytesOut += buf.length;
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(buf);
    if (this.frontend.ctx.accessLog !== undefined) {
      if (!this.#logPending) this.#logBegin(undefined);
      this.#logStatus = 308;
      this.#logEnd(false);
    }
    if (close) this.#close();
    else this.#served++;
  }

  /** Access log (O2): an exchange starts (`head` undefined for a request refused before parsing). */
  #logBegin(head: HttpHead | undefined): void {
    this.#logPending = true;
    this.#logHead = head;
    this.#logAt = performance.now();
    this.#logBytes0 = this.socket.bytesWritten;
    this.#logStatus = 0;
  }

  /** Access log (O2): writes the record of the exchange that ends now. */
  #logEnd(aborted: boolean): void {
    this.#logPending = false;
    const log = this.frontend.ctx.accessLog;
    if (log === undefined) return;
    const head = this.#logHead;
    this.#logHead = undefined;
    const rt = this.#rt;
    log.write({
      at: new Date().toISOString(),
      kind: 'http',
      frontend: this.frontend.spec.name,
      client: this.clientAddress,
      method: head?.method ?? null,
      target: head?.target ?? null,
      host: head?.host ?? null,
      status: this.#logStatus,
      backend: head === undefined ? null : (this.#bspec?.name ?? null),
      server: rt === null ? null : rt.spec.name,
      bytesOut: this.socket.bytesWritten - this.#logBytes0,
      durationMs: Math.round((performance.now() - this.#logAt) * 10) / 10,
      ...(aborted ? { aborted: true } : {}),
    });
  }

  /** Parses and starts as many requests as the buffer holds, one at a time. */
  #processBuffer(): void {
    while (this.state === S_HEAD && this.#buf !== null) {
      const buf = this.#buf;
      let end: number;
      let head: HttpHead;
      try {
        end = findHeadEnd(buf, 0, buf.length, MAX_REQUEST_HEAD, 431);
        if (end === 0) return;
        head = parseHead(buf, 0, end, true);
      } catch (err) {
        this.#buf = null;
        this.#answer(err instanceof HttpParseError ? err.status : 400, true);
        return;
      }
      this.#buf = end === buf.length ? null : buf.subarray(end);
      this.#bufHead = buf;
      this.#startRequest(head);
      this.#bufHead = null;
    }
    if (this.state === S_HEAD && this.#buf === null) {
      this.deadline = this.frontend.now + this.frontend.spec.clientIdleTimeoutMs;
      if (this.frontend.closing || this.#clientEnded) this.#close();
    }
  }

  #startRequest(head: HttpHead): void {
    const frontend = this.frontend;
    const ctx = frontend.ctx;
    const spec = frontend.spec;
    this.#spec = spec;
    this.head = head;
    ctx.counters.requests++;
    if (ctx.accessLog !== undefined) this.#logBegin(head);
    this.#keepAlive = head.minor === 1 ? !head.connClose : head.connKeepAlive;
    this.#closeAfter = false;
    // request target (RFC 9112 §3.2): origin-form, absolute-form (host taken from it), asterisk for OPTIONS
    let target = head.target;
    let path = target;
    const c0 = target.charCodeAt(0);
    if (c0 === 47 /* / */) {
      const q = target.indexOf('?');
      if (q >= 0) path = target.slice(0, q);
    } else if (target === '*' && head.method === 'OPTIONS') {
      path = '*';
    } else {
      const lower = target.slice(0, 8).toLowerCase();
      const skip = lower.startsWith('http://') ? 7 : lower.startsWith('https://') ? 8 : 0;
      if (skip === 0 || head.method === 'CONNECT') {
        this.#answer(head.method === 'CONNECT' ? 501 : 400, true);
        return;
      }
      let slash = target.indexOf('/', skip);
      if (slash < 0) slash = target.length;
      const authority = target.slice(skip, slash);
      if (authority === '' || authority.includes('@')) {
        this.#answer(400, true);
        return;
      }
      head.host = authority;
      target = slash === target.length ? '/' : target.slice(slash);
      const q = target.indexOf('?');
      path = q >= 0 ? target.slice(0, q) : target;
    }
    if (head.method === 'CONNECT') {
      this.#answer(501, true);
      return;
    }
    if (spec.redirectHttpsPort !== undefined) {
      this.#redirectToHttps(head, target, spec.redirectHttpsPort);
      return;
    }
    // body framing (RFC 9112 §6.3)
    const framer = this.#reqFramer;
    if (head.chunked) framer.reset(Framing.chunked, 0);
    else framer.reset(head.contentLength > 0 ? Framing.length : Framing.none, head.contentLength);
    this.#pendingBody = null;
    const rest = this.#buf;
    if (!framer.done && rest !== null) {
      let n: number;
      try {
        n = framer.consume(rest, 0, rest.length);
      } catch {
        this.#buf = null;
        this.#answer(400, true);
        return;
      }
      if (n > 0) this.#pendingBody = n === rest.length ? rest : rest.subarray(0, n);
      this.#buf = n === rest.length ? null : rest.subarray(n);
    }
    this.#reqDone = framer.done;
    this.#upgrade = head.upgrade !== null && head.connUpgrade && head.minor === 1;
    // route (F4) and choose the server
    const bspec = route(spec, head, path, this.#routeOut);
    const hits = ctx.counters.ruleHits;
    const idx = this.#routeOut.index;
    while (hits.length <= idx) hits.push(0);
    hits[idx]!++;
    const brt = bspec === undefined ? undefined : ctx.runtime.backends.get(bspec.id);
    this.#bspec = bspec;
    this.#brt = brt;
    if (brt === undefined) {
      this.#answer(503, !this.#reqDone || !this.#keepAlive);
      return;
    }
    brt.requests++;
    this.pick.exclude = undefined;
    const rt = frontend.chooser.choose(brt, this);
    if (rt === undefined) {
      brt.noServer++;
      this.#answer(503, !this.#reqDone || !this.#keepAlive);
      return;
    }
    this.#headOut =
      !head.rewrite && head.minor === 1 && target === head.target && this.#bufHead !== null
        ? this.#copyRequestHead(this.#bufHead, head.length)
        : this.#buildRequestHead(head, target);
    this.#bufHead = null;
    this.#timeoutMs = (bspec as BackendSpec).responseTimeoutMs;
    this.#attempts = 1;
    this.#retried = false;
    this.#bodyLost = false;
    this.#retained = null;
    this.#retainedBytes = 0;
    this.#resHeadDone = false;
    this.#resBuf = null;
    this.#connectTo(rt, false);
  }

  /** Fast path: the client's head as received (it has nothing to remove) with our X-Forwarded-* lines. */
  #copyRequestHead(buf: Buffer, length: number): Buffer {
    let tail = this.#forwardedTail;
    if (tail === null) {
      tail = Buffer.from(
        `X-Forwarded-For: ${this.clientAddress}\r\nX-Forwarded-Proto: ${this.https ? 'https' : 'http'}\r\nX-Forwarded-Port: ${this.#spec.port}\r\n\r\n`,
        'latin1',
      );
      this.#forwardedTail = tail;
    }
    const keep = length - 2;
    const out = Buffer.allocUnsafe(keep + tail.length);
    buf.copy(out, 0, 0, keep);
    tail.copy(out, keep);
    return out;
  }

  #buildRequestHead(h: HttpHead, target: string): string {
    let s = `${h.method} ${target} HTTP/1.${h.minor}\r\n`;
    const lower = h.lower;
    const other = h.connOther;
    const absoluteHost = target !== h.target;
    let sawHost = false;
    for (let i = 0; i < lower.length; i++) {
      const l = lower[i] as string;
      if (isHopByHop(l) || l.startsWith('x-forwarded-')) continue;
      if (other?.includes(l)) continue;
      if (l === 'host') {
        sawHost = true;
        if (absoluteHost) {
          s += `Host: ${h.host}\r\n`;
          continue;
        }
      }
      s += `${h.names[i]}: ${h.values[i]}\r\n`;
    }
    if (!sawHost && h.host !== null) s += `Host: ${h.host}\r\n`;
    if (h.chunked) s += 'Transfer-Encoding: chunked\r\n';
    else if (h.contentLength >= 0) s += `Content-Length: ${h.contentLength}\r\n`;
    if (this.#upgrade) s += `Connection: Upgrade\r\nUpgrade: ${h.upgrade}\r\n`;
    else if (h.minor === 0) s += 'Connection: keep-alive\r\n';
    return `${s}X-Forwarded-For: ${this.clientAddress}\r\nX-Forwarded-Proto: ${this.https ? 'https' : 'http'}\r\nX-Forwarded-Port: ${this.#spec.port}\r\n\r\n`;
  }

  #collectBodyWhileConnecting(chunk: Buffer): void {
    let n: number;
    try {
      n = this.#reqFramer.consume(chunk, 0, chunk.length);
    } catch {
      this.#badBodyFromClient();
      return;
    }
    if (n > 0) {
      const part = n === chunk.length ? chunk : chunk.subarray(0, n);
      this.#pendingBody = this.#pendingBody === null ? part : Buffer.concat([this.#pendingBody, part]);
    }
    if (this.#reqFramer.done) {
      this.#reqDone = true;
      if (n < chunk.length) this.#bufferPipelined(chunk.subarray(n));
    }
  }

  #forwardRequestBody(chunk: Buffer): void {
    let n: number;
    try {
      n = this.#reqFramer.consume(chunk, 0, chunk.length);
    } catch {
      this.#badBodyFromClient();
      return;
    }
    const up = this.#up as UpstreamConn;
    let ok = true;
    if (n > 0) {
      const part = n === chunk.length ? chunk : chunk.subarray(0, n);
      (this.#rt as ServerRuntime).bytesOut += n;
      this.#retain(part);
      ok = up.socket.write(part);
    }
    if (this.#reqFramer.done) {
      this.#reqDone = true;
      if (n < chunk.length) this.#bufferPipelined(chunk.subarray(n));
    }
    if (!ok) this.#pauseRead();
  }

  #retain(part: Buffer): void {
    if (this.#retained === null) return;
    this.#retainedBytes += part.length;
    if (this.#retainedBytes > MAX_RETAINED_BODY) {
      this.#retained = null;
      this.#bodyLost = true;
    } else this.#retained.push(part);
  }

  /** An invalid chunk from the client after the head went up: 400 if nothing was answered yet, then close. */
  #badBodyFromClient(): void {
    this.#dropUpstream(false);
    this.#releaseServer();
    if (!this.#resHeadDone) this.#answer(400, true);
    else this.socket.destroy();
  }

  // ---------------------------------------------------------------- upstream side

  #connectTo(rt: ServerRuntime, fresh: boolean): void {
    const frontend = this.frontend;
    this.#rt = rt;
    frontend.ctx.runtime.connectionOpened(rt, this);
    const up = fresh ? undefined : frontend.pool.acquire(rt);
    if (up !== undefined) {
      up.owner = this;
      this.#up = up;
      this.#sendRequest();
      return;
    }
    this.state = S_CONNECT;
    this.deadline = frontend.now + (this.#bspec as BackendSpec).connectTimeoutMs;
    if (!this.#reqDone) this.#pauseRead();
    this.#up = new UpstreamConn(rt, frontend.pool, this);
  }

  onUpstreamConnect(u: UpstreamConn): void {
    if (u !== this.#up || this.state !== S_CONNECT) return;
    this.#sendRequest();
  }

  #sendRequest(): void {
    const up = this.#up as UpstreamConn;
    const rt = this.#rt as ServerRuntime;
    this.state = S_EXCHANGE;
    this.deadline = this.frontend.now + this.#timeoutMs;
    const reused = up.served > 0;
    up.served++;
    if (!this.#retried) {
      rt.requests++;
      this.#sentAt = performance.now();
    }
    const s = up.socket;
    let bytes = this.#headOut.length;
    this.#reused = reused;
    if (this.#retried) {
      // replay on a fresh connection: head, the body bytes already sent, then what arrived meanwhile
      s.cork();
      s.write(this.#headOut, 'latin1');
      for (const b of this.#retained ?? []) {
        s.write(b);
        bytes += b.length;
      }
      this.#retained = null;
      if (this.#pendingBody !== null) {
        s.write(this.#pendingBody);
        bytes += this.#pendingBody.length;
        this.#pendingBody = null;
      }
      s.uncork();
    } else {
      const body = this.#pendingBody;
      this.#pendingBody = null;
      this.#retained = reused ? [] : null;
      this.#retainedBytes = 0;
      if (body !== null) {
        s.cork();
        s.write(this.#headOut, 'latin1');
        s.write(body);
        s.uncork();
        bytes += body.length;
        if (this.#retained !== null) {
          this.#retained.push(body);
          this.#retainedBytes = body.length;
        }
      } else s.write(this.#headOut, 'latin1');
    }
    rt.bytesOut += bytes;
    if (!this.#reqDone) this.#resumeRead();
  }

  onUpstreamDrain(u: UpstreamConn): void {
    if (u === this.#up) this.#resumeRead();
  }

  onUpstreamData(u: UpstreamConn, chunk: Buffer): void {
    if (u !== this.#up) return;
    const rt = this.#rt as ServerRuntime;
    rt.bytesIn += chunk.length;
    this.deadline = this.frontend.now + this.#timeoutMs;
    if (this.state === S_TUNNEL) {
      this.frontend.ctx.counters.bytesOut += chunk.length;
      if (!this.socket.write(chunk)) this.#pauseUpstream();
      return;
    }
    if (this.#resHeadDone) {
      this.#forwardResponseBody(chunk, 0);
      return;
    }
    let data = this.#resBuf === null ? chunk : Buffer.concat([this.#resBuf, chunk]);
    this.#retained = null;
    for (;;) {
      let end: number;
      let rh: HttpHead;
      try {
        end = findHeadEnd(data, 0, data.length, MAX_RESPONSE_HEAD, 502);
        if (end === 0) {
          this.#resBuf = data;
          return;
        }
        rh = parseHead(data, 0, end, false);
      } catch {
        this.#badResponse();
        return;
      }
      this.#resBuf = null;
      if (rh.status >= 200) {
        this.#onResponseHead(rh, data, end);
        return;
      }
      if (rh.status === 101) {
        if (!this.#upgrade) {
          this.#badResponse();
          return;
        }
        this.#startTunnel(rh, data, end);
        return;
      }
      // 1xx interim answers (100 Continue, 103 Early Hints) go to HTTP/1.1 clients as they are
      if (this.head.minor === 1) {
        const interim = this.#buildResponseHead(rh, false, '');
        this.frontend.ctx.counters.bytesOut += interim.length;
        this.socket.write(interim, 'latin1');
      }
      if (end === data.length) return;
      data = data.subarray(end);
    }
  }

  #onResponseHead(rh: HttpHead, data: Buffer, end: number): void {
    const frontend = this.frontend;
    const counters = frontend.ctx.counters;
    const rt = this.#rt as ServerRuntime;
    const status = rh.status;
    this.#logStatus = status;
    serverAnswered(frontend.ctx.runtime, counters, rt, status, performance.now() - this.#sentAt);
    // response framing (RFC 9112 §6.3)
    const framer = this.#resFramer;
    if (this.head.method === 'HEAD' || status === 204 || status === 304) framer.reset(Framing.none, 0);
    else if (rh.chunked) framer.reset(Framing.chunked, 0);
    else if (rh.transferEncoding !== null) framer.reset(Framing.close, 0);
    else if (rh.contentLength >= 0) framer.reset(Framing.length, rh.contentLength);
    else framer.reset(Framing.close, 0);
    this.#resReusable = (rh.minor === 1 ? !rh.connClose : rh.connKeepAlive) && framer.mode !== Framing.close;
    const closeClient =
      !this.#keepAlive || framer.mode === Framing.close || frontend.closing || this.#closeAfter || this.#clientEnded;
    if (closeClient) this.#closeAfter = true;
    const extra = frontend.chooser.responseHeaders(this.#brt as BackendRuntime, rt, this, status, rh);
    this.#resHeadDone = true;
    if (!rh.rewrite && rh.minor === 1 && !closeClient && extra === '' && this.head.minor === 1) {
      // fast path: nothing to change in the head → forward the server's bytes as they are
      let stop = end;
      if (!framer.done) {
        try {
          stop = framer.consume(data, end, data.length);
        } catch {
          this.#badResponse();
          return;
        }
      }
      if (stop < data.length) this.#resReusable = false;
      counters.bytesOut += stop;
      const ok = this.socket.write(stop === data.length ? data : data.subarray(0, stop));
      if (framer.done) this.#finishExchange();
      else if (!ok) this.#pauseUpstream();
      return;
    }
    const headStr = this.#buildResponseHead(rh, closeClient, extra);
    let stop = end;
    if (!framer.done && end < data.length) {
      try {
        stop = framer.consume(data, end, data.length);
      } catch {
        this.#resReusable = false;
        stop = data.length;
        this.#closeAfter = true;
      }
    }
    if (stop < data.length) this.#resReusable = false; // bytes after the response: the connection is out of sync
    const bodyLen = stop - end;
    const headLen = headStr.length;
    let ok: boolean;
    if (bodyLen === 0) ok = this.socket.write(headStr, 'latin1');
    else if (bodyLen <= COALESCE_BYTES) {
      const out = Buffer.allocUnsafe(headLen + bodyLen);
      out.write(headStr, 0, headLen, 'latin1');
      data.copy(out, headLen, end, stop);
      ok = this.socket.write(out);
    } else {
      this.socket.cork();
      this.socket.write(headStr, 'latin1');
      ok = this.socket.write(data.subarray(end, stop));
      this.socket.uncork();
    }
    counters.bytesOut += headLen + bodyLen;
    if (framer.done) this.#finishExchange();
    else if (!ok) this.#pauseUpstream();
  }

  #buildResponseHead(rh: HttpHead, close: boolean, extra: string): string {
    let s = `HTTP/1.1 ${rh.status} ${rh.reason}\r\n`;
    const lower = rh.lower;
    const other = rh.connOther;
    for (let i = 0; i < lower.length; i++) {
      const l = lower[i] as string;
      if (isHopByHop(l)) continue;
      if (other?.includes(l)) continue;
      s += `${rh.names[i]}: ${rh.values[i]}\r\n`;
    }
    if (rh.transferEncoding !== null) s += `Transfer-Encoding: ${rh.transferEncoding}\r\n`;
    else if (rh.contentLength >= 0) s += `Content-Length: ${rh.contentLength}\r\n`;
    if (rh.status === 101) s += `Connection: Upgrade\r\nUpgrade: ${rh.upgrade ?? this.head.upgrade}\r\n`;
    else if (close) s += 'Connection: close\r\n';
    else if (this.head.minor === 0 && rh.status >= 200) s += 'Connection: keep-alive\r\n';
    return `${s}${extra}\r\n`;
  }

  /** Forwards body bytes `chunk[start, …)` up to the end of the response. */
  #forwardResponseBody(chunk: Buffer, start: number): void {
    const framer = this.#resFramer;
    let stop: number;
    try {
      stop = framer.consume(chunk, start, chunk.length);
    } catch {
      // a server breaking its own framing: the client gets what was sent, then the connection closes
      this.frontend.ctx.runtime.recordOutcome(this.#rt as ServerRuntime, false);
      this.destroy();
      return;
    }
    if (stop < chunk.length) this.#resReusable = false;
    const n = stop - start;
    let ok = true;
    if (n > 0) {
      this.frontend.ctx.counters.bytesOut += n;
      ok = this.socket.write(n === chunk.length ? chunk : chunk.subarray(start, stop));
    }
    if (framer.done) this.#finishExchange();
    else if (!ok) this.#pauseUpstream();
  }

  #pauseUpstream(): void {
    if (!this.#upPaused && this.#up !== null) {
      this.#upPaused = true;
      this.#up.socket.pause();
    }
  }

  #startTunnel(rh: HttpHead, data: Buffer, end: number): void {
    const counters = this.frontend.ctx.counters;
    const rt = this.#rt as ServerRuntime;
    rt.countResponse(101);
    counters.responses[1]!++;
    this.#logStatus = 101;
    if (this.#logPending) this.#logEnd(false);
    this.frontend.ctx.runtime.recordOutcome(rt, true);
    this.state = S_TUNNEL;
    this.#resHeadDone = true;
    this.#timeoutMs = Math.max(this.#spec.clientIdleTimeoutMs, this.#timeoutMs);
    const headStr = this.#buildResponseHead(rh, false, '');
    this.socket.write(headStr, 'latin1');
    counters.bytesOut += headStr.length;
    if (end < data.length) {
      counters.bytesOut += data.length - end;
      this.socket.write(data.subarray(end));
    }
    const pending = this.#buf;
    this.#buf = null;
    const up = this.#up as UpstreamConn;
    if (pending !== null) {
      rt.bytesOut += pending.length;
      up.socket.write(pending);
    }
    this.#resumeRead();
    if (this.#clientEnded) up.socket.end();
  }

  onUpstreamEnd(u: UpstreamConn): void {
    if (u !== this.#up) return;
    if (this.state === S_TUNNEL) {
      this.socket.end();
      return;
    }
    if (this.#resHeadDone && this.#resFramer.mode === Framing.close) {
      this.#resFramer.endOfStream();
      this.#resReusable = false;
      this.#finishExchange();
      return;
    }
    this.#upstreamFailed();
  }

  onUpstreamClose(u: UpstreamConn): void {
    if (u !== this.#up) return;
    if (this.state === S_TUNNEL) {
      this.#up = null;
      this.socket.end();
      this.socket.destroySoon();
      return;
    }
    this.#upstreamFailed();
  }

  /** The server connection failed or closed before the exchange completed. */
  #upstreamFailed(): void {
    const ctx = this.frontend.ctx;
    const rt = this.#rt as ServerRuntime;
    const wasConnecting = this.state === S_CONNECT;
    const reused = this.#reused && !wasConnecting;
    this.#dropUpstream(false);
    if (this.socket.destroyed) {
      this.#releaseServer();
      return;
    }
    if (wasConnecting) {
      // connect refused / reset / timed out before anything was sent: redispatch once (HAProxy `option redispatch`)
      rt.failures++;
      ctx.runtime.recordOutcome(rt, false);
      this.#releaseServer();
      if (this.#attempts < 2 && this.#brt !== undefined) {
        this.#attempts++;
        this.pick.exclude = rt;
        const next = this.frontend.chooser.choose(this.#brt, this);
        this.pick.exclude = undefined;
        if (next !== undefined && next !== rt) {
          this.#connectTo(next, true);
          return;
        }
      }
      this.#answer(502, !this.#reqDone || !this.#keepAlive);
      this.#afterLocalAnswer();
      return;
    }
    if (!this.#resHeadDone && this.#resBuf === null) {
      // nothing came back: a stale keep-alive connection closed under us → retry once on a fresh one
      if (reused && !this.#retried && !this.#bodyLost) {
        this.#retried = true;
        const fresh = this.frontend;
        this.state = S_CONNECT;
        this.deadline = fresh.now + (this.#bspec as BackendSpec).connectTimeoutMs;
        this.#pauseRead();
        this.#up = new UpstreamConn(rt, fresh.pool, this);
        return;
      }
    }
    rt.failures++;
    ctx.runtime.recordOutcome(rt, false);
    this.#releaseServer();
    if (!this.#resHeadDone) {
      this.#answer(502, true);
      return;
    }
    // truncated response: the client sees the connection close
    this.socket.destroy();
  }

  #badResponse(): void {
    const rt = this.#rt as ServerRuntime;
    rt.failures++;
    this.frontend.ctx.runtime.recordOutcome(rt, false);
    this.#dropUpstream(false);
    this.#releaseServer();
    this.#answer(502, true);
  }

  /** Detaches and closes the current upstream connection (or returns it to the pool when `reuse`). */
  #dropUpstream(reuse: boolean): void {
    const up = this.#up;
    if (up === null) return;
    this.#up = null;
    if (this.#upPaused) {
      this.#upPaused = false;
      up.socket.resume();
    }
    if (reuse) this.frontend.pool.release(up, this.frontend.now);
    else {
      up.owner = null;
      up.destroy();
    }
  }

  #releaseServer(): void {
    const rt = this.#rt;
    if (rt === null) return;
    this.#rt = null;
    this.frontend.ctx.runtime.connectionClosed(rt, this);
  }

  /** After a local answer that keeps the connection: continue with pipelined requests. */
  #afterLocalAnswer(): void {
    if (this.state === S_CLOSED) return;
    this.state = S_HEAD;
    this.#resumeRead();
    this.#processBuffer();
  }

  #finishExchange(): void {
    if (this.#logPending) this.#logEnd(false);
    const reuse = this.#resReusable && this.#reqDone;
    if (!this.#reqDone) this.#closeAfter = true;
    this.#dropUpstream(reuse);
    this.#releaseServer();
    this.#served++;
    this.#retained = null;
    if (this.#closeAfter) {
      this.#close();
      return;
    }
    this.state = S_HEAD;
    this.deadline = this.frontend.now + this.frontend.spec.clientIdleTimeoutMs;
    this.#resumeRead();
    if (this.#buf !== null) {
      this.deadline = this.frontend.now + this.frontend.spec.requestHeaderTimeoutMs;
      this.#processBuffer();
    } else if (this.frontend.closing) this.#close();
  }

  /** A deadline passed (header, idle, connect, response or tunnel timeout). */
  onTimeout(): void {
    this.deadline = 0;
    switch (this.state) {
      case S_HEAD:
        if (this.#buf !== null || this.#served === 0) this.#answer(408, true);
        else this.#close();
        return;
      case S_CONNECT: {
        const up = this.#up;
        if (up !== null) up.errorCode = 'ETIMEDOUT';
        this.#upstreamFailed(); // same as a refused connect: redispatch once, else 502
        return;
      }
      case S_EXCHANGE: {
        const rt = this.#rt as ServerRuntime;
        rt.failures++;
        this.frontend.ctx.runtime.recordOutcome(rt, false);
        this.#dropUpstream(false);
        this.#releaseServer();
        if (!this.#resHeadDone) this.#answer(504, true);
        else this.socket.destroy();
        return;
      }
      default:
        this.destroy();
    }
  }
}
