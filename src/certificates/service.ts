import type { Certificate } from '../config/model.ts';
import { CertificateNameMaxLength, checkName } from '../config/names.ts';
import { invalid } from '../core/errors.ts';
import { type CertificateKind, parseCertificateUpload } from './pem.ts';
import { decryptSecret, encryptSecret } from './secret.ts';

/** The body of `POST /certificates` (API.md): `pem` holds the chain and, for `server`, the private key. */
export interface CertificateUpload {
  name: string;
  kind: CertificateKind;
  pem: string;
}

/** A certificate as the API shows it (never the private key). */
export interface CertificateView {
  id: string;
  /** The certificate's version (its ETag, issue 15 point 6). */
  version?: number;
  name: string;
  kind: CertificateKind;
  /** The certificate chain or CA bundle (public part only). */
  pem: string;
  subjects: string[];
  issuer: string;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
  /** Expired, not yet valid, … (recomputed at each answer). */
  warnings: string[];
}

/**
 * Builds the stored document of an upload: parses and checks the PEM (see
 * `parseCertificateUpload`), seals the private key with AES-256-GCM under `secretKey` (bound
 * to the certificate's fingerprint) and returns the document with the upload's warnings.
 * The name follows the one name rule (config/names.ts, up to 100 characters, stored in NFC).
 * Throws FulcrumError `invalid` naming `name`, `kind` or `pem`. `now`: ms epoch.
 */
export function buildCertificate(
  input: CertificateUpload,
  id: string,
  secretKey: Buffer,
  now: number,
): { doc: Certificate; warnings: string[] } {
  const name = checkName(input.name, 'name', CertificateNameMaxLength);
  if (input.kind !== 'server' && input.kind !== 'ca') throw invalid('kind', 'kind: one of "server", "ca"');
  const p = parseCertificateUpload(input.kind, input.pem, now);
  const doc: Certificate = {
    id,
    name,
    kind: p.kind,
    certPem: p.certPem,
    keyEncrypted: p.keyPem === null ? null : encryptSecret(p.keyPem, secretKey, p.fingerprintSha256),
    subjects: p.subjects,
    issuer: p.issuer,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    fingerprintSha256: p.fingerprintSha256,
  };
  return { doc, warnings: p.warnings };
}

/** The clear private key PEM of a server certificate; throws when it has none or the key is wrong. */
export function privateKeyOf(cert: Certificate, secretKey: Buffer): string {
  if (cert.keyEncrypted === null) throw invalid('certificateIds', `certificate "${cert.name}" has no private key`);
  return decryptSecret(cert.keyEncrypted, secretKey, cert.fingerprintSha256);
}

/** Validity warnings of a stored certificate at `now` (ms epoch). */
export function validityWarnings(cert: Certificate, now: number): string[] {
  const out: string[] = [];
  if (Date.parse(cert.notAfter) < now) out.push(`expired on ${cert.notAfter}`);
  if (Date.parse(cert.notBefore) > now) out.push(`not valid before ${cert.notBefore}`);
  return out;
}

/** The API view of a stored certificate (no private key). */
export function certificateView(cert: Certificate, now: number, warnings?: string[]): CertificateView {
  return {
    id: cert.id,
    ...(cert.version !== undefined ? { version: cert.version } : {}),
    name: cert.name,
    kind: cert.kind,
    pem: cert.certPem,
    subjects: cert.subjects,
    issuer: cert.issuer,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprintSha256: cert.fingerprintSha256,
    warnings: warnings ?? validityWarnings(cert, now),
  };
}
