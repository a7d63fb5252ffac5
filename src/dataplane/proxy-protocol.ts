import net from 'node:net';

/**
 * The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2), issue 15 point 3.
 *
 * - Sending: `encodeProxyV1` / `encodeProxyV2` build the header written first on a new server
 *   connection (TCP4/TCP6 from the client connection's addresses; `UNKNOWN` / `LOCAL` when
 *   there is no client, e.g. health checks).
 * - Receiving: `parseProxyHeader` reads one header from the start of a buffer, strictly and
 *   bounded (v1 ≤ 107 bytes; v2 ≤ 16 + `MAX_V2_PAYLOAD` bytes), and `readProxyHeader` reads it
 *   from a socket with a timeout, giving back the bytes after it.
 */

/** The 12-byte signature of version 2. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Longest v1 line including CRLF (spec §2.1). */
export const MAX_V1_LENGTH = 107;
/** Largest v2 payload after the 16-byte fixed part: 216 address bytes (AF_UNIX) plus TLVs, bounded. */
export const MAX_V2_PAYLOAD = 216 + 1024;

/** What a received header says. `source` null: LOCAL (v2) or UNKNOWN/UNSPEC — use the connection's own addresses. */
export interface ProxyInfo {
  readonly version: 1 | 2;
  readonly source: ProxyEndpoints | null;
}

export interface ProxyEndpoints {
  readonly family: 'tcp4' | 'tcp6';
  readonly sourceAddress: string;
  readonly sourcePort: number;
  readonly destinationAddress: string;
  readonly destinationPort: number;
}

export type ProxyParse =
  | { readonly status: 'more' }
  | { readonly status: 'ok'; readonly info: ProxyInfo; readonly length: number }
  | { readonly status: 'invalid'; readonly reason: string };

const MORE: ProxyParse = { status: 'more' };
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

function invalid(reason: string): ProxyParse {
  return { status: 'invalid', reason };
}

/** Parses a PROXY header (v1 or v2) at the start of `buf`: `more` until it is complete. */
export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (buf.length === 0) return MORE;
  if (buf[0] === 0x50) return parseV1(buf);
  if (buf[0] === 0x0d) return parseV2(buf);
  return invalid('not a PROXY protocol header');
}

function parseV1(buf: Buffer): ProxyParse {
  const pre = Math.min(buf.length, V1_PREFIX.length);
  if (buf.compare(V1_PREFIX, 0, pre, 0, pre) !== 0) return invalid('not a PROXY protocol header');
  const limit = Math.min(buf.length, MAX_V1_LENGTH);
  let cr = -1;
  for (let i = 0; i < limit; i++) {
    const c = buf[i] as number;
    if (c === 0x0d) {
      cr = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return invalid('v1: forbidden character');
  }
  if (cr < 0) return buf.length >= MAX_V1_LENGTH ? invalid('v1: line longer than 107 bytes') : MORE;
  if (cr + 1 >= buf.length) return cr + 2 > MAX_V1_LENGTH ? invalid('v1: line longer than 107 bytes') : MORE;
  if (cr + 2 > MAX_V1_LENGTH) return invalid('v1: line longer than 107 bytes');
  if (buf[cr + 1] !== 0x0a) return invalid('v1: CR not followed by LF');
  const line = buf.toString('latin1', V1_PREFIX.length, cr);
  const length = cr + 2;
  if (line.startsWith('UNKNOWN')) {
    if (line.length > 7 && line[7] !== ' ') return invalid('v1: unknown protocol');
    return { status: 'ok', info: { version: 1, source: null }, length };
  }
  const parts = line.split(' ');
  if (parts.length !== 5) return invalid('v1: expected protocol, two addresses and two ports');
  const [proto, src, dst, sport, dport] = parts as [string, string, string, string, string];
  let family: 'tcp4' | 'tcp6';
  if (proto === 'TCP4') {
    family = 'tcp4';
    if (!isDottedQuad(src) || !isDottedQuad(dst)) return invalid('v1: bad IPv4 address');
  } else if (proto === 'TCP6') {
    family = 'tcp6';
    if (!net.isIPv6(src) || !net.isIPv6(dst) || src.includes('%') || dst.includes('%'))
      return invalid('v1: bad IPv6 address');
  } else return invalid('v1: unknown protocol');
  const sp = parsePort(sport);
  const dp = parsePort(dport);
  if (sp < 0 || dp < 0) return invalid('v1: bad port');
  return {
    status: 'ok',
    info: {
      version: 1,
      source: { family, sourceAddress: src, sourcePort: sp, destinationAddress: dst, destinationPort: dp },
    },
    length,
  };
}

/** Four decimal octets 0–255 without leading zeros (the spec's "dotted decimal"). */
function isDottedQuad(s: string): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  for (const p of parts) {
    if (p.length === 0 || p.length > 3 || (p.length > 1 && p[0] === '0')) return false;
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i);
      if (c < 48 || c > 57) return false;
    }
    if (Number(p) > 255) return false;
  }
  return true;
}

