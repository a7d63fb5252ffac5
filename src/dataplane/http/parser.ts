/**
 * Strict HTTP/1.1 message parsing over Buffers (RFC 9112), written for the proxy's hot path:
 * one pass over the head with `indexOf`, table lookups per byte, latin1 slices, no regex.
 *
 * - `parseHead` parses a request or a response head that starts at `start` in a Buffer.
 * - `BodyFramer` tracks a body's framing (Content-Length, chunked, until close) over the
 *   raw bytes, so bodies are forwarded as they are (chunked stays chunked) while the
 *   proxy knows exactly where the message ends.
 *
 * Every refusal throws `HttpParseError` with the status the proxy answers with (400, 431,
 * 501 for requests; the proxy turns any response error into 502) and a short reason.
 */

import { isClientIdentity, isLookAlike } from './forward-headers.ts';

/** A refused message: `status` is what the proxy answers (400, 431, 501), `message` says why. */
export class HttpParseError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'HttpParseError';
    this.status = status;
  }
}

/** tchar (RFC 9110 §5.6.2): `!#$%&'*+-.^_`|~`, digits, letters. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;
/** field-vchar, SP, HTAB, obs-text (RFC 9110 §5.5): anything but CTLs (other than HTAB) and DEL. */
const FIELD_VALUE = new Uint8Array(256);
for (let i = 0; i < 256; i++) FIELD_VALUE[i] = i === 9 || (i >= 0x20 && i !== 0x7f) ? 1 : 0;
/** request-target bytes: visible US-ASCII only (RFC 9112 §3.2; no SP, CTL or non-ASCII). */
const TARGET = new Uint8Array(256);
for (let i = 0x21; i < 0x7f; i++) TARGET[i] = 1;
/** Characters allowed in a Host value (RFC 3986 authority: reg-name, IP-literal, port). */
const HOSTCHAR = new Uint8Array(256);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:[]%")
  HOSTCHAR[c.charCodeAt(0)] = 1;
/** Hex digit values + 1 (0 = not a hex digit). */
const HEX = new Uint8Array(256);
for (let i = 0; i < 10; i++) HEX[48 + i] = i + 1;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 11 + i;
  HEX[97 + i] = 11 + i;
}

/** Node's fast latin1 decoder (Buffer#latin1Slice, present since Node 0.x but untyped). */
type Latin1Slicer = { latin1Slice(start: number, end: number): string };
/** Decodes `buf[start, end)` as latin1 (one byte per char), without argument checks. */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as Latin1Slicer).latin1Slice(start, end);
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;

/** A parsed request or response head. Header names keep their case in `names`; `lower` is lower-cased. */
export interface HttpHead {
  /** Request method (requests only; '' for responses). */
  method: string;
  /** Request target as sent (requests only). */
  target: string;
  /** Response status (responses only; 0 for requests). */
  status: number;
  /** Response reason phrase (responses only). */
  reason: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  names: string[];
  lower: string[];
  values: string[];
  /** Content-Length in bytes; -1 when absent. */
  contentLength: number;
  /** True when Transfer-Encoding is present and its final coding is chunked. */
  chunked: boolean;
  /** The Transfer-Encoding value as received (null when absent). */
  transferEncoding: string | null;
  /** Connection tokens. */
  connClose: boolean;
  connKeepAlive: boolean;
  connUpgrade: boolean;
  /** Lower-case header names listed in Connection other than close/keep-alive/upgrade (they are hop-by-hop). */
  connOther: string[] | null;
  /** Host header value (requests), null when absent. */
  host: string | null;
  /** Upgrade header value, null when absent. */
  upgrade: string | null;
  /** `Expect: 100-continue` present. */
  expectContinue: boolean;
  /** Bytes taken by the head including the empty line. */
  length: number;
  /**
   * True when the head cannot be forwarded byte for byte: it has hop-by-hop fields other than
   * `Connection: keep-alive` (RFC 9110 §7.6.1), client-sent X-Forwarded-*, a Content-Length
   * list, or leading empty lines. False lets the proxy copy the raw head (the fast path).
   */
  rewrite: boolean;
}

/** Largest request head accepted (bytes); larger → 431. */
export const MAX_REQUEST_HEAD = 32 * 1024;
/** Largest response head accepted from a server (bytes). */
export const MAX_RESPONSE_HEAD = 64 * 1024;
/** Most header fields accepted in one head; more → 431 (requests) / error (responses). */
export const MAX_HEADERS = 128;

