import type net from 'node:net';
import type { PickContext } from '../../balancer/types.ts';
import type { BackendSpec, FrontendSpec } from '../../config/snapshot.ts';
import type { QueueWaiter } from '../../runtime/queue.ts';
import type { BackendRuntime } from '../../runtime/runtime.ts';
import type { Closeable, ServerRuntime } from '../../runtime/server-runtime.ts';
import type { Termination } from '../../runtime/terminations.ts';
import { type ClientEndpoints, encodeProxyHeader, socketEndpoints } from '../proxy-protocol.ts';
import type { ListenerContext } from '../types.ts';
import { BodyFramer, Framing, findHeadEnd, type HttpHead, MAX_RESPONSE_HEAD, NO_HEAD, parseHead } from './parser.ts';
import { UpstreamConn, type UpstreamOwner, type UpstreamPool } from './pool.ts';
import type { TargetOut } from './request-target.ts';
import { type ChooseRequest, route, type ServerChooser } from './route.ts';
import { serverAnswered } from './server-answer.ts';

/**
 * One HTTP exchange, protocol-neutral (issue 12 point 1; HAProxy's HTTP analyser over its
 * muxes, Pingora's phase list over `proxy_h1`/`proxy_h2`): the decisions about a request are
 * made here once for HTTP/1.1 and HTTP/2 clients — route (F4), choose the server (balancer,
 * persistence), connect over the shared keep-alive pool, retry or redispatch, answer by
 * ourselves (400/408/413/502/503/504), parse and frame the server's HTTP/1.1 answer, book the
 * outcome (counters O1, passive health H7, least-response-time A2), name the termination
 * reason and write the access-log line (O2).
 *
 * The client side is an `ExchangeClient`: `connection.ts` (HTTP/1.1 framing and its state
 * machine) or `../http2/stream.ts` (an HTTP/2 stream adapter). It hands over the request head
 * already encoded for the server (`headOut`, built with `forward-headers.ts`) and the request
 * body as wire bytes; it receives the answer as parsed head plus raw body slices.
 *
 * Retries (issue 12 §3): a request no server has seen (connect refused, reset, timed out) is
 * sent to another server, skipping those that just failed, up to the backend's `retries`
 * (default 2) and within a retry budget (20 % of requests, at least 10 in reserve, Finagle's
 * RetryBudget); so is an idempotent request (RFC 9110 §9.2.2) whose server closed before any
 * response byte, while its body is replayable (≤ 64 KiB). A reused keep-alive connection that
 * turns out closed is retried once on a fresh connection to the same server, not counted.
 *
 * Limits and queue (issue 15 point 4): a server at its `maxConnections` is not picked; when
 * every available server is at its limit and the backend has a queue, the exchange waits in
 * it (`X_QUEUED`, the request body not read) until a server frees a slot (`serve`), or is
 * answered 503 with `queue-full` / `queue-timeout`. Each request (HTTP/2: each stream)
 * counts once against the limit from connect to the end of its answer.
 */

/** What the exchange needs from the client side (one implementation per front protocol). */
export interface ExchangeClient {
  /** The server's final head (status ≥ 200) and the body bytes `data[end, stop)` that came with it; false = pushback. */
  responseHead(x: Exchange, rh: HttpHead, data: Buffer, end: number, stop: number, extra: string): boolean;
  /** Response body bytes `data[start, stop)` (raw HTTP/1.1 framing of the server); false = pushback. */
  responseBody(x: Exchange, data: Buffer, start: number, stop: number): boolean;
  /** A 1xx interim head other than 101. */
  interim(x: Exchange, rh: HttpHead): void;
  /** A 101 that matches the requested upgrade: become a tunnel; `data[end, …)` are the first tunnel bytes. */
  tunnel(x: Exchange, rh: HttpHead, data: Buffer, end: number): void;
  /** Tunnel bytes from the server; false = pushback. */
  tunnelData(x: Exchange, chunk: Buffer): boolean;
  /** The server ended (`end`) or closed (`!end`) the tunnel. */
  tunnelEnd(x: Exchange, end: boolean): void;
  /** The answer is complete. */
  done(x: Exchange): void;
  /** The exchange ended (after `done` or `answer`) and has finished its own bookkeeping: the client may release it. */
  settled(x: Exchange): void;
  /** Our own answer (`close`: the exchange cannot leave the connection in a known state); bytes written. */
  answer(x: Exchange, status: number, close: boolean): number;
  /** The answer started but cannot finish: end the client side abruptly. */
  cut(x: Exchange): void;
  /** Stop / resume reading the request body. */
  pauseRequest(): void;
  resumeRequest(): void;
  /** Bytes written to the client so far (access log). */
  bytesWritten(): number;
  /** True when every byte handed to the client side has left it (no write references a Buffer of ours). */
  flushed(): boolean;
  /** Drain cut (S3): close the client side now. */
  destroy(): void;
}

