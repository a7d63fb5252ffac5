import type net from 'node:net';
import type { ClientEndpoints } from '../proxy-protocol.ts';
import { redirect308, reply } from './answers.ts';
import { Exchange, type ExchangeClient } from './exchange.ts';
import { dropField, fieldValue, forwardedLines, isHopByHop, isTrustedProxy } from './forward-headers.ts';
import { type FrontConnection, HttpFrontend, poolFor } from './frontend.ts';
import {
  BodyFramer,
  Framing,
  findHeadEnd,
  type HttpHead,
  HttpParseError,
  MAX_REQUEST_HEAD,
  NO_HEAD,
  parseHead,
} from './parser.ts';
import { parseTarget, targetOut } from './request-target.ts';

export { HttpFrontend, poolFor };

/** Client bytes buffered beyond the current request (pipelining) before reading pauses. */
const MAX_PIPELINE_BUFFER = 64 * 1024;
/** Answer bytes queued for a client that does not read before we stop starting pipelined requests. */
const MAX_PENDING_OUTPUT = 64 * 1024;
/** Below this, a response head and its first body bytes are copied into one Buffer (one write). */
const COALESCE_BYTES = 16 * 1024;
/** Spare exchanges a frontend keeps for its HTTP/1.1 connections. */
const MAX_SPARE_EXCHANGES = 256;

/** Options of one served connection. */
export interface ServeOptions {
  /** The client connection arrived over TLS: `X-Forwarded-Proto: https`. */
  https?: boolean;
  /** The client's endpoints from a PROXY header (issue 15 point 3): its address is the client address. */
  proxied?: ClientEndpoints;
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
  return new HttpConnection(socket, frontend, options.https === true, options.proxied);
}

/** The socket property naming its connection (the shared socket handlers read it). */
const OWNER = Symbol('fulcrum.httpConnection');
type OwnedSocket = net.Socket & { [OWNER]: HttpConnection };

// connection states
const S_HEAD = 0; // waiting for a request head
const S_EXCHANGE = 2; // an exchange runs (connecting, request up, answer down)
const S_TUNNEL = 3; // after 101: raw bytes both ways
const S_CLOSED = 4;

/** The client address as routing and persistence see it: an IPv4-mapped IPv6 address as plain IPv4. */
export function unmapV4(addr: string | undefined): string {
  if (addr === undefined) return '';
  return addr.startsWith('::ffff:') && addr.indexOf('.') > 0 ? addr.slice(7) : addr;
}

/**
 * One HTTP/1.1 client connection: its framing and state machine only (RFC 9112). It parses
 * request heads, frames request bodies (strict; chunk extensions stripped), keeps requests in
 * order (pipelined ones wait, reading stops while answers are pending beyond a small bound),
 * builds the request head for the server (`forward-headers.ts`), and writes the answers; every
 * decision about a request (route, server, connect, retries, our own answers, outcome, log)
 * is the `Exchange`'s (`exchange.ts`), shared with HTTP/2.
 */
export class HttpConnection implements FrontConnection, ExchangeClient {
  readonly socket: net.Socket;
  readonly frontend: HttpFrontend;
  readonly https: boolean;
  readonly clientAddress: string;
  state = S_HEAD;
  /** The current (or last) request's head; `NO_HEAD` while idle. */
  head: HttpHead = NO_HEAD;

  /** The exchange of the request in progress; null while idle (it went back to the frontend's spares). */
  #x: Exchange | null = null;
  /** HTTP minor version of the last request (our own answers on an idle connection use it). */
  #minor = 1;
  readonly #proxied: ClientEndpoints | undefined;
  #deadline = 0;
  #buf: Buffer | null = null;
  /** The buffer holding the head being started (its bytes at [0, head.length)). */
  #bufHead: Buffer | null = null;
  #served = 0;
  #readPaused = false;
  #waitDrain = false;
  #clientEnded = false;
  #inProcess = false;
  #keepAlive = true;
  #closeAfter = false;
  /** `X-Forwarded-For/Proto/Port` lines and the final CRLF, built once per connection (latin1). */
  #forwardedTail: string | null = null;