function newHead(): HttpHead {
  return {
    method: '',
    target: '',
    status: 0,
    reason: '',
    minor: 1,
    names: [],
    lower: [],
    values: [],
    contentLength: -1,
    chunked: false,
    transferEncoding: null,
    connClose: false,
    connKeepAlive: false,
    connUpgrade: false,
    connOther: null,
    host: null,
    upgrade: null,
    expectContinue: false,
    length: 0,
    rewrite: false,
  };
}

/**
 * A head that names nothing: what an idle connection or a spare exchange holds in place of its
 * last request's (so that one can be collected). Never forwarded, never changed.
 */
export const NO_HEAD: Readonly<HttpHead> = Object.freeze(newHead());

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Finds the end of a head in `buf[start, end)`: returns the index just past the empty line,
 * 0 when the head is not complete yet. Leading empty lines are skipped (RFC 9112 §2.2).
 * While the head is incomplete, a bare LF (a line not ended by CRLF) throws 400 at once, so
 * an LF-only request is refused rather than waited for; more than `max` bytes without the
 * end throws `tooLarge` (431 for requests). A bare CR/LF inside a complete head is refused
 * by `parseHead`.
 */
export function findHeadEnd(buf: Buffer, start: number, end: number, max: number, tooLarge: number): number {
  let pos = start;
  while (pos + 1 < end && buf[pos] === CR && buf[pos + 1] === LF) pos += 2;
  const i = buf.indexOf(CRLFCRLF, pos);
  if (i >= 0 && i + 4 <= end) {
    if (i + 4 - start > max) throw new HttpParseError(tooLarge, 'head too large');
    return i + 4;
  }
  // incomplete (rare: a head split over reads): look for a bare LF line ending
  for (;;) {
    const nl = buf.indexOf(LF, pos);
    if (nl < 0 || nl >= end) break;
    if (nl === pos || buf[nl - 1] !== CR) throw new HttpParseError(400, 'bare LF in head (lines must end with CRLF)');
    pos = nl + 1;
  }
  if (end - start > max) throw new HttpParseError(tooLarge, 'head too large');
  return 0;
}

/**
 * Parses a complete head in `buf[start, headEnd)` (headEnd from `findHeadEnd`), decoded once
 * as one latin1 string. `request` selects the request-line or the status-line grammar.
 * Every byte of every line is checked against its grammar's table, so a bare CR or LF inside
 * a line is refused. Throws HttpParseError (400 / 431) naming the rule that failed.
 */
