import net from 'node:net';
import type { FrontendSpec } from '../../config/snapshot.ts';

/**
 * What a proxy removes from and adds to a forwarded request, for HTTP/1.1 and HTTP/2 clients
 * alike (one list, one builder; Go's `httputil.ReverseProxy` keeps the same shape):
 *
 * - hop-by-hop fields (RFC 9110 §7.6.1, plus the framing fields the proxy re-emits itself);
 * - look-alike names: a name that normalises (`_` and `.` → `-`, any case) to a framing,
 *   forwarding or client-identity field but is not spelled as one (`X_Forwarded_For`,
 *   `Transfer.Encoding`) is dropped, since some servers normalise names that way (issue 12 §3);
 * - the client-identity family (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`, `True-Client-IP`,
 *   `X-Client-IP`): replaced by ours unless the client is one of the frontend's `trustedProxies`.
 */

/** RFC 9110 §7.6.1 hop-by-hop fields and the framing fields the proxy writes itself (lower case). */
export const HOP_BY_HOP: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'http2-settings',
  'trailer',
];

/** Client-identity fields, replaced unless the client is a trusted proxy (lower case). */
export const CLIENT_IDENTITY: readonly string[] = [
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-host',
  'forwarded',
  'x-real-ip',
  'true-client-ip',
  'x-client-ip',
];

const HOP_SET = new Set(HOP_BY_HOP);
const IDENTITY_SET = new Set(CLIENT_IDENTITY);
/** Names whose look-alike spellings are dropped: framing, routing and identity fields. */
const PROTECTED = new Set([...HOP_BY_HOP, ...CLIENT_IDENTITY, 'host', 'expect', 'cookie']);

/** True when the lower-case field name `lower` must not be forwarded as received (hop-by-hop or framing). */
export function isHopByHop(lower: string): boolean {
  return HOP_SET.has(lower);
}

/** True for the client-identity family (`x-forwarded-*`, `forwarded`, `x-real-ip`, `true-client-ip`, `x-client-ip`). */
export function isClientIdentity(lower: string): boolean {
  return IDENTITY_SET.has(lower);
}

/**
 * True when `lower` is a look-alike of a protected field: it contains `_` or `.` and, with
 * those mapped to `-`, names a framing, forwarding or identity field (`x_forwarded_for`,
 * `transfer.encoding`, `content_length`). Costs one scan for names without `_`/`.`.
 */
export function isLookAlike(lower: string): boolean {
  let odd = false;
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (c === 95 || c === 46) {
      odd = true;
      break;
    }
  }
  if (!odd) return false;
  return PROTECTED.has(lower.replace(/[_.]/g, '-'));
}

/** A field the proxy drops: hop-by-hop, a look-alike, or (from an untrusted client) client identity. */
export function dropField(lower: string, trusted: boolean): boolean {
  return HOP_SET.has(lower) || (!trusted && IDENTITY_SET.has(lower)) || isLookAlike(lower);
}

const trustCache = new WeakMap<FrontendSpec, net.BlockList | null>();

/**
 * Whether `clientAddress` (IPv4 or IPv6 text) falls in the frontend's `trustedProxies` CIDRs.
 * The matcher is built once per frontend spec (snapshot) and cached; invalid entries are skipped.
 */
export function isTrustedProxy(spec: FrontendSpec, clientAddress: string): boolean {
  let list = trustCache.get(spec);
  if (list === undefined) {
    const cidrs = spec.trustedProxies;
    list = null;
    if (cidrs.length > 0) {
      list = new net.BlockList();
      for (const c of cidrs) {
        const slash = c.indexOf('/');
        const addr = slash < 0 ? c : c.slice(0, slash);
        const type = net.isIPv6(addr) ? 'ipv6' : 'ipv4';
        const bits = slash < 0 ? (type === 'ipv6' ? 128 : 32) : Number(c.slice(slash + 1));
        try {
          list.addSubnet(addr, bits, type);
        } catch {
          // validated by the API; a bad entry trusts nobody
        }
      }
    }
    trustCache.set(spec, list);
  }
  if (list === null || clientAddress === '') return false;
  return list.check(clientAddress, net.isIPv6(clientAddress) ? 'ipv6' : 'ipv4');
}

/**
 * The forwarding fields the proxy appends (RFC 9110 §7.6.1 leaves them to the proxy; de facto
 * `X-Forwarded-*`), each line ending in CRLF, without the final empty line.
 * `priorFor` is the X-Forwarded-For chain received from a trusted proxy (null otherwise):
 * the client address is appended to it. `priorProto`/`priorPort` from a trusted proxy are kept.
 */
export function forwardedLines(
  clientAddress: string,
  proto: string,
  port: number,
  priorFor: string | null = null,
  priorProto: string | null = null,
  priorPort: string | null = null,
): string {
  const xff = priorFor === null ? clientAddress : `${priorFor}, ${clientAddress}`;
  return `X-Forwarded-For: ${xff}\r\nX-Forwarded-Proto: ${priorProto ?? proto}\r\nX-Forwarded-Port: ${priorPort ?? port}\r\n`;
}

/** Reads the first value of `lower` among parallel lower-case names/values (for a trusted proxy's fields). */
export function fieldValue(lowerNames: readonly string[], values: readonly string[], lower: string): string | null {
  let out: string | null = null;
  for (let i = 0; i < lowerNames.length; i++) {
    if (lowerNames[i] === lower) out = out === null ? (values[i] as string) : `${out}, ${values[i]}`;
  }
  return out;
}