  constructor(socket: net.Socket, frontend: HttpFrontend, https: boolean, proxied?: ClientEndpoints) {
    this.socket = socket;
    this.frontend = frontend;
    this.https = https;
    this.clientAddress = unmapV4(proxied?.sourceAddress ?? socket.remoteAddress);
    this.#proxied = proxied;
    const counters = frontend.ctx.counters;
    counters.opened();
    counters.totalConnections++;
    frontend.connections.add(this);
    this.#deadline = frontend.now + frontend.spec.requestHeaderTimeoutMs;
    // the same five handlers for every socket (no closures per connection); each finds its connection
    (socket as OwnedSocket)[OWNER] = this;
    socket.on('data', HttpConnection.#data);
    socket.on('end', HttpConnection.#end);
    socket.on('drain', HttpConnection.#drain);
    socket.on('error', HttpConnection.#error);
    socket.on('close', HttpConnection.#closed);
  }

  // shared socket handlers: `this` is the socket (EventEmitter), its OWNER the connection
  static readonly #data = function (this: net.Socket, chunk: Buffer): void {
    (this as OwnedSocket)[OWNER].#onClientData(chunk);
  };
  static readonly #end = function (this: net.Socket): void {
    (this as OwnedSocket)[OWNER].#onClientEnd();
  };
  static readonly #drain = function (this: net.Socket): void {
    (this as OwnedSocket)[OWNER].#onClientDrain();
  };
  static readonly #error = function (this: net.Socket): void {
    (this as OwnedSocket)[OWNER].frontend.ctx.counters.clientErrors++;
  };
  static readonly #closed = function (this: net.Socket): void {
    (this as OwnedSocket)[OWNER].#onClientClose();
  };

  /** The exchange of the request in progress, taken from the frontend's spares (or made) when none is. */
  get x(): Exchange {
    let x = this.#x;
    if (x === null) {
      x =
        this.frontend.spareExchanges.pop() ??
        new Exchange(this.frontend, this, this.clientAddress, 'http/1.1', this.https);
      x.attach(this, this.clientAddress, this.https);
      if (this.#proxied !== undefined) x.proxyEndpoints = this.#proxied;
      else x.proxySocket = this.socket;
      this.#x = x;
    }
    return x;
  }

  /** No request in progress (idle, or closed): the exchange and the last head are let go. */
  #releaseExchange(): void {
    const x = this.#x;
    if (x === null || !x.finished) return;
    this.#x = null;
    this.head = NO_HEAD;
    x.release();
    const spares = this.frontend.spareExchanges;
    if (spares.length < MAX_SPARE_EXCHANGES) spares.push(x);
  }

  /** ms epoch of the next deadline (head, idle, or the exchange's); 0 = none. */
  get deadline(): number {
    return this.state === S_EXCHANGE || this.state === S_TUNNEL ? this.x.deadline : this.#deadline;
  }