// states
const X_IDLE = 0;
const X_CONNECT = 1;
const X_SENDING = 2; // request going up and/or answer coming down
const X_TUNNEL = 3;
const X_DONE = 4;
const X_QUEUED = 5; // waiting in the backend's queue for a server slot

/** Request body bytes kept to replay on another connection (retry). */
const MAX_RETAINED_BODY = 64 * 1024;

/** Retry budget per backend runtime (Finagle's RetryBudget): deposits per request, withdrawals per retry. */
const budgets = new WeakMap<BackendRuntime, { tokens: number }>();
const BUDGET_RESERVE = 10;
const BUDGET_PER_REQUEST = 0.2;
function budgetOf(brt: BackendRuntime): { tokens: number } {
  let b = budgets.get(brt);
  if (b === undefined) budgets.set(brt, (b = { tokens: BUDGET_RESERVE }));
  return b;
}

function idempotent(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'TRACE':
    case 'PUT':
    case 'DELETE':
      return true;
  }
  return false;
}

/** True when the comma-separated `offered` Upgrade list of a 101 names `asked` (case-insensitive, RFC 9110 §7.8). */
export function upgradeMatches(offered: string | null, asked: string): boolean {
  if (offered === null) return false;
  for (const part of offered.split(',')) if (part.trim().toLowerCase() === asked) return true;
  return false;
}

/**
 * What an exchange reads from its frontend: the coarse clock (`now`, ms epoch), the listener
 * context, the shared upstream pool and the server chooser. `frontend.ts`'s `HttpFrontend`
 * provides it; it is declared here so that the frontend (which keeps spare exchanges) and the
 * exchange do not import each other.
 */
export interface ExchangeFrontend {
  readonly now: number;
  readonly ctx: ListenerContext;
  readonly pool: UpstreamPool;
  readonly chooser: ServerChooser;
}

/**
 * One request from start to end, reusable (an HTTP/1.1 connection keeps one for its
 * requests; each HTTP/2 stream has its own). Drive it with `begin` → `dispatch` → set
 * `headOut` → `requestBody`* → `requestEnd` / `connect`, or `answer` for our own answers.
 */
export class Exchange implements UpstreamOwner, ChooseRequest, Closeable, QueueWaiter {
  readonly frontend: ExchangeFrontend;
  /** The client side (an HTTP/1.1 exchange moves between connections: `attach`). */
  client: ExchangeClient;
  clientAddress: string;
  readonly pick: PickContext;
  /** `http/1.1` or `h2` (access log). */
  readonly protocol: string;
  /** The client connection is TLS (persistence: the inserted cookie gets `Secure`). */
  https: boolean;
  /** HTTP/1.1 request body framer and target result, kept with the exchange (created by the client side). */
  reqFramer: BodyFramer | null = null;
  tout: TargetOut | null = null;
  /** The request head (undefined before one was parsed). */
  head!: HttpHead;
  /** ms epoch on the frontend's coarse clock; 0 = none. */
  deadline = 0;
  /** The request head for the server (HTTP/1.1 text or bytes), set by the client side before `connect`. */
  headOut: string | Buffer = '';
  /** The lower-case Upgrade protocol asked for and allowed, or null. */
  upgrade: string | null = null;
  /** The request target after normalisation (access log). */
  target: string | null = null;
  /** The response framing (read by the client side for its connection decisions). */
  readonly resFramer = new BodyFramer();
  /** True when the request body is complete. */
  reqDone = true;
  state = X_IDLE;
  /** Why it ended other than normally (first cause wins), null = normally. */
  termination: Termination | null = null;
  /** Attempts on other servers. */
  retries = 0;
  spec!: FrontendSpec;
  bspec: BackendSpec | undefined;
  brt: BackendRuntime | undefined;
  rt: ServerRuntime | null = null;
  // QueueWaiter (set by the backend's queue)
  queuedAt = 0;
  queueDeadline = 0;
  queued = false;

