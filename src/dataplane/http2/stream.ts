import http2 from 'node:http2';
import type net from 'node:net';
import { h2Answer } from '../http/answers.ts';
import { Exchange, type ExchangeClient } from '../http/exchange.ts';
import { dropField, fieldValue, forwardedLines, isHopByHop, isTrustedProxy } from '../http/forward-headers.ts';
import type { HttpFrontend } from '../http/frontend.ts';
import type { HttpHead } from '../http/parser.ts';
import { parseTarget, targetOut } from '../http/request-target.ts';
import { proxiedPeer } from '../proxy-protocol.ts';
import { ChunkedDecoder } from './chunked.ts';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_PROTOCOL_ERROR } = http2.constants;

/**
 * Server connections one HTTP/2 client connection may hold at once (issue 12 §3): streams
 * beyond it wait for one to finish (their bodies wait in HTTP/2 flow control).
 */
export const MAX_UPSTREAM_PER_SESSION = 32;

/** Per HTTP/2 client connection: exchanges running and streams waiting for a server connection. */
export interface H2SessionState {
  active: number;
  readonly waiting: H2Stream[];
}

/** A new, empty session state. */
export function h2SessionState(): H2SessionState {
  return { active: 0, waiting: [] };
}

const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/**
 * Serves one HTTP/2 stream of a TLS client that chose `h2` by ALPN (T1) as an adapter onto the
 * protocol-neutral `Exchange` (the same routing F4, chooser / persistence P1–P3, retries,
 * answers, outcome and access log as HTTP/1.1). This file only translates framings: pseudo-
 * headers map to the request line and Host, cookies are joined (RFC 9113 §8.2.3), a body
 * without content-length goes up chunked, a chunked answer is de-chunked into DATA frames,
 * and a body that disagrees with its `content-length` is a stream error (RST_STREAM
 * PROTOCOL_ERROR, RFC 9113 §8.1.1, `bad-request`) that leaves sibling streams alone. Malformed
 * fields are refused (RST_STREAM) or dropped one by one by Node's HTTP/2 layer before this code
 * sees them, so they are never forwarded (./README.md lists which).
 */
export function serveH2Stream(
  frontend: HttpFrontend,
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  rawHeaders: string[],
  session: H2SessionState,
): void {
  const s = new H2Stream(frontend, stream, headers, rawHeaders, session);
  if (session.active >= MAX_UPSTREAM_PER_SESSION) session.waiting.push(s);
  else s.start();
}

/** One HTTP/2 stream bound to one Exchange. */
export class H2Stream implements ExchangeClient {
  readonly x: Exchange;
  readonly head: HttpHead;
  readonly #frontend: HttpFrontend;
  readonly #stream: http2.ServerHttp2Stream;
  readonly #session: H2SessionState;
  #started = false;
  #released = false;
  #chunkedUp = false;
  #declared = -1;
  #received = 0;
  #dechunk: ChunkedDecoder | null = null;
  #bytes = 0;
  /** RST_STREAM code when the exchange is cut (INTERNAL_ERROR, or PROTOCOL_ERROR for a malformed request). */
  #resetCode: number = NGHTTP2_INTERNAL_ERROR;

