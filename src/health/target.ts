import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { BackendSpec, ServerSpec } from '../config/snapshot.ts';
import { parseExpectBody, parseExpectedCodes } from './expected-codes.ts';
import type { ProbeTarget } from './types.ts';

/** Supplies TLS options (CA bundle, SNI, verification) for https / tls checks of one server (T3). */
export type TlsOptionsFor = (backend: BackendSpec, server: ServerSpec) => ConnectionOptions;

/**
 * Default TLS options when no `tlsOptionsFor` is wired: verify with the system CAs unless
 * `backend.tls.verify` is false; SNI from `backend.tls.sni` (never an IP literal, RFC 6066 §3).
 */
export function defaultTlsOptions(backend: BackendSpec, _server: ServerSpec): ConnectionOptions {
  const sni = backend.tls.sni;
  return { rejectUnauthorized: backend.tls.verify, ...(sni && isIP(sni) === 0 ? { servername: sni } : {}) };
}

/**
 * Resolves what one server's probe needs, once per configuration change (H2: the check's
 * `port` overrides the server's port). Compiles expected codes and the body matcher.
 *
 * @throws FulcrumError('invalid', …) when `http.expectedCodes` or `http.expectBody` do not parse.
 */
export function buildTarget(backend: BackendSpec, server: ServerSpec, tlsOptionsFor?: TlsOptionsFor): ProbeTarget {
  const hc = backend.healthCheck;
  const type = hc.type;
  const secure = type === 'https' || type === 'tls';
  const http =
    type === 'http' || type === 'https'
      ? {
          method: (hc.http?.method ?? 'GET').toUpperCase(),
          path: hc.http?.path ?? '/',
          host: hc.http?.host || undefined,
          codes: parseExpectedCodes(hc.http?.expectedCodes ?? '200-399'),
          body: hc.http?.expectBody ? parseExpectBody(hc.http.expectBody) : undefined,
        }
      : undefined;
  const udp =
    type === 'udp'
      ? {
          send: Buffer.from(hc.udp?.send ?? '', 'utf8'),
          expect: hc.udp?.expect ? Buffer.from(hc.udp.expect, 'utf8') : undefined,
        }
      : undefined;
  return {
    address: server.address,
    port: hc.port ?? server.port,
    settings: hc,
    timeoutMs: hc.timeoutSeconds * 1000,
    ...(secure ? { tls: (tlsOptionsFor ?? defaultTlsOptions)(backend, server) } : {}),
    ...(http ? { http } : {}),
    ...(udp ? { udp } : {}),
  };
}