  /** The client connection's endpoints for a PROXY header to servers (issue 15 point 3), set by the client side. */
  proxyEndpoints: ClientEndpoints | null = null;
  /**
   * The client socket whose own endpoints a PROXY header describes when `proxyEndpoints` is
   * null: read on first use only (a `getsockname` per connection otherwise).
   */
  proxySocket: net.Socket | null = null;
  #up: UpstreamConn | null = null;
  #upPaused = false;
  #pending: Buffer[] | null = null;
  #sent: Buffer[] | null = null;
  #sentBytes = 0;
  #bodyLost = false;
  #bodyBytes = 0;
  #bodyStartedAt = 0;
  #lastBodyAt = 0;
  #reused = false;
  #staleRetried = false;
  #failed: ServerRuntime[] = [];
  #counted: ServerRuntime | null = null;
  #resHeadDone = false;
  #resBuf: Buffer | null = null;
  #resReusable = false;
  #sentAt = 0;
  readonly #routeOut = { index: 0 };
  // access log
  #logging = false;
  #logAt = 0;
  #logBytes0 = 0;
  #status = 0;
  #hadHead = false;

  constructor(
    frontend: ExchangeFrontend,
    client: ExchangeClient,
    clientAddress: string,
    protocol: string,
    https: boolean,
  ) {
    this.frontend = frontend;
    this.https = https;
    this.client = client;
    this.clientAddress = clientAddress;
    this.pick = { clientAddress, exclude: undefined };
    this.protocol = protocol;
  }

  /** True while a server answer is expected or streaming (not idle, not done). */
  get active(): boolean {
    return this.state === X_CONNECT || this.state === X_SENDING || this.state === X_QUEUED;
  }

  /** True when no request is in progress (before the first, or after the end of the last): it may be released. */
  get finished(): boolean {
    return this.state === X_DONE || this.state === X_IDLE;
  }

  /** Binds a finished exchange to another client connection (HTTP/1.1 spares, `release`). */
  attach(client: ExchangeClient, clientAddress: string, https: boolean): void {
    this.client = client;
    this.clientAddress = clientAddress;
    this.pick.clientAddress = clientAddress;
    this.https = https;
    this.proxyEndpoints = null;
    this.proxySocket = null;
  }

  /**
   * Drops what a finished exchange holds of its last request (head, bytes for the server,
   * retained body, server), so an idle connection keeps none of it; `attach` and `begin`
   * make it usable again.
   */
  release(): void {
    this.head = NO_HEAD;
    this.#hadHead = false;
    this.headOut = '';
    this.target = null;
    this.upgrade = null;
    this.#pending = null;
    this.#sent = null;
    this.#resBuf = null;
    this.#failed.length = 0;
    this.#counted = null;
    this.bspec = undefined;
    this.brt = undefined;
    this.rt = null;
    this.pick.exclude = undefined;
    this.proxyEndpoints = null;
    this.proxySocket = null;
  }

  /** True once the server's final head was received. */
  get responseStarted(): boolean {
    return this.#resHeadDone;
  }

  /** True when the server connection may be reused after this exchange. */
  get reusable(): boolean {
    return this.#resReusable;
  }

  /** Starts a new exchange on `spec` for `head` (undefined: refused before a head was parsed). */
  begin(spec: FrontendSpec, head: HttpHead | undefined): void {
    this.spec = spec;
    if (head !== undefined) this.head = head;
    this.state = X_IDLE;
    this.deadline = 0;
    this.termination = null;
    this.retries = 0;
    this.bspec = undefined;
    this.brt = undefined;
    this.rt = null;
    this.headOut = '';
    this.upgrade = null;
    this.target = head === undefined ? null : head.target;
    this.reqDone = true;
    this.#pending = null;
    this.#sent = [];
    this.#sentBytes = 0;
    this.#bodyLost = false;
    this.#bodyBytes = 0;
    this.#bodyStartedAt = this.frontend.now;
    this.#lastBodyAt = this.frontend.now;
    this.#staleRetried = false;
    this.#failed.length = 0;
    this.#counted = null;
    this.#resHeadDone = false;
    this.#resBuf = null;
    this.#resReusable = false;
    this.#status = 0;
    this.#hadHead = head !== undefined;
    if (this.frontend.ctx.accessLog !== undefined) {
      this.#logging = true;
      this.#logAt = performance.now();
      this.#logBytes0 = this.client.bytesWritten();
    }
  }