  constructor(
    frontend: HttpFrontend,
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    rawHeaders: string[],
    session: H2SessionState,
  ) {
    this.#frontend = frontend;
    this.#stream = stream;
    this.#session = session;
    // issue 15 point 3: the address a PROXY header named, else the socket's peer
    const proxied = proxiedPeer(stream.session?.socket);
    const remote = proxied?.sourceAddress ?? stream.session?.socket?.remoteAddress ?? '';
    const clientAddress = remote.startsWith('::ffff:') && remote.indexOf('.') > 0 ? remote.slice(7) : remote;
    this.x = new Exchange(frontend, this, clientAddress, 'h2', true);
    const sock = stream.session?.socket;
    if (proxied !== undefined) this.x.proxyEndpoints = proxied;
    else if (sock !== undefined) this.x.proxySocket = sock as net.Socket;
    const method = String(headers[':method'] ?? 'GET');
    const authority = String(headers[':authority'] ?? headers.host ?? '');
    const names: string[] = ['host'];
    const lower: string[] = ['host'];
    const values: string[] = [authority];
    let cookie: string | null = null;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i] as string;
      if (name.charCodeAt(0) === 58 /* : */ || name === 'host') continue;
      const value = rawHeaders[i + 1] as string;
      if (name === 'cookie') {
        cookie = cookie === null ? value : `${cookie}; ${value}`;
        continue;
      }
      if (name === 'content-length') this.#declared = Number(value);
      names.push(name);
      lower.push(name);
      values.push(value);
    }
    if (cookie !== null) {
      names.push('cookie');
      lower.push('cookie');
      values.push(cookie);
    }
    this.head = {
      method,
      target: String(headers[':path'] ?? '/'),
      status: 0,
      reason: '',
      minor: 1,
      names,
      lower,
      values,
      contentLength: this.#declared,
      chunked: false,
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
    // a stream the client resets, or a session that dies, while it waits or runs
    stream.on('error', () => {
      frontend.ctx.counters.clientErrors++;
    });
    stream.on('close', () => this.#closed());
  }

  /** Starts the exchange (now, or when a server connection slot of the session frees up). */
  start(): void {
    this.#started = true;
    this.#session.active++;
    const frontend = this.#frontend;
    const spec = frontend.spec;
    const stream = this.#stream;
    const x = this.x;
    const head = this.head;
    if (stream.destroyed) {
      this.#release();
      return;
    }
    frontend.ctx.counters.requests++;
    x.begin(spec, head);
    frontend.streams.add(x);
    stream.on('drain', () => x.clientDrained());
    const t = parseTarget(head.method, head.target, spec.mergeSlashes, targetOut());
    x.reqDone = stream.endAfterHeaders;
    if (t.status !== 0) {
      x.answer(t.status, true, 'bad-request');
      return;
    }
    x.target = t.target;
    if (this.#declared > 0 && x.refuseDeclaredLength(this.#declared)) return;
    if (!x.dispatch(t.path)) return;
    const trusted = spec.trustedProxies.length > 0 && isTrustedProxy(spec, x.clientAddress);
    let out = `${head.method} ${t.target} HTTP/1.1\r\nHost: ${head.host}\r\n`;
    const lower = head.lower;
    for (let i = 1; i < lower.length; i++) {
      const name = lower[i] as string;
      if (name === 'expect' || dropField(name, trusted)) continue;
      if (trusted && (name === 'x-forwarded-for' || name === 'x-forwarded-proto' || name === 'x-forwarded-port'))
        continue;
      out += `${name}: ${head.values[i]}\r\n`;
    }
    if (this.#declared >= 0) out += `Content-Length: ${this.#declared}\r\n`;
    else if (!x.reqDone) {
      this.#chunkedUp = true;
      out += 'Transfer-Encoding: chunked\r\n';
    }
    out += trusted
      ? forwardedLines(
          x.clientAddress,
          'https',
          spec.port,
          fieldValue(lower, head.values, 'x-forwarded-for'),
          fieldValue(lower, head.values, 'x-forwarded-proto'),
          fieldValue(lower, head.values, 'x-forwarded-port'),
        )
      : forwardedLines(x.clientAddress, 'https', spec.port);
    x.headOut = `${out}\r\n`;
    if (!x.reqDone) {
      stream.on('data', (chunk: Buffer) => this.#onBody(chunk));
      stream.on('end', () => this.#onBodyEnd());
    }
    x.connect();
  }

  #onBody(chunk: Buffer): void {
    const x = this.x;
    this.#frontend.ctx.counters.bytesIn += chunk.length;
    this.#received += chunk.length;
    if (this.#declared >= 0 && this.#received > this.#declared) {
      this.#lengthMismatch();
      return;
    }
    let ok: boolean;
    if (this.#chunkedUp) {
      const size = `${chunk.length.toString(16)}\r\n`;
      ok = x.requestBody(Buffer.concat([Buffer.from(size, 'latin1'), chunk, CRLF]), chunk.length);
    } else ok = x.requestBody(chunk, chunk.length);
    if (!ok && !x.reqDone && x.active) this.#stream.pause();
  }

  #onBodyEnd(): void {
    const x = this.x;
    if (this.#declared >= 0 && this.#received !== this.#declared) {
      this.#lengthMismatch();
      return;
    }
    if (this.#chunkedUp) x.requestBody(LAST_CHUNK, 0);
    x.requestEnd();
  }

  /** DATA disagrees with content-length (RFC 9113 §8.1.1): a stream error, the connection stays. */
  #lengthMismatch(): void {
    this.#resetCode = NGHTTP2_PROTOCOL_ERROR;
    if (this.x.active) this.x.abort('bad-request');
    else if (!this.#stream.destroyed) this.#stream.close(NGHTTP2_PROTOCOL_ERROR);
  }

  #closed(): void {
    const x = this.x;
    if (!this.#started) {
      const i = this.#session.waiting.indexOf(this);
      if (i >= 0) this.#session.waiting.splice(i, 1);
      return;
    }
    // nghttp2 resets a stream by itself (RST_STREAM PROTOCOL_ERROR) when its body ends short of
    // its content-length (RFC 9113 §8.1.1): the client broke the protocol, it did not go away
    if (this.#stream.rstCode === NGHTTP2_PROTOCOL_ERROR && !x.reqDone) x.abort('bad-request');
    else x.clientGone();
    this.#release();
  }

  /** Frees this stream's server connection slot of the session and starts a waiting stream. */
  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#frontend.streams.delete(this.x);
    const session = this.#session;
    session.active--;
    while (session.active < MAX_UPSTREAM_PER_SESSION && session.waiting.length > 0) {
      (session.waiting.shift() as H2Stream).start();
    }
  }

  // ---------------------------------------------------------------- ExchangeClient

  responseHead(x: Exchange, rh: HttpHead, data: Buffer, end: number, stop: number, extra: string): boolean {
    const h: http2.OutgoingHttpHeaders = { ':status': rh.status };
    const other = rh.connOther;
    for (let i = 0; i < rh.lower.length; i++) {
      const name = rh.lower[i] as string;
      if ((isHopByHop(name) && name !== 'content-length') || other?.includes(name)) continue;
      addHeader(h, name, rh.values[i] as string);
    }
    if (rh.chunked) delete h['content-length'];
    if (extra.length > 0) {
      for (const line of extra.split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) addHeader(h, line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
    }
    const endStream = x.resFramer.done && stop === end;
    if (rh.chunked) this.#dechunk = new ChunkedDecoder();
    try {
      this.#stream.respond(h, { endStream });
    } catch {
      return true;
    }
    if (stop <= end) return true;
    // the body bytes that came with the head (later ones are counted by the exchange)
    this.#frontend.ctx.counters.bytesOut += stop - end;
    return this.#write(data.subarray(end, stop));
  }

  responseBody(_x: Exchange, data: Buffer, start: number, stop: number): boolean {
    return this.#write(start === 0 && stop === data.length ? data : data.subarray(start, stop));
  }

  #write(slice: Buffer): boolean {
    const stream = this.#stream;
    if (stream.destroyed || stream.writableEnded) return true;
    const d = this.#dechunk;
    // copies: DATA frames keep their bytes until nghttp2 sends them, and the server connection
    // reads into one reused buffer (`UpstreamConn`)
    if (d === null) {
      this.#bytes += slice.length;
      return stream.write(Buffer.from(slice));
    }
    let ok = true;
    try {
      d.push(slice, (part) => {
        this.#bytes += part.length;
        ok = stream.write(Buffer.from(part)) && ok;
      });
    } catch {
      // the exchange's framer checked the chunked framing already
    }
    return ok;
  }

  interim(): void {
    // 1xx interim answers are not relayed over HTTP/2
  }

  tunnel(): void {
    this.cut(); // HTTP/2 clients never ask for an upgrade (RFC 9113 §8.6)
  }

  tunnelData(): boolean {
    return true;
  }

  tunnelEnd(): void {}

  done(x: Exchange): void {
    const stream = this.#stream;
    if (!stream.destroyed && !stream.writableEnded) stream.end();
    // the server answered before the whole request body: stop the upload
    if (!x.reqDone && !stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
    this.#release();
  }

  answer(x: Exchange, status: number): number {
    const stream = this.#stream;
    let n = 0;
    if (!stream.destroyed && !stream.headersSent) {
      n = h2Answer(stream, status);
      this.#bytes += n;
      if (!x.reqDone && !stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
    } else if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
    this.#release();
    return n;
  }

  cut(): void {
    if (!this.#stream.destroyed) this.#stream.close(this.#resetCode);
    this.#release();
  }

  pauseRequest(): void {
    if (!this.x.reqDone) this.#stream.pause();
  }

  resumeRequest(): void {
    if (!this.x.reqDone) this.#stream.resume();
  }

  bytesWritten(): number {
    return this.#bytes;
  }

  settled(): void {}

  flushed(): boolean {
    return true; // `#write` hands copies to the HTTP/2 stream
  }

  destroy(): void {
    if (!this.#stream.destroyed) this.#stream.close(NGHTTP2_CANCEL);
  }
}

function addHeader(h: http2.OutgoingHttpHeaders, name: string, value: string): void {
  const cur = h[name];
  if (cur === undefined) h[name] = value;
  else if (name === 'set-cookie') h[name] = Array.isArray(cur) ? [...cur, value] : [String(cur), value];
  else h[name] = `${String(cur)}, ${value}`;
}