export function parseHead(buf: Buffer, start: number, headEnd: number, request: boolean): HttpHead {
  const h = newHead();
  h.length = headEnd - start;
  const s = latin1(buf, start, headEnd);
  const last = s.length - 2; // the final CRLF (the empty line)
  let pos = 0;
  while (s.charCodeAt(pos) === CR && s.charCodeAt(pos + 1) === LF) pos += 2;
  if (pos !== 0) h.rewrite = true;
  // first line
  let le = s.indexOf('\r\n', pos);
  if (request) parseRequestLine(s, pos, le, h);
  else parseStatusLine(s, pos, le, h);
  pos = le + 2;
  let hostCount = 0;
  let clCount = 0;
  let teCount = 0;
  while (pos < last) {
    le = s.indexOf('\r\n', pos);
    const first = s.charCodeAt(pos);
    if (first === SP || first === HTAB)
      throw new HttpParseError(400, 'obs-fold (header line starting with whitespace)');
    let colon = pos;
    while (colon < le && TCHAR[s.charCodeAt(colon)] === 1) colon++;
    if (colon === pos || colon >= le || s.charCodeAt(colon) !== 58) {
      throw new HttpParseError(400, 'invalid header name (token characters then ":" required)');
    }
    let vs = colon + 1;
    let c = s.charCodeAt(vs);
    while (vs < le && (c === SP || c === HTAB)) c = s.charCodeAt(++vs);
    let ve = le;
    c = s.charCodeAt(ve - 1);
    while (ve > vs && (c === SP || c === HTAB)) c = s.charCodeAt(--ve - 1);
    for (let i = vs; i < ve; i++) {
      if (FIELD_VALUE[s.charCodeAt(i)] !== 1) throw new HttpParseError(400, 'invalid character in header value');
    }
    if (h.names.length >= MAX_HEADERS) throw new HttpParseError(request ? 431 : 400, 'too many header fields');
    const name = s.slice(pos, colon);
    const value = s.slice(vs, ve);
    const lower = name.toLowerCase();
    h.names.push(name);
    h.lower.push(lower);
    h.values.push(value);
    switch (lower) {
      case 'host':
        hostCount++;
        h.host = value;
        break;
      case 'content-length':
        clCount++;
        h.contentLength = mergeContentLength(h.contentLength, value);
        if (clCount > 1 || value.indexOf(',') >= 0) h.rewrite = true; // a list is normalised to one value
        break;
      case 'transfer-encoding':
        teCount++;
        h.transferEncoding = h.transferEncoding === null ? value : `${h.transferEncoding}, ${value}`;
        break;
      case 'connection':
        parseConnection(value, h);
        break;
      case 'upgrade':
        h.upgrade = value;
        h.rewrite = true;
        break;
      case 'keep-alive':
      case 'proxy-connection':
      case 'te':
        h.rewrite = true;
        break;
      case 'expect':
        if (value.toLowerCase() === '100-continue') h.expectContinue = true;
        break;
      default:
        // client identity (replaced unless from a trusted proxy) and look-alike names are not copied as received
        if (isClientIdentity(lower) || isLookAlike(lower)) h.rewrite = true;
    }
    pos = le + 2;
  }
  if (h.connClose || h.connUpgrade || h.connOther !== null || teCount > 1) h.rewrite = true;
  if (clCount > 0 && teCount > 0) {
    throw new HttpParseError(400, 'both Content-Length and Transfer-Encoding (RFC 9112 §6.3)');
  }
  if (teCount > 0) {
    const te = (h.transferEncoding as string).toLowerCase();
    if (request) {
      if (h.minor === 0) throw new HttpParseError(400, 'Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)');
      if (te !== 'chunked')
        throw new HttpParseError(400, 'Transfer-Encoding must be exactly "chunked" (RFC 9112 §6.1)');
      h.chunked = true;
    } else {
      // responses: chunked when the final coding is chunked; otherwise read until close (RFC 9112 §6.3 (4)).
      const lastComma = te.lastIndexOf(',');
      const final = (lastComma < 0 ? te : te.slice(lastComma + 1)).trim();
      h.chunked = final === 'chunked';
      if (h.chunked && te.indexOf('chunked') !== te.lastIndexOf('chunked')) {
        throw new HttpParseError(400, 'chunked applied more than once');
      }
    }
  }
  if (request) {
    if (hostCount > 1) throw new HttpParseError(400, 'more than one Host header (RFC 9112 §3.2)');
    if (hostCount === 0 && h.minor === 1) throw new HttpParseError(400, 'missing Host header in an HTTP/1.1 request');
    const host = h.host;
    if (host !== null) {
      for (let i = 0; i < host.length; i++) {
        if (HOSTCHAR[host.charCodeAt(i)] !== 1) throw new HttpParseError(400, 'invalid Host header value');
      }
    }
  }
  return h;
}

function parseRequestLine(s: string, ls: number, le: number, h: HttpHead): void {
  let p = ls;
  while (p < le && TCHAR[s.charCodeAt(p)] === 1) p++;
  if (p === ls || p >= le || s.charCodeAt(p) !== SP) throw new HttpParseError(400, 'invalid request line (method)');
  h.method = s.slice(ls, p);
  const ts = ++p;
  while (p < le && TARGET[s.charCodeAt(p)] === 1) p++;
  if (p === ts) throw new HttpParseError(400, 'invalid request line (target)');
  h.target = s.slice(ts, p);
  if (p === le) throw new HttpParseError(400, 'request line without HTTP version (HTTP/0.9 is not supported)');
  if (s.charCodeAt(p) !== SP || le - p !== 9) throw new HttpParseError(400, 'invalid request line (version)');
  h.minor = parseVersion(s, p + 1);
}

function parseVersion(s: string, p: number): number {
  // "HTTP/1.0" or "HTTP/1.1" exactly; anything else (HTTP/2.0, HTTP/1.2, lower case) is refused.
  if (!s.startsWith('HTTP/1.', p))
    throw new HttpParseError(400, 'unsupported HTTP version (HTTP/1.0 and HTTP/1.1 only)');
  const m = s.charCodeAt(p + 7);
  if (m === 49) return 1;
  if (m === 48) return 0;
  throw new HttpParseError(400, 'unsupported HTTP version (HTTP/1.0 and HTTP/1.1 only)');
}

