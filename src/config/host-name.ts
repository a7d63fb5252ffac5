import { isIP } from 'node:net';
import { parseIPv4Strict } from './address-guard.ts';

/**
 * Host names as server addresses (issue 15 point 2): RFC 1123 section 2.1 names, resolved by
 * the runtime's DNS resolution (`src/runtime/dns.ts`), never by the thread-pool `lookup`.
 *
 * A name is 1–253 characters of dot-separated labels; each label is 1–63 letters, digits or
 * hyphens, neither starting nor ending with a hyphen; one trailing dot (the root) is allowed.
 * The last label is not all digits (RFC 1123 2.1: "the highest-level component label will
 * be alphabetic"), so `127.1`, `010.0.0.1` or `2130706433` are never read as a name. No
 * control characters, spaces, underscores or non-ASCII letters (IDNs are written in their
 * `xn--` form).
 */

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** The longest host name, without its trailing dot (RFC 1035 2.3.4). */
export const MaxHostNameLength = 253;

/** True when `text` is a host name by the rules above. */
export function isHostName(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > MaxHostNameLength) return false;
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  if (/^\d+$/.test(labels[labels.length - 1] as string)) return false;
  // Every label a number (0x7f000001, 0x7f.1): what inet_aton reads as an address, never a name.
  return !labels.every((l) => NUMERIC.test(l));
}

const NUMERIC = /^(?:0x[0-9a-f]*|\d+)$/i;

/**
 * True when `text` is an SRV owner name as discovery takes it (`_http._tcp.api.internal`):
 * like a host name, but labels may start with an underscore (RFC 2782).
 */
export function isSrvName(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > MaxHostNameLength) return false;
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l.startsWith('_') ? l.slice(1) : l))) return false;
  return !/^\d+$/.test(labels[labels.length - 1] as string);
}

/**
 * Checks `--resolver IP:port` (`10.0.0.2:53`, `[fd00::2]:53`) and answers it as
 * `Resolver.setServers` takes it; throws Error naming the flag otherwise.
 */
export function parseResolverAddress(text: string): string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  const ipOk = host !== undefined && (m?.[1] !== undefined ? isIP(host) === 6 : parseIPv4Strict(host) !== undefined);
  if (!m || !ipOk || !(port >= 1 && port <= 65535)) {
    throw new Error(`--resolver: "${text}" is not IP:port; give the DNS server as 10.0.0.2:53 or [fd00::2]:53`);
  }
  return text;
}
