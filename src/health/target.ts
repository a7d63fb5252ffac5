import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { Certificate, HealthCheckType } from '../config/model.ts';
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
 * The check a server gets (issue 15 point 7: a server's check goes the way its traffic goes).
 * With backend TLS on, a server with `sslOffload` takes plain traffic, so an `https` check of
 * it is made in plain HTTP and a `tls` check in plain TCP; a server without it takes TLS, so
 * an `http` check of it is made over TLS (`https`). Otherwise the backend's check type.
 */
export function effectiveCheckType(backend: BackendSpec, server: ServerSpec): HealthCheckType {
  const type = backend.healthCheck.type;
  if (!backend.tls.enabled) return type;
  if (server.sslOffload) return type === 'https' ? 'http' : type === 'tls' ? 'tcp' : type;
  return type === 'http' ? 'https' : type;
}

/** The port a server's check goes to: the server's own override, else the check's, else the server's port (H2). */
export function checkPort(backend: BackendSpec, server: ServerSpec): number {
  return server.healthCheck?.port ?? backend.healthCheck.port ?? server.port;
}

/**
 * Resolves what one server's probe needs, once per configuration change (H2: the check's
 * `port` overrides the server's port; the server's `healthCheck.port` overrides both; the
 * type follows the server's traffic, `effectiveCheckType`). Compiles expected codes and the body matcher.
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
  const type = effectiveCheckType(backend, server);
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
    port: checkPort(backend, server),
    settings: type === hc.type ? hc : { ...hc, type },
    timeoutMs: hc.timeoutSeconds * 1000,
    ...(secure
      ? { tls: tlsOptionsFor ? tlsOptionsFor(backend, server) : defaultTlsOptions(backend, server, certificates) }
      : {}),
    ...(http ? { http } : {}),
    ...(udp ? { udp } : {}),
    ...(hc.proxyProtocol === true && backend.proxyProtocol !== null && type !== 'udp'
      ? { proxyHeader: backend.proxyProtocol === 'v1' ? PROXY_V1_UNKNOWN : PROXY_V2_LOCAL }
      : {}),
  };
}

/** The PROXY headers of a check (no client): v1 `UNKNOWN`, v2 `LOCAL` (haproxy's proxy-protocol.txt). */
const PROXY_V1_UNKNOWN = Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
const PROXY_V2_LOCAL = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00,
]);