  /** Closeable (S3): a drain deadline cuts the exchange and the client connection. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Closes the connection when no request is in progress (graceful stop). */
  closeIfIdle(): void {
    if (this.state === S_HEAD && this.#buf === null) this.#close();
  }

  // ---------------------------------------------------------------- client side

  #onClientData(chunk: Buffer): void {
    this.frontend.ctx.counters.bytesIn += chunk.length;
    switch (this.state) {
      case S_HEAD:
        if (this.#buf === null) {
          this.#buf = chunk;
          if (this.#served > 0) this.#deadline = this.frontend.now + this.frontend.spec.requestHeaderTimeoutMs;
        } else this.#buf = Buffer.concat([this.#buf, chunk]);
        if (this.#waitDrain) {
          if (this.#buf.length > MAX_PIPELINE_BUFFER) this.#pauseRead();
          return;
        }
        this.#processBuffer();
        return;
      case S_EXCHANGE:
        if (!this.x.reqDone) this.#forwardRequestBody(chunk);
        else this.#bufferPipelined(chunk);
        return;
      case S_TUNNEL:
        if (!this.x.tunnelWrite(chunk)) this.#pauseRead();
        return;
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

  /** Resumes reading unless answers wait for the client or pipelined bytes already fill the buffer. */
  #resumeRead(): void {
    const buf = this.#buf;
    if (buf !== null && buf.length > MAX_PIPELINE_BUFFER) return; // read more only once they are consumed
    if (this.#readPaused && !this.#waitDrain) {
      this.#readPaused = false;
      this.socket.resume();
    }
  }

  #onClientDrain(): void {
    this.#x?.clientDrained();
    if (this.#waitDrain) {
      this.#waitDrain = false;
      if (this.state === S_HEAD) {
        this.#resumeRead();
        this.#processBuffer();
      }
    }
  }

  #onClientEnd(): void {
    this.#clientEnded = true;
    switch (this.state) {
      case S_HEAD:
        if (this.#buf === null || !this.#waitDrain) this.#close();
        return;
      case S_EXCHANGE:
        if (!this.x.reqDone) this.socket.destroy();
        else this.#closeAfter = true;
        return;
      case S_TUNNEL:
        this.x.tunnelClientEnd();
        return;
    }
  }

  #onClientClose(): void {
    this.#x?.clientGone();
    this.state = S_CLOSED;
    this.#deadline = 0;
    this.frontend.forget(this);
    this.#releaseExchange();
  }

  /** Ends the client connection after what was written (FIN), then it closes. */
  #close(): void {
    if (this.state === S_CLOSED) return;
    this.state = S_CLOSED;
    this.socket.end();
    // a client that never closes its side must not hold the socket forever
    this.#deadline = this.frontend.now + 5000;
  }

