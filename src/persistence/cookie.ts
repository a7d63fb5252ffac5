import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { invalid } from '../core/errors.ts';

/** Bytes of HMAC-SHA256 kept in the cookie (128 bits, as RFC 2104 §5 allows truncating to ≥ half). */
const MAC_BYTES = 16;
/** Minimum key length in bytes (RFC 2104 §3: at least the hash output length is recommended; 16 is our floor). */
export const MIN_COOKIE_KEY_BYTES = 16;

/**
 * The opaque server token a persistence cookie carries (P2: the server is named, never its
 * address): the first 9 bytes of SHA-256 over the backend and server ids, base64url (12
 * characters). Deterministic, so every worker and node maps it back the same way (P5).
 */
export function serverToken(backendId: string, serverId: string): string {
  return createHash('sha256')
    .update(`fulcrum-server\n${backendId}\n${serverId}`)
    .digest()
    .subarray(0, 9)
    .toString('base64url');
}

/** A verified persistence cookie: whose server, and when it expires (seconds epoch; 0 = browser session). */
export interface VerifiedCookie {
  readonly token: string;
  readonly expiresAt: number;
}

/**
 * Signs and verifies the insert-cookie value (P2, P5): `<token>.<expiry>.<mac>` where
 * `token` is `serverToken(backendId, serverId)`, `expiry` the expiry in seconds since the
 * epoch in base 36 (`0` for a browser-session cookie), and `mac` the first 16 bytes of
 * HMAC-SHA256(key, `backendId \n token.expiry`) in base64url. The backend id inside the MAC
 * makes another backend's cookie invalid here; the expiry inside it cannot be extended.
 *
 * `keys`: the first signs, all verify (rotation). Each key is a string (UTF-8) or bytes, at
 * least 16 bytes; throws FulcrumError `invalid` (field `cookieKeys`) otherwise or when empty.
 */
export class CookieSigner {
  readonly #keys: Buffer[];

  constructor(keys: readonly (string | Uint8Array)[]) {
    if (!Array.isArray(keys) || keys.length === 0) throw invalid('cookieKeys', 'cookieKeys must hold at least one key');
    this.#keys = keys.map((k, i) => {
      const b = typeof k === 'string' ? Buffer.from(k, 'utf8') : Buffer.from(k);
      if (b.length < MIN_COOKIE_KEY_BYTES) {
        throw invalid(
          `cookieKeys[${i}]`,
          `cookie key ${i} must be at least ${MIN_COOKIE_KEY_BYTES} bytes (got ${b.length})`,
        );
      }
      return b;
    });
  }

  /** A signer with one random 32-byte key (single process only: other workers/nodes cannot verify its cookies). */
  static random(): CookieSigner {
    return new CookieSigner([randomBytes(32)]);
  }

  #mac(key: Buffer, backendId: string, payload: string): Buffer {
    return createHmac('sha256', key).update(backendId).update('\n').update(payload).digest().subarray(0, MAC_BYTES);
  }

  /** The cookie value for `token` expiring at `expiresAt` (seconds epoch, 0 = session). */
  sign(backendId: string, token: string, expiresAt: number): string {
    const payload = `${token}.${Math.max(0, Math.floor(expiresAt)).toString(36)}`;
    return `${payload}.${this.#mac(this.#keys[0]!, backendId, payload).toString('base64url')}`;
  }

  /**
   * The token and expiry of a genuine, unexpired cookie value of `backendId`; undefined for
   * anything forged, tampered, malformed, signed for another backend or by an unknown key,
   * or expired at `nowMs` (ms epoch). MACs are compared in constant time.
   */
  verify(value: string, backendId: string, nowMs: number): VerifiedCookie | undefined {
    const r = this.inspect(value, backendId, nowMs);
    return r.status === 'valid' ? r.cookie : undefined;
  }

  /**
   * What `verify` decides, with the reason (explain): `forged` for anything malformed,
   * tampered, signed for another backend or by an unknown key; `expired` for a genuine
   * cookie past its expiry at `nowMs` (`cookie` then says when); `valid` otherwise.
   */
  inspect(value: string, backendId: string, nowMs: number): CookieInspection {
    const b = value.lastIndexOf('.');
    const a = b > 0 ? value.lastIndexOf('.', b - 1) : -1;
    if (a <= 0 || value.length - b - 1 !== 22) return FORGED;
    const expiryText = value.slice(a + 1, b);
    if (expiryText.length === 0 || expiryText.length > 10 || !/^[0-9a-z]+$/.test(expiryText)) return FORGED;
    // Compare the canonical base64url text, not decoded bytes: the last character of 16
    // bytes carries 4 unused bits, and a lenient decoder would accept 16 spellings of one MAC.
    for (let i = b + 1; i < value.length; i++) if (!isBase64Url(value.charCodeAt(i))) return FORGED;
    const given = Buffer.from(value.slice(b + 1), 'latin1');
    const payload = value.slice(0, b);
    let ok = false;
    for (const key of this.#keys) {
      const expected = Buffer.from(this.#mac(key, backendId, payload).toString('base64url'), 'latin1');
      if (timingSafeEqual(expected, given)) ok = true;
    }
    if (!ok) return FORGED;
    const expiresAt = Number.parseInt(expiryText, 36);
    const cookie = { token: value.slice(0, a), expiresAt };
    if (expiresAt !== 0 && expiresAt * 1000 <= nowMs) return { status: 'expired', cookie };
    return { status: 'valid', cookie };
  }
}

