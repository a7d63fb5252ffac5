import http2 from 'node:http2';
import type { PickContext } from '../../balancer/types.ts';
import type { BackendSpec, FrontendSpec } from '../../config/snapshot.ts';
import type { BackendRuntime } from '../../runtime/runtime.ts';
import type { Closeable, ServerRuntime } from '../../runtime/server-runtime.ts';
import type { HttpFrontend } from '../http/connection.ts';
import { findHeadEnd, type HttpHead, MAX_RESPONSE_HEAD, parseHead } from '../http/parser.ts';
import { UpstreamConn, type UpstreamOwner } from '../http/pool.ts';
import { type ChooseRequest, route } from '../http/route.ts';
import { serverAnswered } from '../http/server-answer.ts';
import { ChunkedDecoder } from './chunked.ts';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

/** Request body bytes kept to replay on a fresh connection when a reused one turns out stale. */
const MAX_RETAINED_BODY = 64 * 1024;

/** Request header fields never forwarded from HTTP/2 to HTTP/1.1 (RFC 9113 §8.2.2, RFC 9110 §7.6.1). */
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'http2-settings',
  'expect',
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-port',
]);
/** Response header fields not sent over HTTP/2 (connection-specific, RFC 9113 §8.2.2). */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);

const TEXT: Record<number, string> = {
  400: 'Bad request: the request is malformed and was not forwarded.\n',
  501: 'Not implemented: this request is not supported by the load balancer.\n',
  502: 'Bad gateway: no server of the backend could be reached or it answered badly.\n',
  503: 'Service unavailable: no server of the backend is available.\n',
  504: 'Gateway timeout: the server did not answer in time.\n',
};

// response body framing
const B_NONE = 0;
const B_LENGTH = 1;
const B_CHUNKED = 2;
const B_CLOSE = 3;

/** Counts of a frontend's HTTP/2 side, for tests and status. */
export interface H2Counters {
  streams: number;
}

/**
 * Serves HTTP/2 streams of TLS clients that chose `h2` by ALPN (T1), forwarding each stream
 * as one HTTP/1.1 exchange over the shared pooled upstream path (same routing F4, chooser /
 * persistence P1–P3, balancer, keep-alive pool, backend TLS T2). Pseudo-headers map to the
 * request line and Host; cookies are joined (RFC 9113 §8.2.3); a body without
 * content-length goes up chunked; a chunked response is de-chunked into DATA frames.
 * Bodies stream both ways with backpressure; streams of a session run concurrently.
 */
export function serveH2Stream(
  frontend: HttpFrontend,
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  rawHeaders: string[],
): void {
  const x = new H2Exchange(frontend, stream, headers, rawHeaders);
  x.start();
}

class H2Exchange implements UpstreamOwner, ChooseRequest, Closeable {
  readonly head: HttpHead;
  readonly clientAddress: string;
  readonly pick: PickContext;
  readonly #frontend: HttpFrontend;
  readonly #stream: http2.ServerHttp2Stream;
  readonly #spec: FrontendSpec;
  #bspec: BackendSpec | undefined;
  #brt: BackendRuntime | undefined;
  #rt: ServerRuntime | null = null;
  #up: UpstreamConn | null = null;
  #headOut = '';
  #chunkedUp = false;
  #reqDone = false;
  #reqStarted = false;
  #retained: Buffer[] | null = [];
  #retainedBytes = 0;
  #attempts = 0;
  #reused = false;
  #resBuf: Buffer | null = null;
  #resHeadDone = false;
  #resMode = B_NONE;
  #resRemaining = 0;
  #resKeepAlive = false;
  #dechunk: ChunkedDecoder | null = null;
  #finished = false;
  #cancelTimer: (() => void) | null = null;
  /** When the request head went to the server (performance.now ms), for the time to first byte. */
  #sentAt = 0;
  #upPaused = false;