  /**
   * Routes `path` (normalised, F4) and chooses a server. False when it answered by itself
   * (503: no backend or no available server, `no-server`).
   */
  dispatch(path: string): boolean {
    const ctx = this.frontend.ctx;
    const bspec = route(this.spec, this.head, path, this.#routeOut);
    const hits = ctx.counters.ruleHits;
    const idx = this.#routeOut.index;
    while (hits.length <= idx) hits.push(0);
    hits[idx]!++;
    const brt = bspec === undefined ? undefined : ctx.runtime.backends.get(bspec.id);
    this.bspec = bspec;
    this.brt = brt;
    if (brt === undefined) {
      this.answer(503, !this.reqDone, 'no-server');
      return false;
    }
    brt.requests++;
    const b = budgetOf(brt);
    if (b.tokens < 1000) b.tokens += BUDGET_PER_REQUEST;
    this.pick.exclude = undefined;
    const rt = this.frontend.chooser.choose(brt, this);
    if (rt === undefined) {
      const q = (bspec as BackendSpec).queue;
      if (brt.queueable(ctx.runtime.clock.now())) {
        if (brt.queue.offer(this, q.maxLength, q.timeoutMs)) {
          this.state = X_QUEUED;
          return true;
        }
        this.answer(503, !this.reqDone, 'queue-full');
        return false;
      }
      brt.noServer++;
      this.answer(503, !this.reqDone, 'no-server');
      return false;
    }
    this.rt = rt;
    return true;
  }

  /** Connects to the chosen server (pooled connection first) and sends `headOut` and the body so far. */
  connect(): void {
    if (this.state === X_QUEUED) return; // `serve` connects when a slot frees
    this.#connectTo(this.rt as ServerRuntime, false);
  }

  /** QueueWaiter: a slot of `rt` is this exchange's. */
  serve(rt: ServerRuntime): void {
    if (this.state !== X_QUEUED) return;
    this.#connectTo(rt, false);
  }

  /** QueueWaiter: waited past the backend's queue timeout → 503. */
  expire(): void {
    if (this.state !== X_QUEUED) return;
    this.answer(503, !this.reqDone, 'queue-timeout');
  }

  /** Leaves the backend's queue (the client went away or the request was refused meanwhile). */
  #leaveQueue(): void {
    if (this.queued) this.brt?.queue.cancel(this);
  }