/** A decimal port 0–65535 without leading zeros, or -1. */
function parsePort(s: string): number {
  if (s.length === 0 || s.length > 5 || (s.length > 1 && s[0] === '0')) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  const n = Number(s);
  return n <= 65535 ? n : -1;
}

function parseV2(buf: Buffer): ProxyParse {
  const pre = Math.min(buf.length, V2_SIGNATURE.length);
  if (buf.compare(V2_SIGNATURE, 0, pre, 0, pre) !== 0) return invalid('not a PROXY protocol header');
  if (buf.length < 16) return MORE;
  const verCmd = buf[12] as number;
  if (verCmd >> 4 !== 2) return invalid('v2: unsupported version');
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid('v2: unknown command');
  const fam = buf[13] as number;
  const len = buf.readUInt16BE(14);
  if (len > MAX_V2_PAYLOAD) return invalid('v2: header too long');
  if (buf.length < 16 + len) return MORE;
  const length = 16 + len;
  if (cmd === 0) return { status: 'ok', info: { version: 2, source: null }, length }; // LOCAL
  const transport = fam & 0x0f;
  const af = fam >> 4;
  if (af === 0 && transport === 0) return { status: 'ok', info: { version: 2, source: null }, length }; // UNSPEC
  if (transport !== 1) return invalid('v2: only TCP (STREAM) is accepted');
  // TCP4: 4-byte addresses then ports (12 bytes); TCP6: 16-byte addresses then ports (36).
  const size = af === 1 ? 4 : af === 2 ? 16 : 0;
  if (size > 0) {
    const family = af === 1 ? 'tcp4' : 'tcp6';
    if (len < 2 * size + 4) return invalid(`v2: address block too short for ${family.toUpperCase()}`);
    const p = buf.subarray(16);
    const text = (at: number) =>
      size === 4 ? `${p[at]}.${p[at + 1]}.${p[at + 2]}.${p[at + 3]}` : ipv6Text(p.subarray(at, at + 16));
    return {
      status: 'ok',
      info: {
        version: 2,
        source: {
          family,
          sourceAddress: text(0),
          destinationAddress: text(size),
          sourcePort: p.readUInt16BE(2 * size),
          destinationPort: p.readUInt16BE(2 * size + 2),
        },
      },
      length,
    };
  }
  return invalid('v2: unsupported address family');
}

/** 16 bytes as RFC 5952 text (via the URL parser's canonical form). */
function ipv6Text(b: Buffer): string {
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[i] !== 0) mapped = false;
  if (mapped) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Bytes of an IPv6 address in text form. */