  constructor(
    frontend: HttpFrontend,
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    rawHeaders: string[],
  ) {
    this.#frontend = frontend;
    this.#stream = stream;
    this.#spec = frontend.spec;
    const remote = stream.session?.socket?.remoteAddress ?? '';
    this.clientAddress = remote.startsWith('::ffff:') && remote.indexOf('.') > 0 ? remote.slice(7) : remote;
    this.pick = { clientAddress: this.clientAddress };
    const method = String(headers[':method'] ?? 'GET');
    const path = String(headers[':path'] ?? '/');
    const authority = String(headers[':authority'] ?? headers.host ?? '');
    const names: string[] = ['Host'];
    const lower: string[] = ['host'];
    const values: string[] = [authority];
    let cookie: string | null = null;
    let contentLength = -1;
    let out = `${method} ${path} HTTP/1.1\r\nHost: ${authority}\r\n`;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i] as string;
      const value = rawHeaders[i + 1] as string;
      if (name.charCodeAt(0) === 58 /* : */) continue;
      if (name === 'cookie') {
        cookie = cookie === null ? value : `${cookie}; ${value}`;
        continue;
      }
      if (DROP_REQUEST.has(name)) continue;
      if (name === 'content-length') contentLength = Number(value);
      names.push(name);
      lower.push(name);
      values.push(value);
      out += `${name}: ${value}\r\n`;
    }
    if (cookie !== null) {
      names.push('cookie');
      lower.push('cookie');
      values.push(cookie);
      out += `cookie: ${cookie}\r\n`;
    }
    this.#reqDone = stream.endAfterHeaders;
    if (!this.#reqDone && contentLength < 0) {
      this.#chunkedUp = true;
      out += 'Transfer-Encoding: chunked\r\n';
    }
    this.#headOut = `${out}X-Forwarded-For: ${this.clientAddress}\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: ${this.#spec.port}\r\n\r\n`;
    this.head = {
      method,
      target: path,
      status: 0,
      reason: '',
      minor: 1,
      names,
      lower,
      values,
      contentLength,
      chunked: this.#chunkedUp,
      transferEncoding: null,
      connClose: false,
      connKeepAlive: false,
      connUpgrade: false,
      connOther: null,
      host: authority,
      upgrade: null,
      expectContinue: false,
      length: 0,
      rewrite: true,
    };
  }

  start(): void {
    const stream = this.#stream;
    const ctx = this.#frontend.ctx;
    ctx.counters.requests++;
    stream.on('error', () => {});
    stream.on('close', () => {
      if (!this.#finished) this.#abort();
    });
    const method = this.head.method;
    if (method === 'CONNECT') {
      this.#answer(501);
      return;
    }
    const q = this.head.target.indexOf('?');
    const path = q >= 0 ? this.head.target.slice(0, q) : this.head.target;
    const routeOut = { index: 0 };
    const bspec = route(this.#spec, this.head, path, routeOut);
    const hits = ctx.counters.ruleHits;
    while (hits.length <= routeOut.index) hits.push(0);
    hits[routeOut.index]!++;
    const brt = bspec === undefined ? undefined : ctx.runtime.backends.get(bspec.id);
    this.#bspec = bspec;
    this.#brt = brt;
    if (brt === undefined) {
      this.#answer(503);
      return;
    }
    brt.requests++;
    const rt = this.#frontend.chooser.choose(brt, this);
    if (rt === undefined) {
      brt.noServer++;
      this.#answer(503);
      return;
    }
    this.#attempts = 1;
    this.#connectTo(rt, false);
  }

  destroy(): void {
    // drain cut (S3): end both sides now
    this.#up?.destroy();
    if (!this.#stream.destroyed) this.#stream.close(NGHTTP2_CANCEL);
    this.#finish(false);
  }

  #connectTo(rt: ServerRuntime, fresh: boolean): void {
    const frontend = this.#frontend;
    this.#rt = rt;
    frontend.ctx.runtime.connectionOpened(rt, this);
    const up = fresh ? undefined : frontend.pool.acquire(rt);
    if (up !== undefined) {
      up.owner = this;
      this.#up = up;
      this.#send();
      return;
    }
    this.#arm((this.#bspec as BackendSpec).connectTimeoutMs, () => {
      const u = this.#up;
      if (u !== null) u.errorCode = 'ETIMEDOUT';
      this.#failed(false);
    });
    this.#up = new UpstreamConn(rt, frontend.pool, this);
  }

  #arm(ms: number, fn: () => void): void {
    this.#cancelTimer?.();
    this.#cancelTimer = ms > 0 ? this.#frontend.ctx.clock.setTimeout(fn, ms) : null;
  }

  onUpstreamConnect(u: UpstreamConn): void {
    if (u !== this.#up || this.#finished) return;
    this.#send();
  }

  #send(): void {
    const up = this.#up as UpstreamConn;
    const rt = this.#rt as ServerRuntime;
    this.#reused = up.served > 0;
    up.served++;
    rt.requests++;
    const bspec = this.#bspec as BackendSpec;
    this.#arm(bspec.responseTimeoutMs, () => this.#timeout());
    const s = up.socket;
    this.#sentAt = performance.now();
    if (this.#reqStarted) {
      // replay on a fresh connection: head and the body bytes retained so far
      s.cork();
      s.write(this.#headOut, 'latin1');
      for (const b of this.#retained ?? []) s.write(b);
      if (this.#reqDone && this.#chunkedUp) s.write('0\r\n\r\n', 'latin1');
      s.uncork();
      if (!this.#reqDone) this.#stream.resume();
      return;
    }
    this.#reqStarted = true;
    s.write(this.#headOut, 'latin1');
    if (this.#reqDone) return;
    const stream = this.#stream;
    stream.on('data', (chunk: Buffer) => this.#onBody(chunk));
    stream.on('end', () => {
      this.#reqDone = true;
      const u = this.#up;
      if (this.#chunkedUp) {
        this.#keep(Buffer.from('0\r\n\r\n', 'latin1'));
        if (u !== null && !u.dead) u.socket.write('0\r\n\r\n', 'latin1');
      }
      if (this.#resDone()) this.#complete();
    });
  }

  #keep(b: Buffer): void {
    if (this.#retained === null) return;
    this.#retainedBytes += b.length;
    if (this.#retainedBytes > MAX_RETAINED_BODY) this.#retained = null;
    else this.#retained.push(b);
  }

  #onBody(chunk: Buffer): void {
    const up = this.#up;
    this.#frontend.ctx.counters.bytesIn += chunk.length;
    if (this.#rt !== null) this.#rt.bytesOut += chunk.length;
    let ok = true;
    if (this.#chunkedUp) {
      const size = Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1');
      this.#keep(size);
      this.#keep(chunk);
      this.#keep(CRLF);
      if (up !== null && !up.dead) {
        up.socket.cork();
        up.socket.write(size);
        up.socket.write(chunk);
        ok = up.socket.write(CRLF);
        up.socket.uncork();
      }
    } else {
      this.#keep(chunk);
      if (up !== null && !up.dead) ok = up.socket.write(chunk);
    }
    if (!ok) this.#stream.pause();
  }

  onUpstreamDrain(u: UpstreamConn): void {
    if (u === this.#up && !this.#reqDone) this.#stream.resume();
  }

  onUpstreamData(u: UpstreamConn, chunk: Buffer): void {
    if (u !== this.#up || this.#finished) return;
    const rt = this.#rt as ServerRuntime;
    rt.bytesIn += chunk.length;
    if (!this.#resHeadDone) {
      const buf = this.#resBuf === null ? chunk : Buffer.concat([this.#resBuf, chunk]);
      let end: number;
      let head: HttpHead;
      try {
        end = findHeadEnd(buf, 0, buf.length, MAX_RESPONSE_HEAD, 502);
        if (end === 0) {
          this.#resBuf = buf;
          return;
        }
        head = parseHead(buf, 0, end, false);
      } catch {
        this.#badResponse();
        return;
      }
      this.#resBuf = null;
      if (head.status >= 100 && head.status < 200) {
        if (head.status === 101) {
          this.#badResponse();
          return;
        }
        // interim answer (100 Continue, 103): not forwarded; look for the final head
        if (end < buf.length) this.onUpstreamData(u, buf.subarray(end));
        return;
      }
      this.#respond(head);
      if (this.#finished) return;
      if (end < buf.length) this.#resBody(buf.subarray(end));
      else if (this.#resDone()) this.#complete();
      return;
    }
    this.#resBody(chunk);
  }

  #respond(head: HttpHead): void {
    this.#resHeadDone = true;
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    const ctx = this.#frontend.ctx;
    const rt = this.#rt as ServerRuntime;
    const status = head.status;
    serverAnswered(ctx.runtime, ctx.counters, rt, status, performance.now() - this.#sentAt);
    const h: http2.OutgoingHttpHeaders = { ':status': status };
    const other = head.connOther;
    for (let i = 0; i < head.lower.length; i++) {
      const name = head.lower[i] as string;
      if (DROP_RESPONSE.has(name) || other?.includes(name)) continue;
      addHeader(h, name, head.values[i] as string);
    }
    const extra = this.#frontend.chooser.responseHeaders(this.#brt as BackendRuntime, rt, this, status, head);
    if (extra.length > 0) {
      for (const line of extra.split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) addHeader(h, line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
    }
    const noBody = this.head.method === 'HEAD' || status === 204 || status === 304;
    if (noBody) this.#resMode = B_NONE;
    else if (head.chunked) {
      this.#resMode = B_CHUNKED;
      this.#dechunk = new ChunkedDecoder();
    } else if (head.contentLength >= 0) {
      this.#resMode = head.contentLength === 0 ? B_NONE : B_LENGTH;
      this.#resRemaining = head.contentLength;
    } else this.#resMode = B_CLOSE;
    this.#resKeepAlive = head.minor === 1 && !head.connClose && this.#resMode !== B_CLOSE;
    try {
      this.#stream.respond(h, { endStream: this.#resMode === B_NONE });
    } catch {
      this.#finish(false);
    }
  }

  #resDone(): boolean {
    return this.#resHeadDone && (this.#resMode === B_NONE || (this.#resMode === B_LENGTH && this.#resRemaining === 0));
  }

  #resBody(chunk: Buffer): void {
    const stream = this.#stream;
    let ok = true;
    const counters = this.#frontend.ctx.counters;
    switch (this.#resMode) {
      case B_NONE:
        // bytes after a body-less response: the connection cannot be reused
        this.#resKeepAlive = false;
        break;
      case B_LENGTH: {
        const take = Math.min(chunk.length, this.#resRemaining);
        this.#resRemaining -= take;
        counters.bytesOut += take;
        ok = stream.write(take === chunk.length ? chunk : chunk.subarray(0, take));
        if (take < chunk.length) this.#resKeepAlive = false;
        break;
      }
      case B_CHUNKED: {
        const d = this.#dechunk as ChunkedDecoder;
        try {
          const stop = d.push(chunk, (slice) => {
            counters.bytesOut += slice.length;
            ok = stream.write(slice) && ok;
          });
          if (d.done && stop < chunk.length) this.#resKeepAlive = false;
        } catch {
          this.#up?.destroy();
          this.#reset();
          return;
        }
        break;
      }
      case B_CLOSE:
        counters.bytesOut += chunk.length;
        ok = stream.write(chunk);
        break;
    }
    if (this.#resMode === B_CHUNKED ? (this.#dechunk as ChunkedDecoder).done : this.#resDone()) {
      this.#complete();
      return;
    }
    if (!ok && !this.#upPaused) {
      this.#upPaused = true;
      const up = this.#up as UpstreamConn;
      up.socket.pause();
      stream.once('drain', () => {
        this.#upPaused = false;
        if (this.#up === up && !up.dead) up.socket.resume();
      });
    }
  }

  onUpstreamEnd(u: UpstreamConn): void {
    if (u !== this.#up || this.#finished) return;
    if (this.#resHeadDone && this.#resMode === B_CLOSE) {
      this.#resKeepAlive = false;
      this.#complete();
    }
  }

  onUpstreamClose(u: UpstreamConn): void {
    if (u !== this.#up || this.#finished) return;
    if (this.#resHeadDone) {
      if (this.#resMode === B_CLOSE) {
        this.#resKeepAlive = false;
        this.#complete();
      } else this.#reset(); // truncated response
      return;
    }
    this.#failed(u.connected);
  }

  /** The server could not be used before any answer: retry once (fresh or another server), else 502. */
  #failed(connected: boolean): void {
    const ctx = this.#frontend.ctx;
    const rt = this.#rt as ServerRuntime;
    const up = this.#up;
    this.#up = null;
    up?.destroy();
    const staleReuse = connected && this.#reused;
    if (!staleReuse) {
      rt.failures++;
      ctx.runtime.recordOutcome(rt, false);
    }
    ctx.runtime.connectionClosed(rt, this);
    const canReplay = !this.#reqStarted || this.#retained !== null;
    if (this.#attempts < 2 && canReplay && !this.#stream.destroyed) {
      this.#attempts++;
      if (staleReuse) {
        this.#connectTo(rt, true);
        return;
      }
      const brt = this.#brt as BackendRuntime;
      this.pick.exclude = rt;
      const next = this.#frontend.chooser.choose(brt, this) ?? (rt.isAvailable(ctx.clock.now()) ? rt : undefined);
      this.pick.exclude = undefined;
      if (next !== undefined) {
        if (!this.#reqDone) this.#stream.pause();
        this.#connectTo(next, true);
        return;
      }
    }
    this.#rt = null;
    this.#answer(502);
  }

  #timeout(): void {
    if (this.#finished) return;
    const rt = this.#rt;
    this.#up?.destroy();
    this.#up = null;
    if (rt !== null) {
      rt.failures++;
      this.#frontend.ctx.runtime.recordOutcome(rt, false);
    }
    if (!this.#resHeadDone) this.#answer(504);
    else this.#reset();
  }

  #badResponse(): void {
    const rt = this.#rt as ServerRuntime;
    rt.failures++;
    this.#frontend.ctx.runtime.recordOutcome(rt, false);
    this.#up?.destroy();
    this.#up = null;
    this.#answer(502);
  }

  #answer(status: number): void {
    const stream = this.#stream;
    const ctx = this.#frontend.ctx;
    ctx.counters.responses[(status / 100) | 0]!++;
    if (status === 503) ctx.counters.refused++;
    if (!stream.destroyed && !stream.headersSent) {
      const body = TEXT[status] ?? '';
      try {
        stream.respond({
          ':status': status,
          'content-type': 'text/plain; charset=utf-8',
          'cache-control': 'no-store',
          ...(status === 503 ? { 'retry-after': '5' } : {}),
        });
        stream.end(body);
        if (!this.#reqDone) stream.close(NGHTTP2_NO_ERROR);
      } catch {
        /* stream gone */
      }
    } else if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
    this.#finish(false);
  }

  #reset(): void {
    this.#up?.destroy();
    this.#up = null;
    if (!this.#stream.destroyed) this.#stream.close(NGHTTP2_INTERNAL_ERROR);
    this.#finish(false);
  }

  /** The response is complete. */
  #complete(): void {
    const stream = this.#stream;
    if (!stream.destroyed && !stream.writableEnded) stream.end();
    if (!this.#reqDone) {
      // the server answered before the whole request body: stop the upload, the connection cannot be reused
      this.#resKeepAlive = false;
      if (!stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
    }
    this.#finish(this.#resKeepAlive);
  }

  /** The client went away before the end. */
  #abort(): void {
    this.#up?.destroy();
    this.#up = null;
    this.#finish(false);
  }

  #finish(reuse: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    const up = this.#up;
    this.#up = null;
    if (up !== null) {
      if (reuse && !up.dead) {
        if (this.#upPaused) up.socket.resume();
        this.#frontend.pool.release(up, this.#frontend.ctx.clock.now());
      } else up.destroy();
    }
    const rt = this.#rt;
    if (rt !== null) this.#frontend.ctx.runtime.connectionClosed(rt, this);
  }
}

const CRLF = Buffer.from('\r\n', 'latin1');

function addHeader(h: http2.OutgoingHttpHeaders, name: string, value: string): void {
  const cur = h[name];
  if (cur === undefined) h[name] = value;
  else if (name === 'set-cookie') h[name] = Array.isArray(cur) ? [...cur, value] : [String(cur), value];
  else h[name] = `${String(cur)}, ${value}`;
}