  /**
   * Request body wire bytes for the server (`payload`: body bytes they carry, for limits and
   * rates). Answers false when the client should stop reading until `resumeRequest`.
   */
  requestBody(wire: Buffer, payload: number): boolean {
    this.#bodyBytes += payload;
    this.#lastBodyAt = this.frontend.now;
    const max = this.spec.maxRequestBodyBytes;
    if (max > 0 && this.#bodyBytes > max) {
      this.#tooLarge();
      return false;
    }
    if (this.state === X_SENDING && this.#up !== null) {
      const up = this.#up;
      (this.rt as ServerRuntime).bytesOut += wire.length;
      this.#keep(wire);
      if (!this.#resHeadDone) this.#rearm();
      return up.dead ? true : up.socket.write(wire);
    }
    if (this.state === X_CONNECT || this.state === X_IDLE || this.state === X_QUEUED) {
      (this.#pending ??= []).push(wire);
      return this.state === X_IDLE;
    }
    return true;
  }

  /** The request body is complete. */
  requestEnd(): void {
    this.reqDone = true;
    if (this.state === X_SENDING && !this.#resHeadDone) this.#rearm();
  }

  /** The request body (a declared length) exceeds `maxRequestBodyBytes`: 413 before forwarding anything. */
  #tooLarge(): void {
    this.#leaveQueue();
    this.#dropUpstream(false);
    this.#releaseServer();
    if (!this.#resHeadDone) this.answer(413, true, 'body-too-large');
    else {
      this.#terminate('body-too-large');
      this.#end(true);
      this.client.cut(this);
    }
  }

  /** Refuses a declared body larger than `maxRequestBodyBytes` (413). True when refused. */
  refuseDeclaredLength(contentLength: number): boolean {
    const max = this.spec.maxRequestBodyBytes;
    if (max > 0 && contentLength > max) {
      this.answer(413, true, 'body-too-large');
      return true;
    }
    return false;
  }

  #keep(b: Buffer): void {
    const sent = this.#sent;
    if (sent === null) return;
    this.#sentBytes += b.length;
    if (this.#sentBytes > MAX_RETAINED_BODY) {
      this.#sent = null;
      this.#bodyLost = true;
    } else sent.push(b);
  }

  /** Tunnel bytes from the client to the server; false = pushback. */
  tunnelWrite(chunk: Buffer): boolean {
    const up = this.#up;
    if (up === null || up.dead) return true;
    (this.rt as ServerRuntime).bytesOut += chunk.length;
    this.deadline = this.frontend.now + this.spec.clientIdleTimeoutMs;
    return up.socket.write(chunk);
  }

  /** The client half-closed its side of a tunnel. */
  tunnelClientEnd(): void {
    this.#up?.socket.end();
  }

  /** The client can take more answer bytes. */
  clientDrained(): void {
    if (this.#upPaused) {
      this.#upPaused = false;
      this.#up?.socket.resume();
    }
  }

  /** Closeable (S3): a drain deadline cuts the exchange and the client side. */
  destroy(): void {
    this.client.destroy();
    this.#up?.destroy();
  }

  /** The client went away (closed or reset) before the end. */
  clientGone(): void {
    if (this.state === X_DONE || this.state === X_IDLE) {
      if (this.#logging) this.#logEnd(true);
      return;
    }
    if (this.state !== X_TUNNEL) this.#terminate('client-aborted');
    this.#leaveQueue();
    this.#dropUpstream(false);
    this.#releaseServer();
    this.#end(true);
  }

  /**
   * Ends the exchange at once for `reason` without an answer (e.g. an HTTP/2 request whose
   * DATA disagrees with its content-length): the server connection is closed, the client
   * side is cut (`ExchangeClient.cut`).
   */
  abort(reason: Termination): void {
    if (this.state === X_DONE || this.state === X_IDLE) return;
    this.#terminate(reason);
    this.#leaveQueue();
    this.#dropUpstream(false);
    this.#releaseServer();
    this.#end(true);
    this.client.cut(this);
  }

  // ---------------------------------------------------------------- answers

  /**
   * Our own answer for `status` (400, 408, 413, 431, 501, 502, 503, 504) with the reason it
   * ends; `close` tells the client side the connection cannot continue. Counts it (O1,
   * `refused` for everything but 502/504), ends the exchange and writes its log line.
   */
  answer(status: number, close: boolean, reason: Termination): void {
    this.#leaveQueue();
    const counters = this.frontend.ctx.counters;
    counters.responses[(status / 100) | 0]!++;
    if (status !== 502 && status !== 504) counters.refused++;
    this.#terminate(reason);
    this.#status = status;
    this.state = X_DONE;
    this.deadline = 0;
    const n = this.client.answer(this, status, close);
    counters.bytesOut += n;
    this.#end(false);
    this.client.settled(this);
  }

  /** A response the client side wrote by itself (redirect 308): counts and logs it. */
  answered(status: number, bytes: number): void {
    const counters = this.frontend.ctx.counters;
    counters.responses[(status / 100) | 0]!++;
    counters.bytesOut += bytes;
    this.#status = status;
    this.state = X_DONE;
    this.deadline = 0;
    this.#end(false);
  }

  #terminate(reason: Termination): void {
    if (this.termination !== null) return;
    this.termination = reason;
    this.frontend.ctx.counters.terminations[reason]++;
  }

  /** The exchange ends (log line once). */
  #end(aborted: boolean): void {
    this.state = X_DONE;
    this.deadline = 0;
    if (this.retries > 0) {
      this.frontend.ctx.counters.terminations.retried++;
      if (this.termination === null) this.termination = 'retried';
    }
    if (this.#logging) this.#logEnd(aborted);
  }

  #logEnd(aborted: boolean): void {
    this.#logging = false;
    const log = this.frontend.ctx.accessLog;
    if (log === undefined) return;
    const head = this.#hadHead ? this.head : undefined;
    const rt = this.rt;
    log.write({
      at: new Date().toISOString(),
      kind: 'http',
      protocol: this.protocol,
      frontend: this.spec.name,
      client: this.clientAddress,
      method: head?.method ?? null,
      target: head === undefined ? null : this.target,
      host: head?.host ?? null,
      status: this.#status,
      backend: head === undefined ? null : (this.bspec?.name ?? null),
      server: rt === null ? null : rt.spec.name,
      bytesOut: this.client.bytesWritten() - this.#logBytes0,
      durationMs: Math.round((performance.now() - this.#logAt) * 10) / 10,
      ...(aborted ? { aborted: true } : {}),
      ...(this.termination !== null ? { termination: this.termination } : {}),
      ...(this.retries > 0 ? { retries: this.retries } : {}),
    });
  }

  // ---------------------------------------------------------------- upstream side

  #connectTo(rt: ServerRuntime, fresh: boolean, holding = false): void {
    const frontend = this.frontend;
    this.rt = rt;
    if (!holding) frontend.ctx.runtime.connectionOpened(rt, this);
    // issue 15 point 3: a connection that sent a PROXY header serves only its own client connection
    const pp = (this.bspec as BackendSpec).proxyProtocol;
    let e = this.proxyEndpoints;
    if (pp !== null && e === null && this.proxySocket !== null)
      e = this.proxyEndpoints = socketEndpoints(this.proxySocket);
    const proxyKey =
      pp === null
        ? null
        : e === null
          ? pp
          : `${pp} ${e.sourceAddress} ${e.sourcePort} ${e.destinationAddress} ${e.destinationPort}`;
    const up = fresh ? undefined : frontend.pool.acquire(rt, proxyKey);
    if (up !== undefined) {
      up.owner = this;
      this.#up = up;
      this.#send();
      return;
    }
    this.state = X_CONNECT;
    this.deadline = frontend.now + (this.bspec as BackendSpec).connectTimeoutMs;
    if (!this.reqDone) this.client.pauseRequest();
    const header = pp === null ? null : encodeProxyHeader(pp, e);
    this.#up = new UpstreamConn(rt, frontend.pool, this, header, proxyKey);
  }

  onUpstreamConnect(u: UpstreamConn): void {
    if (u !== this.#up || this.state !== X_CONNECT) return;
    this.#send();
  }

  #send(): void {
    const up = this.#up as UpstreamConn;
    const rt = this.rt as ServerRuntime;
    this.state = X_SENDING;
    this.#reused = up.served > 0;
    up.served++;
    if (this.#counted !== rt) {
      this.#counted = rt;
      rt.requests++;
    }
    this.#sentAt = performance.now();
    const s = up.socket;
    const head = this.headOut;
    let bytes = head.length;
    const pending = this.#pending;
    this.#pending = null;
    if (pending === null) {
      if (typeof head === 'string') s.write(head, 'latin1');
      else s.write(head);
    } else {
      s.cork();
      if (typeof head === 'string') s.write(head, 'latin1');
      else s.write(head);
      for (const b of pending) {
        s.write(b);
        bytes += b.length;
        this.#keep(b);
      }
      s.uncork();
    }
    rt.bytesOut += bytes;
    this.#rearm();
    if (!this.reqDone) this.client.resumeRequest();
  }

  /** Deadline while sending: body idle / rate while the body comes, else the response timeout. */
  #rearm(): void {
    const now = this.frontend.now;
    if (!this.reqDone && !this.#resHeadDone) {
      const idle = this.spec.requestBodyTimeoutMs;
      let d = this.#lastBodyAt + idle;
      if (this.spec.minRequestBodyBytesPerSecond > 0) {
        // rate checks on a fixed one-second grid from the body's start: arriving bytes must
        // not push the check away, or a body trickling faster than once a second escapes it
        const check = now + 1000 - ((now - this.#bodyStartedAt) % 1000);
        if (d > check) d = check;
      }
      this.deadline = d;
    } else this.deadline = now + (this.bspec as BackendSpec).responseTimeoutMs;
  }

  onUpstreamDrain(u: UpstreamConn): void {
    if (u === this.#up && !this.reqDone) this.client.resumeRequest();
    if (u === this.#up && this.state === X_TUNNEL) this.client.resumeRequest();
  }

  /** UpstreamOwner: the last chunk read may still be referenced (a split head kept, or a client write pending). */
  retainsChunk(_u: UpstreamConn): boolean {
    return this.#resBuf !== null || !this.client.flushed();
  }

  onUpstreamData(u: UpstreamConn, chunk: Buffer): void {
    if (u !== this.#up) return;
    const rt = this.rt as ServerRuntime;
    rt.bytesIn += chunk.length;
    if (this.state === X_TUNNEL) {
      this.deadline = this.frontend.now + this.spec.clientIdleTimeoutMs;
      this.frontend.ctx.counters.bytesOut += chunk.length;
      if (!this.client.tunnelData(this, chunk)) this.#pauseUpstream();
      return;
    }
    if (this.state !== X_SENDING) return;
    this.deadline = this.frontend.now + (this.bspec as BackendSpec).responseTimeoutMs;
    if (this.#resHeadDone) {
      this.#responseBody(chunk);
      return;
    }
    let data = this.#resBuf === null ? chunk : Buffer.concat([this.#resBuf, chunk]);
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
      this.#sent = null; // an answer came: no replay any more
      if (rh.status >= 200) {
        this.#responseHead(rh, data, end);
        return;
      }
      if (rh.status === 101) {
        if (this.upgrade === null || !upgradeMatches(rh.upgrade, this.upgrade)) {
          this.#badResponse();
          return;
        }
        this.#startTunnel(rh, data, end);
        return;
      }
      this.client.interim(this, rh);
      if (end === data.length) return;
      data = data.subarray(end);
    }
  }

  #responseHead(rh: HttpHead, data: Buffer, end: number): void {
    const frontend = this.frontend;
    const rt = this.rt as ServerRuntime;
    const status = rh.status;
    this.#status = status;
    // response framing (RFC 9112 §6.3)
    const framer = this.resFramer;
    if (this.head.method === 'HEAD' || status === 204 || status === 304) framer.reset(Framing.none, 0);
    else if (rh.chunked) framer.reset(Framing.chunked, 0);
    else if (rh.transferEncoding !== null) framer.reset(Framing.close, 0);
    else if (rh.contentLength >= 0) framer.reset(Framing.length, rh.contentLength);
    else framer.reset(Framing.close, 0);
    let stop = end;
    if (!framer.done) {
      try {
        stop = framer.consume(data, end, data.length);
      } catch {
        this.#badResponse();
        return;
      }
    }
    serverAnswered(frontend.ctx.runtime, frontend.ctx.counters, rt, status, performance.now() - this.#sentAt);
    this.#resReusable = (rh.minor === 1 ? !rh.connClose : rh.connKeepAlive) && framer.mode !== Framing.close;
    if (stop < data.length) this.#resReusable = false; // bytes after the answer: out of sync
    this.#resHeadDone = true;
    this.deadline = frontend.now + (this.bspec as BackendSpec).responseTimeoutMs;
    const extra = frontend.chooser.responseHeaders(this.brt as BackendRuntime, rt, this, status, rh);
    const ok = this.client.responseHead(this, rh, data, end, stop, extra);
    if (this.state !== X_SENDING) return;
    if (framer.done) this.#complete();
    else if (!ok) this.#pauseUpstream();
  }

  #responseBody(chunk: Buffer): void {
    const framer = this.resFramer;
    let stop: number;
    try {
      stop = framer.consume(chunk, 0, chunk.length);
    } catch {
      // a server breaking its own framing: the client gets what was sent, then the connection closes
      const rt = this.rt as ServerRuntime;
      rt.failures++;
      rt.terminations['bad-response']++;
      this.frontend.ctx.runtime.recordOutcome(rt, false);
      this.#terminate('bad-response');
      this.#dropUpstream(false);
      this.#releaseServer();
      this.#end(true);
      this.client.cut(this);
      return;
    }
    if (stop < chunk.length) this.#resReusable = false;
    let ok = true;
    if (stop > 0) {
      this.frontend.ctx.counters.bytesOut += stop;
      ok = this.client.responseBody(this, chunk, 0, stop);
    }
    if (this.state !== X_SENDING) return;
    if (framer.done) this.#complete();
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
    const rt = this.rt as ServerRuntime;
    rt.countResponse(101);
    counters.responses[1]!++;
    this.#status = 101;
    this.frontend.ctx.runtime.recordOutcome(rt, true);
    this.state = X_TUNNEL;
    this.#resHeadDone = true;
    if (this.#logging) this.#logEnd(false);
    this.deadline = this.frontend.now + this.spec.clientIdleTimeoutMs;
    this.client.tunnel(this, rh, data, end);
  }

  onUpstreamEnd(u: UpstreamConn): void {
    if (u !== this.#up) return;
    if (this.state === X_TUNNEL) {
      this.client.tunnelEnd(this, true);
      return;
    }
    this.#upstreamEnded();
  }

  /**
   * The server's side ended: an answer framed by the connection's close is complete; any other
   * answer (or none yet) failed.
   */
  #upstreamEnded(): void {
    if (this.#resHeadDone && this.resFramer.mode === Framing.close) {
      this.resFramer.endOfStream();
      this.#resReusable = false;
      this.#complete();
      return;
    }
    this.#upstreamFailed(false);
  }

  onUpstreamClose(u: UpstreamConn): void {
    if (u !== this.#up) return;
    if (this.state === X_TUNNEL) {
      this.#up = null;
      this.#releaseServer();
      this.state = X_DONE;
      this.deadline = 0;
      this.client.tunnelEnd(this, false);
      return;
    }
    this.#upstreamEnded();
  }

  /** Picks another server of the backend, skipping those that failed for this request. */
  #pickOther(): ServerRuntime | undefined {
    const brt = this.brt;
    if (brt === undefined) return undefined;
    const failed = this.#failed;
    const n = brt.servers.length + 1;
    for (let i = 0; i < n; i++) {
      this.pick.exclude = failed[failed.length - 1];
      const s = this.frontend.chooser.choose(brt, this);
      this.pick.exclude = undefined;
      if (s === undefined) return undefined;
      if (!failed.includes(s)) return s;
    }
    return undefined;
  }

  /** The server connection failed, closed or timed out before the exchange completed. */
  #upstreamFailed(timedOut: boolean): void {
    if (this.state !== X_CONNECT && this.state !== X_SENDING) return;
    const ctx = this.frontend.ctx;
    const rt = this.rt as ServerRuntime;
    const up = this.#up;
    const wasConnecting = this.state === X_CONNECT;
    const nothingBack = !this.#resHeadDone && this.#resBuf === null;
    const code = up?.errorCode ?? '';
    const reason: Termination = wasConnecting
      ? timedOut || code === 'ETIMEDOUT'
        ? 'connect-timeout'
        : 'connect-refused'
      : timedOut
        ? 'response-timeout'
        : this.#resBuf !== null
          ? 'bad-response'
          : 'server-reset';
    this.#dropUpstream(false);
    const replayable = !this.#bodyLost && this.#sent !== null;
    // a reused keep-alive connection closed under us before any answer: once more on a fresh one
    if (!wasConnecting && !timedOut && this.#reused && nothingBack && !this.#staleRetried && replayable) {
      this.#staleRetried = true;
      this.#requeueSent();
      // the request keeps its slot on the server (a release here would hand it to a waiter)
      this.#connectTo(rt, true, true);
      return;
    }
    rt.failures++;
    rt.terminations[reason]++;
    ctx.runtime.recordOutcome(rt, false);
    this.#releaseServer();
    const neverSeen = wasConnecting;
    const canRetry =
      (neverSeen || (nothingBack && !timedOut && idempotent(this.head.method) && replayable)) &&
      this.brt !== undefined &&
      this.retries < (this.bspec as BackendSpec).retries;
    if (canRetry) {
      const budget = budgetOf(this.brt as BackendRuntime);
      if (budget.tokens >= 1) {
        this.#failed.push(rt);
        const next = this.#pickOther();
        if (next !== undefined) {
          budget.tokens -= 1;
          this.retries++;
          this.#requeueSent();
          this.#resBuf = null;
          this.#connectTo(next, true);
          return;
        }
      }
    }
    this.rt = rt; // for the log line
    if (!this.#resHeadDone)
      this.answer(timedOut && !wasConnecting ? 504 : 502, !wasConnecting || !this.reqDone, reason);
    else {
      this.#terminate(reason);
      this.#end(true);
      this.client.cut(this);
    }
  }

  /** Moves what was sent back in front of what is pending, for a replay on a new connection. */
  #requeueSent(): void {
    const sent = this.#sent;
    this.#sent = [];
    this.#sentBytes = 0;
    if (sent !== null && sent.length > 0) this.#pending = this.#pending === null ? sent : sent.concat(this.#pending);
  }

  #badResponse(): void {
    const rt = this.rt as ServerRuntime;
    rt.failures++;
    rt.terminations['bad-response']++;
    this.frontend.ctx.runtime.recordOutcome(rt, false);
    this.#dropUpstream(false);
    this.#releaseServer();
    this.rt = rt;
    if (!this.#resHeadDone) this.answer(502, true, 'bad-response');
    else {
      this.#terminate('bad-response');
      this.#end(true);
      this.client.cut(this);
    }
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
    if (reuse && !up.dead) this.frontend.pool.release(up, this.frontend.now);
    else {
      up.owner = null;
      up.destroy();
    }
  }

  #releaseServer(): void {
    const rt = this.rt;
    if (rt === null) return;
    this.frontend.ctx.runtime.connectionClosed(rt, this);
  }

  #complete(): void {
    this.#dropUpstream(this.#resReusable && this.reqDone);
    this.#releaseServer();
    this.#end(false);
    this.client.done(this);
    this.client.settled(this);
  }

  /** A deadline passed: connect, body idle/rate, response or tunnel idle timeout. */
  onTimeout(): void {
    const now = this.frontend.now;
    switch (this.state) {
      case X_CONNECT: {
        const up = this.#up;
        if (up !== null) up.errorCode = 'ETIMEDOUT';
        this.#upstreamFailed(true);
        return;
      }
      case X_SENDING: {
        if (!this.reqDone && !this.#resHeadDone) {
          const idleOver = now >= this.#lastBodyAt + this.spec.requestBodyTimeoutMs;
          const min = this.spec.minRequestBodyBytesPerSecond;
          const elapsed = (now - this.#bodyStartedAt) / 1000;
          const tooSlow = min > 0 && elapsed >= 2 && this.#bodyBytes < min * elapsed;
          if (!idleOver && !tooSlow) {
            this.#rearm();
            return;
          }
          this.#dropUpstream(false);
          this.#releaseServer();
          this.answer(408, true, 'body-timeout');
          return;
        }
        this.#upstreamFailed(true);
        return;
      }
      case X_TUNNEL:
        this.#terminate('client-timeout');
        this.#dropUpstream(false);
        this.#releaseServer();
        this.state = X_DONE;
        this.deadline = 0;
        this.client.cut(this);
        return;
      default:
        this.deadline = 0;
    }
  }
}
