import type { TLSSocket } from 'node:tls';

/**
 * Operator wording for certificate verification failures (T3: "an untrusted server fails its
 * health check with a reason that says so"). `code` is Node's/OpenSSL's error code; `issuer`
 * is the peer certificate's issuer (e.g. `CN=Rogue CA`) when known. Unknown codes are
 * returned as they are.
 */
export function describeTlsError(code: string, issuer?: string): string {
  const by = issuer ? ` (issuer ${issuer})` : '';
  switch (code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return `certificate signed by unknown authority${by}`;
    case 'CERT_HAS_EXPIRED':
      return `certificate has expired${by}`;
    case 'CERT_NOT_YET_VALID':
      return `certificate is not yet valid${by}`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'HOSTNAME_MISMATCH':
      return 'certificate is not valid for the server name';
    default:
      return code;
  }
}

/** The peer certificate's issuer as `CN=…` (or `O=…`), or undefined when none is known. */
export function peerIssuer(socket: TLSSocket): string | undefined {
  try {
    const cert = socket.getPeerCertificate();
    const issuer = cert?.issuer as unknown as Record<string, string | string[]> | undefined;
    const cn = issuer?.CN ?? issuer?.O;
    if (!cn) return undefined;
    return `${issuer?.CN ? 'CN' : 'O'}=${Array.isArray(cn) ? cn.join(',') : cn}`;
  } catch {
    return undefined;
  }
}
