import tls from 'node:tls';

/**
 * A raw HTTP/2 client for tests (issue 12 §3, HTTP/2 strictness): TLS with ALPN `h2` to an
 * https frontend, the client preface and SETTINGS (RFC 9113 §3.4), then frames written byte by
 * byte, so a test can send what node:http2's client refuses to (CR/LF/NUL in a value, empty or
 * upper-case names, connection-specific fields, pseudo-headers out of order or repeated). Header
 * blocks are literal HPACK fields without indexing, new name, no Huffman (RFC 7541 §6.2.2),
 * lengths in the 7-bit prefix integer encoding (§5.1): any byte goes on the wire as given.
 *
 * Frames from the server are collected in `frames`; SETTINGS and PING are acknowledged. The
 * answer to a stream is read as frame types and error codes (`outcome`); the response head is
 * not HPACK-decoded, except a `:status` the server sent as a static-table index (`statusOf`).
 */

export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

/** Error codes (RFC 9113 §7). */
export const H2_ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
} as const;

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** How the server answered one stream. */
export type Outcome =
  | { kind: 'rst'; code: number }
  | { kind: 'goaway'; code: number; lastStream: number }
  | { kind: 'response'; status: number | null }
  | { kind: 'closed' }
  | { kind: 'timeout' };

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One frame: 9-byte header (length 24, type, flags, stream 31) and the payload (RFC 9113 §4.1). */
export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1); `high` are the bits above the prefix in the first byte. */
export function hpackInt(value: number, prefixBits: number, high = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([high | value]);
  const out = [high | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** HPACK string literal, no Huffman (H = 0, RFC 7541 §5.2): the bytes as given. */
export function hpackString(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  return Buffer.concat([hpackInt(b.length, 7, 0x00), b]);
}

/** A header block of literal fields without indexing, new name (RFC 7541 §6.2.2: first byte 0x00), in order. */
export function hpackBlock(fields: ReadonlyArray<readonly [string | Buffer, string | Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) parts.push(Buffer.from([0x00]), hpackString(name), hpackString(value));
  return Buffer.concat(parts);
}

/** HPACK static table entries 8–14 (RFC 7541 Appendix A): an indexed `:status`. */
const STATIC_STATUS: Record<number, number> = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };

/** The `:status` of a response HEADERS frame when the server sent it as a static-table index, else null. */
export function statusOf(f: Frame): number | null {
  let p = f.payload;
  if (f.flags & 0x8) p = p.subarray(1, p.length - (p[0] as number)); // PADDED
  if (f.flags & 0x20) p = p.subarray(5); // PRIORITY
  // skip dynamic table size updates (001xxxxx) at the start of a block
  let i = 0;
  while (i < p.length && ((p[i] as number) & 0xe0) === 0x20) i++;
  const b = p[i];
  if (b === undefined || (b & 0x80) === 0) return null;
  return STATIC_STATUS[b & 0x7f] ?? null;
}

/** A connection to an h2 frontend; frames in, frames out. */
export class RawH2 {
  readonly socket: tls.TLSSocket;
  readonly frames: Frame[] = [];
  closed = false;
  #buf: Buffer = Buffer.alloc(0);
  #waiters = new Set<() => void>();

  private constructor(socket: tls.TLSSocket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  /**
   * TLS to 127.0.0.1:`port` with ALPN h2 (the test certificate is not checked), the preface and
   * an empty SETTINGS; resolves once the server's SETTINGS arrived (and were acknowledged).
   */
  static async connect(port: number, servername = 'proxy.test'): Promise<RawH2> {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
      servername,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    if (socket.alpnProtocol !== 'h2') {
      socket.destroy();
      throw new Error(`ALPN chose ${socket.alpnProtocol}, not h2`);
    }
    const c = new RawH2(socket);
    socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
    const settings = await c.waitFor((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0, 5000);
    if (settings === undefined) {
      c.close();
      throw new Error('no SETTINGS from the server');
    }
    return c;
  }

  #onData(d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    while (this.#buf.length >= 9) {
      const len = this.#buf.readUIntBE(0, 3);
      if (this.#buf.length < 9 + len) break;
      const f: Frame = {
        type: this.#buf[3] as number,
        flags: this.#buf[4] as number,
        stream: this.#buf.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.#buf.subarray(9, 9 + len)),
      };
      this.#buf = this.#buf.subarray(9 + len);
      this.frames.push(f);
      if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0) this.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
      if (f.type === FRAME.PING && (f.flags & FLAG.ACK) === 0) this.write(frame(FRAME.PING, FLAG.ACK, 0, f.payload));
    }
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Writes raw bytes (ignored once closed). */
  write(b: Buffer): void {
    if (!this.closed && !this.socket.destroyed) this.socket.write(b);
  }

  /** A HEADERS frame (END_HEADERS, and END_STREAM unless `endStream` is false) carrying `hpackBlock(fields)`. */
  headers(
    stream: number,
    fields: ReadonlyArray<readonly [string | Buffer, string | Buffer]>,
    options: { endStream?: boolean } = {},
  ): void {
    const flags = FLAG.END_HEADERS | (options.endStream === false ? 0 : FLAG.END_STREAM);
    this.write(frame(FRAME.HEADERS, flags, stream, hpackBlock(fields)));
  }

  /** A DATA frame. */
  data(stream: number, payload: string | Buffer, endStream: boolean): void {
    const p = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
    this.write(frame(FRAME.DATA, endStream ? FLAG.END_STREAM : 0, stream, p));
  }

  /** The first frame (already received or to come within `ms`) that satisfies `pred`; undefined on timeout or close. */
  waitFor(pred: (f: Frame) => boolean, ms: number): Promise<Frame | undefined> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        const f = this.frames.find(pred);
        if (f === undefined && !this.closed) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(f);
      };
      timer = setTimeout(() => {
        this.#waiters.delete(check);
        resolve(undefined);
      }, ms);
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * How the server answered `stream`, the first of: RST_STREAM on it, GOAWAY, a response
   * HEADERS on it, the connection closed, or nothing within `ms`.
   */
  async outcome(stream: number, ms = 3000): Promise<Outcome> {
    const f = await this.waitFor(
      (x) =>
        ((x.type === FRAME.RST_STREAM || x.type === FRAME.HEADERS) && x.stream === stream) || x.type === FRAME.GOAWAY,
      ms,
    );
    if (f === undefined) return this.closed ? { kind: 'closed' } : { kind: 'timeout' };
    if (f.type === FRAME.RST_STREAM) return { kind: 'rst', code: f.payload.readUInt32BE(0) };
    if (f.type === FRAME.GOAWAY)
      return { kind: 'goaway', code: f.payload.readUInt32BE(4), lastStream: f.payload.readUInt32BE(0) & 0x7fffffff };
    return { kind: 'response', status: statusOf(f) };
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The fields of a valid GET request for `path` (pseudo-headers first, RFC 9113 §8.3). */
export function getRequest(path: string, authority = 'proxy.test'): [string, string][] {
  return [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':authority', authority],
    [':path', path],
  ];
}