/** The outcome of `CookieSigner.inspect`. */
export type CookieInspection =
  | { readonly status: 'forged'; readonly cookie?: undefined }
  | { readonly status: 'expired' | 'valid'; readonly cookie: VerifiedCookie };

const FORGED: CookieInspection = { status: 'forged' };

/** Attributes of an inserted persistence cookie. */
export interface SetCookieOptions {
  /** Session timeout in seconds: becomes `Max-Age`; 0 = browser-session cookie (no Max-Age). */
  timeoutSeconds: number;
  /** Adds `Secure` (the client connection is HTTPS). */
  secure: boolean;
}

/**
 * A `Set-Cookie` header value for the persistence cookie (P2, RFC 6265 §4.1):
 * `NAME=VALUE; Path=/; Max-Age=N; HttpOnly; SameSite=Lax[; Secure]` (no Max-Age when the
 * timeout is 0). `name` and `value` must already be valid (the cookieName rule of config/schemas.ts).
 */
export function buildSetCookie(name: string, value: string, opts: SetCookieOptions): string {
  const maxAge = opts.timeoutSeconds > 0 ? `; Max-Age=${Math.floor(opts.timeoutSeconds)}` : '';
  return `${name}=${value}; Path=/${maxAge}; HttpOnly; SameSite=Lax${opts.secure ? '; Secure' : ''}`;
}

function isBase64Url(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** Value between `start` and the next `;` (or `end`), trimmed and unquoted. */
function valueAt(header: string, start: number): string {
  let end = header.indexOf(';', start);
  if (end < 0) end = header.length;
  let s = start;
  while (s < end && isSpace(header.charCodeAt(s))) s++;
  while (end > s && isSpace(header.charCodeAt(end - 1))) end--;
  if (end - s >= 2 && header.charCodeAt(s) === 34 && header.charCodeAt(end - 1) === 34) {
    s++;
    end--;
  }
  return header.slice(s, end);
}

/**
 * The value of cookie `name` in a `Cookie` request header (RFC 6265 §5.4: `a=1; b=2`), or
 * undefined. Names match exactly (case-sensitive); the first occurrence wins; surrounding
 * spaces and double quotes are removed. Scans without splitting: one substring allocated
 * on a hit. Accepts the array form some servers give for repeated headers.
 */
export function findCookie(header: string | readonly string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string') {
    for (const h of header) {
      const v = findCookie(h, name);
      if (v !== undefined) return v;
    }
    return undefined;
  }
  const n = name.length;
  let i = 0;
  while (i < header.length) {
    while (i < header.length && isSpace(header.charCodeAt(i))) i++;
    if (header.startsWith(name, i)) {
      let j = i + n;
      while (j < header.length && isSpace(header.charCodeAt(j))) j++;
      if (header.charCodeAt(j) === 61 /* = */) return valueAt(header, j + 1);
    }
    const semi = header.indexOf(';', i);
    if (semi < 0) return undefined;
    i = semi + 1;
  }
  return undefined;
}

/**
 * The value a server's `Set-Cookie` header(s) give cookie `name` (app-cookie learning, P2),
 * or undefined. The last matching header wins; an empty value or one that deletes the cookie
 * (`Max-Age` ≤ 0, or `Expires` not after `nowMs` when given) is ignored. Other attributes
 * are not interpreted (RFC 6265 §5.2).
 */
export function findSetCookie(
  headers: string | readonly string[] | undefined,
  name: string,
  nowMs?: number,
): string | undefined {
  if (headers === undefined) return undefined;
  if (typeof headers === 'string') return setCookieValue(headers, name, nowMs);
  let found: string | undefined;
  for (const h of headers) {
    const v = setCookieValue(h, name, nowMs);
    if (v !== undefined) found = v;
  }
  return found;
}

function attribute(h: string, from: number, attr: string): string | undefined {
  const lower = h.toLowerCase();
  let i = lower.indexOf(';', from);
  while (i >= 0) {
    let s = i + 1;
    while (s < h.length && isSpace(h.charCodeAt(s))) s++;
    if (lower.startsWith(attr, s)) {
      let j = s + attr.length;
      while (j < h.length && isSpace(h.charCodeAt(j))) j++;
      if (h.charCodeAt(j) === 61) return valueAt(h, j + 1);
    }
    i = lower.indexOf(';', i + 1);
  }
  return undefined;
}

function setCookieValue(h: string, name: string, nowMs: number | undefined): string | undefined {
  let i = 0;
  while (i < h.length && isSpace(h.charCodeAt(i))) i++;
  if (!h.startsWith(name, i)) return undefined;
  let j = i + name.length;
  while (j < h.length && isSpace(h.charCodeAt(j))) j++;
  if (h.charCodeAt(j) !== 61) return undefined;
  const v = valueAt(h, j + 1);
  if (v.length === 0) return undefined;
  if (h.indexOf(';', j) < 0) return v;
  const maxAge = attribute(h, j, 'max-age');
  if (maxAge !== undefined) {
    if (!(Number.parseInt(maxAge, 10) > 0)) return undefined;
  } else if (nowMs !== undefined) {
    const expires = attribute(h, j, 'expires');
    if (expires !== undefined && !(Date.parse(expires) > nowMs)) return undefined;
  }
  return v;
}