  /** Parses and starts as many requests as the buffer holds, one at a time. */
  #processBuffer(): void {
    this.#inProcess = true;
    while (this.state === S_HEAD && this.#buf !== null) {
      if (this.socket.writableLength >= MAX_PENDING_OUTPUT) {
        // answers are piling up for a client that does not read: stop until it does (pipelining flood)
        this.#waitDrain = true;
        this.#pauseRead();
        break;
      }
      const buf = this.#buf;
      let end: number;
      let head: HttpHead;
      try {
        end = findHeadEnd(buf, 0, buf.length, MAX_REQUEST_HEAD, 431);
        if (end === 0) break;
        head = parseHead(buf, 0, end, true);
      } catch (err) {
        this.#buf = null;
        this.x.begin(this.frontend.spec, undefined);
        this.x.answer(err instanceof HttpParseError ? err.status : 400, true, 'bad-request');
        break;
      }
      this.#buf = end === buf.length ? null : buf.subarray(end);
      this.#bufHead = buf;
      this.#startRequest(head);
      this.#bufHead = null;
    }
    this.#inProcess = false;
    if (this.state === S_HEAD && !this.#waitDrain) this.#resumeRead();
    if (this.state === S_HEAD && this.#buf === null) {
      this.#deadline = this.frontend.now + this.frontend.spec.clientIdleTimeoutMs;
      if (this.frontend.closing || this.#clientEnded) this.#close();
      else this.#releaseExchange();
    }
  }

  #startRequest(head: HttpHead): void {
    const frontend = this.frontend;
    const spec = frontend.spec;
    const x = this.x;
    this.head = head;
    this.#minor = head.minor;
    frontend.ctx.counters.requests++;
    x.begin(spec, head);
    this.#keepAlive = head.minor === 1 ? !head.connClose : head.connKeepAlive;
    this.#closeAfter = false;
    // request target (RFC 9112 §3.2) and its normalised path (RFC 3986 §6)
    const t = parseTarget(head.method, head.target, spec.mergeSlashes, (x.tout ??= targetOut()));
    if (t.status !== 0) {
      x.answer(t.status, true, 'bad-request');
      return;
    }
    if (t.authority !== null) head.host = t.authority;
    x.target = t.target;
    if (spec.redirectHttpsPort !== undefined) {
      this.#redirectToHttps(head, t.target, spec.redirectHttpsPort);
      return;
    }
    if (head.contentLength > 0 && x.refuseDeclaredLength(head.contentLength)) return;
    // Upgrade (RFC 9110 §7.8): only an allowed protocol is forwarded (never h2c); otherwise a plain request
    let asked: string | null = null;
    if (head.upgrade !== null && head.connUpgrade && head.minor === 1) {
      const comma = head.upgrade.indexOf(',');
      const tok = (comma < 0 ? head.upgrade : head.upgrade.slice(0, comma)).trim().toLowerCase();
      if (tok !== 'h2c' && spec.allowedUpgrades.includes(tok)) asked = tok;
    }
    x.upgrade = asked;
    // body framing (RFC 9112 §6.3)
    const framer = (x.reqFramer ??= requestFramer());
    if (head.chunked) framer.reset(Framing.chunked, 0);
    else framer.reset(head.contentLength > 0 ? Framing.length : Framing.none, head.contentLength);
    let first: Buffer | null = null;
    const rest = this.#buf;
    if (!framer.done && rest !== null) {
      let n: number;
      try {
        n = framer.consume(rest, 0, rest.length);
      } catch {
        this.#buf = null;
        x.answer(400, true, 'bad-request');
        return;
      }
      if (n > 0) first = stripped(framer, rest, 0, n);
      this.#buf = n === rest.length ? null : rest.subarray(n);
    }
    x.reqDone = framer.done;
    if (!x.dispatch(t.path)) return;
    const trusted = spec.trustedProxies.length > 0 && isTrustedProxy(spec, this.clientAddress);
    x.headOut =
      !head.rewrite && head.minor === 1 && t.target === head.target && this.#bufHead !== null
        ? this.#copyRequestHead(this.#bufHead, head.length)
        : this.#buildRequestHead(head, t.target, trusted);
    this.#bufHead = null;
    this.state = S_EXCHANGE;
    if (first !== null && !x.requestBody(first, framer.payload)) this.#pauseRead();
    if (this.state !== S_EXCHANGE) return;
    x.connect();
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
      this.x.answer(400, true, 'bad-request');
      return;
    }
    const hasBody = head.chunked || head.contentLength > 0;
    const close = hasBody || !this.#keepAlive;
    const buf = redirect308(`https://${name}${port === 443 ? '' : `:${port}`}${target}`, close, head.minor);
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(buf);
    this.#closeAfter = close;
    this.x.answered(308, buf.length);
    this.#exchangeEnded();
  }

  /** Fast path: the client's head as received (it has nothing to remove) with our X-Forwarded-* lines. */
  #copyRequestHead(buf: Buffer, length: number): Buffer {
    let tail = this.#forwardedTail;
    if (tail === null) {
      tail = `${forwardedLines(this.clientAddress, this.https ? 'https' : 'http', this.frontend.spec.port)}\r\n`;
      this.#forwardedTail = tail;
    }
    const keep = length - 2;
    const out = Buffer.allocUnsafe(keep + tail.length);
    buf.copy(out, 0, 0, keep);
    out.write(tail, keep, 'latin1');
    return out;
  }

  #buildRequestHead(h: HttpHead, target: string, trusted: boolean): string {
    let s = `${h.method} ${target} HTTP/1.${h.minor}\r\n`;
    const lower = h.lower;
    const other = h.connOther;
    const absoluteHost = h.host !== null && target !== h.target && h.target.charCodeAt(0) !== 47;
    let sawHost = false;
    for (let i = 0; i < lower.length; i++) {
      const l = lower[i] as string;
      if (dropField(l, trusted)) continue;
      if (trusted && (l === 'x-forwarded-for' || l === 'x-forwarded-proto' || l === 'x-forwarded-port')) continue;
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
    if (this.x.upgrade !== null) s += `Connection: Upgrade\r\nUpgrade: ${h.upgrade}\r\n`;
    else if (h.minor === 0) s += 'Connection: keep-alive\r\n';
    const fwd = trusted
      ? forwardedLines(
          this.clientAddress,
          this.https ? 'https' : 'http',
          this.frontend.spec.port,
          fieldValue(lower, h.values, 'x-forwarded-for'),
          fieldValue(lower, h.values, 'x-forwarded-proto'),
          fieldValue(lower, h.values, 'x-forwarded-port'),
        )
      : forwardedLines(this.clientAddress, this.https ? 'https' : 'http', this.frontend.spec.port);
    return `${s}${fwd}\r\n`;
  }

  #forwardRequestBody(chunk: Buffer): void {
    const framer = this.x.reqFramer as BodyFramer;
    const before = framer.payload;
    let n: number;
    try {
      n = framer.consume(chunk, 0, chunk.length);
    } catch {
      this.#badBodyFromClient();
      return;
    }
    const x = this.x;
    let ok = true;
    if (n > 0) ok = x.requestBody(stripped(framer, chunk, 0, n), framer.payload - before);
    if (this.state !== S_EXCHANGE) return;
    if (framer.done) {
      x.requestEnd();
      if (n < chunk.length) this.#bufferPipelined(chunk.subarray(n));
    }
    if (!ok) this.#pauseRead();
  }

  /** An invalid chunk from the client after the head went up: 400 if nothing was answered yet, then close. */
  #badBodyFromClient(): void {
    if (!this.x.responseStarted) {
      this.x.answer(400, true, 'bad-request');
    } else this.socket.destroy();
  }

  // ---------------------------------------------------------------- ExchangeClient

  responseHead(x: Exchange, rh: HttpHead, data: Buffer, end: number, stop: number, extra: string): boolean {
    const frontend = this.frontend;
    const counters = frontend.ctx.counters;
    const closeClient =
      !this.#keepAlive ||
      x.resFramer.mode === Framing.close ||
      frontend.closing ||
      this.#closeAfter ||
      this.#clientEnded;
    if (closeClient) this.#closeAfter = true;
    const socket = this.socket;
    if (!rh.rewrite && rh.minor === 1 && !closeClient && extra === '' && this.head.minor === 1) {
      // fast path: nothing to change in the head → forward the server's bytes as they are
      counters.bytesOut += stop;
      return socket.write(this.#out(stop === data.length ? data : data.subarray(0, stop)));
    }
    const headStr = this.#buildResponseHead(rh, closeClient, extra);
    const bodyLen = stop - end;
    const headLen = headStr.length;
    let ok: boolean;
    if (bodyLen === 0) ok = socket.write(headStr, 'latin1');
    else if (bodyLen <= COALESCE_BYTES) {
      const out = Buffer.allocUnsafe(headLen + bodyLen);
      out.write(headStr, 0, headLen, 'latin1');
      data.copy(out, headLen, end, stop);
      ok = socket.write(out);
    } else {
      socket.cork();
      socket.write(headStr, 'latin1');
      ok = socket.write(this.#out(data.subarray(end, stop)));
      socket.uncork();
    }
    counters.bytesOut += headLen + bodyLen;
    return ok;
  }

  responseBody(_x: Exchange, data: Buffer, start: number, stop: number): boolean {
    return this.socket.write(this.#out(start === 0 && stop === data.length ? data : data.subarray(start, stop)));
  }

  /**
   * Server bytes as handed to the client socket: a TLS socket keeps what it was given until the
   * record is written, so it gets a copy (server connections read into one reused buffer).
   */
  #out(data: Buffer): Buffer {
    return this.https ? Buffer.from(data) : data;
  }

  interim(_x: Exchange, rh: HttpHead): void {
    // 1xx interim answers (100 Continue, 103 Early Hints) go to HTTP/1.1 clients as they are
    if (this.head.minor !== 1) return;
    const interim = this.#buildResponseHead(rh, false, '');
    this.frontend.ctx.counters.bytesOut += interim.length;
    this.socket.write(interim, 'latin1');
  }

  tunnel(x: Exchange, rh: HttpHead, data: Buffer, end: number): void {
    const counters = this.frontend.ctx.counters;
    this.state = S_TUNNEL;
    const headStr = this.#buildResponseHead(rh, false, '');
    this.socket.write(headStr, 'latin1');
    counters.bytesOut += headStr.length;
    if (end < data.length) {
      counters.bytesOut += data.length - end;
      this.socket.write(this.#out(data.subarray(end)));
    }
    const pending = this.#buf;
    this.#buf = null;
    if (pending !== null) x.tunnelWrite(pending);
    this.#resumeRead();
    if (this.#clientEnded) x.tunnelClientEnd();
  }

  tunnelData(_x: Exchange, chunk: Buffer): boolean {
    return this.socket.write(this.#out(chunk));
  }

  tunnelEnd(_x: Exchange, end: boolean): void {
    this.socket.end();
    if (!end) this.socket.destroySoon();
  }

  done(x: Exchange): void {
    if (!x.reqDone) this.#closeAfter = true; // the server answered before the whole body: close
    this.#exchangeEnded();
  }

  answer(x: Exchange, status: number, close: boolean): number {
    const c = close || !this.#keepAlive || !x.reqDone || this.frontend.closing;
    const buf = reply(status, c, this.#minor);
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(buf);
    if (c) this.#closeAfter = true;
    this.#exchangeEnded();
    return buf.length;
  }

  settled(_x: Exchange): void {
    if (this.state === S_HEAD && this.#buf === null && !this.#inProcess) this.#releaseExchange();
  }

  cut(_x: Exchange): void {
    this.socket.destroy();
  }

  pauseRequest(): void {
    this.#pauseRead();
  }

  resumeRequest(): void {
    this.#resumeRead();
  }

  bytesWritten(): number {
    return this.socket.bytesWritten;
  }

  flushed(): boolean {
    return this.https || this.socket.writableLength === 0;
  }

  /** An exchange (or our own answer) ended: next pipelined request, idle wait or close. */
  #exchangeEnded(): void {
    if (this.state === S_CLOSED) return;
    this.#served++;
    if (this.#closeAfter) {
      this.#close();
      return;
    }
    this.state = S_HEAD;
    this.#deadline = this.frontend.now + this.frontend.spec.clientIdleTimeoutMs;
    if (this.#inProcess) return; // the loop in #processBuffer goes on
    this.#resumeRead();
    if (this.#buf !== null) {
      this.#deadline = this.frontend.now + this.frontend.spec.requestHeaderTimeoutMs;
      this.#processBuffer();
    } else if (this.frontend.closing || this.#clientEnded) this.#close();
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

  /** A deadline passed (header, idle, or the exchange's: connect, body, response, tunnel). */
  onTimeout(): void {
    switch (this.state) {
      case S_HEAD:
        this.#deadline = 0;
        if (this.#buf !== null || this.#served === 0) {
          this.x.begin(this.frontend.spec, undefined);
          this.x.answer(408, true, 'client-timeout');
        } else this.#close();
        return;
      case S_EXCHANGE:
      case S_TUNNEL:
        this.x.onTimeout();
        return;
      default:
        this.#deadline = 0;
        this.socket.destroy();
    }
  }
}

/** A request body framer that strips chunk extensions (issue 12 §3). */
function requestFramer(): BodyFramer {
  const f = new BodyFramer();
  f.stripExtensions = true;
  return f;
}

/** `buf[start, stop)` without the chunk extensions `framer` found (a view when there are none). */
function stripped(framer: BodyFramer, buf: Buffer, start: number, stop: number): Buffer {
  const cuts = framer.cuts;
  if (cuts.length === 0) return start === 0 && stop === buf.length ? buf : buf.subarray(start, stop);
  const parts: Buffer[] = [];
  let p = start;
  for (let i = 0; i + 1 < cuts.length; i += 2) {
    const a = cuts[i] as number;
    const b = cuts[i + 1] as number;
    if (a > p) parts.push(buf.subarray(p, a));
    p = b;
  }
  if (stop > p) parts.push(buf.subarray(p, stop));
  return Buffer.concat(parts);
}
