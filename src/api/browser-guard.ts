import type { FastifyRequest } from 'fastify';
import { FulcrumError } from '../core/errors.ts';

/**
 * Host and Origin checks for requests that come from a browser (issue 10 point 4; the way
 * Caddy guards its admin API):
 * - Host: when the API listens on a loopback address, a request must name a loopback host
 *   (`localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`). A page whose DNS name was rebound
 *   to 127.0.0.1 sends its own name and is refused (DNS rebinding).
 * - Origin: a state-changing request (not GET, HEAD or OPTIONS) authenticated by the
 *   console's session cookie must carry `Origin` equal to the API's own origin
 *   (`<scheme>://<Host>`); a cross-site form or fetch riding on the cookie gets 403. A public
 *   state-changing route (sign-in, sign-out) refuses a foreign `Origin` when one is sent
 *   (login CSRF) and accepts none (curl). Bearer-token requests need no Origin: a page
 *   cannot add that header to a cross-site request without the token.
 */
export interface BrowserGuard {
  /** A 403 for a Host that is not this API's, or undefined. */
  host(req: FastifyRequest): FulcrumError | undefined;
  /** A 403 for a state-changing browser request from another origin, or undefined. */
  origin(req: FastifyRequest, publicRoute: boolean): FulcrumError | undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** True for `localhost`, `*.localhost`, an address in 127.0.0.0/8, and `::1` (RFC 6761 §6.3, RFC 1122). */
export function isLoopbackName(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '[::1]') return true;
  return /^127\.(?:\d{1,3})\.(?:\d{1,3})\.(?:\d{1,3})$/.test(h);
}

/** The host name of a Host header value (`[::1]:8080` → `[::1]`, `a.b:80` → `a.b`). */
function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) {
    const end = hostHeader.indexOf(']');
    return end < 0 ? hostHeader : hostHeader.slice(0, end + 1);
  }
  const colon = hostHeader.indexOf(':');
  return colon < 0 ? hostHeader : hostHeader.slice(0, colon);
}

/**
 * Builds the guard. `listenHost` is the API's listening address (`--api` host); the Host
 * check applies only when it is a loopback address.
 */
export function browserCheck(options: { listenHost?: string }): BrowserGuard {
  const loopbackOnly = options.listenHost !== undefined && isLoopbackName(options.listenHost);
  return {
    host(req) {
      if (!loopbackOnly) return undefined;
      const host = req.headers.host;
      if (host === undefined || isLoopbackName(hostnameOf(host))) return undefined;
      return new FulcrumError(
        'forbidden',
        'host: this API listens on a loopback address and answers only requests addressed to localhost or a loopback IP',
        'host',
      );
    },
    origin(req, publicRoute) {
      if (SAFE_METHODS.has(req.method)) return undefined;
      const origin = req.headers.origin;
      if (origin === undefined) {
        if (publicRoute) return undefined;
        return new FulcrumError(
          'forbidden',
          'origin: a change made with the console session cookie must come from the console (Origin header missing)',
          'origin',
        );
      }
      const own = `${req.protocol}://${req.headers.host ?? ''}`;
      if (origin.toLowerCase() === own.toLowerCase()) return undefined;
      return new FulcrumError(
        'forbidden',
        `origin: a browser request from ${JSON.stringify(origin.slice(0, 200))} may not change this API; only the console's own origin may`,
        'origin',
      );
    },
  };
}