function parseStatusLine(s: string, ls: number, le: number, h: HttpHead): void {
  // HTTP/1.x SP 3DIGIT [SP reason]  (the SP before an empty reason is sometimes omitted; accept it)
  if (le - ls < 12 || s.charCodeAt(ls + 8) !== SP) throw new HttpParseError(400, 'invalid status line');
  h.minor = parseVersion(s, ls);
  const d0 = s.charCodeAt(ls + 9) - 48;
  const d1 = s.charCodeAt(ls + 10) - 48;
  const d2 = s.charCodeAt(ls + 11) - 48;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) throw new HttpParseError(400, 'invalid status code');
  h.status = d0 * 100 + d1 * 10 + d2;
  if (le === ls + 12) return;
  if (s.charCodeAt(ls + 12) !== SP) throw new HttpParseError(400, 'invalid status line');
  for (let i = ls + 13; i < le; i++) {
    if (FIELD_VALUE[s.charCodeAt(i)] !== 1) throw new HttpParseError(400, 'invalid reason phrase');
  }
  h.reason = s.slice(ls + 13, le);
}

/** Content-Length: 1*DIGIT, or a list of identical values (RFC 9110 §8.6); anything else → 400. */
function mergeContentLength(prev: number, value: string): number {
  let n = -1;
  let i = 0;
  const len = value.length;
  for (;;) {
    let v = 0;
    const s = i;
    while (i < len) {
      const c = value.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
      i++;
    }
    if (i === s || i - s > 15) throw new HttpParseError(400, 'invalid Content-Length value');
    if ((n >= 0 && v !== n) || (prev >= 0 && v !== prev))
      throw new HttpParseError(400, 'differing Content-Length values');
    n = v;
    while (i < len && (value.charCodeAt(i) === SP || value.charCodeAt(i) === HTAB)) i++;
    if (i === len) return n;
    if (value.charCodeAt(i) !== 44) throw new HttpParseError(400, 'invalid Content-Length value');
    i++;
    while (i < len && (value.charCodeAt(i) === SP || value.charCodeAt(i) === HTAB)) i++;
  }
}

function parseConnection(value: string, h: HttpHead): void {
  let i = 0;
  const len = value.length;
  while (i < len) {
    let e = value.indexOf(',', i);
    if (e < 0) e = len;
    const tok = value.slice(i, e).trim().toLowerCase();
    i = e + 1;
    if (tok === '') continue;
    if (tok === 'close') h.connClose = true;
    else if (tok === 'keep-alive') h.connKeepAlive = true;
    else if (tok === 'upgrade') h.connUpgrade = true;
    else (h.connOther ??= []).push(tok);
  }
}

/** Longest chunk extension accepted on one chunk-size line (bytes); longer → 400 (issue 12 §3). */
export const MAX_CHUNK_EXTENSION = 256;

/** Body framing modes. */
export const Framing = { none: 0, length: 1, chunked: 2, close: 3 } as const;
export type FramingMode = (typeof Framing)[keyof typeof Framing];

// chunked decoder states
const C_SIZE0 = 0; // first hex digit required
const C_SIZE = 1; // more hex digits, ';', or CR
const C_EXT = 2; // chunk extension up to CR
const C_SIZE_LF = 3; // LF after the size line
const C_DATA = 4;
const C_DATA_CR = 5;
const C_DATA_LF = 6;
const C_TRAILER0 = 7; // start of a trailer line (CR = end)
const C_TRAILER = 8; // inside a trailer line
const C_TRAILER_LF = 9; // LF after a trailer line
const C_END_LF = 10; // LF after the final empty line

/**
 * Tracks where a body ends without changing its bytes (RFC 9112 §6, §7.1). `consume`
 * returns the index just past the last body byte found in `buf[start, end)`; `done` tells
 * whether the body is complete there. Chunk-size lines are checked strictly (hex digits,
 * at most 15, extensions without CTLs, CRLF only); a violation throws HttpParseError(400).
 */
export class BodyFramer {
  mode: FramingMode = Framing.none;
  done = true;
  /** Bytes left for `length`, or in the current chunk. */
  remaining = 0;
  /** Body payload bytes seen so far (chunk data, without the chunk framing). */
  payload = 0;
  /**
   * Chunk extensions to strip (issue 12 §3): when true, `cuts` lists after each `consume` the
   * [start, end) ranges of extension bytes (`;name=value`, with the whitespace before it) in
   * the buffer just consumed, so the caller forwards the body without them.
   */
  stripExtensions = false;
  /** Ranges to cut from the last consumed buffer (pairs of indexes); empty when none. */
  readonly cuts: number[] = [];
  #state = C_SIZE0;
  #digits = 0;
  #extBytes = 0;

  /** Starts a new body. `length` is used for Framing.length. */
  reset(mode: FramingMode, length: number): void {
    this.mode = mode;
    this.remaining = length;
    this.#state = C_SIZE0;
    this.#digits = 0;
    this.payload = 0;
    this.cuts.length = 0;
    this.done = mode === Framing.none || (mode === Framing.length && length === 0);
  }

