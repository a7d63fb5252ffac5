import { isIPv6 } from 'node:net';

/**
 * The backend address guard (issue 10 "Admin-plane security", SSRF): addresses that are never
 * legitimate backends, whatever the load balancer's S7 allowed networks say. Pure: no I/O.
 *
 * Refused (as a server address, an instance's privateIp, in every spelling that reaches the
 * same host: `::ffff:`-mapped, IPv4-compatible, SIIT-translated and NAT64 `64:ff9b::/96` forms):
 * - unspecified: 0.0.0.0/8 ("this network", RFC 1122 3.2.1.3) and `::`;
 * - link-local: 169.254.0.0/16 (RFC 3927) and fe80::/10 — where cloud metadata services live;
 * - multicast: 224.0.0.0/4 and ff00::/8;
 * - reserved and broadcast: 240.0.0.0/4, which holds 255.255.255.255 (RFC 1112, RFC 919);
 * - well-known metadata addresses outside those ranges ({@link MetadataAddresses});
 * - the admin API's own address and port (a frontend pointing at it would expose the admin
 *   API to the data plane); when the API listens on a wildcard, any loopback or local address.
 *
 * An operator who needs one of the ranges starts Fulcrum with `--allow-backend-networks
 * CIDR,…` ({@link parseNetworkList}); never through the API. The API's own address is never
 * allowed.
 */

/** A parsed address: IPv4 as a 32-bit value, IPv6 as a 128-bit value (zone id dropped). */
export type Ip = { readonly family: 4; readonly value: bigint } | { readonly family: 6; readonly value: bigint };

/** A parsed CIDR block (IPv4 or IPv6). */
export interface Cidr {
  readonly text: string;
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly bits: number;
}

const V4_OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const V4_STRICT = new RegExp(`^${V4_OCTET}(?:\\.${V4_OCTET}){3}$`);

/**
 * Parses a strict dotted-quad IPv4 address (four decimal octets 0–255, no leading zeros, no
 * other notation) to its 32-bit value; undefined for anything else. `127.1`, `0x7f.0.0.1`,
 * `0177.0.0.1`, `2130706433` and `010.0.0.1` are refused: C resolvers read them as other
 * addresses than a reader does.
 */
export function parseIPv4Strict(text: string): bigint | undefined {
  if (!V4_STRICT.test(text)) return undefined;
  let v = 0n;
  for (const o of text.split('.')) v = (v << 8n) | BigInt(Number(o));
  return v;
}

/**
 * Parses an IPv6 address in RFC 4291 text form (`::` compression, an embedded strict
 * dotted quad in the last 32 bits, any hex case, an optional `%zone` which is ignored) to its
 * 128-bit value; undefined for anything else.
 */
export function parseIPv6(text: string): bigint | undefined {
  const pct = text.indexOf('%');
  const addr = pct >= 0 ? text.slice(0, pct) : text;
  if (pct >= 0 && pct === text.length - 1) return undefined;
  if (!isIPv6(text)) return undefined;
  const lower = addr.toLowerCase();
  let tail: bigint[] = [];
  let body = lower;
  const lastColon = lower.lastIndexOf(':');
  const last = lower.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = parseIPv4Strict(last);
    if (v4 === undefined) return undefined;
    tail = [v4 >> 16n, v4 & 0xffffn];
    // Keep a trailing `::` (it stands for zero groups); drop a lone separating `:`.
    body = lower.slice(0, lastColon + 1);
    if (!body.endsWith('::')) body = body.slice(0, -1);
  }
  const hextets = (s: string): bigint[] | undefined => {
    if (s === '') return [];
    const out: bigint[] = [];
    for (const h of s.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(h)) return undefined;
      out.push(BigInt(`0x${h}`));
    }
    return out;
  };
  let groups: bigint[];
  const dbl = body.indexOf('::');
  if (dbl >= 0) {
    const head = hextets(body.slice(0, dbl));
    const rest = hextets(body.slice(dbl + 2));
    if (!head || !rest) return undefined;
    const missing = 8 - head.length - rest.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<bigint>(missing).fill(0n), ...rest, ...tail];
  } else {
    const all = hextets(body);
    if (!all) return undefined;
    groups = [...all, ...tail];
  }
  if (groups.length !== 8) return undefined;
  return groups.reduce((v, g) => (v << 16n) | g, 0n);
}

