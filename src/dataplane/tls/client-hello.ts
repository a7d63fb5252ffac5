/**
 * Reads the server name (SNI, RFC 6066 §3) from a TLS ClientHello without decrypting
 * anything, for TLS passthrough (T4). Works on the bytes received so far: the ClientHello may
 * be split across TCP segments and across TLS records (RFC 8446 §5.1 allows a handshake
 * message to be fragmented). Bounded: at most `MAX_CLIENT_HELLO` bytes are looked at.
 */

/** Largest ClientHello (with its record headers) read before giving up (bytes). */
export const MAX_CLIENT_HELLO = 64 * 1024;

/** Outcome of `parseClientHello`. */
export type ClientHelloResult =
  | { readonly status: 'more' }
  | { readonly status: 'ok'; readonly serverName: string | null }
  | { readonly status: 'invalid'; readonly reason: string };

const MORE: ClientHelloResult = { status: 'more' };
const invalid = (reason: string): ClientHelloResult => ({ status: 'invalid', reason });

/**
 * Parses `buf` (every byte received so far, from the first). `more`: wait for more bytes;
 * `ok`: the ClientHello is complete, `serverName` is the lower-cased host_name or null when
 * the client sent none; `invalid`: not a TLS ClientHello (or larger than the bound).
 */
export function parseClientHello(buf: Buffer): ClientHelloResult {
  // 1. Reassemble the handshake message from consecutive handshake records.
  const parts: Buffer[] = [];
  let have = 0;
  let need = -1; // handshake message length incl. its 4-byte header, once known
  let pos = 0;
  while (need < 0 || have < need) {
    if (pos + 5 > buf.length) return buf.length > MAX_CLIENT_HELLO ? invalid('ClientHello too large') : MORE;
    if (buf[pos] !== 22) return invalid(pos === 0 ? 'not a TLS handshake record' : 'ClientHello interrupted');
    if (buf[pos + 1] !== 3) return invalid('unknown TLS record version');
    const len = buf.readUInt16BE(pos + 3);
    if (len === 0 || len > 16384 + 2048) return invalid('bad TLS record length');
    const end = pos + 5 + len;
    if (end > MAX_CLIENT_HELLO) return invalid('ClientHello too large');
    const avail = Math.min(end, buf.length);
    parts.push(buf.subarray(pos + 5, avail));
    have += avail - (pos + 5);
    if (need < 0 && have >= 4) {
      const first = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      if (first[0] !== 1) return invalid('first handshake message is not a ClientHello');
      need = 4 + ((first[1] as number) << 16) + ((first[2] as number) << 8) + (first[3] as number);
      if (need > MAX_CLIENT_HELLO) return invalid('ClientHello too large');
    }
    if (avail < end) {
      if (need >= 0 && have >= need) break;
      return MORE;
    }
    pos = end;
  }
  const msg = (parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)).subarray(4, need);
  // 2. Walk the ClientHello body (RFC 8446 §4.1.2).
  let p = 2 + 32; // legacy_version, random
  if (p + 1 > msg.length) return invalid('truncated ClientHello');
  p += 1 + (msg[p] as number); // session id
  if (p + 2 > msg.length) return invalid('truncated ClientHello');
  p += 2 + msg.readUInt16BE(p); // cipher suites
  if (p + 1 > msg.length) return invalid('truncated ClientHello');
  p += 1 + (msg[p] as number); // compression methods
  if (p === msg.length) return { status: 'ok', serverName: null }; // no extensions
  if (p + 2 > msg.length) return invalid('truncated ClientHello');
  const extEnd = p + 2 + msg.readUInt16BE(p);
  if (extEnd > msg.length) return invalid('truncated ClientHello extensions');
  p += 2;
  while (p + 4 <= extEnd) {
    const type = msg.readUInt16BE(p);
    const len = msg.readUInt16BE(p + 2);
    const data = p + 4;
    if (data + len > extEnd) return invalid('truncated extension');
    if (type === 0) return readServerName(msg.subarray(data, data + len));
    p = data + len;
  }
  return { status: 'ok', serverName: null };
}

function readServerName(ext: Buffer): ClientHelloResult {
  if (ext.length < 2) return invalid('bad server_name extension');
  const listEnd = 2 + ext.readUInt16BE(0);
  if (listEnd > ext.length) return invalid('bad server_name extension');
  let p = 2;
  while (p + 3 <= listEnd) {
    const type = ext[p] as number;
    const len = ext.readUInt16BE(p + 1);
    if (p + 3 + len > listEnd) return invalid('bad server_name entry');
    if (type === 0) {
      if (len === 0 || len > 255) return invalid('bad host_name length');
      const name = ext.subarray(p + 3, p + 3 + len);
      for (const c of name) {
        // letters, digits, '-', '.', '_' (RFC 6066 §3: ASCII host name, no trailing dot)
        const ok =
          (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95;
        if (!ok) return invalid('bad host_name character');
      }
      return { status: 'ok', serverName: name.toString('latin1').toLowerCase() };
    }
    p += 3 + len;
  }
  return { status: 'ok', serverName: null };
}

/**
 * The backend of the first SNI rule matching `serverName` (T4): exact names first, then
 * `*.` wildcards (one label), in rule order; undefined when none matches.
 */
export function matchSniRule<T extends { readonly serverName: string }>(
  rules: readonly T[],
  serverName: string | null,
): T | undefined {
  if (serverName === null || rules.length === 0) return undefined;
  for (const r of rules) if (r.serverName === serverName) return r;
  const dot = serverName.indexOf('.');
  if (dot <= 0) return undefined;
  const suffix = serverName.slice(dot);
  for (const r of rules) {
    if (r.serverName.length === suffix.length + 1 && r.serverName.startsWith('*') && r.serverName.endsWith(suffix))
      return r;
  }
  return undefined;
}
