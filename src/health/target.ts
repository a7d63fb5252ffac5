import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { Certificate } from '../config/model.ts';
import type { BackendSpec, ServerSpec } from '../config/snapshot.ts';
import { parseExpectBody, parseExpectedCodes } from './expected-codes.ts';
import type { ProbeTarget } from './types.ts';

/** Supplies TLS options (CA bundle, SNI, verification) for https / tls checks of one server (T3). */
export type TlsOptionsFor = (backend: BackendSpec, server: ServerSpec) => ConnectionOptions;

/**
 * Default TLS options when no `tlsOptionsFor` is wired (T3): verify unless
 * `backend.tls.verify` is false, against the server's CA certificate, else the backend's,
 * else the system CAs; SNI from `backend.tls.sni` (never an IP literal, RFC 6066 §3).
 * `certificates` is the snapshot's certificate map.
 */
export function defaultTlsOptions(
  backend: BackendSpec,
  server: ServerSpec,
  certificates?: ReadonlyMap<string, Certificate>,
): ConnectionOptions {
  const sni = backend.tls.sni;
  const caId = server.caCertificateId ?? backend.tls.caCertificateId;
  const ca = caId ? certificates?.get(caId)?.certPem : undefined;
  return {
    rejectUnauthorized: backend.tls.verify,
    ...(ca ? { ca } : {}),
    ...(sni && isIP(sni) === 0 ? { servername: sni } : {}),
  };
}

/**
 * Resolves what one server's probe needs, once per configuration change (H2: the check's
 * `port` overrides the server's port). Compiles expected codes and the body matcher.
 *
 * @throws FulcrumError('invalid', …) when `http.expectedCodes` or `http.expectBody` do not parse.
 */
export function buildTarget(
  backend: BackendSpec,
  server: ServerSpec,
  tlsOptionsFor?: TlsOptionsFor,
  certificates?: ReadonlyMap<string, Certificate>,
): ProbeTarget {
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
    ...(secure
      ? { tls: tlsOptionsFor ? tlsOptionsFor(backend, server) : defaultTlsOptions(backend, server, certificates) }
      : {}),
    ...(http ? { http } : {}),
    ...(udp ? { udp } : {}),
  };
}