/** Parses a strict IPv4 or an IPv6 address; undefined for anything else. */
export function parseIp(text: string): Ip | undefined {
  const v4 = parseIPv4Strict(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseIPv6(text);
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

function v6(text: string): bigint {
  return parseIPv6(text) as bigint;
}

/** IPv6 prefixes whose last 32 bits are an IPv4 address the packet ends up at. */
const EMBEDDING: readonly { name: string; base: bigint; bits: number }[] = [
  { name: 'IPv4-mapped', base: v6('::ffff:0:0'), bits: 96 },
  { name: 'IPv4-translated', base: v6('::ffff:0:0:0'), bits: 96 },
  { name: 'IPv4-compatible', base: 0n, bits: 96 },
  { name: 'NAT64', base: v6('64:ff9b::'), bits: 96 },
];

function inPrefix(value: bigint, width: number, base: bigint, bits: number): boolean {
  const shift = BigInt(width - bits);
  return value >> shift === base >> shift;
}

/**
 * The IPv4 address an IPv6 address stands for (`::ffff:a.b.c.d`, `::ffff:0:a.b.c.d`,
 * `::a.b.c.d`, `64:ff9b::a.b.c.d`); undefined for other addresses and for `::`/`::1`.
 */
export function embeddedIPv4(ip: Ip): bigint | undefined {
  if (ip.family === 4) return undefined;
  if (ip.value <= 1n) return undefined;
  for (const e of EMBEDDING) if (inPrefix(ip.value, 128, e.base, e.bits)) return ip.value & 0xffffffffn;
  return undefined;
}

/** One refused range: the CIDRs and the rule in words. */
interface Range {
  readonly cidrs: readonly Cidr[];
  readonly rule: string;
}

function cidr(text: string): Cidr {
  return parseCidr(text) as Cidr;
}

/**
 * Well-known cloud metadata endpoints that lie outside the link-local range: Alibaba Cloud
 * (100.100.100.200), Azure WireServer (168.63.129.16), Oracle Cloud Classic (192.0.0.192), AWS
 * IMDS over IPv6 (fd00:ec2::254). AWS, GCP, Azure, OpenStack, DigitalOcean… (169.254.169.254)
 * and Tencent (169.254.0.23) are inside 169.254.0.0/16.
 */
export const MetadataAddresses: readonly string[] = [
  '100.100.100.200',
  '168.63.129.16',
  '192.0.0.192',
  'fd00:ec2::254',
];

/** The ranges that are never a backend, in the order they are reported. */
const Ranges: readonly Range[] = [
  {
    cidrs: [cidr('0.0.0.0/8'), cidr('::/128')],
    rule: 'is an unspecified address (0.0.0.0/8, ::), which means "this host" or "any", never a backend',
  },
  {
    cidrs: [cidr('169.254.0.0/16'), cidr('fe80::/10')],
    rule: 'is a link-local address (169.254.0.0/16, fe80::/10), where cloud metadata services answer; never a backend',
  },
  {
    cidrs: [cidr('224.0.0.0/4'), cidr('ff00::/8')],
    rule: 'is a multicast address (224.0.0.0/4, ff00::/8), never a backend',
  },
  {
    cidrs: [cidr('240.0.0.0/4')],
    rule: 'is a reserved or broadcast address (240.0.0.0/4, including 255.255.255.255), never a backend',
  },
  {
    cidrs: MetadataAddresses.map((a) => cidr(a.includes(':') ? `${a}/128` : `${a}/32`)),
    rule: `is a cloud metadata service address (${MetadataAddresses.join(', ')}), never a backend`,
  },
];

/**
 * Parses `a.b.c.d/n` (0–32) or `v6/n` (0–128); host bits below the prefix are ignored.
 * Undefined for anything else (a bare address, a bad prefix length, non-strict IPv4).
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (!ip || text.slice(0, slash).includes('%') || !/^(?:0|[1-9]\d{0,2})$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  const width = ip.family === 4 ? 32 : 128;
  if (bits > width) return undefined;
  const shift = BigInt(width - bits);
  return { text, family: ip.family, base: (ip.value >> shift) << shift, bits };
}

/**
 * Parses the `--allow-backend-networks` value: CIDRs separated by commas (spaces around them
 * ignored), IPv4 or IPv6, e.g. `169.254.10.0/24,fd00:ec2::/64`. Throws Error naming the flag
 * and the bad item; an empty list is allowed (nothing is let through).
 */
export function parseNetworkList(text: string | readonly string[]): Cidr[] {
  const items = (typeof text === 'string' ? text.split(',') : text.flatMap((t) => t.split(',')))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return items.map((item) => {
    const c = parseCidr(item);
    if (!c) {
      throw new Error(
        `--allow-backend-networks: "${item}" is not a CIDR; give comma-separated blocks such as 169.254.10.0/24 or fd00:ec2::/64`,
      );
    }
    return c;
  });
}

function contains(c: Cidr, ip: Ip): boolean {
  if (c.family !== ip.family) return false;
  return inPrefix(ip.value, ip.family === 4 ? 32 : 128, c.base, c.bits);
}

/** True when `ip` (or the IPv4 address it embeds) lies in one of `cidrs`. */
function within(cidrs: readonly Cidr[], ip: Ip): boolean {
  const v4 = embeddedIPv4(ip);
  const alt: Ip | undefined = v4 === undefined ? undefined : { family: 4, value: v4 };
  return cidrs.some((c) => contains(c, ip) || (alt !== undefined && contains(c, alt)));
}

/** Where the admin API listens, as the guard needs it. */
export interface ApiEndpoint {
  /** Addresses the API listens on: IP literals, `localhost`, or a wildcard (0.0.0.0, ::). */
  readonly addresses: readonly string[];
  /** The bound TCP port (the real one, also when the flag said 0). */
  readonly port: number;
  /** This host's own interface addresses; also the API's when it listens on a wildcard. */
  readonly localAddresses?: readonly string[];
}

/** What the guard checks against. */
export interface AddressGuard {
  /** `--allow-backend-networks`: addresses inside these may be backends despite the ranges. */
  readonly allow: readonly Cidr[];
  /** The API's endpoint now; undefined while unknown (before the API is bound to a port 0). */
  readonly api: () => ApiEndpoint | undefined;
}

/** A guard with the built-in rules, an optional escape list, and an optional API endpoint. */
export function addressGuard(
  allow: readonly Cidr[] = [],
  api: () => ApiEndpoint | undefined = () => undefined,
): AddressGuard {
  return { allow, api };
}

function isWildcard(ip: Ip): boolean {
  return ip.value === 0n;
}

const LOOPBACK4 = cidr('127.0.0.0/8');

function isLoopback(ip: Ip): boolean {
  if (ip.family === 6 && ip.value === 1n) return true;
  const v4 = ip.family === 4 ? ip.value : embeddedIPv4(ip);
  return v4 !== undefined && contains(LOOPBACK4, { family: 4, value: v4 });
}

/** Same host: equal values, comparing an embedded IPv4 address with a plain one. */
function sameHost(a: Ip, b: Ip): boolean {
  const av4 = a.family === 4 ? a.value : embeddedIPv4(a);
  const bv4 = b.family === 4 ? b.value : embeddedIPv4(b);
  if (av4 !== undefined || bv4 !== undefined) return av4 === bv4;
  return a.family === b.family && a.value === b.value;
}

function apiHost(text: string): Ip | 'loopback' | undefined {
  if (text.toLowerCase() === 'localhost') return 'loopback';
  return parseIp(text);
}

/**
 * True when `address:port` reaches the admin API: the port is the API's and the address is
 * one the API listens on. An API on a loopback address (or `localhost`) answers for every
 * loopback spelling (127.0.0.0/8, ::1, ::ffff:127.x); an API on a wildcard also answers on this
 * host's own addresses. Unparseable addresses are false (the format rules refuse them).
 */
export function reachesApi(address: string, port: number | null, api: ApiEndpoint | undefined): boolean {
  if (!api || port === null || port !== api.port) return false;
  const ip = parseIp(address);
  if (!ip) return false;
  for (const text of api.addresses) {
    const host = apiHost(text);
    if (host === undefined) continue;
    if (host === 'loopback' || isLoopback(host)) {
      if (isLoopback(ip) || isWildcard(ip)) return true;
      continue;
    }
    if (isWildcard(host)) {
      if (isLoopback(ip) || isWildcard(ip)) return true;
      if (
        (api.localAddresses ?? []).some((l) => {
          const lip = parseIp(l);
          return lip !== undefined && sameHost(lip, ip);
        })
      )
        return true;
      continue;
    }
    if (sameHost(host, ip) || isWildcard(ip)) return true;
  }
  return false;
}

/**
 * Why `address` can never be a backend, as `<address> <rule>` in words; undefined when it
 * may be one (including unparseable text, which the format rules refuse with 400). Addresses
 * inside the guard's `allow` list pass the range rules; `port` (the effective port, or null)
 * is compared with the API's endpoint, which no allow list lifts.
 */
export function backendAddressProblem(address: string, port: number | null, guard: AddressGuard): string | undefined {
  const ip = parseIp(address);
  if (!ip) return undefined;
  const api = guard.api();
  if (reachesApi(address, port, api)) {
    return `${address}:${port} is the admin API's own address and port; a backend there would expose the admin API through a frontend`;
  }
  if (within(guard.allow, ip)) return undefined;
  const v4 = embeddedIPv4(ip);
  const spelled = v4 === undefined ? address : `${address} (the IPv4 address ${v4ToText(v4)})`;
  for (const r of Ranges)
    if (within(r.cidrs, ip)) return `${spelled} ${r.rule}; --allow-backend-networks at start lifts this`;
  return undefined;
}

/**
 * Why a frontend on `bindAddress:port` would take the admin API's own socket; undefined when
 * it does not (different port, a udp frontend, or addresses that cannot overlap). A wildcard
 * on either side overlaps every address.
 */
export function frontendBindProblem(
  bindAddress: string,
  port: number,
  protocol: string,
  guard: AddressGuard,
): string | undefined {
  const api = guard.api();
  if (!api || protocol === 'udp' || port !== api.port) return undefined;
  const ip = parseIp(bindAddress);
  if (!ip) return undefined;
  const clash = api.addresses.some((text) => {
    const host = apiHost(text);
    if (host === undefined) return false;
    if (host === 'loopback') return isLoopback(ip) || isWildcard(ip);
    return isWildcard(host) || isWildcard(ip) || sameHost(host, ip);
  });
  return clash
    ? `bindAddress ${bindAddress} and port ${port} are the admin API's own address and port; choose another port`
    : undefined;
}

function v4ToText(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
}