  /** Consumes body bytes from `buf[start, end)`; returns the index just past the body bytes taken. */
  consume(buf: Buffer, start: number, end: number): number {
    if (this.cuts.length > 0) this.cuts.length = 0;
    if (this.done) return start;
    switch (this.mode) {
      case Framing.length: {
        const avail = end - start;
        if (avail < this.remaining) {
          this.remaining -= avail;
          this.payload += avail;
          return end;
        }
        const stop = start + this.remaining;
        this.payload += this.remaining;
        this.remaining = 0;
        this.done = true;
        return stop;
      }
      case Framing.close:
        this.payload += end - start;
        return end;
      case Framing.chunked:
        return this.#chunked(buf, start, end);
    }
    return start;
  }

  /** Ends a `close`-framed body (the peer closed). True when that is a valid end. */
  endOfStream(): boolean {
    if (this.mode === Framing.close) {
      this.done = true;
      return true;
    }
    return this.done;
  }

  #chunked(buf: Buffer, start: number, end: number): number {
    let p = start;
    let state = this.#state;
    const strip = this.stripExtensions;
    if (strip && state === C_EXT) this.cuts.push(start);
    while (p < end) {
      const c = buf[p] as number;
      switch (state) {
        case C_SIZE0: {
          const v = HEX[c] as number;
          if (v === 0) throw new HttpParseError(400, 'invalid chunk size');
          this.remaining = v - 1;
          this.#digits = 1;
          state = C_SIZE;
          p++;
          break;
        }
        case C_SIZE: {
          const v = HEX[c] as number;
          if (v !== 0) {
            if (++this.#digits > 15) throw new HttpParseError(400, 'chunk size too large');
            this.remaining = this.remaining * 16 + (v - 1);
            p++;
          } else if (c === CR) {
            state = C_SIZE_LF;
            p++;
          } else if (c === 59 || c === SP || c === HTAB) {
            state = C_EXT; // ';' extension (BWS before ';' tolerated, as RFC 9112 §7.1.1 allows)
            this.#extBytes = 0;
            if (strip) this.cuts.push(p);
            p++;
          } else throw new HttpParseError(400, 'invalid chunk size');
          break;
        }
        case C_EXT:
          if (c === CR) {
            state = C_SIZE_LF;
            if (strip) this.cuts.push(p);
          } else if (c === LF || (c < 0x20 && c !== HTAB) || c === 0x7f) {
            throw new HttpParseError(400, 'invalid chunk extension');
          } else if (++this.#extBytes > MAX_CHUNK_EXTENSION) {
            throw new HttpParseError(400, 'chunk extension too long');
          }
          p++;
          break;
        case C_SIZE_LF:
          if (c !== LF) throw new HttpParseError(400, 'chunk size line not ended by CRLF');
          p++;
          state = this.remaining === 0 ? C_TRAILER0 : C_DATA;
          break;
        case C_DATA: {
          const avail = end - p;
          if (avail < this.remaining) {
            this.remaining -= avail;
            this.payload += avail;
            p = end;
          } else {
            p += this.remaining;
            this.payload += this.remaining;
            this.remaining = 0;
            state = C_DATA_CR;
          }
          break;
        }
        case C_DATA_CR:
          if (c !== CR) throw new HttpParseError(400, 'chunk data not followed by CRLF');
          state = C_DATA_LF;
          p++;
          break;
        case C_DATA_LF:
          if (c !== LF) throw new HttpParseError(400, 'chunk data not followed by CRLF');
          state = C_SIZE0;
          p++;
          break;
        case C_TRAILER0:
          if (c === CR) state = C_END_LF;
          else if (c === LF || c === SP || c === HTAB) throw new HttpParseError(400, 'invalid trailer line');
          else state = C_TRAILER;
          p++;
          break;
        case C_TRAILER:
          if (c === CR) state = C_TRAILER_LF;
          else if (c === LF) throw new HttpParseError(400, 'bare LF in trailer');
          p++;
          break;
        case C_TRAILER_LF:
          if (c !== LF) throw new HttpParseError(400, 'bare CR in trailer');
          state = C_TRAILER0;
          p++;
          break;
        case C_END_LF:
          if (c !== LF) throw new HttpParseError(400, 'chunked body not ended by CRLF');
          this.#state = state;
          this.done = true;
          return p + 1;
      }
    }
    this.#state = state;
    if (strip && state === C_EXT) this.cuts.push(p);
    return p;
  }
}