function ipv6Bytes(text: string): Buffer {
  const out = Buffer.alloc(16);
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // an embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups
  const dot = s.lastIndexOf('.');
  if (dot >= 0) {
    const colon = s.lastIndexOf(':');
    const v4 = s
      .slice(colon + 1)
      .split('.')
      .map(Number);
    s = `${s.slice(0, colon + 1)}${(((v4[0] ?? 0) << 8) | (v4[1] ?? 0)).toString(16)}:${(((v4[2] ?? 0) << 8) | (v4[3] ?? 0)).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? (s.split('::') as [string, string]) : [s, null];
  const h = head === '' ? [] : head.split(':');
  const t = tail === null || tail === '' ? [] : tail.split(':');
  const groups = tail === null ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(Number.parseInt(groups[i] ?? '0', 16) & 0xffff, i * 2);
  return out;
}

/** An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as plain IPv4; others unchanged. */
function unmap(addr: string): string {
  return addr.startsWith('::ffff:') && addr.indexOf('.') > 0 ? addr.slice(7) : addr;
}

/**
 * The endpoints a header should carry: the client connection's source and destination.
 * Both are sent in the client's family: an IPv4 client on an IPv6 socket (mapped) is TCP4;
 * when the families differ, the destination is mapped into the source's family.
 */
export interface ClientEndpoints {
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;
}

function families(e: ClientEndpoints): { v6: boolean; src: string; dst: string } | null {
  const src = unmap(e.sourceAddress);
  let dst = unmap(e.destinationAddress);
  const v6 = net.isIPv6(src);
  if (!v6 && !net.isIPv4(src)) return null;
  if (v6 && net.isIPv4(dst)) dst = `::ffff:${dst}`;
  else if (!v6 && !net.isIPv4(dst)) dst = '0.0.0.0';
  return { v6, src, dst };
}

/** A v1 header (`PROXY TCP4|TCP6 …\r\n`); `PROXY UNKNOWN\r\n` when `e` is null or not IP. */
export function encodeProxyV1(e: ClientEndpoints | null): Buffer {
  const f = e === null ? null : families(e);
  if (e === null || f === null) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const src = f.v6 ? ipv6Text(ipv6Bytes(f.src)) : f.src;
  const dst = f.v6 ? ipv6Text(ipv6Bytes(f.dst)) : f.dst;
  return Buffer.from(
    `PROXY ${f.v6 ? 'TCP6' : 'TCP4'} ${src} ${dst} ${e.sourcePort} ${e.destinationPort}\r\n`,
    'latin1',
  );
}

/** A v2 header: PROXY over TCP4/TCP6, or LOCAL (no addresses) when `e` is null or not IP. */
export function encodeProxyV2(e: ClientEndpoints | null): Buffer {
  const f = e === null ? null : families(e);
  if (e === null || f === null) {
    const out = Buffer.alloc(16);
    V2_SIGNATURE.copy(out, 0);
    out[12] = 0x20; // version 2, LOCAL
    out[13] = 0x00; // UNSPEC
    return out;
  }
  const len = f.v6 ? 36 : 12;
  const out = Buffer.alloc(16 + len);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = f.v6 ? 0x21 : 0x11; // AF_INET6|AF_INET, STREAM
  out.writeUInt16BE(len, 14);
  if (f.v6) {
    ipv6Bytes(f.src).copy(out, 16);
    ipv6Bytes(f.dst).copy(out, 32);
    out.writeUInt16BE(e.sourcePort & 0xffff, 48);
    out.writeUInt16BE(e.destinationPort & 0xffff, 50);
  } else {
    const a = f.src.split('.');
    const b = f.dst.split('.');
    for (let i = 0; i < 4; i++) {
      out[16 + i] = Number(a[i]);
      out[20 + i] = Number(b[i]);
    }
    out.writeUInt16BE(e.sourcePort & 0xffff, 24);
    out.writeUInt16BE(e.destinationPort & 0xffff, 26);
  }
  return out;
}

/** The header of `version` for a client connection (`null`: health checks, LOCAL / UNKNOWN). */
export function encodeProxyHeader(version: 'v1' | 'v2', e: ClientEndpoints | null): Buffer {
  return version === 'v1' ? encodeProxyV1(e) : encodeProxyV2(e);
}

/** PROXY headers received on open TLS connections, by the socket's peer `address|port` (HTTP/2 sessions look theirs up). */
const proxiedPeers = new Map<string, ClientEndpoints>();

/** Remembers the endpoints a PROXY header named for `socket` until it closes. */
export function rememberProxied(socket: net.Socket, e: ClientEndpoints): void {
  const key = `${socket.remoteAddress}|${socket.remotePort}`;
  proxiedPeers.set(key, e);
  socket.once('close', () => {
    if (proxiedPeers.get(key) === e) proxiedPeers.delete(key);
  });
}

/** The endpoints a PROXY header named for the connection of `socket`, if one did. */
export function proxiedPeer(
  socket: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined } | undefined,
): ClientEndpoints | undefined {
  if (socket === undefined || proxiedPeers.size === 0) return undefined;
  return proxiedPeers.get(`${socket.remoteAddress}|${socket.remotePort}`);
}

/** The endpoints of an accepted socket (its peer as source, its local address as destination). */
export function socketEndpoints(socket: net.Socket): ClientEndpoints | null {
  if (socket.remoteAddress === undefined || socket.localAddress === undefined) return null;
  return {
    sourceAddress: socket.remoteAddress,
    sourcePort: socket.remotePort ?? 0,
    destinationAddress: socket.localAddress,
    destinationPort: socket.localPort ?? 0,
  };
}

/**
 * Reads one PROXY header from `socket` (resumed here, paused again before `done`). `done`
 * receives the header and the bytes read after it (put back with `socket.unshift`, so the next
 * reader sees them first), or `null` with a reason when the bytes are not a valid header, the
 * client closes first, or `timeoutMs` passes.
 */
export function readProxyHeader(
  socket: net.Socket,
  timeoutMs: number,
  done: (info: ProxyInfo | null, reason: string) => void,
): void {
  let buf: Buffer | null = null;
  let finished = false;
  const finish = (info: ProxyInfo | null, reason: string, rest: Buffer | null): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onEnd);
    socket.pause();
    if (rest !== null && rest.length > 0) socket.unshift(rest);
    done(info, reason);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    const r = parseProxyHeader(buf);
    if (r.status === 'ok') finish(r.info, 'ok', buf.subarray(r.length));
    else if (r.status === 'invalid') finish(null, r.reason, null);
  };
  const onEnd = (): void => finish(null, 'closed before a PROXY header', null);
  const timer = setTimeout(() => finish(null, 'timed out waiting for a PROXY header', null), Math.max(1, timeoutMs));
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  socket.resume();
}
