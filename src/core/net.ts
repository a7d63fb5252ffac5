import { isIPv4, isIPv6 } from 'node:net';

/**
 * Address helpers: IPv4 parsing and CIDR containment (S7 allowed networks), host:port
 * parsing for flags.
 */

/** Parses a dotted IPv4 address to an unsigned 32-bit number; undefined when not IPv4. */
export function ipv4ToInt(address: string): number | undefined {
  if (!isIPv4(address)) return undefined;
  const p = address.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

/** A parsed IPv4 CIDR block. */
export interface Cidr4 {
  readonly text: string;
  readonly base: number;
  readonly mask: number;
}

/**
 * Parses `a.b.c.d/n` (0 ≤ n ≤ 32). Returns undefined for anything else.
 * Host bits set below the prefix are allowed and ignored (as `ip route` does).
 */
export function parseCidr4(text: string): Cidr4 | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = ipv4ToInt(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (ip === undefined || !/^\d{1,2}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > 32) return undefined;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { text, base: (ip & mask) >>> 0, mask };
}

/** True when the IPv4 `address` lies inside `cidr`. */
export function cidrContains(cidr: Cidr4, address: string): boolean {
  const ip = ipv4ToInt(address);
  return ip !== undefined && (ip & cidr.mask) >>> 0 === cidr.base;
}

/** True for a literal IPv4 or IPv6 address. */
export function isIpAddress(address: string): boolean {
  return isIPv4(address) || isIPv6(address);
}

/**
 * Parses `HOST:PORT` or `[V6]:PORT` (a flag such as `--api 127.0.0.1:8080`).
 * Throws Error naming the text when it is not of that form or the port is outside 1–65535
 * (0–65535 with `allowZero`, where 0 means any free port).
 */
export function parseHostPort(text: string, allowZero = false): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port < (allowZero ? 0 : 1) || port > 65535) throw new Error(`expected HOST:PORT, got "${text}"`);
  return { host: (m[1] ?? m[2]) as string, port };
}
